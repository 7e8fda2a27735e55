"""Run the whole asset graph in-process, as `retention demo` does, and report failures clearly."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.definitions import all_assets
from orchestration.instance import prepare_dagster_home
from orchestration.resources import SettingsResource
from orchestration.summary import asset_metadata, build_summary
from retention.errors import PipelineError, ValidationFailedError
from retention.settings import Settings


def _instance(settings: Settings) -> dg.DagsterInstance:
    """Return the Dagster instance of the profile, so runs of the CLI show in the Dagster UI."""
    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    checks = [
        event.event_specific_data.asset_check_evaluation
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
        and not event.event_specific_data.asset_check_evaluation.passed
    ]
    if checks:
        details = "; ".join(f"{check.check_name}: {check.description}" for check in checks)
        return f"A blocking check stopped publication. {details}"
    lines = []
    for event in failures:
        error = event.event_specific_data.error
        lines.append(f"step {event.step_key} failed: {error.message.strip() if error else 'unknown error'}")
    return "; ".join(lines) or "the run failed without a step failure; see the Dagster run log"


def run_pipeline(settings: Settings) -> dict[str, Any]:
    """Materialize every asset with `settings` and return the run summary."""
    resource = SettingsResource(home=str(settings.home), sample_users=settings.sample_users)
    result = dg.materialize(
        all_assets,
        instance=_instance(settings),
        resources={"settings": resource},
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
        tags={"launched_by": "retention demo"},
    )
    if not result.success:
        message = _failure_message(result)
        if message.startswith("A blocking check"):
            raise ValidationFailedError(message)
        raise PipelineError(f"The pipeline run {result.run_id} failed: {message}")
    return build_summary(asset_metadata(result))
