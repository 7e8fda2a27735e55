"""Errors that the prediction service returns as JSON, and a log that counts repeats instead of flooding."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

# The body of every error that this package returns has the shape of BentoML's own validation
# errors, so clients parse one format: {"error": message, "detail": [{"loc": [...], "msg": ...}]}.


class ServingError(Exception):
    """An error that the service returns as an HTTP error response instead of predictions."""

    status_code = 500

    def __init__(self, message: str, detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or []

    def to_response(self) -> JSONResponse:
        return error_response(self.status_code, self.message, self.detail)


class InvalidRequestError(ServingError):
    """The request body does not match what the endpoint accepts."""

    status_code = 400


class ReloadFailedError(ServingError):
    """The champion could not be resolved or loaded; the service keeps the current model."""

    status_code = 503


class OnlineStoreUnavailableError(ServingError):
    """The online feature store cannot be read; the service retries on the next request."""

    status_code = 503


def error_response(
    status_code: int, message: str, detail: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "detail": detail or []}, status_code=status_code, headers=headers)


class RateLimitedLog:
    """Logs an error at most once per interval and reports how many repeats it skipped."""

    def __init__(self, logger: logging.Logger, interval_seconds: float) -> None:
        self.logger = logger
        self.interval_seconds = interval_seconds
        self._lock = threading.Lock()
        self._last_logged = -float("inf")
        self._skipped = 0

    def error(self, message: str, *args: Any) -> bool:
        """Log `message % args` unless the last one was logged less than the interval ago; return whether it logged."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_logged < self.interval_seconds:
                self._skipped += 1
                return False
            skipped, self._skipped = self._skipped, 0
            self._last_logged = now
        suffix = f" ({skipped} more in the last {self.interval_seconds:g} s were not logged)" if skipped else ""
        self.logger.error(message + suffix, *args)
        return True

    def recovered(self, message: str, *args: Any) -> None:
        """Log once that the failure is over, when a failure was logged before."""
        # Read without the lock first, because every successful request calls this.
        if self._last_logged == -float("inf"):
            return
        with self._lock:
            if self._last_logged == -float("inf"):
                return
            self._last_logged = -float("inf")
            self._skipped = 0
        self.logger.info(message, *args)


class ValidationLogFilter(logging.Filter):
    """Shortens BentoML's log of a request that failed validation to one warning line, at most once per interval.

    BentoML 1.4 logs every such request at ERROR level with a traceback, although the client
    caused it and got a 400 answer; bentoml_service_request_total still counts each of them.
    """

    def __init__(self, interval_seconds: float) -> None:
        super().__init__()
        self.interval_seconds = interval_seconds
        self._last_logged = -float("inf")
        self._skipped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, ValidationError):
            return True
        now = time.monotonic()
        if now - self._last_logged < self.interval_seconds:
            self._skipped += 1
            return False
        self._last_logged = now
        record.msg = f"{record.getMessage()} rejected with 400: {_first_error(error)} ({self._skipped} more not logged)"
        record.args = ()
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        self._skipped = 0
        return True


def _first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{location}: {first['msg']}"
