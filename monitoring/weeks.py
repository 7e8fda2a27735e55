"""Weeks of scoring and monitoring: partition keys, their snapshots and where their files live.

A week starts on Sunday 00:00 UTC and is named by that date (YYYY-MM-DD), as Dagster's
WeeklyPartitionsDefinition names it with day_offset=0. Snapshots are taken every
snapshot_every_days (7 by default), so each week contains at most one snapshot.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from feature_repo.feature_columns import SNAPSHOT_COLUMN
from retention.errors import ConfigurationError, PipelineError
from retention.settings import Settings
from training.splits import gap_snapshot_count

WEEK_FORMAT = "%Y-%m-%d"
# Python's weekday() of the first day of a week: Sunday.
SUNDAY = 6


def week_of(moment: pd.Timestamp | str) -> str:
    """Return the key of the week that contains `moment` (a timestamp, or a date such as 2017-09-05)."""
    try:
        stamp = pd.Timestamp(moment)
    except ValueError as error:
        raise ConfigurationError(f"{moment!r} is not a date. Name a week by any of its days, as YYYY-MM-DD.") from error
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    day = stamp.normalize()
    start = day - pd.Timedelta(days=(day.weekday() - SUNDAY) % 7)
    return start.strftime(WEEK_FORMAT)


def week_window(week: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return [start, end) of a week key as UTC timestamps."""
    start = pd.Timestamp(week, tz="UTC")
    return start, start + pd.Timedelta(days=7)


def weeks_of_snapshots(snapshot_times: pd.Series) -> dict[str, pd.Timestamp]:
    """Map each week key to the snapshot time inside it, oldest first."""
    unique = sorted(pd.to_datetime(snapshot_times, utc=True).unique())
    weeks: dict[str, pd.Timestamp] = {}
    for snapshot in unique:
        key = week_of(snapshot)
        if key in weeks:
            raise PipelineError(
                f"Snapshots {weeks[key]} and {snapshot} fall into the same week {key}. Weekly monitoring "
                "needs snapshots at least 7 days apart; set [retention] snapshot_every_days to 7 or more."
            )
        weeks[key] = pd.Timestamp(snapshot)
    return weeks


def matured_snapshots(snapshot_times: pd.Series, as_of: pd.Timestamp, settings: Settings) -> pd.Series:
    """Return a mask of the snapshots whose labels are known at `as_of` (snapshot + horizon <= as_of)."""
    horizon = pd.Timedelta(days=settings.retention.horizon_days)
    return pd.to_datetime(snapshot_times, utc=True) + horizon <= as_of


def first_trainable_week(weeks: dict[str, pd.Timestamp], settings: Settings) -> str:
    """Return the first week at which enough labelled snapshots exist for the time split of training."""
    gap = gap_snapshot_count(settings)
    required = 1 + gap + settings.split.validation_snapshots + gap + settings.split.test_snapshots
    snapshots = pd.Series(list(weeks.values()))
    for week, snapshot in weeks.items():
        if int(matured_snapshots(snapshots, snapshot, settings).sum()) >= required:
            return week
    raise PipelineError(
        f"No week of the data has {required} labelled snapshots before it, which the time split of training "
        "needs. Provide a longer history or lower [split] validation_snapshots and test_snapshots."
    )


def replay_range(
    weeks: dict[str, pd.Timestamp], first_week: str | None, last_week: str | None, settings: Settings
) -> tuple[str, str]:
    """Return the first and last week to replay, by default all weeks from the first trainable one on.

    Raises ConfigurationError when a week is outside the data, too early for the time split, or
    when the first comes after the last.
    """
    earliest = first_trainable_week(weeks, settings)
    first = week_of(first_week) if first_week else earliest
    last = week_of(last_week) if last_week else list(weeks)[-1]
    for name, week in (("--from", first), ("--to", last)):
        if week not in weeks:
            raise ConfigurationError(
                f"{name} {week} is not a week of the data, which has snapshots in weeks {list(weeks)[0]} to {list(weeks)[-1]}."
            )
    if first < earliest:
        raise ConfigurationError(
            f"--from {first} is too early: the first champion needs the labelled snapshots of the time split, "
            f"which exist from week {earliest} on. Use --from {earliest} or later."
        )
    if first > last:
        raise ConfigurationError(f"--from {first} is after --to {last}. Swap them.")
    return first, last


def snapshot_weeks(features: pd.DataFrame) -> dict[str, pd.Timestamp]:
    return weeks_of_snapshots(features[SNAPSHOT_COLUMN])


def monitoring_dir(settings: Settings) -> Path:
    return settings.home / "monitoring"


def predictions_path(settings: Settings, week: str) -> Path:
    return monitoring_dir(settings) / "predictions" / f"{week}.parquet"


def reference_path(settings: Settings, version: str) -> Path:
    return monitoring_dir(settings) / "references" / f"version-{version}.parquet"


def decision_log_path(settings: Settings) -> Path:
    return monitoring_dir(settings) / "decisions.jsonl"


def week_report_dir(settings: Settings, week: str) -> Path:
    return settings.reports_dir / "weeks" / week


def index_page_path(settings: Settings) -> Path:
    return settings.reports_dir / "monitoring" / "index.html"
