"""Errors that reach the user as one clear message instead of a traceback.

The command line catches RetentionError and prints its message; every message names the
offending value, where it was found and what to do about it.
"""


class RetentionError(Exception):
    """Base class of every error the platform reports to its users."""


class ConfigurationError(RetentionError):
    """A setting, profile or mapping file is invalid."""


class InputDataError(RetentionError):
    """An input file cannot be read as the data contract requires."""


class ValidationFailedError(RetentionError):
    """Validation rejected too much of the input to publish it."""


class PipelineError(RetentionError):
    """A pipeline stage cannot run because an earlier stage has not produced its output."""
