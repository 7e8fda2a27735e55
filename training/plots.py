"""ROC, precision-recall and calibration plots of the retention models, and their MLflow logging.

Every figure uses the Agg canvas directly and never touches pyplot's global state, so the
plots work without a display and in threads.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mlflow import MlflowClient
from sklearn.metrics import average_precision_score, precision_recall_curve

from training.metrics import CALIBRATION_BINS, roc_figure

# {curve label: (y_true, probabilities)}, for example {"validation": ..., "test": ...}.
Curves = dict[str, tuple[np.ndarray, np.ndarray]]

ROC_FIGURE_FILE = "roc_curves.png"
PR_FIGURE_FILE = "pr_curves.png"
CALIBRATION_FIGURE_FILE = "calibration_curves.png"


def pr_figure(curves: Curves, title: str = "Precision-recall curves") -> Figure:
    """Draw one precision-recall curve per entry, with the positive rate of each as a dotted line."""
    figure, axes = _new_figure()
    for name, (y_true, probabilities) in curves.items():
        labels, scores = _as_arrays(y_true, probabilities)
        if len(np.unique(labels)) < 2:
            axes.plot([], [], linestyle="none", label=f"{name} (undefined: one class)")
            continue
        precision, recall, _ = precision_recall_curve(labels, scores)
        average_precision = average_precision_score(labels, scores)
        line = axes.plot(recall, precision, label=f"{name} (AP {average_precision:.3f})")[0]
        axes.axhline(labels.mean(), linestyle=":", color=line.get_color())

    axes.set_xlabel("Recall")
    axes.set_ylabel("Precision")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.set_title(title)
    axes.legend(loc="lower left")
    figure.tight_layout()
    return figure


def calibration_figure(curves: Curves, title: str = "Calibration", bins: int = CALIBRATION_BINS) -> Figure:
    """Draw the positive rate against the mean probability in equal-width bins (a reliability diagram)."""
    figure, axes = _new_figure()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for name, (y_true, probabilities) in curves.items():
        labels, scores = _as_arrays(y_true, probabilities)
        bin_of_row = np.digitize(scores, edges[1:-1])
        occupied = np.unique(bin_of_row)
        mean_probability = [scores[bin_of_row == index].mean() for index in occupied]
        positive_rate = [labels[bin_of_row == index].mean() for index in occupied]
        axes.plot(mean_probability, positive_rate, marker="o", label=name)

    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axes.set_xlabel("Mean predicted probability")
    axes.set_ylabel("Positive rate")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.0)
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    return figure


def evaluation_figures(curves: Curves, model_label: str) -> dict[str, Figure]:
    """Return the ROC, precision-recall and calibration figures by artifact file name."""
    return {ROC_FIGURE_FILE: roc_figure(curves, title=f"{model_label} ROC curves"), **pr_and_calibration_figures(curves, model_label)}


def pr_and_calibration_figures(curves: Curves, model_label: str) -> dict[str, Figure]:
    """Return the precision-recall and calibration figures by artifact file name."""
    return {
        PR_FIGURE_FILE: pr_figure(curves, title=f"{model_label} precision-recall curves"),
        CALIBRATION_FIGURE_FILE: calibration_figure(curves, title=f"{model_label} calibration"),
    }


def log_figures(run_id: str, figures: dict[str, Figure]) -> None:
    """Log each figure as an artifact of the MLflow run, under its file name."""
    client = MlflowClient()
    for file_name, figure in figures.items():
        client.log_figure(run_id, figure, file_name)


def _new_figure():
    figure = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _as_arrays(y_true: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y_true, dtype=np.int64).ravel(), np.asarray(probabilities, dtype=np.float64).ravel()
