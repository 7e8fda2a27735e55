"""Logs that count repeats instead of writing one line per failed request."""

import logging

from pydantic import BaseModel, ValidationError

from serving.errors import RateLimitedLog, ValidationLogFilter


def test_repeats_logged_once(caplog):
    log = RateLimitedLog(logging.getLogger("test.store"), interval_seconds=60)
    with caplog.at_level(logging.ERROR, logger="test.store"):
        logged = [log.error("store down: %s", "refused") for _ in range(5)]
    assert logged == [True, False, False, False, False]
    assert len(caplog.records) == 1


def test_recovery_logged_after_failure(caplog):
    log = RateLimitedLog(logging.getLogger("test.store"), interval_seconds=60)
    with caplog.at_level(logging.INFO, logger="test.store"):
        log.recovered("back")
        log.error("down")
        log.recovered("back")
        log.recovered("back")
    assert [record.getMessage() for record in caplog.records] == ["down", "back"]


def test_next_interval_logs_skipped_count(caplog):
    log = RateLimitedLog(logging.getLogger("test.store"), interval_seconds=0)
    with caplog.at_level(logging.ERROR, logger="test.store"):
        log.error("down")
        log.error("down")
    assert len(caplog.records) == 2


class _Body(BaseModel):
    user_ids: list[str]


def _validation_record() -> logging.LogRecord:
    try:
        _Body.model_validate({"user_ids": [1]})
    except ValidationError as error:
        exc_info = (type(error), error, error.__traceback__)
    return logging.LogRecord("bentoml", logging.ERROR, __file__, 1, "Exception on %s [%s]", ("/predict", "POST"), exc_info)


def test_validation_traceback_becomes_line():
    record = _validation_record()
    assert ValidationLogFilter(interval_seconds=60).filter(record)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "user_ids.0" in record.getMessage()


def test_validation_repeats_dropped():
    log_filter = ValidationLogFilter(interval_seconds=60)
    assert [log_filter.filter(_validation_record()) for _ in range(3)] == [True, False, False]


def test_other_errors_pass_unchanged():
    record = logging.LogRecord("bentoml", logging.ERROR, __file__, 1, "boom", (), (ValueError, ValueError("x"), None))
    assert ValidationLogFilter(interval_seconds=60).filter(record)
    assert record.levelno == logging.ERROR
