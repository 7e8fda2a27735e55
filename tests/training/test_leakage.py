"""Leakage checks of the training set on a slice of the bundled Complete Journey data.

Features of snapshot t may use only events strictly before t. These tests recompute
features from the raw events, add events exactly at snapshot times to show that they change
nothing, and check that no single feature separates the labels almost perfectly.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_repo.feature_columns import ENTITY_COLUMN, LABEL_COLUMN, NUMERIC_FEATURES, SNAPSHOT_COLUMN
from feature_repo.features import build_labels, build_profile_features
from feature_repo.sources.completejourney import load_events, load_users
from retention.settings import RetentionWindow
from training.evaluation import LEAKAGE_ROC_AUC, single_feature_roc_auc

WINDOW = RetentionWindow()
SAMPLE_USERS = 60
CHECKED_ROWS = 40
CONTRACT_COLUMNS = ["user_id", "event_time", "event_type", "item_id", "category", "amount", "quantity", "session_id", "properties"]


@pytest.fixture(scope="module")
def real_slice(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("leakage")
    events = load_events(SAMPLE_USERS)[CONTRACT_COLUMNS]
    events_path = folder / "events.parquet"
    events.to_parquet(events_path)
    users = load_users(SAMPLE_USERS)
    features = build_profile_features(events_path, users, WINDOW)
    labels = build_labels(events_path, features, WINDOW)
    training_set = features.merge(labels, on=[ENTITY_COLUMN, SNAPSHOT_COLUMN], how="inner", validate="one_to_one")
    return {"folder": folder, "events": events, "users": users, "features": features, "training_set": training_set}


def _recompute(events: pd.DataFrame, user_id: str, snapshot: pd.Timestamp) -> dict[str, float]:
    """Recompute some features of (user_id, snapshot) from the user's events strictly before the snapshot."""
    past = events[(events.user_id == user_id) & (events.event_time < snapshot)]
    purchases = past[past.event_type == "purchase"]
    last_90 = past[past.event_time >= snapshot - pd.Timedelta(days=90)]
    purchases_30 = purchases[purchases.event_time >= snapshot - pd.Timedelta(days=30)]
    purchases_90 = purchases[purchases.event_time >= snapshot - pd.Timedelta(days=90)]
    first_event = events[events.user_id == user_id].event_time.min()
    return {
        "recency_days": (snapshot - purchases.event_time.max()).total_seconds() / 86400,
        "frequency_30d": float(purchases_30.session_id.nunique()),
        "frequency_90d": float(purchases_90.session_id.nunique()),
        "monetary_90d": float(last_90.loc[last_90.event_type.isin(["purchase", "refund"]), "amount"].fillna(0).sum()),
        "active_days_90d": float(last_90.event_time.dt.date.nunique()),
        "tenure_days": (snapshot - first_event).total_seconds() / 86400,
    }


def test_features_match_past_only_recomputation(real_slice):
    events, training_set = real_slice["events"], real_slice["training_set"]
    rows = training_set.sample(CHECKED_ROWS, random_state=0)

    for row in rows.itertuples():
        expected = _recompute(events, row.user_id, row.snapshot_time)
        for name, value in expected.items():
            assert getattr(row, name) == pytest.approx(value, rel=1e-9, abs=1e-6), (
                f"{name} of user {row.user_id} at {row.snapshot_time} is {getattr(row, name)}, "
                f"but the events before the snapshot give {value}"
            )


def test_every_last_purchase_precedes_snapshot(real_slice):
    training_set = real_slice["training_set"]

    assert (training_set["recency_days"] > 0).all()
    assert (training_set["tenure_days"] > 0).all()


def test_events_at_snapshot_change_nothing(real_slice):
    events, features = real_slice["events"], real_slice["features"]
    # Purchases exactly at earlier snapshot times, so the snapshot grid itself stays the same. One
    # per user, because an injected purchase rightly changes the same user's later snapshots.
    earlier = features[features[SNAPSHOT_COLUMN] < features[SNAPSHOT_COLUMN].max()]
    targets = earlier.sample(frac=1.0, random_state=1).drop_duplicates(ENTITY_COLUMN).head(25)
    injected = pd.DataFrame(
        {
            "user_id": targets[ENTITY_COLUMN].to_numpy(),
            "event_time": targets[SNAPSHOT_COLUMN].to_numpy(),
            "event_type": "purchase",
            "category": "injected",
            "amount": 999.0,
            "quantity": 1.0,
            "session_id": [f"injected-{index}" for index in range(len(targets))],
        }
    ).reindex(columns=CONTRACT_COLUMNS)
    path = real_slice["folder"] / "events_with_injected.parquet"
    pd.concat([events, injected.astype(events.dtypes.to_dict())], ignore_index=True).to_parquet(path)

    rebuilt = build_profile_features(path, real_slice["users"], WINDOW)

    keys = [ENTITY_COLUMN, SNAPSHOT_COLUMN]
    before = targets.merge(features, on=keys, suffixes=("", "_original"))[keys + list(NUMERIC_FEATURES)]
    after = targets[keys].merge(rebuilt, on=keys)[keys + list(NUMERIC_FEATURES)]
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


def test_injected_events_reach_later_snapshots(real_slice, tmp_path: Path):
    """The injection above is a real change: one week later, the injected purchase is the latest one."""
    events, features = real_slice["events"], real_slice["features"]
    row = features[features[SNAPSHOT_COLUMN] < features[SNAPSHOT_COLUMN].max()].iloc[0]
    injected = events.iloc[:1].copy()
    injected[["user_id", "event_time", "session_id", "amount"]] = [row.user_id, row.snapshot_time, "injected", 999.0]
    path = tmp_path / "events.parquet"
    pd.concat([events, injected], ignore_index=True).to_parquet(path)

    rebuilt = build_profile_features(path, real_slice["users"], WINDOW)

    next_week = rebuilt[(rebuilt.user_id == row.user_id) & (rebuilt.snapshot_time > row.snapshot_time)].iloc[0]
    assert next_week.recency_days <= (next_week.snapshot_time - row.snapshot_time).total_seconds() / 86400


def test_no_single_feature_separates_labels(real_slice):
    training_set = real_slice["training_set"]
    assert training_set[LABEL_COLUMN].nunique() == 2

    scores = single_feature_roc_auc(training_set, NUMERIC_FEATURES)

    for name, auc in scores.items():
        assert auc < LEAKAGE_ROC_AUC, f"{name} alone reaches ROC-AUC {auc:.4f} on the labels, a sign of leakage"


def test_label_copy_counts_as_leakage(real_slice):
    training_set = real_slice["training_set"].copy()
    noise = np.random.default_rng(0).normal(0.0, 0.05, len(training_set))
    training_set["leaky"] = training_set[LABEL_COLUMN] + noise

    scores = single_feature_roc_auc(training_set, ["leaky"])

    assert scores["leaky"] >= LEAKAGE_ROC_AUC
