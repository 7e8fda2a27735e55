import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from feature_repo.feature_columns import CATEGORICAL_FEATURES, LABEL_COLUMN, NUMERIC_FEATURES
from retention.errors import InputDataError, PipelineError
from training.baseline import LightGBMBaseline, train_lightgbm
from training.splits import split_by_time


@pytest.fixture(scope="module")
def splits(training_set, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("baseline"))
    return settings, split_by_time(training_set, settings)


def _train(splits):
    settings, time_splits = splits
    return train_lightgbm(
        time_splits.train,
        time_splits.train[LABEL_COLUMN].to_numpy(),
        time_splits.validation,
        time_splits.validation[LABEL_COLUMN].to_numpy(),
        settings,
        NUMERIC_FEATURES,
        CATEGORICAL_FEATURES,
    )


@pytest.fixture(scope="module")
def trained(splits):
    return _train(splits)


def test_lightgbm_learns_signal(trained, splits):
    baseline, _ = trained
    validation = splits[1].validation

    probabilities = baseline.predict_probabilities(validation)

    assert roc_auc_score(validation[LABEL_COLUMN], probabilities) > 0.7


def test_lightgbm_stops_early(trained):
    _, params = trained

    assert 1 <= params["best_iteration"] < params["max_trees"]
    assert params["verbose"] == -1


def test_lightgbm_is_deterministic(trained, splits):
    baseline, _ = trained
    again, _ = _train(splits)
    test = splits[1].test

    np.testing.assert_array_equal(again.predict_probabilities(test), baseline.predict_probabilities(test))


def test_lightgbm_round_trip_predicts_same(trained, splits):
    baseline, _ = trained
    restored = LightGBMBaseline.from_saved(baseline.booster.model_to_string(), baseline.columns_to_dict())
    test = splits[1].test

    np.testing.assert_array_equal(restored.predict_probabilities(test), baseline.predict_probabilities(test))


def test_lightgbm_treats_unseen_category_as_missing(trained, splits):
    baseline, _ = trained
    rows = splits[1].test.head(1)
    unseen = rows.assign(age_band="Martian")
    missing = rows.assign(age_band=None)

    assert baseline.predict_probabilities(unseen)[0] == baseline.predict_probabilities(missing)[0]


def test_lightgbm_missing_column_names_it(trained, splits):
    baseline, _ = trained

    with pytest.raises(InputDataError, match="income_band"):
        baseline.predict_probabilities(splits[1].test.drop(columns=["income_band"]))


def test_lightgbm_rejects_single_class_train(splits):
    settings, time_splits = splits

    with pytest.raises(PipelineError, match="negative labels"):
        train_lightgbm(
            time_splits.train,
            np.ones(len(time_splits.train), dtype=int),
            time_splits.validation,
            time_splits.validation[LABEL_COLUMN].to_numpy(),
            settings,
            NUMERIC_FEATURES,
            CATEGORICAL_FEATURES,
        )
