import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from feature_repo.feature_columns import SNAPSHOT_COLUMN
from retention.errors import PipelineError
from training.baselines import LogisticRegressionCandidate
from training.evaluation import evaluate_candidate, rolling_splits
from training.metrics import best_f1_threshold, expected_calibration_error, top_share_lift
from training.plots import CALIBRATION_FIGURE_FILE, PR_FIGURE_FILE, ROC_FIGURE_FILE, evaluation_figures

HORIZON = pd.Timedelta(days=14)


def test_origins_move_test_window_earlier(training_set, settings):
    splits = rolling_splits(training_set, settings, origins=3)

    starts = [split.test[SNAPSHOT_COLUMN].min() for split in splits]
    step = pd.Timedelta(days=7 * settings.split.test_snapshots)
    assert len(splits) == 3
    assert starts[0] - starts[1] == step
    assert starts[1] - starts[2] == step


def test_label_windows_end_before_next_split(training_set, settings):
    for split in rolling_splits(training_set, settings, origins=3):
        train_end = split.train[SNAPSHOT_COLUMN].max()
        validation_start = split.validation[SNAPSHOT_COLUMN].min()
        validation_end = split.validation[SNAPSHOT_COLUMN].max()
        test_start = split.test[SNAPSHOT_COLUMN].min()
        assert train_end + HORIZON < validation_start
        assert validation_end + HORIZON < test_start


def test_origins_never_share_test_rows(training_set, settings):
    splits = rolling_splits(training_set, settings, origins=3)

    test_snapshots = [set(split.test[SNAPSHOT_COLUMN]) for split in splits]
    assert not test_snapshots[0] & test_snapshots[1]
    assert not test_snapshots[1] & test_snapshots[2]


def test_too_many_origins_are_rejected(training_set, settings):
    with pytest.raises(PipelineError, match="Lower --origins"):
        rolling_splits(training_set, settings, origins=4)


def test_candidate_gets_metrics_per_origin(training_set, settings):
    results = evaluate_candidate("logistic_regression", LogisticRegressionCandidate, training_set, settings, seed=1, origins=2)

    assert [result.origin for result in results] == [0, 1]
    for result in results:
        assert result.test["roc_auc"] > 0.7
        assert 0.0 < result.threshold < 1.0
        assert result.fit_seconds > 0.0
        assert set(result.test) == set(result.validation)


def test_calibration_error_of_calibrated_bins():
    labels = np.array([0, 0, 0, 1] * 25 + [1, 1, 1, 0] * 25)
    probabilities = np.array([0.25] * 100 + [0.75] * 100)

    assert expected_calibration_error(labels, probabilities) == pytest.approx(0.0)


def test_calibration_error_of_overconfident_scores():
    labels = np.array([0, 1] * 50)

    assert expected_calibration_error(labels, np.full(100, 0.9)) == pytest.approx(0.4)


def test_lift_of_perfect_ranking():
    labels = np.array([1] * 10 + [0] * 90)
    probabilities = np.linspace(1.0, 0.0, 100)

    assert top_share_lift(labels, probabilities, 0.1) == pytest.approx(10.0)


def test_lift_without_positives_is_nan():
    assert math.isnan(top_share_lift(np.zeros(10, dtype=int), np.linspace(0, 1, 10)))


def test_threshold_maximizes_validation_f1():
    labels = np.array([0, 0, 1, 1, 1])

    threshold = best_f1_threshold(labels, np.array([0.1, 0.6, 0.4, 0.8, 1.0]))

    assert threshold == pytest.approx(0.4)


def test_figures_cover_roc_pr_calibration():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    curves = {"test": (labels, np.clip(labels * 0.5 + rng.uniform(0, 0.5, 200), 0, 1))}

    figures = evaluation_figures(curves, "model")

    assert set(figures) == {ROC_FIGURE_FILE, PR_FIGURE_FILE, CALIBRATION_FIGURE_FILE}
    for figure in figures.values():
        assert isinstance(figure, Figure)
        assert figure.axes[0].lines
