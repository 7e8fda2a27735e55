"""The recent event sequence of each user at each weekly snapshot, computed with DuckDB.

The sequence of snapshot t contains the last `length` events strictly before t within the feature
history window, oldest first: the category, event type, amount and days from the event to t.
Events at or after t never enter, as for the profile features.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from feature_repo.feature_columns import (
    ENTITY_COLUMN,
    SEQUENCE_AMOUNT_COLUMN,
    SEQUENCE_CATEGORY_COLUMN,
    SEQUENCE_COLUMNS,
    SEQUENCE_EVENT_TYPE_COLUMN,
    SEQUENCE_GAP_COLUMN,
    SNAPSHOT_COLUMN,
    UNKNOWN_CATEGORY,
)
from feature_repo.features import LONG_WINDOW_DAYS, _connect
from retention.errors import ConfigurationError
from retention.settings import RetentionWindow

logger = logging.getLogger(__name__)

# Ties in event_time (the lines of one basket share it) are broken by these columns, so the
# same events are chosen and ordered the same way on every run.
_EVENT_ORDER = "event_time, category, event_type, amount"


def _sequence_query(events_path: Path, history_days: int, length: int) -> str:
    # Numbering each user's events once and looking up the last one before every snapshot with an
    # ASOF join reads each event once, where a range join would repeat it for every snapshot.
    return f"""
    WITH numbered AS (
        SELECT
            user_id,
            event_time,
            coalesce(category, '{UNKNOWN_CATEGORY}') AS category,
            event_type,
            CAST(coalesce(amount, 0) AS DOUBLE) AS amount,
            row_number() OVER (PARTITION BY user_id ORDER BY {_EVENT_ORDER}) AS position
        FROM read_parquet('{events_path}')
    ),
    last_position_at AS (
        SELECT user_id, event_time, max(position) AS last_position
        FROM numbered
        GROUP BY user_id, event_time
    ),
    last_before AS (
        -- The strict inequality leaves out events at the snapshot time itself.
        SELECT n.user_id, n.snapshot_time, p.last_position
        FROM entities n
        ASOF JOIN last_position_at p
          ON n.user_id = p.user_id AND n.snapshot_time > p.event_time
    ),
    wanted AS (
        SELECT user_id, snapshot_time, unnest(range(greatest(last_position - {length} + 1, 1), last_position + 1)) AS position
        FROM last_before
    ),
    sequences AS (
        SELECT
            w.user_id,
            w.snapshot_time,
            list(e.category ORDER BY e.position) AS {SEQUENCE_CATEGORY_COLUMN},
            list(e.event_type ORDER BY e.position) AS {SEQUENCE_EVENT_TYPE_COLUMN},
            list(e.amount ORDER BY e.position) AS {SEQUENCE_AMOUNT_COLUMN},
            list(date_diff('second', e.event_time, w.snapshot_time) / 86400.0 ORDER BY e.position)
                AS {SEQUENCE_GAP_COLUMN}
        FROM wanted w
        JOIN numbered e USING (user_id, position)
        WHERE e.event_time >= w.snapshot_time - INTERVAL {history_days} DAY
        GROUP BY w.user_id, w.snapshot_time
    )
    SELECT
        n.user_id,
        n.snapshot_time,
        coalesce(s.{SEQUENCE_CATEGORY_COLUMN}, []::VARCHAR[]) AS {SEQUENCE_CATEGORY_COLUMN},
        coalesce(s.{SEQUENCE_EVENT_TYPE_COLUMN}, []::VARCHAR[]) AS {SEQUENCE_EVENT_TYPE_COLUMN},
        coalesce(s.{SEQUENCE_AMOUNT_COLUMN}, []::DOUBLE[]) AS {SEQUENCE_AMOUNT_COLUMN},
        coalesce(s.{SEQUENCE_GAP_COLUMN}, []::DOUBLE[]) AS {SEQUENCE_GAP_COLUMN}
    FROM entities n
    LEFT JOIN sequences s USING (user_id, snapshot_time)
    """


def build_event_sequences(
    events_path: Path, entities: pd.DataFrame, window: RetentionWindow, length: int
) -> pd.DataFrame:
    """Return one row per (user_id, snapshot_time) of `entities` with its recent event sequence.

    `entities` are usually the profile feature rows. Each sequence contains at most `length`
    events from the feature history window (max of lookback_days and 90 days) before the
    snapshot, so a user without events there gets empty arrays.
    """
    if length < 1:
        raise ConfigurationError(
            f"[features] sequence_length={length} must be at least 1. Set it to a positive integer in retention.toml."
        )
    history_days = max(window.lookback_days, LONG_WINDOW_DAYS)
    keys = entities[[ENTITY_COLUMN, SNAPSHOT_COLUMN]].drop_duplicates().copy()
    keys[ENTITY_COLUMN] = keys[ENTITY_COLUMN].astype(str)
    keys[SNAPSHOT_COLUMN] = pd.to_datetime(keys[SNAPSHOT_COLUMN], utc=True)

    with _connect() as connection:
        connection.register("entities", keys)
        sequences = connection.execute(_sequence_query(events_path, history_days, length)).df()

    sequences[ENTITY_COLUMN] = sequences[ENTITY_COLUMN].astype("string")
    sequences[SNAPSHOT_COLUMN] = pd.to_datetime(sequences[SNAPSHOT_COLUMN], utc=True)
    sequences = sequences.sort_values([SNAPSHOT_COLUMN, ENTITY_COLUMN], ignore_index=True)
    lengths = sequences[SEQUENCE_CATEGORY_COLUMN].map(len)
    logger.info(
        "Built %d event sequences of at most %d events (mean %.1f, %d empty)",
        len(sequences), length, lengths.mean() if len(lengths) else 0.0, int((lengths == 0).sum()),
    )
    return sequences[[ENTITY_COLUMN, SNAPSHOT_COLUMN, *SEQUENCE_COLUMNS]]
