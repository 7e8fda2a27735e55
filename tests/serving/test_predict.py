"""Predictions of the endpoints over HTTP, against the SQLite and the Redis online store."""

import pandas as pd
import pytest

from feature_repo.feature_columns import FEATURE_COLUMNS
from serving.cold_start import TRAIN_WINDOW_TAG

pytestmark = pytest.mark.e2e

UNKNOWN_USER = "no-such-user"


def _by_user(champion) -> dict[str, dict]:
    return {row["user_id"]: row for row in champion.expected.to_dict("records")}


def test_known_users_match_model(service, champion, fixture_user_ids):
    user_ids = fixture_user_ids[:20]
    response = service.post("/predict", {"user_ids": user_ids, "explain": False})
    assert response.status_code == 200, response.text
    answers = response.json()
    expected = _by_user(champion)
    assert [answer["user_id"] for answer in answers] == user_ids
    for answer in answers:
        assert answer["probability"] == pytest.approx(expected[answer["user_id"]]["probability"], abs=1e-6)
        assert answer["cold_start"] is False


def test_answers_name_model_and_snapshot(service, champion, fixture_user_ids):
    user_id = fixture_user_ids[0]
    answer = service.post("/predict", {"user_ids": [user_id]}).json()[0]
    snapshot = pd.Timestamp(_by_user(champion)[user_id]["snapshot_time"])
    assert answer["model_name"] == service.settings.registry.registered_model_name
    assert answer["model_version"] == champion.version
    assert answer["feature_service"] == "user_retention_v1"
    assert pd.Timestamp(answer["features_computed_at"]) == snapshot
    assert answer["risk_tier"] in service.settings.serving.risk_tier_names


def test_unknown_user_gets_base_rate(service, local_settings):
    from mlflow import MlflowClient

    answers = service.post("/predict", {"user_ids": [UNKNOWN_USER]}).json()
    client = MlflowClient(tracking_uri=local_settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(
        local_settings.registry.registered_model_name, local_settings.registry.champion_alias
    )
    start, end = version.tags[TRAIN_WINDOW_TAG].split("/")
    training = pd.read_parquet(local_settings.training_set_path, columns=["snapshot_time", "label"])
    in_window = training[pd.to_datetime(training.snapshot_time, utc=True).between(pd.Timestamp(start), pd.Timestamp(end))]
    answer = answers[0]
    assert answer["cold_start"] is True
    assert answer["probability"] == pytest.approx(in_window.label.mean())
    assert answer["features_computed_at"] is None
    assert answer["reasons"] == []


def test_cold_start_mixed_with_known(service, fixture_user_ids):
    answers = service.post("/predict", {"user_ids": [fixture_user_ids[0], UNKNOWN_USER]}).json()
    assert [answer["cold_start"] for answer in answers] == [False, True]


def test_reasons_follow_model_support(service, champion, fixture_user_ids):
    answers = service.post("/predict", {"user_ids": fixture_user_ids[:3]}).json()
    top_k = service.settings.serving.top_reasons
    for answer in answers:
        if champion.explains:
            assert len(answer["reasons"]) == top_k
            assert {reason["feature"] for reason in answer["reasons"]} <= set(FEATURE_COLUMNS)
        else:
            assert answer["reasons"] == []


def test_explain_false_keeps_probabilities(service, fixture_user_ids):
    body = {"user_ids": fixture_user_ids[:5]}
    explained = service.post("/predict", body).json()
    plain = service.post("/predict", {**body, "explain": False}).json()
    assert [answer["reasons"] for answer in plain] == [[]] * 5
    for with_reasons, without in zip(explained, plain):
        assert without["probability"] == pytest.approx(with_reasons["probability"], abs=1e-6)


def test_predict_features_matches_predict(service, champion, fixture_user_ids):
    user_id = fixture_user_ids[1]
    row = {key: value for key, value in _by_user(champion)[user_id].items() if key in FEATURE_COLUMNS}
    row = {key: (None if isinstance(value, float) and pd.isna(value) else value) for key, value in row.items()}
    response = service.post("/predict_features", {"rows": [{"user_id": user_id, **row}], "explain": False})
    assert response.status_code == 200, response.text
    answer = response.json()[0]
    assert answer["user_id"] == user_id
    assert answer["probability"] == pytest.approx(_by_user(champion)[user_id]["probability"], abs=1e-6)
    assert answer["features_computed_at"] is None


def test_health_endpoints_need_no_token(service):
    import httpx

    for path in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(f"{service.url}{path}", timeout=10).status_code == 200, path


def test_metrics_count_cold_starts(service):
    import httpx

    service.post("/predict", {"user_ids": [UNKNOWN_USER]})
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    cold_starts = [line for line in text.splitlines() if line.startswith("retention_cold_starts_total ")]
    assert cold_starts
    assert float(cold_starts[0].split()[-1]) >= 1
    assert 'bentoml_service_request_total{endpoint="/predict"' in text
    assert "bentoml_service_request_duration_seconds_bucket" in text
