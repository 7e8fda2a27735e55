"""Retention candidates on the profile features: the baselines practitioners pick, and the MLP.

Every class here implements training.candidates.RetentionCandidate and is registered under
its `name`. The BG/NBD candidate lives in training/bgnbd.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from feature_repo.feature_columns import CATEGORICAL_FEATURES, LABEL_COLUMN, NUMERIC_FEATURES
from retention.settings import Settings
from training.baseline import LightGBMBaseline, train_lightgbm
from training.bgnbd import BetaGeoCandidate  # noqa: F401 (importing registers "bg_nbd")
from training.calibration import ProbabilityCalibrator, fit_calibrator
from training.candidates import register_candidate
from training.mlp import RetentionMLP, predict_probabilities, train_mlp
from training.preprocessing import LOG_SCALED_FEATURES, FeaturePreprocessor

logger = logging.getLogger(__name__)

# Inverse L2 strength of the logistic regression, on standardized features.
LOGISTIC_C = 1.0
LOGISTIC_MAX_ITERATIONS = 2000


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    return frame[LABEL_COLUMN].to_numpy(dtype=np.int64)


def validation_calibrator(settings: Settings, validation: pd.DataFrame, raw: np.ndarray) -> ProbabilityCalibrator:
    """Fit the [training] calibration method on the validation window's labels and raw probabilities."""
    return fit_calibrator(settings.training.calibration, labels_of(validation), raw)


def with_training(settings: Settings, seed: int, overrides: dict[str, Any] | None = None) -> Settings:
    """Return `settings` whose [training] section has `seed` and the given overrides."""
    return replace(settings, training=replace(settings.training, seed=seed, **(overrides or {})))


@register_candidate("recency")
class RecencyCandidate:
    """Days since the last purchase alone: the more recent, the likelier the return.

    A one-feature logistic regression on -log1p(recency_days), fitted on train, turns the
    score into probabilities, so that log loss and calibration are defined. Its ranking is
    that of -recency_days whenever the fitted slope is positive, as it is on data where
    recent buyers return more often. A warning is logged otherwise.
    """

    name = "recency"
    # The fit ignores the seed, so the benchmark fits it once per origin.
    deterministic = True

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, settings: Settings, seed: int) -> None:
        recency = pd.to_numeric(train["recency_days"]).astype("float64")
        # A user without a recorded purchase counts as the least recent one of train.
        self.missing_recency = float(np.nanmax(recency.to_numpy())) if recency.notna().any() else 0.0
        self.model = LogisticRegression().fit(self._score(train), labels_of(train))
        if self.model.coef_[0, 0] <= 0:
            logger.warning(
                "The recency baseline's slope is %.4f, so on this train window recent buyers do not return "
                "more often and its ranking is not that of -recency_days.",
                self.model.coef_[0, 0],
            )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self._score(frame))[:, 1]

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        recency = pd.to_numeric(frame["recency_days"]).astype("float64").fillna(self.missing_recency)
        return -np.log1p(recency.clip(lower=0.0).to_numpy())[:, None]


@register_candidate("logistic_regression")
class LogisticRegressionCandidate:
    """L2-regularized logistic regression on the preprocessed features of the MLP.

    The classes are not weighted, so its probabilities estimate the retention rate.
    """

    name = "logistic_regression"
    # The fit ignores the seed, so the benchmark fits it once per origin.
    deterministic = True

    def __init__(self, c: float = LOGISTIC_C):
        self.c = c

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, settings: Settings, seed: int) -> None:
        self.preprocessor = FeaturePreprocessor.fit(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES, LOG_SCALED_FEATURES)
        self.model = LogisticRegression(C=self.c, max_iter=LOGISTIC_MAX_ITERATIONS, random_state=seed)
        self.model.fit(self.preprocessor.transform(train), labels_of(train))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self.preprocessor.transform(frame))[:, 1]


@register_candidate("lightgbm")
class LightGBMCandidate:
    """The LightGBM baseline of training/baseline.py, with early stopping and calibration on validation."""

    name = "lightgbm"

    def __init__(self, tree_parameters: dict[str, Any] | None = None):
        self.tree_parameters = dict(tree_parameters or {})

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, settings: Settings, seed: int) -> None:
        self.baseline, self.parameters = train_lightgbm(
            train,
            labels_of(train),
            validation,
            labels_of(validation),
            with_training(settings, seed),
            NUMERIC_FEATURES,
            CATEGORICAL_FEATURES,
            tree_parameters=self.tree_parameters,
        )
        self.calibrator = validation_calibrator(settings, validation, self.baseline.predict_probabilities(validation))

    @property
    def model(self) -> LightGBMBaseline:
        return self.baseline

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.apply(self.baseline.predict_probabilities(frame))


@register_candidate("mlp")
class MLPCandidate:
    """The multilayer perceptron of training/mlp.py behind FeaturePreprocessor, calibrated on validation.

    `training_overrides` replaces fields of the [training] settings (hidden_units, dropout,
    learning_rate, batch_size, max_epochs, early_stopping_patience).
    """

    name = "mlp"

    def __init__(self, training_overrides: dict[str, Any] | None = None):
        self.training_overrides = dict(training_overrides or {})

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, settings: Settings, seed: int) -> None:
        run_settings = with_training(settings, seed, self.training_overrides)
        self.preprocessor = FeaturePreprocessor.fit(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES, LOG_SCALED_FEATURES)
        validation_features = self.preprocessor.transform(validation)
        self.network, self.history = train_mlp(
            self.preprocessor.transform(train), labels_of(train), validation_features, labels_of(validation), run_settings
        )
        raw_validation = predict_probabilities(self.network, validation_features)
        self.calibrator = validation_calibrator(run_settings, validation, raw_validation)

    @property
    def model(self) -> RetentionMLP:
        return self.network

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.apply(predict_probabilities(self.network, self.preprocessor.transform(frame)))
