"""The sequence models that the training job fits and registers when [training] sequence_models names them."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from feature_repo.definitions import SEQUENCE_FEATURE_SERVICE_NAME
from feature_repo.feature_columns import FEATURE_COLUMNS, SEQUENCE_COLUMNS
from retention.errors import PipelineError
from retention.settings import Settings
from training.metrics import roc_figure
from training.pyfunc import PACKAGE_ROOT
from training.registry import ModelCandidate
from training.sequence_candidates import SequenceCandidate
from training.sequence_pyfunc import SEQUENCE_MODEL_CODE, save_sequence_artifacts, sequence_signature
from training.splits import TimeSplits

logger = logging.getLogger(__name__)

INPUT_EXAMPLE_ROWS = 5


def fit_sequence_models(splits: TimeSplits, settings: Settings) -> dict[str, SequenceCandidate]:
    """Fit every model of [training] sequence_models on train, early-stopped and calibrated on validation."""
    fitted = {}
    for model_type in settings.training.sequence_models:
        started = time.perf_counter()
        candidate = SequenceCandidate(model_type)
        candidate.fit(splits.train, splits.validation, settings, settings.training.seed)
        logger.info("Trained %s in %.1f s", model_type, time.perf_counter() - started)
        fitted[model_type] = candidate
    return fitted


def check_sequence_columns(frame: pd.DataFrame) -> None:
    missing = [column for column in SEQUENCE_COLUMNS if column not in frame.columns]
    if missing:
        raise PipelineError(
            f"[training] sequence_models is set, but the training set lacks the sequence column(s) {missing}. "
            f"Rebuild it from the feature service {SEQUENCE_FEATURE_SERVICE_NAME} (the training_set asset does), "
            "or set sequence_models = []."
        )


def sequence_model_candidate(
    candidate: SequenceCandidate,
    metrics: dict[str, dict[str, float]],
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    train: pd.DataFrame,
) -> ModelCandidate:
    """Return what the MLflow run of a fitted sequence model records; its version reads the sequence feature service."""
    if candidate.config is None or candidate.history is None:
        raise RuntimeError(f"The {candidate.name} candidate is not fitted; call fit() first.")
    example = train[[*FEATURE_COLUMNS, *SEQUENCE_COLUMNS]].head(INPUT_EXAMPLE_ROWS).reset_index(drop=True)
    for column in SEQUENCE_COLUMNS:
        # Lists, as online reads return them, so that MLflow can store the example as JSON.
        example[column] = [None if values is None else list(values) for values in example[column]]
    history = candidate.history
    return ModelCandidate(
        model_type=candidate.name,
        model_code=SEQUENCE_MODEL_CODE,
        save_artifacts=lambda folder: save_sequence_artifacts(candidate, folder),
        params={**candidate.config.to_params(), "best_epoch": history.best_epoch, "device": history.device},
        metrics=metrics,
        roc_figure=roc_figure(curves, title=f"{candidate.name} ROC curves"),
        signature=sequence_signature(),
        input_example=example,
        epoch_metrics={"epoch_train_loss": history.train_loss, "epoch_validation_loss": history.validation_loss},
        feature_service=SEQUENCE_FEATURE_SERVICE_NAME,
        extra_code_paths=(str(PACKAGE_ROOT / "feature_repo"),),
    )
