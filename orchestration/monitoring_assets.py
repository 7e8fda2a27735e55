"""Weekly partitioned assets: scores, drift and realized performance, and the retraining they lead to.

The logic lives in monitoring/ and training/; these assets call it for one week and record what
the Dagster UI shows: the model that served, the report links and the gate's decision.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from feature_repo.feature_columns import SNAPSHOT_COLUMN
from monitoring.data_docs import write_data_docs
from monitoring.index_page import write_index_page
from monitoring.scoring import (
    PREDICTION_COLUMN,
    champion_reference,
    join_realized_labels,
    load_current_champion,
    load_model_version,
    score_week,
    week_features,
)
from monitoring.validation import validate_features
from monitoring.weekly import drift_report, performance_report
from monitoring.weeks import predictions_path, week_report_dir
from orchestration.feature_assets import user_profile_features
from orchestration.resources import SettingsResource
from retention.errors import ValidationFailedError
from retention.settings import load_settings
from training.promotion_log import current_actor, promotion_log_path
from training.retrain import retrain_as_of

# Weeks start on Sunday 00:00 UTC (day_offset=0), as monitoring/weeks.py names them.
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date=load_settings().monitoring.first_week)

LAUNCHED_BY_TAG = "retention/launched_by"
REASONS_TAG = "retention/reasons"

retraining_decision = dg.AssetSpec(
    "retraining_decision",
    partitions_def=weekly_partitions,
    group_name="monitoring",
    description="The retraining policy's decision for each monitored week, reported by retraining_policy_sensor.",
)


class AsOfConfig(dg.Config):
    """The moment up to which the run may use labels, ISO 8601. Empty means now, as in production."""

    as_of: str = ""

    def moment(self) -> pd.Timestamp:
        return pd.Timestamp(self.as_of) if self.as_of else pd.Timestamp.now(tz="UTC")


@dg.asset(partitions_def=weekly_partitions, group_name="monitoring", deps=[user_profile_features], kinds={"feast", "mlflow"})
def weekly_predictions(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Score every active user of the week with the champion, reading features from the online store."""
    cfg, week = settings.get(), context.partition_key
    rows = week_features(pd.read_parquet(cfg.features_path), week)
    quality = validate_features(rows)
    docs_path = write_data_docs([quality], week_report_dir(cfg, week) / "data_docs")
    if not quality.success:
        raise ValidationFailedError(
            f"The feature rows of week {week} fail their expectations, so they are not scored. "
            f"See the Data Docs at {docs_path}, fix the data and rerun the week."
        )
    champion = load_current_champion(cfg)
    predictions = score_week(cfg, week, rows, champion)
    return dg.MaterializeResult(
        metadata={
            "snapshot_time": str(rows[SNAPSHOT_COLUMN].iloc[0]),
            "users": len(predictions),
            "model_version": champion.version,
            "model_type": champion.model_type,
            "feature_service": champion.feature_service,
            "mean_prediction": float(predictions[PREDICTION_COLUMN].mean()),
            "data_quality_passed": bool(quality.success),
            "data_docs": dg.MetadataValue.url(docs_path.as_uri()),
            "path": dg.MetadataValue.path(str(predictions_path(cfg, week))),
        }
    )


