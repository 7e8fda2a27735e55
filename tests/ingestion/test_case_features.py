"""Ingestion cases through validation and feature building, on a synthetic longer history."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from feature_repo.features import build_profile_features
from feature_repo.ingestion.source_files import ingest_source_files, load_source_mapping
from monitoring.validation import validate_event_file
from retention.settings import Settings
from tests.ingestion.conftest import CASES
from tests.ingestion.history import write_history


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("history") / "history.csv"
    write_history(path, users=30)
    return path


def features_of(case_file: Path, history: Path, home: Path) -> pd.DataFrame:
    """Ingest the case file with the history, validate the events and build the profile features."""
    settings = Settings(home=home)
    mapping = load_source_mapping(CASES / "naive_offset_utc" / "mapping.yaml")
    report = ingest_source_files(settings, [history, case_file], mapping=mapping)
    validation = validate_event_file(
        settings.raw_events_path,
        settings.events_path,
        settings.quarantine_path,
        settings,
        source_rows=report.events.input_rows,
    )
    assert validation.quarantined_rows == 0
    return build_profile_features(settings.events_path, pd.read_parquet(settings.raw_users_path), settings.retention)


def test_naive_offset_utc_same_features(history: Path, tmp_path: Path):
    features = {
        name: features_of(CASES / "naive_offset_utc" / name, history, tmp_path / name)
        for name in ("naive.csv", "offset.csv", "utc.csv")
    }

    case_rows = features["utc.csv"][features["utc.csv"]["user_id"].isin(["u1", "u2"])]
    assert set(case_rows["user_id"]) == {"u1", "u2"}
    pd.testing.assert_frame_equal(features["naive.csv"], features["utc.csv"])
    pd.testing.assert_frame_equal(features["offset.csv"], features["utc.csv"])
