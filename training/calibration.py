"""Probability calibration of class-weighted models, and the metrics that judge calibration.

Class weighting helps a model learn the minority class but shifts its probabilities away from
the observed retention rate. A calibrator fitted on the validation window maps the raw
probabilities back. Platt scaling fits a logistic regression on the logit of the probability:
two numbers, and the ranking, so ROC-AUC, does not change. Isotonic regression fits a monotone
step function: more flexible, but it needs more rows and may tie scores. Calibrators are saved
as plain JSON with the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from retention.errors import ConfigurationError, InputDataError
from retention.settings import CALIBRATION_METHODS
from training.metrics import expected_calibration_error

PLATT = "platt"
ISOTONIC = "isotonic"
NO_CALIBRATION = "none"
# Probabilities are clipped to [EPSILON, 1 - EPSILON] before taking their logit.
EPSILON = 1e-6
# Platt scaling is fitted without regularization: two parameters on thousands of rows.
PLATT_INVERSE_REGULARIZATION = 1e6


@dataclass(frozen=True)
class ProbabilityCalibrator:
    """A monotone map from a model's raw probabilities to calibrated ones.

    `parameters` are the slope and intercept for Platt scaling, and the x and y thresholds of
    the step function for isotonic regression. They are empty for "none".
    """

    method: str = NO_CALIBRATION
    parameters: dict[str, Any] = field(default_factory=dict)

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Return the calibrated probabilities of `probabilities`, as float64 of the same shape."""
        scores = np.asarray(probabilities, dtype=np.float64)
        if self.method == PLATT:
            linear = self.parameters["slope"] * _logit(scores) + self.parameters["intercept"]
            return 1.0 / (1.0 + np.exp(-linear))
        if self.method == ISOTONIC:
            # Linear interpolation between thresholds and clipping outside them, as IsotonicRegression predicts.
            return np.interp(scores, self.parameters["x"], self.parameters["y"])
        return scores

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "parameters": dict(self.parameters)}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> ProbabilityCalibrator:
        check_calibration_method(document.get("method"), "the saved calibrator")
        return cls(method=document["method"], parameters=dict(document.get("parameters", {})))


def check_calibration_method(method: Any, where: str) -> str:
    """Return `method` when it is one of CALIBRATION_METHODS; otherwise raise ConfigurationError naming `where`."""
    if method not in CALIBRATION_METHODS:
        raise ConfigurationError(
            f"Calibration method {method!r} in {where} is not supported. Use one of: {', '.join(CALIBRATION_METHODS)}."
        )
    return method


def fit_calibrator(method: str, y_true: np.ndarray, probabilities: np.ndarray) -> ProbabilityCalibrator:
    """Fit a calibrator of `method` on labels and raw probabilities, normally of the validation window.

    "none", or labels of a single class (nothing to calibrate against), return the identity.
    """
    check_calibration_method(method, "the calibration settings")
    labels = np.asarray(y_true).astype(np.int64).ravel()
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    if len(labels) != len(scores):
        raise InputDataError(
            f"Calibration got {len(labels)} labels and {len(scores)} probabilities. Pass one probability per labelled row."
        )
    if method == NO_CALIBRATION or len(np.unique(labels)) < 2:
        return ProbabilityCalibrator()
    if method == PLATT:
        model = LogisticRegression(C=PLATT_INVERSE_REGULARIZATION).fit(_logit(scores)[:, None], labels)
        return ProbabilityCalibrator(
            PLATT, {"slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}
        )
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    return ProbabilityCalibrator(
        ISOTONIC, {"x": isotonic.X_thresholds_.tolist(), "y": isotonic.y_thresholds_.tolist()}
    )


def probability_metrics(y_true: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Return roc_auc, ece, brier, rows and positive_rate of non-empty labels and probabilities.

    roc_auc is NaN when the labels have one class. ece is the expected calibration error over
    `bins` equal-width probability bins.
    """
    labels = np.asarray(y_true).astype(int).ravel()
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    roc_auc = float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else math.nan
    return {
        "roc_auc": roc_auc,
        "ece": expected_calibration_error(labels, scores, bins),
        "brier": float(brier_score_loss(labels, scores, labels=[0, 1])),
        "rows": len(labels),
        "positive_rate": float(labels.mean()),
    }


def _logit(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(probabilities, EPSILON, 1.0 - EPSILON)
    return np.log(clipped / (1.0 - clipped))
