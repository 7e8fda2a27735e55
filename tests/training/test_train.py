import json
import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from feature_repo.feature_columns import FEATURE_COLUMNS, LABEL_COLUMN, SNAPSHOT_COLUMN
from retention.errors import PipelineError
from training.registry import EXPERIMENT_NAME, load_champion
from training.splits import split_by_time
from training.train import train_models

FEATURE_SERVICE = "user_profile_v1"
METRIC_NAMES = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss")


@pytest.fixture(scope="module")
def trained(training_set, make_settings, tmp_path_factory):
    """Run the whole pipeline once against a SQLite tracking store in a temporary folder."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    settings = make_settings(tmp_path_factory.mktemp("train"))
    summary = train_models(training_set, settings, FEATURE_SERVICE)
    yield settings, summary
    mlflow.set_tracking_uri(previous)


def _registered_versions(settings):
    name = settings.registry.registered_model_name
    return {str(version.version): version for version in MlflowClient().search_model_versions(f"name = '{name}'")}


def _test_features(training_set, settings) -> pd.DataFrame:
    return split_by_time(training_set, settings).test[list(FEATURE_COLUMNS)]


def test_both_models_are_registered_versions(trained):
    settings, summary = trained
    versions = _registered_versions(settings)

    assert sorted(versions) == ["1", "2"]
    assert {versions[result["version"]].tags["model_type"] for result in summary.models.values()} == {
        "mlp",
        "lightgbm",
    }


def test_version_tags_record_lineage(trained):
    settings, summary = trained
    versions = _registered_versions(settings)

    for model_type, result in summary.models.items():
        tags = versions[result["version"]].tags
        assert tags["model_type"] == model_type
        assert tags["run_id"] == result["run_id"]
        assert tags["feature_service"] == FEATURE_SERVICE
        assert tags["train_window"] == f"{summary.splits['train']['start']}/{summary.splits['train']['end']}"
        assert tags["validation_window"].startswith(summary.splits["validation"]["start"])
        assert tags["test_window"].endswith(summary.splits["test"]["end"])


def test_champion_has_higher_logged_validation_auc(trained):
    settings, summary = trained
    client = MlflowClient()
    logged_auc = {
        str(version.version): client.get_run(version.run_id).data.metrics["validation_roc_auc"]
        for version in _registered_versions(settings).values()
    }
    champion = client.get_model_version_by_alias(
        settings.registry.registered_model_name, settings.registry.champion_alias
    )

    assert str(champion.version) == max(logged_auc, key=logged_auc.get)
    assert summary.registered_model["version"] == str(champion.version)


def test_runs_log_validation_and_test_metrics(trained):
    _, summary = trained
    client = MlflowClient()

    for result in summary.models.values():
        logged = client.get_run(result["run_id"]).data.metrics
        for split in ("validation", "test"):
            for name in METRIC_NAMES:
                assert logged[f"{split}_{name}"] == pytest.approx(result[split][name]), f"{split}_{name}"


def test_runs_log_roc_figure_and_splits(trained):
    _, summary = trained
    client = MlflowClient()

    for result in summary.models.values():
        artifacts = {item.path for item in client.list_artifacts(result["run_id"])}
        assert {"roc_curves.png", "splits.json"} <= artifacts


def test_mlp_run_logs_epoch_history(trained):
    _, summary = trained

    history = MlflowClient().get_metric_history(summary.models["mlp"]["run_id"], "epoch_validation_loss")

    assert [point.step for point in history] == list(range(1, len(history) + 1))


def test_experiment_uses_configured_artifact_location(trained):
    settings, _ = trained

    experiment = mlflow.get_experiment_by_name(EXPERIMENT_NAME)

    assert experiment.artifact_location == settings.mlflow_artifact_location


def test_champion_pyfunc_reproduces_in_memory_predictions(trained, training_set):
    settings, summary = trained
    features = _test_features(training_set, settings)
    model_type = summary.registered_model["model_type"]

    model, version = load_champion(settings)
    served = model.predict(features)

    assert str(version.version) == summary.registered_model["version"]
    np.testing.assert_allclose(served, summary.predictors[model_type](features), rtol=0, atol=1e-7)


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_each_version_reproduces_in_memory_predictions(trained, training_set, model_type):
    settings, summary = trained
    features = _test_features(training_set, settings)
    uri = f"models:/{settings.registry.registered_model_name}/{summary.models[model_type]['version']}"

    served = mlflow.pyfunc.load_model(uri).predict(features)

    np.testing.assert_allclose(served, summary.predictors[model_type](features), rtol=0, atol=1e-7)


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_logged_requirements_have_no_cuda_torch(trained, model_type):
    settings, summary = trained
    uri = f"models:/{settings.registry.registered_model_name}/{summary.models[model_type]['version']}"

    with open(mlflow.pyfunc.get_model_dependencies(uri)) as file:
        requirements = [line.strip() for line in file if line.strip()]
    torch_requirements = [line for line in requirements if line.startswith("torch")]

    assert len(torch_requirements) == 1
    assert "+cu" not in torch_requirements[0]
    assert "+" not in torch_requirements[0]


def test_summary_to_dict_is_json(trained):
    settings, summary = trained

    document = json.loads(json.dumps(summary.to_dict(), allow_nan=False))

    assert sorted(document) == ["models", "promotion", "registered_model", "splits"]
    assert sorted(document["models"]) == ["lightgbm", "mlp"]
    assert sorted(document["models"]["mlp"]) == ["run_id", "test", "validation", "version"]
    assert document["registered_model"]["alias"] == settings.registry.champion_alias
    assert document["registered_model"]["name"] == settings.registry.registered_model_name
    assert document["splits"]["test"]["rows"] == 300 * settings.split.test_snapshots


def test_models_beat_chance_on_test(trained):
    _, summary = trained

    for model_type, result in summary.models.items():
        assert result["test"]["roc_auc"] > 0.7, model_type


def test_training_set_without_label_raises(training_set, settings):
    with pytest.raises(PipelineError, match="label"):
        train_models(training_set.drop(columns=[LABEL_COLUMN]), settings, FEATURE_SERVICE)


def test_unknown_labels_raise(training_set, settings):
    pending = training_set.astype({LABEL_COLUMN: float})
    pending.loc[pending[SNAPSHOT_COLUMN] == pending[SNAPSHOT_COLUMN].max(), LABEL_COLUMN] = np.nan

    with pytest.raises(PipelineError, match="other than 0 and 1"):
        train_models(pending, settings, FEATURE_SERVICE)
