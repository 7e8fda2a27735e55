"""The Feast feature store of the active profile: configuration, apply, materialize and reads."""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd
from feast import FeatureStore, RepoConfig
from feast.infra.registry.sql import SqlRegistryConfig
from feast.repo_config import RegistryConfig

from feature_repo.definitions import FEATURE_SERVICE_NAME, build_feature_objects
from feature_repo.feature_columns import ENTITY_COLUMN, SNAPSHOT_COLUMN
from retention.errors import PipelineError
from retention.settings import Settings

logger = logging.getLogger(__name__)


def repo_config(settings: Settings) -> RepoConfig:
    """Build the Feast configuration of the settings' profile."""
    if settings.profile == "production":
        # SqlRegistry asserts that its config is a SqlRegistryConfig; a plain RegistryConfig fails.
        registry = SqlRegistryConfig(
            registry_type="sql",
            path=f"{settings.postgres_dsn.replace('postgresql://', 'postgresql+psycopg://', 1)}_feast",
            cache_ttl_seconds=60,
        )
        online_store = {"type": "redis", "connection_string": settings.redis_url}
    else:
        registry = RegistryConfig(path=str(settings.feast_dir / "registry.db"), cache_ttl_seconds=60)
        online_store = {"type": "sqlite", "path": str(settings.feast_dir / "online_store.db")}
    return RepoConfig(
        project=settings.namespace,
        provider="local",
        registry=registry,
        online_store=online_store,
        # Feast's file offline store is 30 to 300 times slower than DuckDB on this data.
        offline_store={"type": "duckdb"},
        entity_key_serialization_version=3,
        repo_path=settings.feast_dir,
    )


def get_feature_store(settings: Settings) -> FeatureStore:
    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=repo_config(settings))


def apply_definitions(store: FeatureStore, settings: Settings) -> list[str]:
    """Register the entity, sources, feature views and feature services; return their names.

    Raises PipelineError when a source file is missing, because materializing would fail on it.
    """
    missing = [str(path) for path in (settings.features_path, settings.sequences_path) if not path.exists()]
    if missing:
        raise PipelineError(
            f"The Feast source file(s) {missing} do not exist. Materialize the user_profile_features asset "
            "(or run `retention demo`) first; it writes the profile features and the event sequences."
        )
    objects = build_feature_objects(
        settings.features_path, settings.sequences_path, settings.retention.snapshot_every_days
    )
    store.apply(objects)
    return [obj.name for obj in objects]


def materialize_latest(store: FeatureStore, start: datetime, end: datetime) -> None:
    """Load feature rows with timestamps in [start, end] into the online store; the newest per user wins."""
    store.materialize(start_date=start, end_date=end)


def read_training_frame(
    store: FeatureStore, entities: pd.DataFrame, service_name: str = FEATURE_SERVICE_NAME
) -> pd.DataFrame:
    """Join the feature service's features to (user_id, snapshot_time, label) rows, point in time.

    Array features arrive as one NumPy array per cell, and as None where no sequence row joins.
    """
    entity_df = entities.rename(columns={SNAPSHOT_COLUMN: "event_timestamp"})
    service = store.get_feature_service(service_name)
    frame = store.get_historical_features(entity_df=entity_df, features=service).to_df()
    frame = frame.rename(columns={"event_timestamp": SNAPSHOT_COLUMN})
    frame[SNAPSHOT_COLUMN] = pd.to_datetime(frame[SNAPSHOT_COLUMN], utc=True)
    frame[ENTITY_COLUMN] = frame[ENTITY_COLUMN].astype("string")
    return frame.sort_values([SNAPSHOT_COLUMN, ENTITY_COLUMN], ignore_index=True)


def read_online_features(
    store: FeatureStore,
    user_ids: list[str],
    service_name: str = FEATURE_SERVICE_NAME,
    include_snapshot_time: bool = False,
) -> pd.DataFrame:
    """Read the feature service's latest features of `user_ids`; absent users get null features.

    Array features arrive as one Python list per cell. With `include_snapshot_time`, a last
    column snapshot_time contains the newest event timestamp of the user's features (UTC), or
    NaT for an absent user.
    """
    service = store.get_feature_service(service_name)
    response = store.get_online_features(
        features=service, entity_rows=[{ENTITY_COLUMN: user_id} for user_id in user_ids]
    ).to_dict(include_event_timestamps=include_snapshot_time)
    frame = pd.DataFrame(response)
    columns = service_feature_columns(store, service_name)
    if not include_snapshot_time:
        return frame[[ENTITY_COLUMN, *columns]]

    # Feast returns one "<feature>__ts" column of epoch seconds per feature, and 0 for an absent user.
    seconds = frame[[f"{column}__ts" for column in columns]].max(axis=1)
    frame[SNAPSHOT_COLUMN] = pd.to_datetime(seconds.where(seconds > 0), unit="s", utc=True)
    return frame[[ENTITY_COLUMN, *columns, SNAPSHOT_COLUMN]]


def service_feature_columns(store: FeatureStore, service_name: str) -> list[str]:
    """Return the feature names of a feature service, in the order of its views and their schemas."""
    service = store.get_feature_service(service_name)
    return [field.name for projection in service.feature_view_projections for field in projection.features]
