import pandas as pd
import pytest

from feature_repo.feature_columns import FEATURE_COLUMNS, UNKNOWN_CATEGORY
from feature_repo.features import build_labels, build_profile_features, snapshot_times
from retention.errors import PipelineError
from retention.settings import RetentionWindow

WINDOW = RetentionWindow()


def test_snapshots_start_after_full_lookback():
    times = snapshot_times(pd.Timestamp("2024-01-01T12:00Z"), pd.Timestamp("2024-06-01T00:00Z"), WINDOW)
    assert times[0] == pd.Timestamp("2024-04-01T00:00Z")
    assert all(later - earlier == pd.Timedelta(days=7) for earlier, later in zip(times, times[1:]))


def test_snapshots_reject_short_history():
    with pytest.raises(PipelineError, match="lookback_days"):
        snapshot_times(pd.Timestamp("2024-01-01T00:00Z"), pd.Timestamp("2024-02-01T00:00Z"), WINDOW)


def test_features_use_only_past_events(history_events, users):
    features = build_profile_features(history_events, users, WINDOW)
    events = pd.read_parquet(history_events)
    for row in features.itertuples():
        past = events[(events.user_id == row.user_id) & (events.event_time < row.snapshot_time)]
        last_purchase = past[past.event_type == "purchase"].event_time.max()
        expected_recency = (row.snapshot_time - last_purchase).total_seconds() / 86400
        assert row.recency_days == pytest.approx(expected_recency)
        window = past[past.event_time >= row.snapshot_time - pd.Timedelta(days=90)]
        assert row.monetary_90d == pytest.approx(window.amount.fillna(0).sum())


def test_features_have_every_column(history_events, users):
    features = build_profile_features(history_events, users, WINDOW)
    assert list(features.columns) == ["user_id", "snapshot_time", *FEATURE_COLUMNS]
    assert features[list(FEATURE_COLUMNS[:-3])].notna().all().all()


def test_missing_attributes_become_unknown(history_events, users):
    features = build_profile_features(history_events, users, WINDOW)
    u2 = features[features.user_id == "u2"]
    u1 = features[features.user_id == "u1"]
    assert set(u2.age_band) == {UNKNOWN_CATEGORY}
    assert set(u1.age_band) == {"25-34"}
    assert set(u1.household_size) == {UNKNOWN_CATEGORY}


def test_ineligible_users_are_left_out(history_events, users):
    features = build_profile_features(history_events, users, WINDOW)
    # u2's only purchases before May are in the first three days, more than 90 days before
    # the snapshots of April 8 onwards; the view of April 20 does not make u2 eligible.
    u2_snapshots = set(features.loc[features.user_id == "u2", "snapshot_time"])
    assert pd.Timestamp("2024-04-29T00:00Z") not in u2_snapshots
    assert pd.Timestamp("2024-04-01T00:00Z") in u2_snapshots


def test_labels_follow_horizon(history_events, users):
    features = build_profile_features(history_events, users, WINDOW)
    labels = build_labels(history_events, features, WINDOW).set_index(["user_id", "snapshot_time"])["label"]
    # u1 buys every 10 days, so every 14-day horizon contains a purchase.
    assert labels.loc["u1"].eq(1).all()
    # u2 has no purchase between the snapshot of April 1 and May 10.
    assert labels.loc[("u2", pd.Timestamp("2024-04-01T00:00Z"))] == 0


def test_labels_skip_unfinished_horizons(history_events, users):
    features = build_profile_features(history_events, users, WINDOW)
    labels = build_labels(history_events, features, WINDOW)
    last_event = pd.read_parquet(history_events).event_time.max()
    assert (labels.snapshot_time + pd.Timedelta(days=14) <= last_event).all()
    assert len(labels) < len(features)
