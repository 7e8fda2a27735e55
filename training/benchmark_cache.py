"""Finished fits of the model benchmark, kept on disk so that an interrupted run can go on.

Every (model, seed, origin) fit is written to <home>/benchmarks/models/<key>.json and .npz as
soon as it ends. `retention benchmark models --resume` reuses a fit whose key matches: the key
hashes the model, seed and origin, the split windows, the settings that shape data and training,
the bytes of the training set and the source of the training package. Changing any of them
starts that fit again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

import training
from retention.io import write_json_atomic
from retention.settings import Settings
from training.evaluation import OriginResult

# Settings sections that change a fit's result; registry, serving and monitoring settings do not.
RESULT_SECTIONS = ("retention", "features", "split", "training")
# Bytes read per step while hashing the training set.
CHUNK_BYTES = 1 << 20


def cache_folder(settings: Settings) -> Path:
    """Return the folder of the stored fits under the home."""
    return settings.home / "benchmarks" / "models"


def run_context(settings: Settings) -> str:
    """Return the hash of everything a benchmark run shares: settings, training set bytes and training code."""
    digest = hashlib.sha256()
    sections = {name: asdict(getattr(settings, name)) for name in RESULT_SECTIONS}
    digest.update(json.dumps(sections, sort_keys=True, default=str).encode())
    digest.update(_file_digest(settings.training_set_path))
    for source in sorted(Path(training.__file__).parent.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def run_key(context: str, model: str, seed: int, origin: int, windows: dict[str, Any]) -> str:
    """Return the file name stem of one fit of the benchmark."""
    document = {"context": context, "model": model, "seed": seed, "origin": origin, "windows": windows}
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:32]


class RunCache:
    """OriginResult files in one folder, with the test labels and probabilities that the plots need."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> OriginResult | None:
        """Return the stored result of `key`, or None when it is absent or incomplete."""
        document_path, curve_path = self._paths(key)
        if not (document_path.exists() and curve_path.exists()):
            return None
        document = json.loads(document_path.read_text(encoding="utf-8"))
        with np.load(curve_path) as curve:
            test_curve = (curve["labels"], curve["probabilities"])
        return OriginResult(**document, test_curve=test_curve)

    def put(self, key: str, result: OriginResult) -> None:
        """Store `result`; the curve goes first, so a result file always has its curve."""
        document_path, curve_path = self._paths(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = curve_path.with_name(f".{curve_path.stem}.tmp.npz")
        labels, probabilities = result.test_curve
        np.savez(temporary, labels=labels, probabilities=probabilities)
        os.replace(temporary, curve_path)
        write_json_atomic(result.to_dict(), document_path)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.json", self.folder / f"{key}.npz"


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.digest()
