"""The whole platform on a slice of the real data: CLI, Dagster, Feast, MLflow, BentoML over HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from feature_repo.feature_columns import FEATURE_COLUMNS
from feature_repo.store import get_feature_store, read_online_features
from retention.settings import load_settings
from serving.predictor import load_champion

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_USERS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    environment = {**os.environ, "RETENTION_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    completed = subprocess.run(
        [sys.executable, "-m", "retention.cli", "demo", "--json", "--sample-users", str(SAMPLE_USERS)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return home, json.loads(completed.stdout), environment


def test_demo_summary_counts_every_row(demo_run):
    _, summary, _ = demo_run
    rows = summary["rows"]
    assert rows["input"] > 0
    assert rows["accepted"] + rows["quarantined"] + rows["duplicates"] == rows["input"]
    assert rows["features"] > 0
    assert rows["training_set"] > 0


def test_demo_summary_has_both_models(demo_run):
    _, summary, _ = demo_run
    assert set(summary["models"]) == {"mlp", "lightgbm"}
    for metrics in summary["models"].values():
        assert 0.5 < metrics["roc_auc"] <= 1.0
        assert set(metrics) >= {"roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss"}


def test_demo_splits_are_ordered_in_time(demo_run):
    _, summary, _ = demo_run
    splits = summary["splits"]
    assert splits["train"]["end"] < splits["validation"]["start"]
    assert splits["validation"]["end"] < splits["test"]["start"]


def test_demo_registers_champion(demo_run):
    _, summary, _ = demo_run
    registered = summary["registered_model"]
    assert registered["alias"] == "champion"
    assert registered["model_type"] in {"mlp", "lightgbm"}


def test_demo_writes_reports(demo_run):
    _, summary, _ = demo_run
    for key in ("drift_html", "drift_json", "data_docs"):
        path = Path(summary["reports"][key].removeprefix("file://"))
        assert path.exists(), key


def test_service_matches_model_output(demo_run):
    home, _, environment = demo_run
    settings = load_settings(home=home)
    store = get_feature_store(settings)
    user_ids = sorted(_some_users(settings))[:5]
    user_ids.append("no-such-user")

    champion = load_champion(settings)
    features = read_online_features(store, user_ids[:-1])
    expected = [float(p) for p in champion.model.predict(features[list(FEATURE_COLUMNS)])]

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "serving.service:RetentionService",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_ready(port, server)
        response = httpx.post(f"http://127.0.0.1:{port}/predict", json={"user_ids": user_ids}, timeout=30)
        assert response.status_code == 200, response.text
        answers = response.json()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert [answer["user_id"] for answer in answers] == user_ids
    for answer, probability in zip(answers, expected):
        assert answer["cold_start"] is False
        assert answer["probability"] == pytest.approx(probability, abs=1e-6)
    assert answers[-1]["cold_start"] is True
    assert 0.0 < answers[-1]["probability"] < 1.0


def _some_users(settings) -> list[str]:
    import pandas as pd

    features = pd.read_parquet(settings.features_path, columns=["user_id", "snapshot_time"])
    latest = features[features.snapshot_time == features.snapshot_time.max()]
    return latest.user_id.astype(str).unique().tolist()


def _wait_ready(port: int, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"bentoml serve exited with {server.returncode}: {server.stderr.read()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"the service on port {port} was not ready after {timeout_s} s")
