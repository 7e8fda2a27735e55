"""Training pipeline: time split, preprocessing, the candidates, evaluation, calibration and registration."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from feature_repo.feature_columns import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    LABEL_COLUMN,
    NUMERIC_FEATURES,
    SNAPSHOT_COLUMN,
)
from retention.errors import PipelineError
from retention.settings import Settings
from training.baseline import LightGBMBaseline, train_lightgbm
from training.calibration import ProbabilityCalibrator, fit_calibrator
from training.explain import lightgbm_global_importance, log_global_importance, mlp_global_importance
from training.metrics import best_f1_threshold, classification_metrics, roc_figure
from training.mlp import WEIGHT_DECAY, MLPHistory, RetentionMLP, predict_probabilities, train_mlp
from training.preprocessing import LOG_SCALED_FEATURES, FeaturePreprocessor
from training.plots import log_figures, pr_and_calibration_figures
from training.pyfunc import (
    LIGHTGBM_MODEL_CODE,
    MLP_MODEL_CODE,
    model_signature,
    save_lightgbm_artifacts,
    save_mlp_artifacts,
)
from training.promotion import promote_best_candidate
from training.registry import ModelCandidate, configure_mlflow, log_and_register
from training.sequence_explain import sequence_global_importance
from training.splits import TimeSplits, split_by_time
from training.train_sequences import check_sequence_columns, fit_sequence_models, sequence_model_candidate

logger = logging.getLogger(__name__)

INPUT_EXAMPLE_ROWS = 5
EVALUATED_SPLITS = ("validation", "test")


Predictor = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class TrainingSummary:
    """Outcome of one training run: split windows, metrics per model and the champion."""

    splits: dict[str, dict[str, Any]]
    # {model_type: {"validation": metrics, "test": metrics, "run_id": str, "version": str}}
    models: dict[str, dict[str, Any]]
    # {"name", "version", "alias", "model_type"} of the champion after the promotion gate.
    registered_model: dict[str, str]
    # The promotion gate's record: decision, reasons and both models' test-window metrics.
    promotion: dict[str, Any] = field(default_factory=dict)
    # In-memory models by model_type: raw feature frame in, probabilities out. Not in to_dict.
    predictors: dict[str, Predictor] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain data, with undefined metrics (NaN) as None so that it is valid JSON."""
        return {
            "splits": self.splits,
            "models": {name: _nan_to_none(result) for name, result in self.models.items()},
            "registered_model": dict(self.registered_model),
            "promotion": _nan_to_none(self.promotion),
        }


