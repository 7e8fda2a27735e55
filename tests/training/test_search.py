import mlflow
import pytest

from retention.errors import ConfigurationError
from training.search import OBJECTIVE_METRIC, PARENT_RUN_TAG, search_hyperparameters
from training.splits import split_by_time

from .conftest import make_training_set

TRIALS = 3


@pytest.fixture(scope="module")
def settings(make_settings, tmp_path_factory):
    """One home, so that every search of this module shares one MLflow store."""
    return make_settings(tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="module")
def splits(settings):
    return split_by_time(make_training_set(users=120, snapshots=20, seed=4), settings)


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_trials_are_nested_runs(splits, settings, sampler):
    result = search_hyperparameters("logistic_regression", splits, settings, trials=TRIALS, sampler=sampler, seed=2)

    children = mlflow.search_runs(
        search_all_experiments=True, filter_string=f"tags.`{PARENT_RUN_TAG}` = '{result.parent_run_id}'"
    )
    assert len(children) == TRIALS
    assert set(children["run_id"]) == {trial["run_id"] for trial in result.trials}
    assert children[f"metrics.{OBJECTIVE_METRIC}"].notna().all()
    assert result.best_validation_roc_auc == pytest.approx(children[f"metrics.{OBJECTIVE_METRIC}"].max())


def test_parent_run_records_best_value(splits, settings):
    result = search_hyperparameters("logistic_regression", splits, settings, trials=TRIALS, sampler="random", seed=3)

    parent = mlflow.get_run(result.parent_run_id)
    assert parent.data.params["sampler"] == "random"
    assert parent.data.metrics[f"best_{OBJECTIVE_METRIC}"] == pytest.approx(result.best_validation_roc_auc)


def test_unknown_sampler_is_rejected(splits, settings):
    with pytest.raises(ConfigurationError, match="grid"):
        search_hyperparameters("logistic_regression", splits, settings, trials=1, sampler="grid")


def test_model_without_space_is_rejected(splits, settings):
    with pytest.raises(ConfigurationError, match="recency"):
        search_hyperparameters("recency", splits, settings, trials=1)
