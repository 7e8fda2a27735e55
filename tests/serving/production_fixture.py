"""A production-profile copy of a local demo home: Feast on PostgreSQL and Redis, MLflow on PostgreSQL.

Running `retention demo` a second time with the production profile would take another minute or
more, so this publishes the demo's features to the production Feast store and registers its
model versions in the production MLflow registry instead.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import psycopg
import redis
from mlflow import MlflowClient

from feature_repo.feature_columns import SNAPSHOT_COLUMN
from feature_repo.store import apply_definitions, get_feature_store, materialize_latest
from retention.settings import Settings

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_SUFFIXES = ("_mlflow", "_feast", "_dagster")


def production_settings(local: Settings, home: Path, prefix: str) -> Settings:
    return replace(
        local,
        profile="production",
        home=home,
        namespace=prefix,
        postgres_dsn=f"postgresql://postgres@127.0.0.1:5432/{prefix}",
    )


def create_databases(prefix: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as connection:
        for suffix in DATABASE_SUFFIXES:
            connection.execute(f'CREATE DATABASE "{prefix}{suffix}"')


def drop_databases(prefix: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as connection:
        for suffix in DATABASE_SUFFIXES:
            connection.execute(f'DROP DATABASE IF EXISTS "{prefix}{suffix}" WITH (FORCE)')


def delete_redis_keys(redis_url: str, project: str) -> int:
    """Delete the Feast keys of `project`, which end with the project name."""
    host, _, port = redis_url.partition(":")
    client = redis.Redis(host=host, port=int(port or 6379))
    keys = list(client.scan_iter(match=f"*{project}", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


def publish_production_copy(local: Settings, production: Settings) -> None:
    """Copy the data files, publish the features to Feast and register every local model version."""
    production.data_dir.mkdir(parents=True, exist_ok=True)
    for path in local.data_dir.glob("*.parquet"):
        shutil.copy2(path, production.data_dir / path.name)
    for path in local.data_dir.glob("*.json"):
        shutil.copy2(path, production.data_dir / path.name)

    store = get_feature_store(production)
    apply_definitions(store, production)
    snapshots = pd.read_parquet(production.features_path, columns=[SNAPSHOT_COLUMN])[SNAPSHOT_COLUMN]
    materialize_latest(
        store, snapshots.min().to_pydatetime(), (snapshots.max() + pd.Timedelta(seconds=1)).to_pydatetime()
    )
    _copy_registry(local, production)


def _copy_registry(local: Settings, production: Settings) -> None:
    name = local.registry.registered_model_name
    alias = local.registry.champion_alias
    source_client = MlflowClient(tracking_uri=local.mlflow_tracking_uri)
    versions = sorted(source_client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    champion = source_client.get_model_version_by_alias(name, alias).version

    target_client = MlflowClient(tracking_uri=production.mlflow_tracking_uri)
    target_client.create_registered_model(name)
    for version in versions:
        source = source_client.get_model_version_download_uri(name, version.version)
        copied = target_client.create_model_version(name, source=source, tags=version.tags)
        assert copied.version == version.version, (copied.version, version.version)
    target_client.set_registered_model_alias(name, alias, champion)
    mlflow.set_tracking_uri(local.mlflow_tracking_uri)
