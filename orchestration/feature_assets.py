"""Assets that turn validated events into features and publish them through Feast."""

import dagster as dg
import pandas as pd

from feature_repo.definitions import (
    FEATURE_SERVICE_NAME,
    FEATURE_VIEW_NAME,
    SEQUENCE_FEATURE_SERVICE_NAME,
    SEQUENCE_VIEW_NAME,
)
from feature_repo.feature_columns import LABEL_COLUMN, SEQUENCE_CATEGORY_COLUMN, SNAPSHOT_COLUMN
from feature_repo.features import build_labels, build_profile_features
from feature_repo.sequences import build_event_sequences
from feature_repo.store import apply_definitions, get_feature_store, materialize_latest, read_training_frame
from monitoring.data_docs import write_data_docs
from monitoring.validation import validate_features
from orchestration.ingestion_assets import user_attributes, validated_events
from orchestration.resources import SettingsResource
from retention.io import write_parquet_atomic

FEATURE_CHECK = "features_pass_expectations"


def _range(frame: pd.DataFrame) -> str:
    return f"{frame[SNAPSHOT_COLUMN].min():%Y-%m-%d} to {frame[SNAPSHOT_COLUMN].max():%Y-%m-%d}"


@dg.asset(
    group_name="features",
    deps=[validated_events, user_attributes],
    kinds={"duckdb", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            FEATURE_CHECK,
            asset="user_profile_features",
            blocking=True,
            description="Blocks publication to Feast when the features fail their expectations.",
        )
    ],
)
def user_profile_features(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Weekly user-profile snapshots and recent event sequences (the Feast sources) and their retention labels."""
    cfg = settings.get()
    users = pd.read_parquet(cfg.users_path)
    features = build_profile_features(cfg.events_path, users, cfg.retention)
    sequences = build_event_sequences(cfg.events_path, features, cfg.retention, cfg.features.sequence_length)
    labels = build_labels(cfg.events_path, features, cfg.retention)
    write_parquet_atomic(features, cfg.features_path)
    write_parquet_atomic(sequences, cfg.sequences_path)
    write_parquet_atomic(labels, cfg.labels_path)

    result = validate_features(features)
    docs_path = write_data_docs([result], cfg.reports_dir / "data_docs")
    failed = [expectation.to_dict() for expectation in result.expectations if not expectation.success]
    context.log.info(
        f"Built {len(features):,} feature rows over {features[SNAPSHOT_COLUMN].nunique()} snapshots; "
        f"{len(labels):,} labelled rows, {labels[LABEL_COLUMN].mean():.1%} retained"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": len(features),
            "users": int(features["user_id"].nunique()),
            "snapshots": int(features[SNAPSHOT_COLUMN].nunique()),
            "snapshot_range": _range(features),
            "labelled_rows": len(labels),
            "label_rate": float(labels[LABEL_COLUMN].mean()),
            "data_docs": dg.MetadataValue.url(docs_path.as_uri()),
            "path": dg.MetadataValue.path(str(cfg.features_path)),
            "sequence_length": cfg.features.sequence_length,
            "mean_sequence_events": float(sequences[SEQUENCE_CATEGORY_COLUMN].map(len).mean()),
            "sequences_path": dg.MetadataValue.path(str(cfg.sequences_path)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=FEATURE_CHECK,
                passed=bool(result.success),
                description=f"{len(failed)} failed expectations; see the Data Docs at {docs_path}.",
                metadata={"failed_expectations": dg.MetadataValue.json(failed)},
            )
        ],
    )


@dg.asset(group_name="features", deps=[user_profile_features], kinds={"feast"})
def feast_feature_store(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Feature definitions applied to the Feast registry and the newest snapshot per user in the online store."""
    cfg = settings.get()
    store = get_feature_store(cfg)
    applied = apply_definitions(store, cfg)
    features = pd.read_parquet(cfg.features_path, columns=[SNAPSHOT_COLUMN])
    start = features[SNAPSHOT_COLUMN].min().to_pydatetime()
    # One second past the newest snapshot keeps it in the window whether or not the offline
    # store treats the end bound as inclusive (the DuckDB store of Feast 0.67 does).
    end = (features[SNAPSHOT_COLUMN].max() + pd.Timedelta(seconds=1)).to_pydatetime()
    materialize_latest(store, start, end)
    context.log.info(f"Applied {applied} and materialized {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    return dg.MaterializeResult(
        metadata={
            "project": cfg.namespace,
            "feature_view": FEATURE_VIEW_NAME,
            "feature_service": FEATURE_SERVICE_NAME,
            "sequence_feature_view": SEQUENCE_VIEW_NAME,
            "sequence_feature_service": SEQUENCE_FEATURE_SERVICE_NAME,
            "online_store": store.config.online_store.type,
            "offline_store": store.config.offline_store.type,
            "materialized_from": start.isoformat(),
            "materialized_to": end.isoformat(),
        }
    )


@dg.asset(group_name="training", deps=[feast_feature_store], kinds={"feast", "parquet"})
def training_set(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Point-in-time join of the retention labels with the sequence feature service, read from Feast.

    The frame contains the profile features and the array columns of the event sequence. The MLP
    and LightGBM read only the profile columns, while the sequence models read both.
    """
    cfg = settings.get()
    labels = pd.read_parquet(cfg.labels_path)
    frame = read_training_frame(get_feature_store(cfg), labels, SEQUENCE_FEATURE_SERVICE_NAME)
    write_parquet_atomic(frame, cfg.training_set_path)
    context.log.info(f"Read {len(frame):,} training rows from Feast")
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "snapshot_range": _range(frame),
            "label_rate": float(frame[LABEL_COLUMN].mean()),
            "feature_service": SEQUENCE_FEATURE_SERVICE_NAME,
            "path": dg.MetadataValue.path(str(cfg.training_set_path)),
        }
    )
