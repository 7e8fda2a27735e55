"""Classification metrics and ROC plots of the retention models."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

logger = logging.getLogger(__name__)


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Return roc_auc, pr_auc, accuracy, precision, recall, f1 and log_loss.

    Rows with probability >= threshold count as predicted positive. When y_true has one
    class only, roc_auc and pr_auc are NaN and a warning is logged, because ranking
    metrics need both classes. Precision and recall are 0 when undefined.
    """
    labels, scores = _validated(y_true, probabilities, threshold)
    predicted = (scores >= threshold).astype(int)

    if len(np.unique(labels)) < 2:
        logger.warning(
            "ROC-AUC and PR-AUC are undefined because all %d labels are %d, so both are NaN. "
            "Evaluate on a window that contains both retained and churned users.",
            len(labels),
            labels[0],
        )
        roc_auc = pr_auc = float("nan")
    else:
        roc_auc = float(roc_auc_score(labels, scores))
        pr_auc = float(average_precision_score(labels, scores))

    return {
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
    }


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "ROC curves") -> Figure:
    """Draw one ROC curve per entry of `curves` ({label: (y_true, probabilities)}).

    The figure uses the Agg canvas directly and never touches pyplot's global state, so it
    works without a display and in threads. A curve whose labels have one class is listed
    in the legend as undefined instead of drawn.
    """
    figure = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()

    for name, (y_true, probabilities) in curves.items():
        labels, scores = _validated(y_true, probabilities, 0.5)
        if len(np.unique(labels)) < 2:
            axes.plot([], [], linestyle="none", label=f"{name} (undefined: one class)")
            continue
        false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
        auc = roc_auc_score(labels, scores)
        axes.plot(false_positive_rate, true_positive_rate, label=f"{name} (AUC {auc:.3f})")

    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set_xlabel("False positive rate")
    axes.set_ylabel("True positive rate")
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def _validated(y_true: np.ndarray, probabilities: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    raw_labels = np.asarray(y_true).ravel()
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    if len(raw_labels) != len(scores):
        raise ValueError(
            f"y_true has {len(raw_labels)} rows but probabilities has {len(scores)}. "
            "Pass one probability per label."
        )
    if len(raw_labels) == 0:
        raise ValueError("y_true and probabilities are empty. Evaluate on a split with at least one row.")
    is_binary = np.isin(raw_labels, [0, 1])
    if not is_binary.all():
        invalid_labels = sorted(set(raw_labels[~is_binary].tolist()))[:5]
        raise ValueError(f"y_true contains {invalid_labels}, but labels must be 0 or 1.")
    if not np.all(np.isfinite(scores)) or scores.min() < 0.0 or scores.max() > 1.0:
        raise ValueError(
            f"probabilities must be finite and within [0, 1], got min {np.nanmin(scores)} and max "
            f"{np.nanmax(scores)}. Apply the sigmoid to logits before evaluating."
        )
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold} is outside [0, 1]. Pass a probability threshold.")
    return raw_labels.astype(int), scores
