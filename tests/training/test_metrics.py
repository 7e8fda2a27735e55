import logging
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from training.metrics import classification_metrics, roc_figure

METRIC_NAMES = {
    "roc_auc",
    "pr_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "brier_score",
    "expected_calibration_error",
    "top_decile_lift",
}


def test_metrics_have_expected_names():
    metrics = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.2, 0.7, 0.6, 0.4]))

    assert set(metrics) == METRIC_NAMES


def test_metrics_of_perfect_predictions():
    labels = np.array([0, 0, 1, 1, 1])

    metrics = classification_metrics(labels, np.array([0.0, 0.1, 0.9, 0.8, 1.0]))

    assert metrics["roc_auc"] == 1.0
    assert metrics["pr_auc"] == 1.0
    assert metrics["accuracy"] == 1.0
    assert metrics["precision"] == 1.0
    assert metrics["recall"] == 1.0
    assert metrics["f1"] == 1.0
    assert metrics["log_loss"] < 0.1


def test_metrics_of_constant_predictions():
    labels = np.array([0, 0, 1, 1])

    metrics = classification_metrics(labels, np.full(4, 0.5))

    assert metrics["roc_auc"] == 0.5
    assert metrics["pr_auc"] == 0.5
    assert metrics["accuracy"] == 0.5
    assert metrics["recall"] == 1.0
    assert metrics["log_loss"] == pytest.approx(math.log(2.0))


def test_metrics_threshold_moves_predicted_class():
    labels = np.array([0, 1])

    metrics = classification_metrics(labels, np.array([0.3, 0.4]), threshold=0.35)

    assert metrics["accuracy"] == 1.0


def test_single_class_gives_nan_aucs_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="training.metrics"):
        metrics = classification_metrics(np.ones(5, dtype=int), np.linspace(0.1, 0.9, 5))

    assert math.isnan(metrics["roc_auc"])
    assert math.isnan(metrics["pr_auc"])
    assert math.isfinite(metrics["log_loss"])
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert "undefined" in caplog.text


def test_single_negative_class_has_zero_precision():
    metrics = classification_metrics(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.9]))

    assert metrics["precision"] == 0.0
    assert metrics["recall"] == 0.0


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        ([0, 1], [0.5], "probabilities has 1"),
        ([], [], "empty"),
        ([0, 2], [0.1, 0.2], r"\[2\]"),
        ([0, 1], [0.1, 1.5], "within"),
        ([0, 1], [0.1, float("nan")], "finite"),
    ],
)
def test_invalid_inputs_raise(labels, probabilities, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.array(labels), np.array(probabilities))


def test_roc_figure_draws_one_line_per_curve():
    labels = np.array([0, 1, 0, 1])
    curves = {
        "validation": (labels, np.array([0.1, 0.9, 0.4, 0.6])),
        "test": (labels, np.array([0.3, 0.8, 0.2, 0.7])),
    }

    figure = roc_figure(curves)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]

    assert isinstance(figure, Figure)
    assert legend == ["validation (AUC 1.000)", "test (AUC 1.000)", "chance"]


def test_roc_figure_marks_single_class_curve(tmp_path):
    figure = roc_figure({"test": (np.ones(3, dtype=int), np.array([0.2, 0.5, 0.9]))})
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    figure.savefig(tmp_path / "roc.png")

    assert legend[0] == "test (undefined: one class)"
    assert (tmp_path / "roc.png").stat().st_size > 0
