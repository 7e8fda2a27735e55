import logging

from orchestration.console_logger import WithoutStackTrace

STEP_FAILURE = (
    'Execution of step "validated_events" failed.\n\n'
    "dagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed\n\n"
    'Stack Trace:\n  File "/site-packages/dagster/_core/execution/plan/execute_step.py", line 1, in core\n'
)


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("dagster", logging.ERROR, __file__, 1, message, None, None)


def test_step_failure_drops_trace():
    text = WithoutStackTrace("%(levelname)s - %(message)s").format(_record(STEP_FAILURE))

    assert text.startswith('ERROR - Execution of step "validated_events" failed.')
    assert "DagsterAssetCheckFailedError: 1 blocking asset check failed" in text
    assert "Stack Trace" not in text
    assert "execute_step.py" not in text


def test_plain_message_unchanged():
    assert WithoutStackTrace("%(message)s").format(_record("Published attributes of 12 users")) == (
        "Published attributes of 12 users"
    )
