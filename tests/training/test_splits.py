from dataclasses import replace

import pandas as pd
import pytest

from feature_repo.feature_columns import ENTITY_COLUMN, SNAPSHOT_COLUMN
from retention.errors import PipelineError
from retention.settings import RetentionWindow, Settings, SplitSettings
from training.splits import gap_snapshot_count, split_by_time


def _snapshots(frame: pd.DataFrame) -> list[pd.Timestamp]:
    return sorted(frame[SNAPSHOT_COLUMN].unique())


def test_split_windows_are_ordered(training_set, settings):
    splits = split_by_time(training_set, settings)

    assert splits.train[SNAPSHOT_COLUMN].max() < splits.validation[SNAPSHOT_COLUMN].min()
    assert splits.validation[SNAPSHOT_COLUMN].max() < splits.test[SNAPSHOT_COLUMN].min()


def test_split_window_sizes(training_set, settings):
    splits = split_by_time(training_set, settings)
    all_snapshots = _snapshots(training_set)

    assert len(_snapshots(splits.test)) == settings.split.test_snapshots
    assert len(_snapshots(splits.validation)) == settings.split.validation_snapshots
    assert _snapshots(splits.test) == all_snapshots[-settings.split.test_snapshots :]
    assert _snapshots(splits.train)[0] == all_snapshots[0]


def test_split_drops_one_horizon_before_each_window(training_set, settings):
    splits = split_by_time(training_set, settings)
    all_snapshots = _snapshots(training_set)
    train_end = all_snapshots.index(splits.train[SNAPSHOT_COLUMN].max())
    validation_start = all_snapshots.index(splits.validation[SNAPSHOT_COLUMN].min())
    validation_end = all_snapshots.index(splits.validation[SNAPSHOT_COLUMN].max())
    test_start = all_snapshots.index(splits.test[SNAPSHOT_COLUMN].min())

    # 14-day horizon and weekly snapshots: ceil(14 / 7) = 2 snapshots dropped each time.
    assert splits.gap_snapshots == 2
    assert validation_start - train_end - 1 == 2
    assert test_start - validation_end - 1 == 2


def test_label_windows_end_before_next_split(training_set, settings):
    splits = split_by_time(training_set, settings)
    horizon = pd.Timedelta(days=settings.retention.horizon_days)

    assert splits.train[SNAPSHOT_COLUMN].max() + horizon < splits.validation[SNAPSHOT_COLUMN].min()
    assert splits.validation[SNAPSHOT_COLUMN].max() + horizon < splits.test[SNAPSHOT_COLUMN].min()


def test_split_rows_belong_to_one_split(training_set, settings):
    splits = split_by_time(training_set, settings)
    keys = {
        name: set(zip(frame[ENTITY_COLUMN], frame[SNAPSHOT_COLUMN]))
        for name, frame in splits.frames().items()
    }
    gap_rows = 2 * splits.gap_snapshots * training_set[ENTITY_COLUMN].nunique()

    assert not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    assert not keys["train"] & keys["test"]
    assert sum(len(frame) for frame in splits.frames().values()) + gap_rows == len(training_set)


def test_gap_rounds_up_partial_snapshots():
    settings = Settings(retention=RetentionWindow(horizon_days=10, snapshot_every_days=7))

    assert gap_snapshot_count(settings) == 2


def test_describe_reports_iso_ranges_and_rows(training_set, settings):
    splits = split_by_time(training_set, settings)
    description = splits.describe()

    assert list(description) == ["train", "validation", "test"]
    assert pd.Timestamp(description["validation"]["start"]) == splits.validation[SNAPSHOT_COLUMN].min()
    assert pd.Timestamp(description["test"]["end"]) == splits.test[SNAPSHOT_COLUMN].max()
    assert description["train"]["rows"] == len(splits.train)
    assert description["test"]["snapshots"] == settings.split.test_snapshots


def test_too_few_snapshots_raise_with_counts(training_set, settings):
    first_ten = _snapshots(training_set)[:10]
    short = training_set[training_set[SNAPSHOT_COLUMN].isin(first_ten)]

    with pytest.raises(PipelineError) as raised:
        split_by_time(short, settings)

    assert "has 10 snapshots" in str(raised.value)
    assert "at least 17" in str(raised.value)


def test_minimum_snapshot_count_is_enough(training_set, settings):
    small = replace(settings, split=SplitSettings(validation_snapshots=2, test_snapshots=2))
    # 1 train + 2 gap + 2 validation + 2 gap + 2 test.
    first_nine = _snapshots(training_set)[:9]

    splits = split_by_time(training_set[training_set[SNAPSHOT_COLUMN].isin(first_nine)], small)

    assert len(_snapshots(splits.train)) == 1


def test_missing_snapshot_column_raises(training_set, settings):
    with pytest.raises(PipelineError, match="snapshot_time"):
        split_by_time(training_set.drop(columns=[SNAPSHOT_COLUMN]), settings)
