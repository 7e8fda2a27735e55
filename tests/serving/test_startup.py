"""Start-up of the service module: the token rules of each profile."""

import os
import subprocess
import sys

from tests.serving.conftest import PROJECT_ROOT

IMPORT_SERVICE = "import serving.service"


def _import_service(**environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "RETENTION_API_TOKEN"}
    return subprocess.run(
        [sys.executable, "-c", IMPORT_SERVICE],
        cwd=PROJECT_ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_token_refuses():
    completed = _import_service(RETENTION_PROFILE="production")
    assert completed.returncode != 0
    assert "RETENTION_API_TOKEN is not set" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_short_token_refuses():
    completed = _import_service(RETENTION_PROFILE="local", RETENTION_API_TOKEN="short")
    assert completed.returncode != 0
    assert "fewer than the minimum of 16" in completed.stderr


def test_local_without_token_starts():
    completed = _import_service(RETENTION_PROFILE="local")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "accept requests without a token" in completed.stderr
