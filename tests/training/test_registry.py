import math
import os
from dataclasses import replace
from types import SimpleNamespace

import mlflow
import pytest
from mlflow import MlflowClient

from retention.errors import PipelineError
from training.registry import EXPERIMENT_NAME, RegisteredCandidate, configure_mlflow, load_champion, set_champion


@pytest.fixture(scope="module")
def store(make_settings, tmp_path_factory):
    """One SQLite tracking store for the module, because creating its tables takes 1 to 2 s on 2 cores."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    settings = make_settings(tmp_path_factory.mktemp("registry"))
    configure_mlflow(settings)
    yield settings
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def tracking(store, request):
    """Settings whose registered model name belongs to the running test alone."""
    mlflow.set_tracking_uri(store.mlflow_tracking_uri)
    return replace(store, registry=replace(store.registry, registered_model_name=request.node.name))


def _candidate(model_type: str, version: str) -> RegisteredCandidate:
    return RegisteredCandidate(
        model_type, run_id="run", model_uri="models:/m", version=SimpleNamespace(version=version)
    )


def _register_two_versions(settings) -> None:
    client = MlflowClient()
    client.create_registered_model(settings.registry.registered_model_name)
    for _ in range(2):
        client.create_model_version(settings.registry.registered_model_name, source="file:///nowhere")


def test_configure_creates_experiment_with_artifact_location(tracking):
    experiment = mlflow.get_experiment_by_name(EXPERIMENT_NAME)

    assert experiment.artifact_location == tracking.mlflow_artifact_location
    assert mlflow.get_tracking_uri() == tracking.mlflow_tracking_uri


def test_configure_reuses_existing_experiment(tracking):
    first = mlflow.get_experiment_by_name(EXPERIMENT_NAME).experiment_id

    assert configure_mlflow(tracking) == first
    assert len(mlflow.search_experiments(filter_string=f"name = '{EXPERIMENT_NAME}'")) == 1


def test_set_champion_picks_higher_validation_auc(tracking):
    _register_two_versions(tracking)
    candidates = [_candidate("mlp", "1"), _candidate("lightgbm", "2")]

    champion = set_champion(tracking, candidates, {"mlp": 0.71, "lightgbm": 0.74})
    aliased = MlflowClient().get_model_version_by_alias(
        tracking.registry.registered_model_name, tracking.registry.champion_alias
    )

    assert champion.model_type == "lightgbm"
    assert str(aliased.version) == "2"


def test_set_champion_skips_nan_auc(tracking):
    _register_two_versions(tracking)
    candidates = [_candidate("mlp", "1"), _candidate("lightgbm", "2")]

    champion = set_champion(tracking, candidates, {"mlp": 0.6, "lightgbm": math.nan})

    assert champion.model_type == "mlp"


def test_set_champion_without_any_auc_raises(tracking):
    candidates = [_candidate("mlp", "1"), _candidate("lightgbm", "2")]

    with pytest.raises(PipelineError, match="No candidate has a validation ROC-AUC"):
        set_champion(tracking, candidates, {"mlp": math.nan, "lightgbm": math.nan})


def test_load_champion_without_alias_raises(tracking):
    _register_two_versions(tracking)

    with pytest.raises(PipelineError, match="Run training first"):
        load_champion(tracking)


def test_load_champion_without_registered_model_raises(tracking):
    with pytest.raises(PipelineError, match="test_load_champion_without_registered_model_raises"):
        load_champion(tracking)
