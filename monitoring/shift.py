"""An injected shift of the validated events, to show that monitoring notices it and retraining follows.

From a given week on, every amount is multiplied by a factor (prices in another currency, say)
and every event of one product category disappears (the shop delists it). The events file is
rewritten in place with its own Arrow schema, so the feature step reads it as before.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from monitoring.weeks import week_of
from retention.errors import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_AMOUNT_FACTOR = 3.0


@dataclass(frozen=True)
class InjectedShift:
    start: pd.Timestamp
    amount_factor: float = DEFAULT_AMOUNT_FACTOR
    # None removes the category with the most events from `start` on.
    removed_category: str | None = None


def shift_start_week(replayed: list[str], requested: str | None) -> str:
    """Return the first shifted week: the requested one (any date of it) or the middle replayed week.

    Raises ConfigurationError unless weeks before and after the shift are replayed.
    """
    week = week_of(requested) if requested else replayed[len(replayed) // 2]
    if not replayed[0] < week <= replayed[-1]:
        raise ConfigurationError(
            f"--shift-from {week} must fall after the first replayed week {replayed[0]} and by the last one "
            f"{replayed[-1]}, so that weeks before and after the shift are scored."
        )
    return week


def most_frequent_category(table: pa.Table, start: pd.Timestamp) -> str:
    recent = table.filter(pc.greater_equal(table["event_time"], pa.scalar(start.to_pydatetime(), table["event_time"].type)))
    counts = pc.value_counts(recent["category"].drop_null())
    if len(counts) == 0:
        raise ConfigurationError(
            f"No event from {start:%Y-%m-%d} on has a category, so none can be removed. "
            "Pick an earlier shift week or name the category to remove."
        )
    best = max(counts.to_pylist(), key=lambda item: item["counts"])
    return str(best["values"])


def inject_shift(events_path: Path, shift: InjectedShift) -> dict[str, Any]:
    """Apply the shift to the events file and return what changed (rows scaled, rows removed, category)."""
    if shift.amount_factor <= 0:
        raise ConfigurationError(f"The amount factor {shift.amount_factor} must be positive, such as 3.0.")
    table = pq.read_table(events_path)
    start = pa.scalar(shift.start.to_pydatetime(), table["event_time"].type)
    category = shift.removed_category or most_frequent_category(table, shift.start)

    after = pc.greater_equal(table["event_time"], start)
    removed = pc.and_(after, pc.fill_null(pc.equal(table["category"], category), False))
    if shift.removed_category and not pc.any(removed).as_py():
        present = pc.unique(table.filter(after)["category"].drop_null()).to_pylist()
        raise ConfigurationError(
            f"--shift-remove-category {category!r} has no event from {shift.start:%Y-%m-%d} on. "
            f"Name one of the {len(present)} categories of those events, such as "
            f"{', '.join(repr(name) for name in sorted(present)[:5])}, or leave it out to remove the most frequent one."
        )
    kept = table.filter(pc.invert(removed))
    kept_after = pc.greater_equal(kept["event_time"], start)
    scaled = pc.if_else(kept_after, pc.multiply(kept["amount"], pa.scalar(shift.amount_factor, kept["amount"].type)), kept["amount"])
    kept = kept.set_column(kept.schema.get_field_index("amount"), kept.schema.field("amount"), scaled)

    temporary = events_path.with_name(f".{events_path.name}.tmp")
    pq.write_table(kept.cast(table.schema), temporary)
    os.replace(temporary, events_path)
    summary = {
        "start": shift.start.isoformat(),
        "amount_factor": shift.amount_factor,
        "removed_category": category,
        "scaled_rows": int(pc.sum(kept_after).as_py() or 0),
        "removed_rows": int(pc.sum(removed).as_py() or 0),
    }
    logger.info("Injected shift into %s: %s", events_path, summary)
    return summary
