"""Run the whole asset graph in-process, as `retention demo` and `retention ingest` do, and report failures clearly."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.console_logger import console_without_traces
from orchestration.definitions import all_assets, retention_pipeline
from orchestration.instance import prepare_dagster_home
from orchestration.resources import SettingsResource
from orchestration.summary import asset_metadata, build_summary
from retention.errors import PipelineError, RetentionError, ValidationFailedError
from retention.settings import Settings



def _instance(settings: Settings) -> dg.DagsterInstance:
    """Return the Dagster instance of the profile, so runs of the CLI show in the Dagster UI."""
    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()


def _failed_checks(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    # The event data of an ASSET_CHECK_EVALUATION event is the AssetCheckEvaluation itself.
    return [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed
    ]


def _platform_error_classes() -> dict[str, type[RetentionError]]:
    """Map the name of every loaded RetentionError class to its nearest base in retention.errors."""
    classes: dict[str, type[RetentionError]] = {}
    pending: list[type[RetentionError]] = [RetentionError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # Subclasses elsewhere may take more constructor arguments than a message.
        classes[cls.__name__] = next(base for base in cls.__mro__ if base.__module__ == RetentionError.__module__)
    return classes


def _platform_error(result: dg.ExecuteInProcessResult) -> RetentionError | None:
    """Return the platform error that failed a step, rebuilt from its class name and message, if any."""
    classes = _platform_error_classes()
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        cause = event.event_specific_data.error
        while cause is not None:
            cls = classes.get(cause.cls_name or "")
            if cls is not None:
                # Dagster writes the message as "<qualified class name>: <message>".
                text = cause.message.strip()
                head, separator, message = text.partition(": ")
                return cls(message if separator and head.endswith(cause.cls_name) else text)
            cause = cause.cause
    return None


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    checks = _failed_checks(result)
    if checks:
        details = "; ".join(f"{check.check_name}: {check.description}" for check in checks)
        return f"A blocking check stopped publication. {details}"
    lines = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.event_specific_data.error
        lines.append(f"step {event.step_key} failed: {error.message.strip() if error else 'unknown error'}")
    return "; ".join(lines) or "the run failed without a step failure; see the Dagster run log"


def run_pipeline(
    settings: Settings,
    asset_config: dict[str, dict[str, Any]] | None = None,
    launched_by: str = "retention demo",
) -> dict[str, Any]:
    """Materialize every asset with `settings` and return the run summary.

    `asset_config` maps an asset name to its run config, such as {"raw_events": {"source": "files", ...}}.
    A platform error raised inside an asset, such as a missing file or input without rows, is
    raised again with its class and message. A failed blocking check raises ValidationFailedError.
    """
    resource = SettingsResource(home=str(settings.home), sample_users=settings.sample_users)
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if asset_config:
        run_config["ops"] = {name: {"config": config} for name, config in asset_config.items()}
    # The job of the Dagster UI, so that command-line runs show under it, with the console logger of the command line.
    definitions = dg.Definitions(
        assets=all_assets,
        jobs=[retention_pipeline],
        resources={"settings": resource},
        loggers={"console": console_without_traces},
    )
    result = definitions.resolve_job_def(retention_pipeline.name).execute_in_process(
        run_config=run_config,
        instance=_instance(settings),
        raise_on_error=False,
        tags={"launched_by": launched_by},
    )
    if not result.success:
        platform_error = _platform_error(result)
        if platform_error is not None and not _failed_checks(result):
            raise platform_error
        message = _failure_message(result)
        if message.startswith("A blocking check"):
            raise ValidationFailedError(message)
        raise PipelineError(f"The pipeline run {result.run_id} failed: {message}")
    return build_summary(asset_metadata(result))
