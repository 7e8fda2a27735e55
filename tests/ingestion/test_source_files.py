"""Ingestion of source files into the raw tables: all or nothing, strict mode, the privacy record."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from feature_repo.contract import USER_SCHEMA
from feature_repo.ingestion.ingest import NoRowsConvertedError
from feature_repo.ingestion.mapping import parse_mapping
from feature_repo.ingestion.privacy import privacy_record_path
from feature_repo.ingestion import source_files
from feature_repo.ingestion.source_files import (
    ingest_source_files,
    load_source_mapping,
    user_quarantine_path,
)
from retention.errors import ConfigurationError, InputDataError
from retention.settings import RetentionWindow, Settings
from tests.ingestion.conftest import CASES, NOW

KEY = "a-test-key-of-32-bytes-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def published_paths(settings: Settings) -> list[Path]:
    return [
        settings.raw_events_path,
        settings.conversion_quarantine_path,
        settings.raw_users_path,
        user_quarantine_path(settings),
        privacy_record_path(settings.data_dir),
        settings.conversion_report_path,
    ]


def test_published_paths_listed(settings: Settings):
    assert list(source_files.published_paths(settings).values()) == published_paths(settings)


def write_earlier_tables(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    for path in published_paths(settings):
        path.write_bytes(b"earlier " + path.name.encode())


def assert_earlier_tables_kept(settings: Settings) -> None:
    for path in published_paths(settings):
        assert path.read_bytes() == b"earlier " + path.name.encode()
    assert sorted(path.name for path in settings.data_dir.iterdir()) == sorted(
        path.name for path in published_paths(settings)
    )


def test_all_tables_published(settings: Settings):
    result = ingest_source_files(settings, [CASES / "amounts" / "events.csv"], now=NOW)

    assert result.events.converted_rows == 3
    assert result.events.event_types == {"purchase": 1, "refund": 1, "view": 1}
    assert pq.read_metadata(settings.raw_events_path).num_rows == 3
    assert pq.read_metadata(settings.conversion_quarantine_path).num_rows == 5
    report = json.loads(settings.conversion_report_path.read_text())
    assert report["input_rows"] == 8
    assert report["users"] is None
    assert [path.name for path in settings.data_dir.iterdir() if path.name.startswith(".")] == []


def test_without_users_empty_table(settings: Settings):
    ingest_source_files(settings, [CASES / "amounts" / "events.csv"], now=NOW)

    users = pq.read_table(settings.raw_users_path)
    assert users.num_rows == 0
    assert users.schema.remove_metadata() == USER_SCHEMA
    assert pq.read_metadata(user_quarantine_path(settings)).num_rows == 0


def test_users_converted_with_events(settings: Settings, tmp_path: Path):
    users_file = tmp_path / "users.csv"
    users_file.write_text("user_id,age_band\na1,25-34\na2,35-44\na1,45-54\n")

    result = ingest_source_files(settings, [CASES / "amounts" / "events.csv"], [users_file], now=NOW)

    assert result.users is not None
    assert result.users.converted_rows == 2
    assert result.users.quarantined_rows == 1
    assert pd.read_parquet(settings.raw_users_path)["user_id"].tolist() == ["a1", "a2"]
    assert pd.read_parquet(user_quarantine_path(settings))["rule"].tolist() == ["duplicate_user_id"]
    assert json.loads(settings.conversion_report_path.read_text())["users"]["converted_rows"] == 2


def test_header_only_users_keep_tables(settings: Settings):
    write_earlier_tables(settings)

    with pytest.raises(NoRowsConvertedError) as caught:
        ingest_source_files(
            settings, [CASES / "amounts" / "events.csv"], [CASES / "empty" / "header_only.csv"], now=NOW
        )

    message = str(caught.value)
    assert message.startswith("No rows: the user attribute file(s)")
    assert str(settings.raw_users_path) in message
    assert ".ingest-" not in message
    assert_earlier_tables_kept(settings)


def test_header_only_events_keep_tables(settings: Settings):
    write_earlier_tables(settings)

    with pytest.raises(NoRowsConvertedError, match="No rows"):
        ingest_source_files(settings, [CASES / "empty" / "header_only.csv"], now=NOW)

    assert_earlier_tables_kept(settings)


def test_missing_user_column_before_writing(settings: Settings, tmp_path: Path):
    write_earlier_tables(settings)
    users_file = tmp_path / "users.csv"
    users_file.write_text("customer,age_band\na1,25-34\n")

    with pytest.raises(InputDataError, match="users.columns.user_id"):
        ingest_source_files(settings, [CASES / "amounts" / "events.csv"], [users_file], now=NOW)

    assert_earlier_tables_kept(settings)


def test_no_qualifying_events_rejected(tmp_path: Path):
    settings = Settings(home=tmp_path / "home", retention=RetentionWindow(qualifying_event_types=("cart",)))
    write_earlier_tables(settings)

    with pytest.raises(InputDataError) as caught:
        ingest_source_files(settings, [CASES / "amounts" / "events.csv"], now=NOW)

    message = str(caught.value)
    assert "None of the 3 converted events has a qualifying event type (cart)" in message
    assert "purchase 1" in message
    assert "qualifying_event_types" in message
    assert_earlier_tables_kept(settings)


def test_strict_mapping_quarantines_unknown(settings: Settings):
    strict = load_source_mapping(None, strict_event_types=True)

    result = ingest_source_files(settings, [CASES / "unknown_event_type" / "events.csv"], mapping=strict, now=NOW)

    assert result.events.quarantine_by_rule == {"unknown_event_type": 1}
    assert result.events.unknown_event_types == {"wishlist": 1}


def test_missing_mapping_file(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="not found"):
        load_source_mapping(tmp_path / "mapping.yaml")


def test_privacy_record_names_variable_only(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEST_PSEUDONYM_KEY", KEY)
    mapping = parse_mapping({"privacy": {"pseudonymize_user_ids": True, "key_env": "TEST_PSEUDONYM_KEY"}})

    result = ingest_source_files(settings, [CASES / "huge_ids" / "events.csv"], mapping=mapping, now=NOW)

    record = json.loads(privacy_record_path(settings.data_dir).read_text())
    assert record == {"pseudonymized_user_ids": True, "key_env": "TEST_PSEUDONYM_KEY"}
    assert result.privacy.pseudonymized_user_ids
    stored = pd.read_parquet(settings.raw_events_path)["user_id"]
    assert "18446744073709551615" not in stored.tolist()
    for path in published_paths(settings):
        assert KEY.encode() not in path.read_bytes()


def test_privacy_record_without_pseudonyms(settings: Settings):
    ingest_source_files(settings, [CASES / "huge_ids" / "events.csv"], now=NOW)

    record = json.loads(privacy_record_path(settings.data_dir).read_text())
    assert record == {"pseudonymized_user_ids": False, "key_env": None}


def test_missing_key_before_writing(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TEST_PSEUDONYM_KEY", raising=False)
    mapping = parse_mapping({"privacy": {"pseudonymize_user_ids": True, "key_env": "TEST_PSEUDONYM_KEY"}})

    with pytest.raises(ConfigurationError, match="TEST_PSEUDONYM_KEY"):
        ingest_source_files(settings, [CASES / "huge_ids" / "events.csv"], mapping=mapping, now=NOW)

    assert not settings.data_dir.exists()
