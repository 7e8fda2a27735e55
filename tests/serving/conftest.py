"""One demo home per session, its production-profile copy, and BentoML services on 127.0.0.1.

The local service reads SQLite and the production one Redis at 127.0.0.1:6379. A third service
reads a Redis that the tests start and stop themselves, to check the responses while it is down.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pandas as pd
import pytest

from retention.settings import Settings, load_settings
from tests.serving.production_fixture import (
    create_databases,
    delete_redis_keys,
    drop_databases,
    production_settings,
    publish_production_copy,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_USERS = 150
TOKEN = f"serving-tests-{secrets.token_hex(12)}"
STARTUP_TIMEOUT_S = 180


@dataclass
class Service:
    """A `bentoml serve` process started by the tests."""

    url: str
    process: subprocess.Popen
    log_path: Path
    settings: Settings

    def post(self, path: str, body: object, token: str | None = TOKEN, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=30, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class RedisServer:
    """A redis-server on its own loopback port, without persistence."""

    port: int
    process: subprocess.Popen | None = None

    def start(self) -> None:
        assert shutil.which("redis-server"), "the outage tests start their own redis-server; install Redis"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def local_settings(tmp_path_factory) -> Settings:
    """A local-profile home built by `retention demo` on a slice of the bundled data."""
    home = tmp_path_factory.mktemp("serving-local")
    summary = run_demo(home)
    assert summary["registered_model"]["alias"] == "champion"
    return replace(load_settings(home=home), profile="local")


def run_demo(home: Path) -> dict:
    """Run `retention demo --json` on SAMPLE_USERS households in `home` and return its summary."""
    completed = subprocess.run(
        [sys.executable, "-m", "retention.cli", "demo", "--json", "--sample-users", str(SAMPLE_USERS)],
        cwd=PROJECT_ROOT,
        env={**_local_environment(home), "DAGSTER_HOME": str(home / "dagster")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout)


@pytest.fixture(scope="session")
def redis_settings(local_settings, tmp_path_factory) -> Iterator[Settings]:
    """The production profile: Feast registry and MLflow on PostgreSQL, online store in Redis."""
    prefix = f"srvtest_{secrets.token_hex(4)}"
    settings = production_settings(local_settings, tmp_path_factory.mktemp("serving-production"), prefix)
    create_databases(prefix)
    try:
        publish_production_copy(local_settings, settings)
        yield settings
    finally:
        delete_redis_keys(settings.redis_url, prefix)
        drop_databases(prefix)


@pytest.fixture(scope="session")
def outage_redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def services(local_settings, redis_settings, outage_redis, tmp_path_factory) -> Iterator[dict[str, Service]]:
    """Start the three services together, so their start-ups overlap, and stop them at the end."""
    logs = tmp_path_factory.mktemp("serving-logs")
    outage_settings = replace(redis_settings, redis_url=f"127.0.0.1:{outage_redis.port}")
    started = {
        "sqlite": _start_service(local_settings, logs / "sqlite.log"),
        "redis": _start_service(redis_settings, logs / "redis.log"),
        "outage": _start_service(outage_settings, logs / "outage.log"),
    }
    try:
        for service in started.values():
            _wait_ready(service)
        yield started
    finally:
        for service in started.values():
            _stop(service.process)


@pytest.fixture(scope="session", params=["sqlite", "redis"])
def service(request, services) -> Service:
    """The service of each online store: SQLite (local profile) and Redis (production profile)."""
    return services[request.param]


@pytest.fixture(scope="session")
def fixture_user_ids(local_settings) -> list[str]:
    """Ids of users in the newest feature snapshot, which the online store holds."""
    features = pd.read_parquet(local_settings.features_path, columns=["user_id", "snapshot_time"])
    latest = features[features.snapshot_time == features.snapshot_time.max()]
    return sorted(latest.user_id.astype(str).unique())


def service_environment(settings: Settings) -> dict[str, str]:
    if settings.profile == "local":
        return {**_local_environment(settings.home), "RETENTION_API_TOKEN": TOKEN}
    environment = {
        **os.environ,
        "RETENTION_PROFILE": "production",
        "RETENTION_HOME": str(settings.home),
        "RETENTION_NAMESPACE": settings.namespace,
        "RETENTION_POSTGRES_DSN": settings.postgres_dsn,
        "RETENTION_REDIS_URL": settings.redis_url,
        "RETENTION_API_TOKEN": TOKEN,
    }
    return environment


def _local_environment(home: Path) -> dict[str, str]:
    environment = {**os.environ, "RETENTION_HOME": str(home), "RETENTION_PROFILE": "local"}
    environment.pop("RETENTION_API_TOKEN", None)
    return environment


def _start_service(settings: Settings, log_path: Path) -> Service:
    port = free_port()
    # `bentoml serve` empties the Prometheus folder under BENTOML_HOME when it starts, which would
    # delete the metric files of services already running, so each service gets its own.
    environment = {**service_environment(settings), "BENTOML_HOME": str(log_path.with_name(f"{log_path.stem}-bentoml"))}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "serving.service:RetentionService",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(f"http://127.0.0.1:{port}", process, log_path, settings)


def _wait_ready(service: Service) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"bentoml serve exited with {service.process.returncode}: {service.log()[-3000:]}")
        try:
            if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{service.url} was not ready after {STARTUP_TIMEOUT_S} s: {service.log()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")



@dataclass(frozen=True)
class Champion:
    """The champion of the demo home, loaded in the test process, with its predictions for the fixture users."""

    version: str
    explains: bool
    # One row per fixture user: user_id, the feature columns, snapshot_time and probability.
    expected: pd.DataFrame


@pytest.fixture(scope="session")
def champion(local_settings, fixture_user_ids) -> Champion:
    from feature_repo.store import get_feature_store, read_online_features, service_feature_columns
    from training.registry import load_champion

    model, version = load_champion(local_settings)
    store = get_feature_store(local_settings)
    service_name = version.tags["feature_service"]
    expected = read_online_features(store, fixture_user_ids, service_name, include_snapshot_time=True)
    columns = service_feature_columns(store, service_name)
    expected["probability"] = model.predict(expected[columns])
    params = model.metadata.signature.params
    explains = params is not None and any(param.name == "explain" for param in params.params)
    return Champion(version=str(version.version), explains=explains, expected=expected)
