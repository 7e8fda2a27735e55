import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from feature_repo.feature_columns import LABEL_COLUMN
from retention.errors import ConfigurationError, InputDataError
from retention.settings import TrainingSettings, load_settings
from training.baselines import LightGBMCandidate, MLPCandidate, with_training
from training.calibration import ProbabilityCalibrator, fit_calibrator
from training.metrics import expected_calibration_error
from training.splits import split_by_time

from .conftest import make_training_set


def _shifted_probabilities(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return labels drawn from true probabilities, and scores whose log-odds are 2x those minus 1.5."""
    rng = np.random.default_rng(seed)
    true_log_odds = rng.normal(0.8, 1.2, rows)
    labels = rng.binomial(1, 1.0 / (1.0 + np.exp(-true_log_odds)))
    scores = 1.0 / (1.0 + np.exp(-(2.0 * true_log_odds - 1.5)))
    return labels, scores


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrator_removes_a_shift_on_unseen_rows(method):
    fit_labels, fit_scores = _shifted_probabilities(20_000, seed=1)
    labels, scores = _shifted_probabilities(20_000, seed=2)

    calibrator = fit_calibrator(method, fit_labels, fit_scores)
    calibrated = calibrator.apply(scores)

    assert expected_calibration_error(labels, scores) > 0.08
    assert expected_calibration_error(labels, calibrated) < 0.02
    assert np.all((calibrated >= 0.0) & (calibrated <= 1.0))
    assert np.all(np.diff(calibrated[np.argsort(scores)]) >= -1e-12)


def test_platt_keeps_the_ranking_exactly():
    labels, scores = _shifted_probabilities(5_000, seed=3)

    calibrated = fit_calibrator("platt", labels, scores).apply(scores)

    assert roc_auc_score(labels, calibrated) == roc_auc_score(labels, scores)
    assert fit_calibrator("platt", labels, scores).parameters["slope"] == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("method", ["platt", "isotonic", "none"])
def test_calibrator_round_trips_through_json(method):
    labels, scores = _shifted_probabilities(2_000, seed=4)
    calibrator = fit_calibrator(method, labels, scores)

    restored = ProbabilityCalibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))

    np.testing.assert_array_equal(restored.apply(scores), calibrator.apply(scores))


def test_none_and_single_class_labels_give_the_identity():
    scores = np.array([0.1, 0.4, 0.9])

    assert fit_calibrator("none", np.array([0, 1, 1]), scores).method == "none"
    assert fit_calibrator("platt", np.ones(3), scores).method == "none"
    np.testing.assert_array_equal(ProbabilityCalibrator().apply(scores), scores)


def test_unknown_method_names_the_value_and_the_choices():
    with pytest.raises(ConfigurationError, match=r"'sigmoid'.*platt, isotonic, none"):
        fit_calibrator("sigmoid", np.array([0, 1]), np.array([0.2, 0.8]))
    with pytest.raises(ConfigurationError, match="saved calibrator"):
        ProbabilityCalibrator.from_dict({"method": "beta"})


def test_length_mismatch_is_rejected():
    with pytest.raises(InputDataError, match="3 labels and 2 probabilities"):
        fit_calibrator("platt", np.array([0, 1, 1]), np.array([0.2, 0.8]))


def test_settings_reject_an_unknown_calibration(tmp_path):
    with pytest.raises(ConfigurationError, match=r"\[training\] calibration = 'beta'"):
        TrainingSettings(calibration="beta")
    config = tmp_path / "retention.toml"
    config.write_text('[training]\ncalibration = "beta"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=rf"calibration = 'beta'.*set in {config}"):
        load_settings(config)


@pytest.fixture(scope="module")
def splits(make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("calibration"))
    return split_by_time(make_training_set(users=200, snapshots=20, seed=5), settings)


@pytest.mark.parametrize("factory", [LightGBMCandidate, lambda: MLPCandidate({"max_epochs": 5})])
def test_class_weighted_candidates_are_calibrated_on_validation(factory, splits, settings):
    calibrated, raw = factory(), factory()
    calibrated.fit(splits.train, splits.validation, settings, seed=1)
    raw.fit(splits.train, splits.validation, with_training(settings, 1, {"calibration": "none"}), seed=1)
    labels = splits.test[LABEL_COLUMN].to_numpy()

    calibrated_error = expected_calibration_error(labels, calibrated.predict_proba(splits.test))
    raw_error = expected_calibration_error(labels, raw.predict_proba(splits.test))

    assert calibrated.calibrator.method == "platt"
    assert raw.calibrator.method == "none"
    assert calibrated_error < raw_error
