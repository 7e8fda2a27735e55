"""Assets that train, evaluate and register the retention models, and report drift."""

from pathlib import Path

import dagster as dg
import pandas as pd

from feature_repo.definitions import FEATURE_SERVICE_NAME
from monitoring.drift import build_drift_report
from orchestration.feature_assets import training_set, user_profile_features
from orchestration.resources import SettingsResource
from training.train import train_models


@dg.asset(group_name="training", deps=[training_set], kinds={"pytorch", "lightgbm", "mlflow"})
def retention_models(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Train the MLP and the LightGBM baseline and register both in MLflow, with the champion alias on the better one."""
    cfg = settings.get()
    summary = train_models(pd.read_parquet(cfg.training_set_path), cfg, FEATURE_SERVICE_NAME).to_dict()
    registered = summary["registered_model"]
    metadata: dict = {
        "registered_model": registered["name"],
        "champion_version": str(registered["version"]),
        "champion_alias": registered["alias"],
        "champion_model_type": registered["model_type"],
        "splits": dg.MetadataValue.json(summary["splits"]),
        "summary": dg.MetadataValue.json(summary),
    }
    for name, model in summary["models"].items():
        for metric, value in model["test"].items():
            metadata[f"{name}_test_{metric}"] = float(value)
    context.log.info(f"Champion: {registered['name']} version {registered['version']} ({registered['model_type']})")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name="monitoring", deps=[user_profile_features], kinds={"evidently"})
def feature_drift_report(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Evidently data-drift report: the earliest snapshots as reference, the latest as current."""
    cfg = settings.get()
    summary = build_drift_report(pd.read_parquet(cfg.features_path), cfg, cfg.reports_dir / "drift")
    document = summary.to_dict()
    context.log.info(
        f"{document['drifted_columns_count']} drifted columns of {len(document['columns'])}"
    )
    return dg.MaterializeResult(
        metadata={
            "drifted_columns": dg.MetadataValue.json(document["drifted_columns"]),
            "drifted_columns_share": float(document["drifted_columns_share"]),
            "dataset_drift": bool(document["dataset_drift"]),
            "html_report": dg.MetadataValue.url(Path(summary.html_path).as_uri()),
            "json_report": dg.MetadataValue.path(str(summary.json_path)),
        }
    )
