import pandas as pd
import pytest

from feature_repo.feature_columns import FEATURE_COLUMNS
from feature_repo.features import build_labels, build_profile_features
from feature_repo.sequences import build_event_sequences
from feature_repo.store import (
    apply_definitions,
    get_feature_store,
    materialize_latest,
    read_online_features,
    read_training_frame,
)
from retention.settings import Settings


@pytest.fixture()
def published_store(tmp_path, history_events, users):
    settings = Settings(home=tmp_path / "home", namespace="store_test")
    settings.ensure_dirs()
    features = build_profile_features(history_events, users, settings.retention)
    features.to_parquet(settings.features_path)
    sequences = build_event_sequences(history_events, features, settings.retention, settings.features.sequence_length)
    sequences.to_parquet(settings.sequences_path)
    store = get_feature_store(settings)
    apply_definitions(store, settings)
    end = features.snapshot_time.max() + pd.Timedelta(seconds=1)
    materialize_latest(store, features.snapshot_time.min().to_pydatetime(), end.to_pydatetime())
    labels = build_labels(history_events, features, settings.retention)
    return store, features, labels


def test_training_frame_matches_snapshot_rows(published_store):
    store, features, labels = published_store
    frame = read_training_frame(store, labels)
    joined = frame.merge(features, on=["user_id", "snapshot_time"], suffixes=("", "_expected"))
    assert len(frame) == len(labels)
    assert len(joined) == len(labels)
    for column in ("recency_days", "monetary_90d", "tenure_days"):
        assert (joined[column] - joined[f"{column}_expected"]).abs().max() == pytest.approx(0)


def test_online_features_are_latest_snapshot(published_store):
    store, features, _ = published_store
    online = read_online_features(store, ["u1"])
    latest = features[features.user_id == "u1"].sort_values("snapshot_time").iloc[-1]
    assert list(online.columns) == ["user_id", *FEATURE_COLUMNS]
    assert online.loc[0, "recency_days"] == pytest.approx(latest.recency_days)
    assert online.loc[0, "age_band"] == "25-34"


def test_online_features_of_unknown_user_are_null(published_store):
    store, _, _ = published_store
    online = read_online_features(store, ["nobody"])
    assert online.loc[0, "user_id"] == "nobody"
    assert online[["recency_days", "frequency_90d"]].isna().all(axis=None)
