"""Rejected requests: each gets a 4xx response with a message that names the field and the limit."""

import httpx
import pytest

from tests.serving.conftest import TOKEN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def local(services):
    return services["sqlite"]


def _first_detail(response: httpx.Response) -> dict:
    return response.json()["detail"][0]


def test_empty_id_list_rejected(local):
    response = local.post("/predict", {"user_ids": []})
    assert response.status_code == 400
    assert _first_detail(response)["loc"] == ["user_ids"]
    assert "at least 1 item" in _first_detail(response)["msg"]


def test_too_many_ids_rejected(local):
    limit = local.settings.serving.max_users_per_request
    response = local.post("/predict", {"user_ids": [str(i) for i in range(limit + 1)]})
    assert response.status_code == 400
    assert _first_detail(response)["loc"] == ["user_ids"]
    assert f"at most {limit} items" in _first_detail(response)["msg"]


def test_non_string_ids_rejected(local):
    response = local.post("/predict", {"user_ids": ["1", 2]})
    assert response.status_code == 400
    assert _first_detail(response)["loc"] == ["user_ids", 1]
    assert "valid string" in _first_detail(response)["msg"]


def test_id_list_as_string_rejected(local):
    response = local.post("/predict", {"user_ids": "1,2"})
    assert response.status_code == 400
    assert _first_detail(response)["loc"] == ["user_ids"]


def test_malformed_json_rejected(local):
    response = httpx.post(
        f"{local.url}/predict",
        content=b'{"user_ids": ["1"',
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "Invalid JSON" in _first_detail(response)["msg"]


def test_oversized_body_rejected(local):
    limit = local.settings.serving.max_request_bytes
    response = local.post("/predict", {"user_ids": ["x" * 200] * (limit // 200 + 10)})
    assert response.status_code == 413
    assert str(limit) in response.json()["error"]
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_missing_feature_rejected(local, champion):
    row = {"recency_days": 3.0}
    response = local.post("/predict_features", {"rows": [row]})
    assert response.status_code == 400
    messages = {tuple(detail["loc"]): detail["msg"] for detail in response.json()["detail"]}
    assert ("rows", 0, "tenure_days") in messages
    assert "Field required" in messages[("rows", 0, "tenure_days")]


def test_mistyped_feature_rejected(local, champion):
    row = _valid_row(champion)
    row["recency_days"] = "three"
    response = local.post("/predict_features", {"rows": [row]})
    assert response.status_code == 400
    assert _first_detail(response)["loc"] == ["rows", 0, "recency_days"]
    assert "number or null" in _first_detail(response)["msg"]


def test_unknown_feature_rejected(local, champion):
    row = {**_valid_row(champion), "shoe_size": 43}
    response = local.post("/predict_features", {"rows": [row]})
    assert response.status_code == 400
    assert _first_detail(response)["loc"] == ["rows", 0, "shoe_size"]


def test_boolean_is_not_number(local, champion):
    row = {**_valid_row(champion), "tenure_days": True}
    response = local.post("/predict_features", {"rows": [row]})
    assert response.status_code == 400
    assert _first_detail(response)["loc"] == ["rows", 0, "tenure_days"]


def test_missing_token_rejected(local):
    response = local.post("/predict", {"user_ids": ["1"]}, token=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "RETENTION_API_TOKEN" in response.json()["error"]


def test_wrong_token_rejected(local):
    assert local.post("/predict", {"user_ids": ["1"]}, token=TOKEN + "x").status_code == 401


@pytest.mark.parametrize("path", ["/predict_features", "/reload"])
def test_other_endpoints_need_token(local, path):
    assert local.post(path, {}, token=None).status_code == 401


def test_rejections_counted_in_metrics(local):
    local.post("/predict", {"user_ids": ["1"]}, token=None)
    text = httpx.get(f"{local.url}/metrics", timeout=10).text
    assert 'retention_rejected_requests_total{reason="unauthorized"}' in text
    assert 'http_response_code="401"' in text


def _valid_row(champion) -> dict:
    from feature_repo.feature_columns import FEATURE_COLUMNS

    row = champion.expected.iloc[0]
    return {column: (None if _is_missing(row[column]) else row[column]) for column in FEATURE_COLUMNS}


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
