"""The console logger of in-process runs started from the command line.

Dagster's default console logger writes the Python stack trace of every failed step. For a
failure that the platform reports itself, such as a blocking check or a missing input file,
the trace only hides the one-line error that the command prints at the end. This logger
writes the same lines without the trace; the Dagster UI keeps the full event, trace included.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

# Dagster puts the serialized error, then this marker and the trace, in a step failure's message.
STACK_TRACE_MARKER = "\n\nStack Trace:"
LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


class WithoutStackTrace(logging.Formatter):
    """Formats a record as Dagster's console does, cut before the stack trace."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).split(STACK_TRACE_MARKER, 1)[0].rstrip()


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="Dagster's console lines on stderr, without the stack traces of failed steps.",
)
def console_without_traces(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("dagster", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(WithoutStackTrace(LOG_FORMAT, DATE_FORMAT))
    logger.addHandler(handler)
    return logger
