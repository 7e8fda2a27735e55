"""Classification metrics and ROC plots of the retention models.

PR and calibration plots live in training/plots.py.
"""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

logger = logging.getLogger(__name__)

# Equal-width probability bins of the expected calibration error and the calibration plot.
CALIBRATION_BINS = 10
# Share of the highest-scored rows whose positive rate the lift compares with the overall rate.
TOP_SHARE = 0.1


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Return roc_auc, pr_auc, accuracy, precision, recall, f1, log_loss, brier_score,
    expected_calibration_error and top_decile_lift.

    Rows with probability >= threshold count as predicted positive. When y_true has one
    class only, roc_auc and pr_auc are NaN and a warning is logged, because ranking
    metrics need both classes. Precision and recall are 0 when undefined, and the lift is
    NaN when y_true has no positive.
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
        "brier_score": float(brier_score_loss(labels, scores, labels=[0, 1])),
        "expected_calibration_error": expected_calibration_error(labels, scores),
        "top_decile_lift": top_share_lift(labels, scores, TOP_SHARE),
    }


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Return the mean |positive rate - mean probability| over equal-width bins, weighted by rows per bin."""
    labels, scores = _validated(y_true, probabilities, 0.5)
    # Digitizing by the inner edges only gives bin indices 0 .. bins - 1, with 1.0 in the top bin.
    bin_of_row = np.digitize(scores, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    error = 0.0
    for index in np.unique(bin_of_row):
        in_bin = bin_of_row == index
        error += in_bin.mean() * abs(labels[in_bin].mean() - scores[in_bin].mean())
    return float(error)


def top_share_lift(y_true: np.ndarray, probabilities: np.ndarray, share: float = TOP_SHARE) -> float:
    """Return the positive rate of the `share` highest-scored rows divided by the overall positive rate.

    At least one row is taken. Ties are broken by row order, and the lift is NaN when y_true
    has no positive.
    """
    labels, scores = _validated(y_true, probabilities, 0.5)
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share={share} is outside (0, 1]. Pass the fraction of rows to keep, such as 0.1.")
    base_rate = labels.mean()
    if base_rate == 0.0:
        return float("nan")
    top_rows = max(1, int(np.ceil(share * len(labels))))
    top = np.argsort(-scores, kind="stable")[:top_rows]
    return float(labels[top].mean() / base_rate)


def best_f1_threshold(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Return the probability threshold with the highest F1 score, to be chosen on validation.

    Returns 0.5 and logs a warning when y_true has one class only, because F1 is then
    constant or undefined.
    """
    labels, scores = _validated(y_true, probabilities, 0.5)
    if len(np.unique(labels)) < 2:
        logger.warning("All %d labels are %d, so the F1 threshold cannot be chosen. Using 0.5.", len(labels), labels[0])
        return 0.5
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    # The last precision and recall pair (1, 0) has no threshold.
    denominator = precision[:-1] + recall[:-1]
    f1 = np.divide(2 * precision[:-1] * recall[:-1], denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(thresholds[int(np.argmax(f1))])


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
