"""A sequence model registered by the training job next to the MLP and LightGBM, and loaded back as its pyfunc."""

import mlflow
import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from feature_repo.definitions import SEQUENCE_FEATURE_SERVICE_NAME
from feature_repo.feature_columns import FEATURE_COLUMNS, SEQUENCE_COLUMNS
from retention.errors import ConfigurationError, PipelineError
from retention.settings import TrainingSettings
from training.sequence_explain import sequence_contributions
from training.splits import split_by_time
from training.train import train_models
from tests.training.sequence_fixtures import add_sequences, one_torch_thread, sequence_settings
from tests.training.conftest import make_training_set

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    settings = sequence_settings(tmp_path_factory.mktemp("sequence_train"), max_epochs=3, sequence_models=("cnn_lstm",))
    training_set = add_sequences(make_training_set(users=120, snapshots=24, seed=9), seed=9)
    summary = train_models(training_set, settings, "user_retention_v1")
    return settings, summary, training_set


def _version(settings, summary, model_type):
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    return client.get_model_version(settings.registry.registered_model_name, summary.models[model_type]["version"])


def test_sequence_model_is_registered_with_its_feature_service(trained):
    settings, summary, _ = trained

    assert set(summary.models) == {"mlp", "lightgbm", "cnn_lstm"}
    assert _version(settings, summary, "cnn_lstm").tags["feature_service"] == SEQUENCE_FEATURE_SERVICE_NAME
    assert _version(settings, summary, "mlp").tags["feature_service"] == "user_retention_v1"


def test_registered_pyfunc_predicts_like_the_fitted_model(trained):
    settings, summary, training_set = trained
    version = _version(settings, summary, "cnn_lstm")
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    test = split_by_time(training_set, settings).test[[*FEATURE_COLUMNS, *SEQUENCE_COLUMNS]].reset_index(drop=True)
    online = test.copy()
    for column in SEQUENCE_COLUMNS:
        online[column] = [list(values) for values in test[column]]
    online.loc[0, list(SEQUENCE_COLUMNS)] = None

    expected = summary.predictors["cnn_lstm"](test)

    np.testing.assert_allclose(model.predict(test), expected, atol=1e-6)
    predictions = model.predict(online)
    np.testing.assert_allclose(predictions[1:], expected[1:], atol=1e-6)
    assert 0.0 < predictions[0] < 1.0
    assert model.metadata.get_input_schema().input_names()[-len(SEQUENCE_COLUMNS) :] == list(SEQUENCE_COLUMNS)


def test_reasons_sum_to_the_logit_change(trained):
    settings, summary, training_set = trained
    version = _version(settings, summary, "cnn_lstm")
    model = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    candidate = model.unwrap_python_model().candidate
    rows = split_by_time(training_set, settings).test.head(20).reset_index(drop=True)

    contributions, names = sequence_contributions(candidate, rows)
    explained = model.predict(rows[[*FEATURE_COLUMNS, *SEQUENCE_COLUMNS]], params={"explain": True, "top_k": 2})

    reference = rows.head(1).copy()
    for column in candidate.preprocessor.numeric_columns:
        reference[column] = candidate.preprocessor.medians[column]
    for column in candidate.preprocessor.categorical_columns:
        reference[column] = None
    reference[list(SEQUENCE_COLUMNS)] = None
    logit = lambda frame: torch.logit(torch.as_tensor(candidate.raw_probabilities(frame)), eps=1e-7).numpy()
    np.testing.assert_allclose(contributions.sum(axis=1), logit(rows) - logit(reference)[0], atol=0.02)
    assert names[-1] == "recent_events"
    assert len(names) == len(set(names))
    assert [len(reasons) for reasons in explained["reasons"]] == [2] * len(rows)
    np.testing.assert_allclose(explained["probability"], candidate.predict_proba(rows), atol=1e-9)


def test_training_set_without_sequences_is_rejected(tmp_path):
    settings = sequence_settings(tmp_path, max_epochs=1, sequence_models=("transformer_scratch",))

    with pytest.raises(PipelineError, match=r"lacks the sequence column\(s\).*user_retention_seq_v1"):
        train_models(make_training_set(users=40, snapshots=20, seed=2), settings, "user_retention_v1")


def test_unknown_sequence_model_is_rejected():
    with pytest.raises(ConfigurationError, match=r"sequence_models = \['gru'\] names unknown model\(s\)"):
        TrainingSettings(sequence_models=("gru",))
