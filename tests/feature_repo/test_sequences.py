import numpy as np
import pandas as pd
import pytest

from feature_repo.contract import conform_users
from feature_repo.definitions import FEATURE_SERVICE_NAME, SEQUENCE_FEATURE_SERVICE_NAME
from feature_repo.feature_columns import SEQUENCE_COLUMNS
from feature_repo.features import build_labels, build_profile_features
from feature_repo.sequences import build_event_sequences
from feature_repo.store import (
    apply_definitions,
    get_feature_store,
    materialize_latest,
    read_online_features,
    read_training_frame,
)
from retention.errors import ConfigurationError
from retention.settings import RetentionWindow, Settings
from tests.feature_repo.conftest import make_events

WINDOW = RetentionWindow()
SNAPSHOT = pd.Timestamp("2024-03-01T00:00:00Z")


@pytest.fixture()
def snapshot_events(tmp_path):
    """User "a" has five events before SNAPSHOT, one exactly at it and one after; "old" only 200 days before."""
    rows = [
        ("a", "2024-02-01T10:00:00Z", "purchase", 1.0),
        ("a", "2024-02-10T10:00:00Z", "view", None),
        ("a", "2024-02-20T10:00:00Z", "purchase", 3.0),
        ("a", "2024-02-25T10:00:00Z", "purchase", 4.0),
        ("a", "2024-02-29T12:00:00Z", "purchase", 5.0),
        ("a", "2024-03-01T00:00:00Z", "purchase", 6.0),
        ("a", "2024-03-02T00:00:00Z", "purchase", 7.0),
        ("old", "2023-08-14T00:00:00Z", "purchase", 9.0),
    ]
    path = tmp_path / "events.parquet"
    make_events(rows).to_parquet(path)
    return path


def entities(*user_ids: str) -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(user_ids), "snapshot_time": [SNAPSHOT] * len(user_ids)})


def test_sequence_excludes_snapshot_and_later(snapshot_events):
    sequences = build_event_sequences(snapshot_events, entities("a"), WINDOW, length=32)
    amounts = list(sequences.loc[0, "recent_amounts"])
    assert 6.0 not in amounts
    assert 7.0 not in amounts
    assert min(sequences.loc[0, "recent_gap_days"]) > 0


def test_sequence_keeps_latest_events_oldest_first(snapshot_events):
    sequences = build_event_sequences(snapshot_events, entities("a"), WINDOW, length=3)
    assert list(sequences.loc[0, "recent_amounts"]) == [3.0, 4.0, 5.0]
    assert list(sequences.loc[0, "recent_event_types"]) == ["purchase", "purchase", "purchase"]


def test_sequence_gaps_are_days_before(snapshot_events):
    sequences = build_event_sequences(snapshot_events, entities("a"), WINDOW, length=1)
    assert list(sequences.loc[0, "recent_gap_days"]) == [pytest.approx(0.5)]


def test_missing_amount_becomes_zero(snapshot_events):
    sequences = build_event_sequences(snapshot_events, entities("a"), WINDOW, length=32)
    assert list(sequences.loc[0, "recent_amounts"]) == [1.0, 0.0, 3.0, 4.0, 5.0]


def test_history_window_bounds_sequence(snapshot_events):
    sequences = build_event_sequences(snapshot_events, entities("old", "nobody"), WINDOW, length=32)
    lengths = sequences.set_index("user_id")["recent_categories"].map(len)
    assert lengths["old"] == 0
    assert lengths["nobody"] == 0


def test_sequence_rows_match_entities(snapshot_events):
    sequences = build_event_sequences(snapshot_events, entities("a", "old", "nobody"), WINDOW, length=32)
    assert sorted(sequences.user_id) == ["a", "nobody", "old"]
    assert list(sequences.columns) == ["user_id", "snapshot_time", *SEQUENCE_COLUMNS]


def test_zero_length_rejected(snapshot_events):
    with pytest.raises(ConfigurationError, match="sequence_length=0"):
        build_event_sequences(snapshot_events, entities("a"), WINDOW, length=0)


@pytest.fixture(scope="module")
def published_sequences(tmp_path_factory):
    """A Feast store with the profile and sequence views of u1 (buys every 10 days) and u2 (rarely)."""
    home = tmp_path_factory.mktemp("sequence_store")
    start = pd.Timestamp("2024-01-01T12:00:00Z")
    rows = [("u1", (start + pd.Timedelta(days=10 * k)).isoformat(), "purchase", 10.0 + k) for k in range(15)]
    rows += [("u2", (start + pd.Timedelta(days=k)).isoformat(), "purchase", 5.0) for k in range(3)]
    rows += [("u2", "2024-05-10T08:00:00Z", "purchase", 7.0)]
    events_path = home / "events.parquet"
    make_events(rows).to_parquet(events_path)

    settings = Settings(home=home / "home", namespace="sequence_test")
    settings.ensure_dirs()
    features = build_profile_features(events_path, conform_users(pd.DataFrame({"user_id": ["u1"]})), WINDOW)
    sequences = build_event_sequences(events_path, features, WINDOW, length=4)
    features.to_parquet(settings.features_path)
    sequences.to_parquet(settings.sequences_path)

    store = get_feature_store(settings)
    apply_definitions(store, settings)
    end = features.snapshot_time.max() + pd.Timedelta(seconds=1)
    materialize_latest(store, features.snapshot_time.min().to_pydatetime(), end.to_pydatetime())
    labels = build_labels(events_path, features, WINDOW)
    return store, sequences, labels


def test_feast_round_trip_of_sequences(published_sequences):
    store, sequences, labels = published_sequences
    frame = read_training_frame(store, labels, SEQUENCE_FEATURE_SERVICE_NAME)
    joined = frame.merge(sequences, on=["user_id", "snapshot_time"], suffixes=("", "_expected"))
    assert len(joined) == len(labels)
    for column in SEQUENCE_COLUMNS:
        assert all(isinstance(value, np.ndarray) for value in joined[column])
        assert all(list(got) == list(expected) for got, expected in zip(joined[column], joined[f"{column}_expected"]))


def test_profile_service_has_no_arrays(published_sequences):
    store, _, labels = published_sequences
    frame = read_training_frame(store, labels, FEATURE_SERVICE_NAME)
    assert not set(SEQUENCE_COLUMNS) & set(frame.columns)


def test_online_sequences_are_latest_lists(published_sequences):
    store, sequences, _ = published_sequences
    online = read_online_features(store, ["u1", "nobody"], SEQUENCE_FEATURE_SERVICE_NAME)
    latest = sequences[sequences.user_id == "u1"].sort_values("snapshot_time").iloc[-1]
    assert isinstance(online.loc[0, "recent_gap_days"], list)
    assert online.loc[0, "recent_gap_days"] == pytest.approx(list(latest.recent_gap_days))
    assert online.loc[0, "recent_categories"] == list(latest.recent_categories)
    assert online.loc[1, "recent_categories"] is None
