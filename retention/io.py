"""File writes that never leave a half-written or empty output in place of good data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` to a temporary file next to `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)
    return path


def write_json_atomic(document: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
    return path
