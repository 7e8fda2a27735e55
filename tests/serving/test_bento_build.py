"""`bentoml build` of the service: requirements without a CUDA torch pin, and a source tree that imports."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.serving.conftest import PROJECT_ROOT
from training.pyfunc import PIP_REQUIREMENTS

BENTOFILES = ("serving/bentofile.yaml", "serving/bentofile.gpu.yaml")
# Imports everything that a worker imports at start-up, and fails when a module comes from
# outside the bento (for example from the editable install of the project).
IMPORT_FROM_SOURCE = """
import os, sys, serving.service, serving.runtime
outside = [m.__file__ for m in list(sys.modules.values())
           if getattr(m, "__file__", None) and m.__name__.split(".")[0] in {"serving", "feature_repo", "retention", "training"}
           and not m.__file__.startswith(os.getcwd())]
assert not outside, outside
"""


@pytest.fixture(scope="module")
def bento(tmp_path_factory) -> Path:
    """Build the CPU bento into a temporary BENTOML_HOME and return the bento's folder."""
    home = tmp_path_factory.mktemp("bentoml-home")
    completed = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "-f", "serving/bentofile.yaml", "."],
        cwd=PROJECT_ROOT,
        env={**os.environ, "BENTOML_HOME": str(home), "RETENTION_PROFILE": "local"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    folders = [path for path in (home / "bentos" / "user_retention").iterdir() if path.name != "latest"]
    assert len(folders) == 1
    return folders[0]


def _requirement_lines(bento: Path) -> list[str]:
    text = (bento / "env" / "python" / "requirements.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_torch_requirement_is_a_range(bento):
    torch_lines = [line for line in _requirement_lines(bento) if re.match(r"torch\b", line)]
    assert torch_lines == ["torch>=2.13,<2.15"]


def test_no_cuda_packages_pinned(bento):
    lines = _requirement_lines(bento)
    assert not [line for line in lines if "+cu" in line or line.startswith("nvidia-")]


def test_only_cpu_torch_index(bento):
    indexes = [line.split()[-1] for line in _requirement_lines(bento) if line.startswith("--")]
    assert indexes == ["https://download.pytorch.org/whl/cpu"]


def test_bento_source_imports(bento):
    environment = {key: value for key, value in os.environ.items() if key != "RETENTION_API_TOKEN"}
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_FROM_SOURCE],
        cwd=bento / "src",
        env={**environment, "RETENTION_PROFILE": "local"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


@pytest.mark.parametrize("bentofile", BENTOFILES)
def test_bentofile_covers_model_requirements(bentofile):
    document = yaml.safe_load((PROJECT_ROOT / bentofile).read_text(encoding="utf-8"))
    packages = {re.split(r"[\[<>=]", package)[0] for package in document["python"]["packages"]}
    for requirement in PIP_REQUIREMENTS:
        assert re.split(r"[\[<>=]", requirement)[0] in packages, requirement
