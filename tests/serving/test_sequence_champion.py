"""A sequence model as the champion: serving, weekly scoring and the drift reference read its array features."""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from feature_repo.definitions import SEQUENCE_FEATURE_SERVICE_NAME
from feature_repo.feature_columns import FEATURE_COLUMNS, SEQUENCE_COLUMNS
from feature_repo.store import get_feature_store, read_online_features
from monitoring.scoring import PREDICTION_COLUMN, champion_reference, load_current_champion, score_week, week_features
from monitoring.weeks import week_of
from retention.settings import load_settings
from training.sequence_explain import SEQUENCE_REASON
from tests.serving.conftest import Service, _start_service, _stop, _wait_ready, run_demo

pytestmark = pytest.mark.e2e

CONFIG = '[training]\nmax_epochs = 3\nsequence_models = ["cnn_lstm"]\n'


@pytest.fixture(scope="module")
def sequence_service(tmp_path_factory) -> Iterator[tuple[Service, str]]:
    """A demo home that also registers cnn_lstm, with the alias moved to it and the service started on it."""
    home = tmp_path_factory.mktemp("serving-sequence")
    config = home / "retention.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETENTION_CONFIG", str(config))
        assert "cnn_lstm" in run_demo(home)["models"]
        settings = load_settings(home=home)
        client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        versions = client.search_model_versions(f"name = '{settings.registry.registered_model_name}'")
        version = next(str(item.version) for item in versions if item.tags.get("model_type") == "cnn_lstm")
        client.set_registered_model_alias(settings.registry.registered_model_name, settings.registry.champion_alias, version)
        service = _start_service(settings, home / "service.log")
        try:
            _wait_ready(service)
            yield service, version
        finally:
            _stop(service.process)


def _newest_users(settings, count: int) -> list[str]:
    features = pd.read_parquet(settings.features_path, columns=["user_id", "snapshot_time"])
    return sorted(features[features.snapshot_time == features.snapshot_time.max()].user_id.astype(str))[:count]


def test_service_answers_with_the_sequence_model(sequence_service):
    service, version = sequence_service
    settings = service.settings
    user_ids = _newest_users(settings, 10)
    online = read_online_features(get_feature_store(settings), user_ids, SEQUENCE_FEATURE_SERVICE_NAME)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.registry.registered_model_name}/{version}")
    expected = dict(zip(online["user_id"], model.predict(online[model.metadata.get_input_schema().input_names()])))

    response = service.post("/predict", {"user_ids": user_ids, "explain": False})

    assert response.status_code == 200, response.text
    answers = response.json()
    assert {answer["model_version"] for answer in answers} == {version}
    assert {answer["feature_service"] for answer in answers} == {SEQUENCE_FEATURE_SERVICE_NAME}
    probabilities = np.array([answer["probability"] for answer in answers])
    np.testing.assert_allclose(probabilities, [expected[user_id] for user_id in user_ids], atol=1e-6)


def test_reasons_name_profile_features_or_the_events(sequence_service):
    service, _ = sequence_service
    user_ids = _newest_users(service.settings, 3)

    response = service.post("/predict", {"user_ids": user_ids, "explain": True})

    assert response.status_code == 200, response.text
    allowed = {*FEATURE_COLUMNS, SEQUENCE_REASON}
    for answer in response.json():
        assert answer["reasons"], answer
        assert {reason["feature"] for reason in answer["reasons"]} <= allowed


def test_weekly_scoring_and_drift_reference_read_the_sequences(sequence_service):
    service, version = sequence_service
    settings = service.settings
    champion = load_current_champion(settings)
    features = pd.read_parquet(settings.features_path)
    week = week_of(features.snapshot_time.max())

    reference = champion_reference(settings, champion)
    predictions = score_week(settings, week, week_features(features, week), champion)

    assert champion.version == version
    assert set(SEQUENCE_COLUMNS) <= set(reference.columns)
    assert reference[PREDICTION_COLUMN].between(0.0, 1.0).all()
    assert set(predictions["feature_service"]) == {SEQUENCE_FEATURE_SERVICE_NAME}
    assert len(predictions) > 0
    assert predictions[PREDICTION_COLUMN].notna().all()
