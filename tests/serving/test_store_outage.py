"""A Redis online store that goes away and comes back: 503 while it is down, recovery without a restart."""

import time

import httpx
import pytest

pytestmark = pytest.mark.e2e

FAILED_REQUESTS = 5
STORE_LOG_LINE = "Online store read failed"


def test_store_outage_and_recovery(services, outage_redis):
    service = services["outage"]
    # The service's Redis contains no features, so every user is a cold start, but the store is readable.
    assert service.post("/predict", {"user_ids": ["1"]}).status_code == 200

    outage_redis.stop()
    try:
        failures = [service.post("/predict", {"user_ids": ["1"]}) for _ in range(FAILED_REQUESTS)]
    finally:
        outage_redis.start()

    assert [response.status_code for response in failures] == [503] * FAILED_REQUESTS
    assert "online feature store (redis) cannot be read" in failures[0].json()["error"]
    assert service.log().count(STORE_LOG_LINE) == 1
    assert _recovers(service, timeout_s=20)
    metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
    assert _metric(metrics, "retention_online_store_errors_total") >= FAILED_REQUESTS
    assert f'endpoint="/predict",http_response_code="503"' in metrics


def _recovers(service, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.post("/predict", {"user_ids": ["1"]}).status_code == 200:
            return True
        time.sleep(0.5)
    return False


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[-1])
    raise AssertionError(f"metric {name} not found in /metrics")
