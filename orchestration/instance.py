"""The Dagster instance of the active profile: where runs, events and schedules are stored."""

import os
from pathlib import Path

import yaml

from retention.settings import Settings


def instance_config(settings: Settings) -> dict:
    """Return the dagster.yaml content: SQLite under DAGSTER_HOME locally, PostgreSQL in production."""
    config: dict = {"telemetry": {"enabled": False}}
    if settings.profile == "production":
        # dagster-postgres needs psycopg2; SQLAlchemy 2.1 maps a bare postgresql:// URL to psycopg 3.
        url = settings.postgres_dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
        config["storage"] = {"postgres": {"postgres_url": f"{url}_dagster"}}
    return config


def prepare_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the settings' folder unless set, and write its dagster.yaml if absent."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "dagster.yaml"
    if not config_path.exists():
        config_path.write_text(yaml.safe_dump(instance_config(settings), sort_keys=False), encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
