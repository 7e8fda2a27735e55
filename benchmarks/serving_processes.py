"""The servers that the serving benchmark measures: the BentoML service and Feast's own feature server.

Both bind to 127.0.0.1 on a free port, run in their own process group and are stopped by that
group's id when the benchmark ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from feature_repo.store import repo_config
from retention.errors import PipelineError
from retention.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 180


@dataclass(frozen=True)
class RunningServer:
    name: str
    host: str
    port: int
    process: subprocess.Popen
    log_path: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def bentoml_service(settings: Settings, token: str, log_dir: Path) -> Iterator[RunningServer]:
    """Run `bentoml serve` of the retention service with the settings' home and profile."""
    port = free_port()
    environment = {**os.environ, "RETENTION_HOME": str(settings.home), "RETENTION_API_TOKEN": token}
    command = [sys.executable, "-m", "bentoml", "serve", "serving.service:RetentionService",
               "--host", "127.0.0.1", "--port", str(port)]
    with _server("bentoml", command, environment, port, "/readyz", log_dir) as server:
        yield server


@contextlib.contextmanager
def feast_feature_server(settings: Settings, log_dir: Path) -> Iterator[RunningServer]:
    """Run `feast serve` (one worker, no periodic worker restarts) on the settings' Feast store."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="feast-serve-") as repo:
        Path(repo, "feature_store.yaml").write_text(yaml.safe_dump(feature_store_yaml(settings)), encoding="utf-8")
        # --max-requests 0 turns off gunicorn's worker restart after every 1,000 requests.
        command = [str(Path(sys.executable).with_name("feast")), "-c", repo, "serve", "-h", "127.0.0.1",
                   "-p", str(port), "--workers", "1", "--max-requests", "0"]
        with _server("feast", command, dict(os.environ), port, "/health", log_dir) as server:
            yield server


def feature_store_yaml(settings: Settings) -> dict:
    """Return the feature_store.yaml content of the same store that the platform configures in code."""
    config = repo_config(settings)
    registry = config.registry
    document = {
        "project": config.project,
        "provider": "local",
        "registry": {"registry_type": registry.registry_type, "path": registry.path,
                     "cache_ttl_seconds": registry.cache_ttl_seconds},
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": config.entity_key_serialization_version,
    }
    online_store = config.online_store
    if online_store.type == "redis":
        document["online_store"] = {"type": "redis", "connection_string": online_store.connection_string}
    else:
        document["online_store"] = {"type": "sqlite", "path": online_store.path}
    return document


@contextlib.contextmanager
def _server(name, command, environment, port, health_path, log_dir) -> Iterator[RunningServer]:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = RunningServer(name, "127.0.0.1", port, process, log_path)
    try:
        _wait_healthy(server, health_path)
        yield server
    finally:
        stop(process)


def _wait_healthy(server: RunningServer, health_path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise PipelineError(f"{server.name} exited with {server.process.returncode} at start-up: {tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://{server.host}:{server.port}{health_path}", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise PipelineError(
        f"{server.name} did not return 200 on {health_path} within {STARTUP_TIMEOUT_S} s; see {server.log_path}"
    )


def stop(process: subprocess.Popen) -> None:
    """Stop the process group that `process` leads: SIGTERM, then SIGKILL after 30 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