def train_models(
    training_set: pd.DataFrame,
    settings: Settings,
    feature_service_name: str,
    promotion_context: dict[str, str] | None = None,
) -> TrainingSummary:
    """Train the MLP, the LightGBM baseline and the [training] sequence_models, register them all and
    send the best one through the promotion gate.

    The gate (training/promotion.py) compares it with the current champion on its test window;
    `promotion_context` ("by", "trigger", "data_as_of") is recorded with the decision.

    `training_set` is the point-in-time training set: user_id, snapshot_time, label and the
    feature columns, plus the sequence columns for sequence models. The best model has the highest
    validation ROC-AUC. Test metrics are logged for every model but never used to choose.
    """
    _check_training_set(training_set)
    if settings.training.sequence_models:
        check_sequence_columns(training_set)
    splits = split_by_time(training_set, settings)
    frames = splits.frames()
    labels = {name: frame[LABEL_COLUMN].to_numpy(dtype=np.int64) for name, frame in frames.items()}

    started = time.perf_counter()
    preprocessor = FeaturePreprocessor.fit(
        splits.train, NUMERIC_FEATURES, CATEGORICAL_FEATURES, LOG_SCALED_FEATURES
    )
    mlp, history = train_mlp(
        preprocessor.transform(splits.train),
        labels["train"],
        preprocessor.transform(splits.validation),
        labels["validation"],
        settings,
    )
    logger.info("Preprocessed the features and trained the MLP in %.1f s", time.perf_counter() - started)

    started = time.perf_counter()
    baseline, baseline_params = train_lightgbm(
        splits.train,
        labels["train"],
        splits.validation,
        labels["validation"],
        settings,
        NUMERIC_FEATURES,
        CATEGORICAL_FEATURES,
    )
    logger.info("Trained the LightGBM baseline in %.1f s", time.perf_counter() - started)

    raw_predictors: dict[str, Predictor] = {
        "mlp": lambda frame: predict_probabilities(mlp, preprocessor.transform(frame)),
        "lightgbm": baseline.predict_probabilities,
    }
    # Both models weight the classes, so their probabilities are calibrated on the validation window.
    calibrators = {
        model_type: fit_calibrator(settings.training.calibration, labels["validation"], predict(splits.validation))
        for model_type, predict in raw_predictors.items()
    }
    predictors: dict[str, Predictor] = {
        model_type: _calibrated(predict, calibrators[model_type]) for model_type, predict in raw_predictors.items()
    }
    # Sequence models calibrate themselves on validation when they are fitted.
    sequence_models = fit_sequence_models(splits, settings)
    predictors.update({model_type: model.predict_proba for model_type, model in sequence_models.items()})
    curves = {
        model_type: {split: (labels[split], predict(frames[split])) for split in EVALUATED_SPLITS}
        for model_type, predict in predictors.items()
    }
    # Precision, recall, F1 and accuracy use the threshold with the highest F1 on validation.
    thresholds = {model_type: best_f1_threshold(*by_split["validation"]) for model_type, by_split in curves.items()}
    metrics = {
        model_type: {split: classification_metrics(*curve, thresholds[model_type]) for split, curve in by_split.items()}
        for model_type, by_split in curves.items()
    }
    importance = {
        "mlp": mlp_global_importance(mlp, preprocessor, splits.validation, settings.training.seed),
        "lightgbm": lightgbm_global_importance(baseline),
        **{
            model_type: sequence_global_importance(model, splits.validation, settings.training.seed)
            for model_type, model in sequence_models.items()
        },
    }
    for model_type, by_split in metrics.items():
        for split, values in by_split.items():
            logger.info("%s %s metrics: %s", model_type, split, _format_metrics(values))

    input_example = splits.train[list(FEATURE_COLUMNS)].head(INPUT_EXAMPLE_ROWS).reset_index(drop=True)
    candidates = [
        _mlp_candidate(
            mlp,
            history,
            preprocessor,
            settings,
            metrics["mlp"],
            curves["mlp"],
            input_example,
            importance["mlp"],
            calibrators["mlp"],
        ),
        _lightgbm_candidate(
            baseline,
            {**baseline_params, "calibration": calibrators["lightgbm"].method},
            metrics["lightgbm"],
            curves["lightgbm"],
            input_example,
            calibrators["lightgbm"],
        ),
        *[
            sequence_model_candidate(model, metrics[model_type], curves[model_type], splits.train)
            for model_type, model in sequence_models.items()
        ],
    ]
    experiment_id = configure_mlflow(settings)
    version_tags = {"feature_service": feature_service_name, **_window_tags(splits)}
    registered = [
        log_and_register(candidate, settings, experiment_id, version_tags, splits.describe())
        for candidate in candidates
    ]
    for item in registered:
        log_figures(item.run_id, pr_and_calibration_figures(curves[item.model_type], item.model_type))
        log_global_importance(item.run_id, importance[item.model_type])
        MlflowClient().log_param(item.run_id, "decision_threshold", round(thresholds[item.model_type], 6))

    validation_roc_auc = {model_type: metrics[model_type]["validation"]["roc_auc"] for model_type in metrics}
    promotion = promote_best_candidate(
        settings, registered, validation_roc_auc, splits.test, splits.describe(), feature_service_name, promotion_context
    )
    champion = promotion.champion
    return TrainingSummary(
        splits=splits.describe(),
        models={
            item.model_type: {
                **metrics[item.model_type],
                "run_id": item.run_id,
                "version": str(item.version.version),
            }
            for item in registered
        },
        registered_model={
            "name": settings.registry.registered_model_name,
            "version": str(champion.version.version),
            "alias": settings.registry.champion_alias,
            "model_type": champion.model_type,
        },
        promotion=promotion.record,
        predictors=predictors,
    )


