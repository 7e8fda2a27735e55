"""`dagster dev` as the README starts it: the asset graph with its checks, and a run launched through
the same GraphQL API that the UI's Materialize button calls."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]

LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset_sigint() -> None:
    # A background `dagster dev` ignores SIGTERM unless SIGINT has its default handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setsid()


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_ui")
    port = _free_port()
    environment = {**os.environ, "RETENTION_HOME": str(home), "RETENTION_SAMPLE_USERS": "60"}
    environment.pop("DAGSTER_HOME", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "retention.cli", "dagster", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_reset_sigint,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        _wait_for(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        # The code server that dagster dev started shares the process group; end it too.
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _query(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(url, json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    return response.json()["data"]


def _wait_for(url: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dagster dev exited with {server.returncode}")
        try:
            if _query(url, "{ version }")["version"]:
                return
        except (httpx.HTTPError, KeyError, TypeError):
            pass
        time.sleep(2)
    raise AssertionError(f"dagster dev did not answer on {url} within {timeout_s} s")


def test_ui_lists_assets_and_checks(dagster_ui):
    nodes = _query(
        dagster_ui,
        "{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }",
    )["assetNodes"]
    checks = {
        node["assetKey"]["path"][0]: node["assetChecksOrError"]["checks"] for node in nodes
    }
    assert "retention_models" in checks
    assert checks["validated_events"] == [{"name": "quarantine_share_within_limit", "blocking": True}]
    assert checks["user_profile_features"] == [{"name": "features_pass_expectations", "blocking": True}]


def test_ui_run_materializes_assets(dagster_ui):
    repository = _query(
        dagster_ui,
        "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }",
    )["repositoriesOrError"]["nodes"][0]
    params = {
        "selector": {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "jobName": "retention_pipeline",
        },
        "runConfigData": {},
    }
    launched = _query(dagster_ui, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    status = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = _query(
            dagster_ui, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id}
        )["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(3)
    assert status == "SUCCESS"

    nodes = _query(dagster_ui, "{ assetNodes { assetKey { path } assetMaterializations(limit: 1) { runId } } }")
    materialized_by_run = {
        node["assetKey"]["path"][0]
        for node in nodes["assetNodes"]
        if node["assetMaterializations"] and node["assetMaterializations"][0]["runId"] == run_id
    }
    assert {"validated_events", "feast_feature_store", "retention_models"} <= materialized_by_run
