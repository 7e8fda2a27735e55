"""Feast objects: the user entity, the feature sources and views, and the feature services.

Paths come from the settings, so the same definitions serve the local and production profiles
and `feast apply` in this folder registers the same objects as the pipeline does.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Float64, String

from feature_repo.feature_columns import (
    CATEGORICAL_FEATURES,
    ENTITY_COLUMN,
    NUMERIC_FEATURES,
    SEQUENCE_AMOUNT_COLUMN,
    SEQUENCE_CATEGORY_COLUMN,
    SEQUENCE_EVENT_TYPE_COLUMN,
    SEQUENCE_GAP_COLUMN,
    SNAPSHOT_COLUMN,
)

FEATURE_VIEW_NAME = "user_profile_weekly"
SEQUENCE_VIEW_NAME = "user_event_sequence_weekly"
# Bump the suffix whenever the feature list changes; models record the service they used.
FEATURE_SERVICE_NAME = "user_retention_v1"
# The profile features plus the recent event sequence, for the sequence models.
SEQUENCE_FEATURE_SERVICE_NAME = "user_retention_seq_v1"
OWNER = "retention-platform"

user = Entity(
    name="user",
    join_keys=[ENTITY_COLUMN],
    value_type=ValueType.STRING,
    description="A customer of the shop; ids are strings exactly as the source spells them.",
    tags={"owner": OWNER},
)


def build_feature_objects(features_path: Path, sequences_path: Path, snapshot_every_days: int) -> list:
    """Return the Feast objects to apply.

    The profile features are read from `features_path` and the recent event sequences from `sequences_path`.
    """
    source = FileSource(
        name="user_profile_source",
        path=str(features_path),
        timestamp_field=SNAPSHOT_COLUMN,
        description="Weekly user-profile snapshots written by the feature pipeline.",
    )
    schema = [Field(name=name, dtype=Float64) for name in NUMERIC_FEATURES]
    schema += [Field(name=name, dtype=String) for name in CATEGORICAL_FEATURES]
    profile_view = FeatureView(
        name=FEATURE_VIEW_NAME,
        entities=[user],
        # A training row at snapshot t must join the features of t itself, never an older week.
        ttl=timedelta(days=snapshot_every_days),
        schema=schema,
        source=source,
        online=True,
        description="Recency, frequency, monetary value, trends, diversity, tenure and demographics per user.",
        tags={"owner": OWNER, "grain": "user x weekly snapshot"},
    )
    service = FeatureService(
        name=FEATURE_SERVICE_NAME,
        features=[profile_view],
        description="Features of the retention models, version 1.",
        tags={"owner": OWNER},
    )
    sequence_source, sequence_view = _sequence_objects(sequences_path, snapshot_every_days)
    sequence_service = FeatureService(
        name=SEQUENCE_FEATURE_SERVICE_NAME,
        features=[profile_view, sequence_view],
        description="Profile features and the recent event sequence of the sequence models, version 1.",
        tags={"owner": OWNER},
    )
    return [user, source, profile_view, service, sequence_source, sequence_view, sequence_service]


def _sequence_objects(sequences_path: Path, snapshot_every_days: int) -> tuple[FileSource, FeatureView]:
    source = FileSource(
        name="user_event_sequence_source",
        path=str(sequences_path),
        timestamp_field=SNAPSHOT_COLUMN,
        description="The last events before each weekly snapshot, written by the feature pipeline.",
    )
    view = FeatureView(
        name=SEQUENCE_VIEW_NAME,
        entities=[user],
        ttl=timedelta(days=snapshot_every_days),
        schema=[
            Field(name=SEQUENCE_CATEGORY_COLUMN, dtype=Array(String)),
            Field(name=SEQUENCE_EVENT_TYPE_COLUMN, dtype=Array(String)),
            Field(name=SEQUENCE_AMOUNT_COLUMN, dtype=Array(Float64)),
            Field(name=SEQUENCE_GAP_COLUMN, dtype=Array(Float64)),
        ],
        source=source,
        online=True,
        description="Categories, event types, amounts and days to the snapshot of the last events, oldest first.",
        tags={"owner": OWNER, "grain": "user x weekly snapshot"},
    )
    return source, view
