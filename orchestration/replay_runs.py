"""In-process runs of the replay, with a failed step raised as the platform error that failed it."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from retention import errors
from retention.errors import PipelineError, RetentionError

# The replay logs one line per week itself; Dagster's own step events would add dozens. A failed
# step is raised as one error by materialize_or_raise, so its console line and stack trace are
# left to the run's event log in the Dagster UI.
QUIET_LOGGERS = {"console": {"config": {"log_level": "CRITICAL"}}}


def materialize_or_raise(
    assets: list,
    selection: list[str],
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    partition: str | None = None,
    as_of: pd.Timestamp | None = None,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `selection` (asset names) for one partition; raise the step's RetentionError on failure.

    `as_of` becomes the as_of config of every selected asset, which only the assets with an
    AsOfConfig accept.
    """
    config: dict[str, Any] = {"loggers": QUIET_LOGGERS, **(run_config or {})}
    if as_of is not None:
        config["ops"] = {name: {"config": {"as_of": as_of.isoformat()}} for name in selection}
    result = dg.materialize(
        assets,
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources=resources,
        run_config=config,
        tags={"retention/replay": "true", **(tags or {})},
        raise_on_error=False,
    )
    failed_checks = [evaluation for evaluation in result.get_asset_check_evaluations() if not evaluation.passed]
    # A failed blocking check stops only downstream assets, so the run itself may still succeed.
    if not result.success or failed_checks:
        raise step_error(result, f"{', '.join(selection)}" + (f" of week {partition}" if partition else ""))
    return result


def step_error(result: dg.ExecuteInProcessResult, what: str) -> RetentionError:
    """Rebuild the platform error that failed a step from its class name and message, or wrap any other."""
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            return errors.ValidationFailedError(f"Check {evaluation.check_name} of {what} failed: {evaluation.description}")
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        cause, innermost = event.event_specific_data.error, None
        while cause is not None:
            cls = getattr(errors, cause.cls_name or "", None)
            if isinstance(cls, type) and issubclass(cls, RetentionError):
                # Dagster writes the message as "<qualified class name>: <message>".
                return cls(cause.message.strip().partition(": ")[2] or cause.message.strip())
            innermost, cause = cause, cause.cause
        message = innermost.message.strip() if innermost else "unknown error"
        return PipelineError(
            f"Materializing {what} failed: {message} This is a bug of the platform; "
            f"the run {result.run_id} in the Dagster UI has the stack trace."
        )
    return PipelineError(f"Materializing {what} failed without a step failure; see the run {result.run_id} in the Dagster UI.")
