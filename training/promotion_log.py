"""The promotion log (one JSON object per line) and the rollback that reads it.

Each gate decision appends an "event": "promotion" record whose "decision" is promoted or
rejected, and each rollback appends an "event": "rollback" record. The previous champion of a
promotion is the version the rollback returns to.
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from retention.errors import PipelineError
from retention.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)

PACKAGE_NAME = "retention-platform"


def promotion_log_path(settings: Settings) -> Path:
    return settings.home / "registry" / "promotion_log.jsonl"


def append_record(settings: Settings, record: dict[str, Any]) -> Path:
    path = promotion_log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
    return path


def read_records(settings: Settings) -> list[dict[str, Any]]:
    """Return every record of the promotion log, oldest first, or none when the log does not exist."""
    path = promotion_log_path(settings)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise PipelineError(
                f"Line {number} of the promotion log {path} is not valid JSON ({error.msg}). "
                "Fix or delete that line; every other line is one decision."
            ) from error
    return records


def rollback(settings: Settings, actor: str | None = None) -> dict[str, Any]:
    """Move the champion alias back to the version that held it before the current champion's promotion.

    Returns the rollback record. Raises PipelineError when there is no champion, or when the log
    has no promotion of the current champion that names a previous one.
    """
    if settings.profile != "production" and not settings.mlflow_database_path.exists():
        raise PipelineError(
            f"{settings.home} has no model registry: {settings.mlflow_database_path} does not exist. Pass the "
            f"--home of a deployment that has trained models, or train one first with `retention demo --home {settings.home}`."
        )
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    name = settings.registry.registered_model_name
    alias = settings.registry.champion_alias
    try:
        current = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as error:
        raise PipelineError(
            f"Registered model {name!r} has no @{alias} version to roll back ({error.message}). "
            "Train a model first with `retention demo` or `retention replay`."
        ) from error

    promotions = [
        record
        for record in read_records(settings)
        if record.get("event") == "promotion" and record.get("decision") == "promoted"
        and record.get("model_name") == name and record.get("champion_after") == current
    ]
    previous = (promotions[-1].get("previous_champion") or {}).get("version") if promotions else None
    if previous is None:
        raise PipelineError(
            f"Version {current} of {name!r} is @{alias}, but the promotion log {promotion_log_path(settings)} "
            "records no champion before it, so there is nothing to roll back to. Set the alias by hand "
            "with the MLflow client if another version should serve."
        )

    client.set_registered_model_alias(name, alias, previous)
    record = {
        "event": "rollback",
        "at": utc_now(),
        "by": actor or current_actor(),
        "model_name": name,
        "from_version": current,
        "to_version": previous,
        "champion_after": previous,
        "code_version": code_version(),
    }
    client.set_model_version_tag(name, current, "rolled_back_at", record["at"])
    append_record(settings, record)
    logger.info("Rolled @%s of %s back from version %s to version %s", alias, name, current, previous)
    return record


def current_actor() -> str:
    """Return user@host of this process, the default author of a promotion or rollback."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown-user"
    return f"{user}@{socket.gethostname()}"


def code_version() -> str:
    """Return the git commit of the checkout, or the installed package version outside a git checkout."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return completed.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"{PACKAGE_NAME} {metadata.version(PACKAGE_NAME)}"
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