def _check_training_set(training_set: pd.DataFrame) -> None:
    required = [SNAPSHOT_COLUMN, LABEL_COLUMN, *FEATURE_COLUMNS]
    missing = [column for column in required if column not in training_set.columns]
    if missing:
        raise PipelineError(
            f"The training set lacks column(s) {missing}. Build it with the point-in-time join of the "
            "feature service, which returns snapshot_time, label and every feature column."
        )
    invalid_labels = training_set.loc[~training_set[LABEL_COLUMN].isin([0, 1]), LABEL_COLUMN]
    if len(invalid_labels):
        raise PipelineError(
            f"The {LABEL_COLUMN!r} column has {len(invalid_labels)} value(s) other than 0 and 1, for example "
            f"{invalid_labels.head(3).tolist()}. Drop rows whose label is not known yet before training."
        )


def _mlp_candidate(
    model: RetentionMLP,
    history: MLPHistory,
    preprocessor: FeaturePreprocessor,
    settings: Settings,
    metrics: dict[str, dict[str, float]],
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    input_example: pd.DataFrame,
    global_importance: dict[str, float],
    calibrator: ProbabilityCalibrator,
) -> ModelCandidate:
    config = settings.training
    params = {
        "hidden_units": list(config.hidden_units),
        "dropout": config.dropout,
        "learning_rate": config.learning_rate,
        "weight_decay": WEIGHT_DECAY,
        "batch_size": config.batch_size,
        "max_epochs": config.max_epochs,
        "early_stopping_patience": config.early_stopping_patience,
        "seed": config.seed,
        "pos_weight": round(history.pos_weight, 6),
        "epochs_trained": len(history.train_loss),
        "best_epoch": history.best_epoch,
        "device": history.device,
        "input_features": len(preprocessor.feature_names_out),
        "calibration": calibrator.method,
    }
    return ModelCandidate(
        model_type="mlp",
        model_code=MLP_MODEL_CODE,
        save_artifacts=lambda folder: save_mlp_artifacts(model, preprocessor, folder, global_importance, calibrator),
        params=params,
        metrics=metrics,
        roc_figure=roc_figure(curves, title="MLP ROC curves"),
        signature=model_signature(NUMERIC_FEATURES, CATEGORICAL_FEATURES),
        input_example=input_example,
        epoch_metrics={
            "epoch_train_loss": history.train_loss,
            "epoch_validation_loss": history.validation_loss,
            "epoch_validation_roc_auc": history.validation_roc_auc,
            "epoch_learning_rate": history.learning_rate,
        },
    )


def _lightgbm_candidate(
    baseline: LightGBMBaseline,
    params: dict[str, Any],
    metrics: dict[str, dict[str, float]],
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    input_example: pd.DataFrame,
    calibrator: ProbabilityCalibrator,
) -> ModelCandidate:
    return ModelCandidate(
        model_type="lightgbm",
        model_code=LIGHTGBM_MODEL_CODE,
        save_artifacts=lambda folder: save_lightgbm_artifacts(baseline, folder, calibrator),
        params=params,
        metrics=metrics,
        roc_figure=roc_figure(curves, title="LightGBM ROC curves"),
        signature=model_signature(NUMERIC_FEATURES, CATEGORICAL_FEATURES),
        input_example=input_example,
    )


def _calibrated(predict: Predictor, calibrator: ProbabilityCalibrator) -> Predictor:
    return lambda frame: calibrator.apply(predict(frame))


def _window_tags(splits: TimeSplits) -> dict[str, str]:
    """Return {split}_window tags as ISO 8601 intervals of the first and last snapshot."""
    description = splits.describe()
    return {f"{name}_window": f"{summary['start']}/{summary['end']}" for name, summary in description.items()}


def _format_metrics(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in values.items())


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
