"""Small, valid data sets for the monitoring tests. Each test breaks them in one place."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_repo.contract import (
    EVENT_SCHEMA,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    conform_events,
    conform_users,
)
from feature_repo.feature_columns import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES

# A fixed "now" for the events suite, so that event times near the upper bound are deterministic.
NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)
SOURCE_FILE = "transactions.csv"


def good_events(rows: int = 20, span_days: int = 30) -> pd.DataFrame:
    """Return valid contract events spread evenly over span_days before NOW minus ten days."""
    end = pd.Timestamp(NOW) - pd.Timedelta(days=10)
    times = pd.date_range(end - pd.Timedelta(days=span_days), end, periods=rows)
    event_types = np.where(np.arange(rows) % 2 == 0, "purchase", "view")
    return conform_events(
        pd.DataFrame(
            {
                "user_id": [f"user-{index % 5}" for index in range(rows)],
                "event_time": times,
                "event_type": event_types,
                "item_id": [f"item-{index}" for index in range(rows)],
                "category": "grocery",
                "amount": np.where(event_types == "purchase", 3.5, np.nan),
                "quantity": 1.0,
                "session_id": [f"session-{index // 2}" for index in range(rows)],
                "properties": None,
            }
        )
    )


def with_provenance(events: pd.DataFrame, first_line: int = 2) -> pd.DataFrame:
    """Add _source_file and _source_line, as the conversion step writes them."""
    frame = events.copy()
    frame[SOURCE_FILE_COLUMN] = pd.array([SOURCE_FILE] * len(frame), dtype="string")
    frame[SOURCE_LINE_COLUMN] = np.arange(first_line, first_line + len(frame), dtype="int64")
    return frame


def write_converted_events(events: pd.DataFrame, path) -> None:
    """Write events with provenance columns in the layout of the conversion step's output."""
    # Nullable fields, because the converted file may hold rows that validation will reject.
    fields = [field.with_nullable(True) for field in EVENT_SCHEMA]
    schema = pa.schema([*fields, pa.field(SOURCE_FILE_COLUMN, pa.string()), pa.field(SOURCE_LINE_COLUMN, pa.int64())])
    pq.write_table(pa.Table.from_pandas(events, schema=schema, preserve_index=False), path)


def good_users(rows: int = 6) -> pd.DataFrame:
    return conform_users(
        pd.DataFrame(
            {
                "user_id": [f"user-{index}" for index in range(rows)],
                "age_band": "25-34",
                "income_band": "50-74K",
                "household_size": "2",
                "region": None,
                "signup_time": pd.Timestamp("2020-01-01", tz="UTC"),
            }
        )
    )


def good_features(rows: int = 8) -> pd.DataFrame:
    """Return a filled, consistent feature table of one snapshot."""
    frame = pd.DataFrame(
        {
            "user_id": [f"user-{index}" for index in range(rows)],
            "snapshot_time": pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )
    for column in NUMERIC_FEATURES:
        frame[column] = 1.0
    frame["recency_days"] = 3.0
    frame["tenure_days"] = 200.0
    frame["frequency_30d"] = 2.0
    frame["frequency_90d"] = 5.0
    frame["monetary_30d"] = 20.0
    frame["monetary_90d"] = 55.0
    frame["active_days_90d"] = 4.0
    frame["discount_share_90d"] = 0.25
    for column in CATEGORICAL_FEATURES:
        frame[column] = pd.array(["unknown"] * rows, dtype="string")
    return frame[["user_id", "snapshot_time", *FEATURE_COLUMNS]]


def drifting_features(snapshots: int = 20, users: int = 300, shifted_column: str = "monetary_30d", seed: int = 3):
    """Return weekly feature snapshots where shifted_column moves up by 5 from snapshot 12 on."""
    rng = np.random.default_rng(seed)
    frames = []
    for index, snapshot_time in enumerate(pd.date_range("2024-01-01", periods=snapshots, freq="7D", tz="UTC")):
        frame = pd.DataFrame({"user_id": [f"user-{user}" for user in range(users)], "snapshot_time": snapshot_time})
        for column in NUMERIC_FEATURES:
            frame[column] = rng.gamma(2.0, 3.0, users)
        if index >= 12:
            frame[shifted_column] = frame[shifted_column] + 5 * 4.2
        for column in CATEGORICAL_FEATURES:
            frame[column] = pd.array(rng.choice(["a", "b", "unknown"], users), dtype="string")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
