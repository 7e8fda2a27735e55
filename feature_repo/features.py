"""User-profile features and retention labels at weekly snapshots, computed with DuckDB.

Features of snapshot t use only events strictly before t; the label of t looks at (t, t + horizon].
An event exactly at t therefore belongs to neither, which keeps the two windows disjoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pandas as pd

from feature_repo.feature_columns import (
    CATEGORICAL_FEATURES,
    ENTITY_COLUMN,
    FEATURE_COLUMNS,
    LABEL_COLUMN,
    SNAPSHOT_COLUMN,
    UNKNOWN_CATEGORY,
)
from retention.errors import PipelineError
from retention.settings import RetentionWindow

logger = logging.getLogger(__name__)

SHORT_WINDOW_DAYS = 30
LONG_WINDOW_DAYS = 90


def snapshot_times(first_event: pd.Timestamp, last_event: pd.Timestamp, window: RetentionWindow) -> list[pd.Timestamp]:
    """Return weekly snapshot times from the first midnight with a full lookback up to the last event.

    Starting one lookback after the first event keeps every window complete, so the earliest
    snapshots are not biased towards short histories.
    """
    history_days = max(window.lookback_days, LONG_WINDOW_DAYS)
    start = (first_event + pd.Timedelta(days=history_days)).ceil("D")
    if start > last_event:
        raise PipelineError(
            f"The events span {first_event} to {last_event}, shorter than the {history_days}-day "
            "history the first snapshot needs. Provide more history or lower [retention] lookback_days."
        )
    return list(pd.date_range(start, last_event, freq=f"{window.snapshot_every_days}D", tz="UTC"))


def _connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    # DuckDB draws its own progress bar on stdout, which would corrupt `--json` output.
    connection.execute("SET enable_progress_bar = false")
    return connection


def _events_relation(events_path: Path, window: RetentionWindow) -> str:
    qualifying = ", ".join(f"'{event_type}'" for event_type in window.qualifying_event_types)
    return f"""
        SELECT
            user_id,
            event_time,
            category,
            event_type IN ({qualifying}) AS is_qualifying,
            CASE WHEN event_type IN ('purchase', 'refund') THEN coalesce(amount, 0) ELSE 0 END AS spend,
            coalesce(TRY_CAST(json_extract_string(properties, '$.discount') AS DOUBLE), 0) AS discount,
            coalesce(session_id, user_id || strftime(event_time, '%Y-%m-%d')) AS visit
        FROM read_parquet('{events_path}')
    """


def _feature_query(events_sql: str, window: RetentionWindow) -> str:
    history_days = max(window.lookback_days, LONG_WINDOW_DAYS)
    short, long = SHORT_WINDOW_DAYS, LONG_WINDOW_DAYS
    in_short = f"e.event_time >= s.snapshot_time - INTERVAL {short} DAY"
    in_long = f"e.event_time >= s.snapshot_time - INTERVAL {long} DAY"
    in_lookback = f"e.event_time >= s.snapshot_time - INTERVAL {window.lookback_days} DAY"
    return f"""
    WITH events AS ({events_sql}),
    first_seen AS (SELECT user_id, min(event_time) AS first_time FROM events GROUP BY user_id),
    windowed AS (
        SELECT s.snapshot_time, e.*
        FROM snapshots s
        JOIN events e
          ON e.event_time < s.snapshot_time
         AND e.event_time >= s.snapshot_time - INTERVAL {history_days} DAY
    ),
    aggregated AS (
        SELECT
            e.user_id,
            s.snapshot_time,
            bool_or(e.is_qualifying AND {in_lookback}) AS eligible,
            max(e.event_time) FILTER (WHERE e.is_qualifying) AS last_qualifying,
            min(e.event_time) FILTER (WHERE e.is_qualifying AND {in_long}) AS first_qualifying_long,
            count(DISTINCT e.visit) FILTER (WHERE e.is_qualifying AND {in_short}) AS frequency_30d,
            count(DISTINCT e.visit) FILTER (WHERE e.is_qualifying AND {in_long}) AS frequency_90d,
            coalesce(sum(e.spend) FILTER (WHERE {in_short}), 0) AS monetary_30d,
            coalesce(sum(e.spend) FILTER (WHERE {in_long}), 0) AS monetary_90d,
            coalesce(sum(e.discount) FILTER (WHERE {in_long}), 0) AS discount_90d,
            count(DISTINCT CAST(e.event_time AS DATE)) FILTER (WHERE {in_long}) AS active_days_90d,
            count(DISTINCT e.category) FILTER (WHERE e.is_qualifying AND {in_long}) AS category_diversity_90d
        FROM windowed e
        JOIN snapshots s USING (snapshot_time)
        GROUP BY e.user_id, s.snapshot_time
    )
    SELECT
        a.user_id,
        a.snapshot_time,
        date_diff('second', a.last_qualifying, a.snapshot_time) / 86400.0 AS recency_days,
        CAST(a.frequency_30d AS DOUBLE) AS frequency_30d,
        CAST(a.frequency_90d AS DOUBLE) AS frequency_90d,
        a.monetary_30d,
        a.monetary_90d,
        a.frequency_30d - a.frequency_90d * {short} / {long}.0 AS frequency_trend,
        a.monetary_30d - a.monetary_90d * {short} / {long}.0 AS monetary_trend,
        coalesce(a.monetary_90d / nullif(a.frequency_90d, 0), 0) AS avg_basket_value_90d,
        CAST(a.active_days_90d AS DOUBLE) AS active_days_90d,
        -- With one visit there is no interval yet; the window length is its lower bound.
        CASE WHEN a.frequency_90d > 1
             THEN date_diff('second', a.first_qualifying_long, a.last_qualifying) / 86400.0 / (a.frequency_90d - 1)
             ELSE {long}.0 END AS mean_interpurchase_days_90d,
        coalesce(a.discount_90d / nullif(a.monetary_90d + a.discount_90d, 0), 0) AS discount_share_90d,
        CAST(a.category_diversity_90d AS DOUBLE) AS category_diversity_90d,
        date_diff('second', f.first_time, a.snapshot_time) / 86400.0 AS tenure_days
    FROM aggregated a
    JOIN first_seen f USING (user_id)
    WHERE a.eligible
    """


def event_time_range(events_path: Path) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    """Return the first and last event time and the row count of an events Parquet file."""
    with _connect() as connection:
        first, last, rows = connection.execute(
            f"SELECT min(event_time), max(event_time), count(*) FROM read_parquet('{events_path}')"
        ).fetchone()
    if rows == 0:
        raise PipelineError(f"No events found in {events_path}. Run the ingestion or validation step first.")
    return pd.Timestamp(first).tz_convert("UTC"), pd.Timestamp(last).tz_convert("UTC"), rows


def build_profile_features(events_path: Path, users: pd.DataFrame, window: RetentionWindow) -> pd.DataFrame:
    """Compute one feature row per eligible (user_id, snapshot_time), joined with user attributes."""
    first_event, last_event, _ = event_time_range(events_path)
    snapshots = pd.DataFrame({SNAPSHOT_COLUMN: snapshot_times(first_event, last_event, window)})

    with _connect() as connection:
        connection.register("snapshots", snapshots)
        features = connection.execute(_feature_query(_events_relation(events_path, window), window)).df()

    attributes = users.reindex(columns=[ENTITY_COLUMN, *CATEGORICAL_FEATURES]).drop_duplicates(ENTITY_COLUMN)
    features = features.merge(attributes, on=ENTITY_COLUMN, how="left")
    for column in CATEGORICAL_FEATURES:
        features[column] = features[column].astype("string").fillna(UNKNOWN_CATEGORY)
    features[ENTITY_COLUMN] = features[ENTITY_COLUMN].astype("string")
    features[SNAPSHOT_COLUMN] = pd.to_datetime(features[SNAPSHOT_COLUMN], utc=True)
    features = features.sort_values([SNAPSHOT_COLUMN, ENTITY_COLUMN], ignore_index=True)
    logger.info(
        "Built %d feature rows for %d users over %d snapshots",
        len(features), features[ENTITY_COLUMN].nunique(), len(snapshots),
    )
    return features[[ENTITY_COLUMN, SNAPSHOT_COLUMN, *FEATURE_COLUMNS]]


def build_labels(events_path: Path, features: pd.DataFrame, window: RetentionWindow) -> pd.DataFrame:
    """Label each feature row whose horizon has fully passed: 1 when the user came back in it."""
    _, last_event, _ = event_time_range(events_path)
    horizon = pd.Timedelta(days=window.horizon_days)
    entities = features.loc[features[SNAPSHOT_COLUMN] + horizon <= last_event, [ENTITY_COLUMN, SNAPSHOT_COLUMN]]
    qualifying = ", ".join(f"'{event_type}'" for event_type in window.qualifying_event_types)

    with _connect() as connection:
        connection.register("entities", entities)
        labels = connection.execute(
            f"""
            SELECT n.user_id, n.snapshot_time,
                   CAST(count(e.event_time) > 0 AS INTEGER) AS {LABEL_COLUMN}
            FROM entities n
            LEFT JOIN (
                SELECT user_id, event_time FROM read_parquet('{events_path}')
                WHERE event_type IN ({qualifying})
            ) e
              ON e.user_id = n.user_id
             AND e.event_time > n.snapshot_time
             AND e.event_time <= n.snapshot_time + INTERVAL {window.horizon_days} DAY
            GROUP BY n.user_id, n.snapshot_time
            """
        ).df()

    labels[ENTITY_COLUMN] = labels[ENTITY_COLUMN].astype("string")
    labels[SNAPSHOT_COLUMN] = pd.to_datetime(labels[SNAPSHOT_COLUMN], utc=True)
    return labels.sort_values([SNAPSHOT_COLUMN, ENTITY_COLUMN], ignore_index=True)
