"""Ranking and calibration metrics of predicted retention probabilities, for the gate and monitoring."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from training.metrics import expected_calibration_error


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
