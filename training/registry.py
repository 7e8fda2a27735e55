"""MLflow tracking and model registry: runs, registered versions and the champion alias."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature

from retention.errors import PipelineError
from retention.settings import Settings
from training.pyfunc import PIP_REQUIREMENTS, code_paths

logger = logging.getLogger(__name__)

EXPERIMENT_NAME = "user_retention"
MODEL_ARTIFACT_NAME = "model"
ROC_FIGURE_FILE = "roc_curves.png"
SPLITS_FILE = "splits.json"


@dataclass
class ModelCandidate:
    """A trained model with everything that its MLflow run records."""

    # Short model type, also the run name and the model_type version tag, such as "mlp" or "cnn_lstm".
    model_type: str
    # Models-from-code file that creates the mlflow.pyfunc.PythonModel.
    model_code: Path
    # Writes the model files into a folder and returns the artifacts mapping of log_model.
    save_artifacts: Callable[[Path], dict[str, str]]
    params: dict[str, Any]
    # {"validation": {...}, "test": {...}} as returned by classification_metrics.
    metrics: dict[str, dict[str, float]]
    roc_figure: Figure
    signature: ModelSignature
    # A few raw feature rows, stored with the model as an example request.
    input_example: pd.DataFrame
    # Per-epoch series such as train_loss, logged as metrics with step = epoch.
    epoch_metrics: dict[str, list[float]] = field(default_factory=dict)
    # The feature service the model reads, when it is not the one of the training run's version tags.
    feature_service: str | None = None
    # Packages copied into the model besides those of training.pyfunc.code_paths.
    extra_code_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisteredCandidate:
    """A logged candidate with its run and its version of the registered model."""

    model_type: str
    run_id: str
    model_uri: str
    version: ModelVersion


def configure_mlflow(settings: Settings) -> str:
    """Point MLflow at the tracking store of `settings` and return the experiment id.

    The experiment is created with `settings.mlflow_artifact_location` when it does not
    exist yet. This sets the process-wide tracking URI of the mlflow module.
    """
    if settings.profile != "production":
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)

    experiment = mlflow.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        experiment_id = mlflow.create_experiment(
            EXPERIMENT_NAME, artifact_location=settings.mlflow_artifact_location
        )
        logger.info(
            "Created MLflow experiment %s (id %s) with artifacts in %s",
            EXPERIMENT_NAME,
            experiment_id,
            settings.mlflow_artifact_location,
        )
        return experiment_id

    if experiment.artifact_location != settings.mlflow_artifact_location:
        logger.warning(
            "MLflow experiment %s stores artifacts in %s, not in %s from the settings. New runs keep using %s",
            EXPERIMENT_NAME,
            experiment.artifact_location,
            settings.mlflow_artifact_location,
            experiment.artifact_location,
        )
    return experiment.experiment_id


def log_and_register(
    candidate: ModelCandidate,
    settings: Settings,
    experiment_id: str,
    version_tags: dict[str, str],
    splits_description: dict[str, Any],
) -> RegisteredCandidate:
    """Log one candidate as an MLflow run and register it as a new version of the registered model.

    The run records params, validation_* and test_* metrics, per-epoch metrics, the ROC
    figure, the split windows and the pyfunc model. The version gets `version_tags` plus
    model_type and run_id.
    """
    if candidate.feature_service:
        version_tags = {**version_tags, "feature_service": candidate.feature_service}
    with mlflow.start_run(experiment_id=experiment_id, run_name=candidate.model_type) as run:
        mlflow.set_tags({"model_type": candidate.model_type, **version_tags})
        mlflow.log_params(candidate.params)
        mlflow.log_metrics(_flatten_metrics(candidate.metrics))
        for step, values in enumerate(zip(*candidate.epoch_metrics.values()), start=1):
            mlflow.log_metrics(dict(zip(candidate.epoch_metrics, values)), step=step)
        mlflow.log_figure(candidate.roc_figure, ROC_FIGURE_FILE)
        mlflow.log_dict(splits_description, SPLITS_FILE)

        with tempfile.TemporaryDirectory(prefix=f"{candidate.model_type}-") as folder:
            model_info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT_NAME,
                python_model=candidate.model_code,
                artifacts=candidate.save_artifacts(Path(folder)),
                code_paths=[*code_paths(), *candidate.extra_code_paths],
                pip_requirements=list(PIP_REQUIREMENTS),
                signature=candidate.signature,
                input_example=candidate.input_example,
            )
        run_id = run.info.run_id

    tags = {**version_tags, "model_type": candidate.model_type, "run_id": run_id}
    version = mlflow.register_model(model_info.model_uri, settings.registry.registered_model_name, tags=tags)
    logger.info(
        "Registered %s from run %s as version %s of %s",
        candidate.model_type,
        run_id,
        version.version,
        settings.registry.registered_model_name,
    )
    return RegisteredCandidate(candidate.model_type, run_id, model_info.model_uri, version)


def set_champion(
    settings: Settings, candidates: list[RegisteredCandidate], validation_roc_auc: dict[str, float]
) -> RegisteredCandidate:
    """Move the champion alias to the candidate with the highest validation ROC-AUC and return it.

    Candidates with a NaN ROC-AUC are skipped. On a tie the earlier candidate wins.

    NOTE: the version that held the alias before is not compared, so a weaker retrain
    still takes the alias.
    """
    ranked = [item for item in candidates if not math.isnan(validation_roc_auc[item.model_type])]
    if not ranked:
        raise PipelineError(
            f"No candidate has a validation ROC-AUC (values: {validation_roc_auc}), so none can become "
            f"{settings.registry.champion_alias}. The validation window needs both retained and churned users."
        )
    champion = max(ranked, key=lambda candidate: validation_roc_auc[candidate.model_type])

    client = MlflowClient()
    client.set_registered_model_alias(
        settings.registry.registered_model_name, settings.registry.champion_alias, champion.version.version
    )
    logger.info(
        "Alias %s of %s now points to version %s (%s, validation ROC-AUC %.4f)",
        settings.registry.champion_alias,
        settings.registry.registered_model_name,
        champion.version.version,
        champion.model_type,
        validation_roc_auc[champion.model_type],
    )
    return champion


def load_champion(settings: Settings) -> tuple[mlflow.pyfunc.PyFuncModel, ModelVersion]:
    """Load the version behind the champion alias as a pyfunc model.

    This sets the process-wide tracking URI of the mlflow module to the one of `settings`.
    """
    name = settings.registry.registered_model_name
    alias = settings.registry.champion_alias
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)

    try:
        version = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise PipelineError(
            f"Cannot resolve alias {alias!r} of registered model {name!r}: {error.message} "
            "Run training first, or set the alias on an existing version."
        ) from error

    model = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    logger.info("Loaded %s version %s (alias %s)", name, version.version, alias)
    return model, version


def _flatten_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    return {f"{split}_{name}": value for split, values in metrics.items() for name, value in values.items()}
