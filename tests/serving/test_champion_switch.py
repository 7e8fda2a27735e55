"""Moving the champion alias while requests run: no request fails, and predictions switch to the new version."""

import threading
import time
from collections import defaultdict

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.e2e

CLIENT_THREADS = 4
SWITCH_TIMEOUT_S = 45


@pytest.fixture()
def registry(local_settings):
    """The local registry; the test moves the alias and this puts it back, followed by a reload."""
    client = MlflowClient(tracking_uri=local_settings.mlflow_tracking_uri)
    name = local_settings.registry.registered_model_name
    alias = local_settings.registry.champion_alias
    original = client.get_model_version_by_alias(name, alias).version
    yield client, name, alias, original
    client.set_registered_model_alias(name, alias, original)


def test_alias_move_under_load(services, registry, fixture_user_ids):
    client, name, alias, original = registry
    service = services["sqlite"]
    other = next(v.version for v in client.search_model_versions(f"name = '{name}'") if v.version != original)
    versions_by_thread: dict[int, list[str]] = defaultdict(list)
    statuses: list[int] = []
    stop = threading.Event()

    def send_requests(thread: int) -> None:
        while not stop.is_set():
            response = service.post("/predict", {"user_ids": fixture_user_ids[:3], "explain": False})
            statuses.append(response.status_code)
            if response.status_code == 200:
                versions = {answer["model_version"] for answer in response.json()}
                versions_by_thread[thread].append(",".join(sorted(versions)))

    threads = [threading.Thread(target=send_requests, args=(i,)) for i in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        client.set_registered_model_alias(name, alias, other)
        switched = _wait_for_version(versions_by_thread, str(other), SWITCH_TIMEOUT_S)
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert switched, f"answers never came from version {other} within {SWITCH_TIMEOUT_S} s"
    assert statuses and set(statuses) == {200}
    for versions in versions_by_thread.values():
        # One version per response, and each client sees the old version first and then only the new one.
        assert set(versions) <= {str(original), str(other)}
        assert versions == sorted(versions, key=lambda version: version != str(original))


def test_reload_endpoint_follows_alias(services, registry):
    client, name, alias, original = registry
    service = services["sqlite"]
    other = next(v.version for v in client.search_model_versions(f"name = '{name}'") if v.version != original)

    client.set_registered_model_alias(name, alias, other)
    moved = service.post("/reload", {})
    client.set_registered_model_alias(name, alias, original)
    restored = service.post("/reload", {})
    again = service.post("/reload", {})

    assert moved.status_code == 200, moved.text
    assert moved.json()["model_version"] == str(other)
    assert restored.json()["model_version"] == str(original)
    assert again.json()["changed"] is False


def _wait_for_version(versions_by_thread, version: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(versions and versions[-1] == version for versions in list(versions_by_thread.values())):
            return True
        time.sleep(0.2)
    return False
