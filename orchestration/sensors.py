"""The retraining sensor: after each new weekly drift report, apply the policy and retrain or record why not.

It reads the week's drift metadata and the newest realized performance of the serving champion
from the Dagster instance, evaluates monitoring.policy, appends the decision to the decision log,
reports it as a materialization of the retraining_decision asset (one partition per week), and
either requests the retraining job or skips with the decision's reasons as the tick's message.
"""

import json
import math
from dataclasses import asdict, dataclass

import dagster as dg

from monitoring.policy import PolicyDecision, PolicyInputs, append_decision, evaluate_policy
from monitoring.weeks import decision_log_path, week_window
from orchestration.monitoring_assets import (
    LAUNCHED_BY_TAG,
    REASONS_TAG,
    retrained_model,
    retraining_decision,
    retraining_job,
    weekly_drift_report,
    weekly_performance_report,
)
from orchestration.resources import SettingsResource
from training.promotion_log import utc_now

# Materializations of the performance report searched for the champion's newest realized week.
PERFORMANCE_LOOKBACK = 26
# Dagster limits tag values to 4,096 characters.
MAX_TAG_LENGTH = 4000


@dataclass
class SensorCursor:
    """The newest week evaluated, the storage id after which to look for reports, and the last retraining."""

    week: str | None = None
    storage_id: int | None = None
    last_retrain_week: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> "SensorCursor":
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self))


def _metadata(record: dg.EventLogRecord) -> dict:
    materialization = record.asset_materialization
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


def _newest_drift_report(instance: dg.DagsterInstance, cursor: SensorCursor) -> dg.EventLogRecord | None:
    """Return the report of the newest week among those materialized after the cursor, if any."""
    records_filter = dg.AssetRecordsFilter(asset_key=weekly_drift_report.key, after_storage_id=cursor.storage_id)
    records = instance.fetch_materializations(records_filter, limit=100, ascending=True).records
    if not records:
        return None
    return max(records, key=lambda record: (record.partition_key or "", record.storage_id))


def _realized_performance(instance: dg.DagsterInstance, week: str, champion_version: str) -> tuple[str, dict] | None:
    """Return (week, metadata) of the newest ok performance report of `champion_version` up to `week`."""
    records = instance.fetch_materializations(weekly_performance_report.key, limit=PERFORMANCE_LOOKBACK).records
    candidates = []
    for record in records:
        metadata = _metadata(record)
        served = str(metadata.get("served_model_version"))
        if record.partition_key and record.partition_key <= week and served == champion_version and metadata.get("status") == "ok":
            candidates.append((record.partition_key, metadata))
    return max(candidates, key=lambda item: item[0]) if candidates else None


def policy_inputs(instance: dg.DagsterInstance, week: str, drift: dict, cursor: SensorCursor) -> PolicyInputs:
    """Assemble the policy's inputs for `week` from its drift metadata and the instance's performance reports."""
    champion_version = str(drift["champion_version"])
    realized = _realized_performance(instance, week, champion_version)
    # The champion's own training counts as a retraining, so a new champion gets the same grace period.
    model_age = float(drift.get("model_age_weeks", math.nan))
    elapsed = [model_age] if not math.isnan(model_age) else []
    if cursor.last_retrain_week:
        elapsed.append((week_window(week)[0] - week_window(cursor.last_retrain_week)[0]).days / 7)
    drifted_share = drift.get("drifted_share")
    return PolicyInputs(
        week=week,
        champion_version=champion_version,
        drift_status=str(drift.get("status")),
        drift_reason=str(drift.get("reason", "")),
        drifted_share=None if drifted_share is None or math.isnan(drifted_share) else float(drifted_share),
        drifted_columns=list(drift.get("drifted_columns") or []),
        prediction_drift=bool(drift["prediction_drift"]) if drift.get("prediction_drift_assessed") else None,
        model_age_weeks=model_age,
        realized_week=realized[0] if realized else None,
        realized_roc_auc=float(realized[1]["roc_auc"]) if realized else None,
        expected_roc_auc=float(drift.get("expected_roc_auc", math.nan)),
        weeks_since_retrain=min(elapsed) if elapsed else None,
    )


def _decision_event(decision: PolicyDecision) -> dg.AssetMaterialization:
    return dg.AssetMaterialization(
        asset_key=retraining_decision.key,
        partition=decision.week,
        description=decision.summary(),
        metadata={
            "decision": decision.decision,
            "reasons": dg.MetadataValue.md("\n".join(f"- {reason}" for reason in decision.reasons)),
            "rules": dg.MetadataValue.json([asdict(rule) for rule in decision.rules]),
        },
    )


@dg.sensor(
    job=retraining_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Apply the [policy] rules to each new weekly drift report; launch retraining_job or record why not.",
)
def retraining_policy_sensor(context: dg.SensorEvaluationContext, settings: SettingsResource) -> dg.SensorResult:
    cfg = settings.get()
    cursor = SensorCursor.parse(context.cursor)
    record = _newest_drift_report(context.instance, cursor)
    if record is None:
        return dg.SensorResult(skip_reason=dg.SkipReason("No weekly drift report since the last evaluation."))
    week = record.partition_key
    if cursor.week and week <= cursor.week:
        cursor.storage_id = record.storage_id
        message = f"Only reports of weeks up to {cursor.week}, which was already evaluated, are new (newest: {week})."
        return dg.SensorResult(skip_reason=dg.SkipReason(message), cursor=cursor.dump())

    drift = _metadata(record)
    inputs = policy_inputs(context.instance, week, drift, cursor)
    decision = evaluate_policy(inputs, cfg.policy)
    append_decision(
        decision_log_path(cfg), {**decision.to_dict(), "inputs": asdict(inputs), "at": utc_now(), "by": "sensor"}
    )
    cursor.week, cursor.storage_id = week, record.storage_id
    if not decision.retrain:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(decision.summary()), cursor=cursor.dump(), asset_events=[_decision_event(decision)]
        )

    cursor.last_retrain_week = week
    run_request = dg.RunRequest(
        run_key=f"retrain-{week}",
        partition_key=week,
        run_config={"ops": {retrained_model.op.name: {"config": {"as_of": str(drift["snapshot_time"])}}}},
        tags={LAUNCHED_BY_TAG: "sensor", REASONS_TAG: "; ".join(decision.reasons)[:MAX_TAG_LENGTH]},
    )
    return dg.SensorResult(run_requests=[run_request], cursor=cursor.dump(), asset_events=[_decision_event(decision)])
