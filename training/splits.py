"""Time-based train, validation and test split of the point-in-time training set."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from feature_repo.feature_columns import SNAPSHOT_COLUMN
from retention.errors import PipelineError
from retention.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeSplits:
    """Rows of the training set split by snapshot time, oldest snapshots in train."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    # Snapshots dropped before validation and again before test.
    gap_snapshots: int

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def describe(self) -> dict[str, dict[str, Any]]:
        """Return the first and last snapshot (ISO 8601), snapshot count and row count per split."""
        description = {}
        for name, frame in self.frames().items():
            snapshots = frame[SNAPSHOT_COLUMN]
            description[name] = {
                "start": snapshots.min().isoformat(),
                "end": snapshots.max().isoformat(),
                "snapshots": int(snapshots.nunique()),
                "rows": len(frame),
            }
        return description


def gap_snapshot_count(settings: Settings) -> int:
    """Return how many snapshots one label horizon spans, rounded up."""
    window = settings.retention
    return math.ceil(window.horizon_days / window.snapshot_every_days)


def split_by_time(training_set: pd.DataFrame, settings: Settings) -> TimeSplits:
    """Split the training set into train, validation and test windows by snapshot time.

    The last `test_snapshots` snapshots form the test window and the `validation_snapshots`
    before them the validation window. Before each of the two windows, `gap_snapshot_count`
    snapshots are dropped, so the label window (t, t + horizon] of every snapshot ends
    before the next split starts. The gap is counted in snapshots, which assumes that
    snapshots are at least `snapshot_every_days` apart.

    Raises PipelineError when the snapshot column is missing or there are too few snapshots.
    """
    if SNAPSHOT_COLUMN not in training_set.columns:
        raise PipelineError(
            f"The training set has no {SNAPSHOT_COLUMN!r} column (columns: {list(training_set.columns)}). "
            "Build it with the point-in-time join of the feature service."
        )

    snapshots = sorted(training_set[SNAPSHOT_COLUMN].dropna().unique())
    gap = gap_snapshot_count(settings)
    test_count = settings.split.test_snapshots
    validation_count = settings.split.validation_snapshots
    required = 1 + gap + validation_count + gap + test_count
    if len(snapshots) < required:
        raise PipelineError(
            f"The training set has {len(snapshots)} snapshots, but the split needs at least {required}: "
            f"1 train + {gap} gap + {validation_count} validation + {gap} gap + {test_count} test "
            f"(gap = ceil(horizon_days / snapshot_every_days)). Use a longer event history or lower "
            "[split] validation_snapshots and test_snapshots."
        )

    test_start = len(snapshots) - test_count
    validation_end = test_start - gap
    validation_start = validation_end - validation_count
    train_end = validation_start - gap

    snapshot_times = training_set[SNAPSHOT_COLUMN]
    splits = TimeSplits(
        train=_rows_between(training_set, snapshot_times, snapshots[0], snapshots[train_end - 1]),
        validation=_rows_between(
            training_set, snapshot_times, snapshots[validation_start], snapshots[validation_end - 1]
        ),
        test=_rows_between(training_set, snapshot_times, snapshots[test_start], snapshots[-1]),
        gap_snapshots=gap,
    )

    for name, summary in splits.describe().items():
        logger.info(
            "Split %s: %d rows over %d snapshots from %s to %s",
            name,
            summary["rows"],
            summary["snapshots"],
            summary["start"],
            summary["end"],
        )
    return splits


def _rows_between(frame: pd.DataFrame, times: pd.Series, first: Any, last: Any) -> pd.DataFrame:
    selected = frame[(times >= first) & (times <= last)]
    return selected.sort_values(SNAPSHOT_COLUMN, kind="stable").reset_index(drop=True)
