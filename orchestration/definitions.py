"""The one Dagster Definitions object of the platform, loaded by `dagster dev`."""

import dagster as dg

from orchestration import feature_assets, ingestion_assets, model_assets
from orchestration.resources import SettingsResource

all_assets = dg.load_assets_from_modules([ingestion_assets, feature_assets, model_assets])

retention_pipeline = dg.define_asset_job(
    "retention_pipeline",
    selection=dg.AssetSelection.all(),
    description="Every stage from raw events to registered models and the drift report.",
)

defs = dg.Definitions(
    assets=all_assets,
    jobs=[retention_pipeline],
    resources={"settings": SettingsResource()},
)