@dg.asset(partitions_def=weekly_partitions, group_name="monitoring", deps=[weekly_predictions], kinds={"evidently"})
def weekly_drift_report(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Evidently feature and prediction drift of the week against the test window of the serving champion's training."""
    cfg, week = settings.get(), context.partition_key
    predictions = pd.read_parquet(predictions_path(cfg, week))
    champion = load_model_version(cfg, str(predictions["model_version"].iloc[0]))
    snapshot = pd.Timestamp(predictions[SNAPSHOT_COLUMN].iloc[0])
    findings = drift_report(
        champion_reference(cfg, champion), predictions, week_report_dir(cfg, week), cfg.monitoring.min_window_rows
    )
    index = write_index_page(cfg)
    prediction_drift = findings.prediction_drift or {}
    return dg.MaterializeResult(
        metadata={
            "status": findings.status,
            "reason": findings.reason,
            "snapshot_time": str(snapshot),
            "drifted_share": findings.drifted_share if findings.drifted_share is not None else float("nan"),
            "drifted_columns": dg.MetadataValue.json(findings.drifted_columns),
            "prediction_drift": bool(prediction_drift.get("drifted", False)),
            "prediction_drift_assessed": bool(prediction_drift),
            "prediction_drift_score": float(prediction_drift.get("score", float("nan"))),
            "empty_columns": dg.MetadataValue.json(findings.issues.empty),
            "constant_columns": dg.MetadataValue.json(findings.issues.constant),
            "unseen_categories": dg.MetadataValue.json(findings.issues.unseen_categories),
            "champion_version": champion.version,
            "model_age_weeks": float(champion.age_weeks(snapshot)),
            "expected_roc_auc": champion.test_roc_auc,
            "html_report": dg.MetadataValue.url(Path(findings.html_path).as_uri()),
            "json_report": dg.MetadataValue.path(findings.json_path),
            "index_page": dg.MetadataValue.url(index.as_uri()),
        }
    )


@dg.asset(partitions_def=weekly_partitions, group_name="monitoring", deps=[weekly_predictions], kinds={"evidently"})
def weekly_performance_report(
    context: dg.AssetExecutionContext, config: AsOfConfig, settings: SettingsResource
) -> dg.MaterializeResult:
    """Realized ROC-AUC and calibration of the week's predictions, once their labels are known at `as_of`."""
    cfg, week = settings.get(), context.partition_key
    labelled = join_realized_labels(cfg, week, config.moment())
    champion = load_model_version(cfg, str(labelled["model_version"].iloc[0]))
    findings = performance_report(
        champion_reference(cfg, champion),
        labelled,
        week_report_dir(cfg, week),
        cfg.monitoring.min_window_rows,
        cfg.promotion.calibration_bins,
    )
    index = write_index_page(cfg)
    roc_auc = findings.metrics.get("roc_auc", float("nan"))
    return dg.MaterializeResult(
        metadata={
            "status": findings.status,
            "reason": findings.reason,
            "rows": findings.rows,
            "roc_auc": roc_auc,
            "ece": findings.metrics.get("ece", float("nan")),
            "brier": findings.metrics.get("brier", float("nan")),
            "positive_rate": findings.metrics.get("positive_rate", float("nan")),
            "served_model_version": champion.version,
            "expected_roc_auc": champion.test_roc_auc,
            "roc_auc_drop": champion.test_roc_auc - roc_auc,
            "html_report": dg.MetadataValue.url(Path(findings.html_path).as_uri()),
            "json_report": dg.MetadataValue.path(findings.json_path),
            "index_page": dg.MetadataValue.url(index.as_uri()),
        }
    )


@dg.asset(partitions_def=weekly_partitions, group_name="training", kinds={"pytorch", "lightgbm", "mlflow"})
def retrained_model(context: dg.AssetExecutionContext, config: AsOfConfig, settings: SettingsResource) -> dg.MaterializeResult:
    """Both candidates retrained on the labels known at `as_of`; the better one goes through the promotion gate."""
    cfg = settings.get()
    tags = context.run.tags
    by = "sensor" if tags.get(LAUNCHED_BY_TAG) == "sensor" else tags.get(LAUNCHED_BY_TAG) or current_actor()
    trigger = tags.get(REASONS_TAG, "launched by hand")
    summary = retrain_as_of(cfg, config.moment(), {"by": by, "trigger": trigger, "week": context.partition_key}).to_dict()
    promotion = summary["promotion"]
    context.log.info(f"Promotion gate: {promotion['decision']}; {'; '.join(promotion['reasons'])}")
    return dg.MaterializeResult(
        metadata={
            "decision": promotion["decision"],
            "reasons": dg.MetadataValue.md("\n".join(f"- {reason}" for reason in promotion["reasons"])),
            "challenger_version": promotion["challenger"]["version"],
            "challenger_model_type": promotion["challenger"]["model_type"],
            "champion_version": promotion["champion_after"],
            "previous_champion": (promotion["previous_champion"] or {}).get("version", "none"),
            "challenger_metrics": dg.MetadataValue.json(promotion["challenger"]["metrics"]),
            "champion_metrics": dg.MetadataValue.json(promotion["champion_metrics"] or {}),
            "data_as_of": promotion["data_as_of"],
            "test_window": dg.MetadataValue.json(promotion["test_window"]),
            "launched_by": by,
            "trigger": trigger,
            "promotion_log": dg.MetadataValue.path(str(promotion_log_path(cfg))),
        }
    )


weekly_monitoring_job = dg.define_asset_job(
    "weekly_monitoring_job",
    selection=[weekly_predictions, weekly_drift_report],
    description="Score the week's active users with the champion and report drift against its reference data.",
)
realized_performance_job = dg.define_asset_job(
    "realized_performance_job",
    selection=[weekly_performance_report],
    description="Join a week's realized labels once its horizon has passed and report realized performance.",
)
retraining_job = dg.define_asset_job(
    "retraining_job",
    selection=[retrained_model],
    description="Retrain on the labels known at the week and send the challenger through the promotion gate.",
)
