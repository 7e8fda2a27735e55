"""Feast objects: the user entity, the profile feature source and view, and the feature service.

Paths come from the settings, so the same definitions serve the local and production profiles
and `feast apply` in this folder registers the same objects as the pipeline does.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, String

from feature_repo.feature_columns import CATEGORICAL_FEATURES, ENTITY_COLUMN, NUMERIC_FEATURES, SNAPSHOT_COLUMN

FEATURE_VIEW_NAME = "user_profile_weekly"
# Bump the suffix whenever the feature list changes; models record the service they used.
FEATURE_SERVICE_NAME = "user_retention_v1"
OWNER = "retention-platform"

user = Entity(
    name="user",
    join_keys=[ENTITY_COLUMN],
    value_type=ValueType.STRING,
    description="A customer of the shop; ids are strings exactly as the source spells them.",
    tags={"owner": OWNER},
)


def build_feature_objects(features_path: Path, snapshot_every_days: int) -> list:
    """Return the Feast objects to apply, reading the profile features from `features_path`."""
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
    return [user, source, profile_view, service]
