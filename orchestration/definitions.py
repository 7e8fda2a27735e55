"""The one Dagster Definitions object of the platform, loaded by `dagster dev`."""

import dagster as dg

from orchestration import feature_assets, ingestion_assets, model_assets, monitoring_assets
from orchestration.resources import SettingsResource
from orchestration.schedules import realized_performance_schedule, weekly_monitoring_schedule
from orchestration.sensors import retraining_policy_sensor

all_assets = dg.load_assets_from_modules([ingestion_assets, feature_assets, model_assets])
# Weekly partitioned assets of scoring, monitoring and retraining; `retention demo` runs all_assets only.
weekly_assets = [
    monitoring_assets.weekly_predictions,
    monitoring_assets.weekly_drift_report,
    monitoring_assets.weekly_performance_report,
    monitoring_assets.retrained_model,
    monitoring_assets.retraining_decision,
]

retention_pipeline = dg.define_asset_job(
    "retention_pipeline",
    selection=dg.AssetSelection.assets(*all_assets),
    description="Every stage from raw events to registered models and the drift report.",
)

defs = dg.Definitions(
    assets=[*all_assets, *weekly_assets],
    jobs=[
        retention_pipeline,
        monitoring_assets.weekly_monitoring_job,
        monitoring_assets.realized_performance_job,
        monitoring_assets.retraining_job,
    ],
    schedules=[weekly_monitoring_schedule, realized_performance_schedule],
    sensors=[retraining_policy_sensor],
    resources={"settings": SettingsResource()},
)
