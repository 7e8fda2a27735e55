"""Whole conversions: output schema, chunking, atomic outputs, Parquet input, user attributes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_repo.contract import QUARANTINE_SCHEMA, USER_SCHEMA
from feature_repo.ingestion.convert import RAW_EVENT_SCHEMA
from feature_repo.ingestion.ingest import convert_event_files, convert_user_files
from feature_repo.ingestion.mapping import SourceMapping, parse_mapping
from retention.errors import InputDataError
from retention.settings import Settings, ValidationSettings
from tests.ingestion.conftest import CASES, NOW


def test_output_schemas(convert_case, tmp_path: Path):
    convert_case("amounts", "events.csv")
    assert pq.read_schema(tmp_path / "raw_events.parquet").remove_metadata() == RAW_EVENT_SCHEMA
    assert pq.read_schema(tmp_path / "conversion_quarantine.parquet").remove_metadata() == QUARANTINE_SCHEMA


def test_quarantine_row_fields(convert_case):
    quarantine = convert_case("amounts", "events.csv").quarantine
    first = quarantine.iloc[0]
    assert first["source_file"].endswith("amounts/events.csv")
    assert first["source_line"] == 4
    assert first["column"] == "amount"
    assert json.loads(first["original_row"]) == {
        "user_id": "a2",
        "event_time": "2024-06-03T10:00:00Z",
        "event_type": "purchase",
        "amount": "-5",
    }


def test_chunk_size_does_not_change_result(convert_case):
    whole = convert_case("transaction_log", "invoices.csv")
    single = convert_case("transaction_log", "invoices.csv", chunk_rows=1)
    pd.testing.assert_frame_equal(whole.events, single.events)
    pd.testing.assert_frame_equal(whole.quarantine, single.quarantine)


def test_report_summary_and_times(convert_case):
    report = convert_case("time_range", "events.csv").report
    assert report.first_event_time == "2024-05-01T10:00:00Z"
    assert report.last_event_time == "2024-05-01T10:00:00Z"
    assert report.quarantine_by_rule == {
        "event_time_in_future": 1,
        "event_time_too_early": 2,
        "invalid_event_time": 1,
        "missing_event_time": 1,
    }
    assert len(report.quarantine_examples) == 5
    assert report.summary().startswith("6 input rows: 1 converted, 5 quarantined, 0 duplicates")
    assert report.to_dict()["files"][0]["quarantined_rows"] == 5


def test_settings_object_accepted(tmp_path: Path):
    report = convert_event_files(
        CASES / "amounts" / "events.csv",
        SourceMapping(),
        tmp_path / "e.parquet",
        tmp_path / "q.parquet",
        Settings(validation=ValidationSettings(max_abs_amount=10.0)),
        now=NOW,
    )
    assert report.converted_rows == 1
    # 19.99, the refund of -19.99 and 1e308 exceed 10 in absolute value.
    assert report.quarantine_by_rule["amount_out_of_range"] == 3


def test_mapping_path_accepted(tmp_path: Path):
    report = convert_event_files(
        [CASES / "seed_format" / "events.csv"],
        CASES / "seed_format" / "mapping.yaml",
        tmp_path / "e.parquet",
        tmp_path / "q.parquet",
        now=NOW,
    )
    assert report.converted_rows == 6


def test_failure_midway_keeps_outputs(tmp_path: Path):
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"user_id,event_time,event_type\n" + b"u1,2024-01-01T00:00:00Z,view\n" * 10 + b"u\xe9,x,y\n")
    events_path = tmp_path / "out" / "raw_events.parquet"
    events_path.parent.mkdir()
    events_path.write_bytes(b"earlier")

    with pytest.raises(InputDataError, match="broken.csv is not valid utf-8"):
        convert_event_files(
            [CASES / "amounts" / "events.csv", broken],
            SourceMapping(),
            events_path,
            tmp_path / "out" / "q.parquet",
            chunk_rows=2,
            now=NOW,
        )
    assert events_path.read_bytes() == b"earlier"
    assert [path.name for path in events_path.parent.iterdir()] == ["raw_events.parquet"]


def test_missing_column_in_second_file_stops_first(tmp_path: Path):
    with pytest.raises(InputDataError, match="missing_column/events.csv lacks required column"):
        convert_event_files(
            [CASES / "amounts" / "events.csv", CASES / "missing_column" / "events.csv"],
            SourceMapping(),
            tmp_path / "e.parquet",
            tmp_path / "q.parquet",
        )
    assert list(tmp_path.iterdir()) == []


def test_all_rows_quarantined_fails(tmp_path: Path):
    with pytest.raises(InputDataError) as caught:
        convert_event_files(
            [CASES / "missing_user_id" / "events.csv"],
            parse_mapping({"null_markers": ["NULL", "m1"]}),
            tmp_path / "e.parquet",
            tmp_path / "q.parquet",
            now=NOW,
        )
    message = str(caught.value)
    assert "No event row was converted" in message
    assert "4 input rows, 4 quarantined" in message
    assert "missing_user_id 4" in message
    assert list(tmp_path.iterdir()) == []


def test_parquet_and_gzip_inputs(tmp_path: Path):
    parquet_path = tmp_path / "events.parquet"
    table = pa.table(
        {
            "user_id": pa.array([123, 124], type=pa.int64()),
            "event_time": pa.array(pd.to_datetime(["2024-03-01 09:15:00", "2024-03-02 09:15:00"])),
            "event_type": ["purchase", "view"],
            "amount": [12.5, None],
        }
    )
    pq.write_table(table, parquet_path)
    gzip_path = tmp_path / "more.csv.gz"
    gzip_path.write_bytes(gzip.compress(b"user_id,event_time,event_type,amount\n125,2024-03-03 09:15:00,purchase,1\n"))
    mapping = parse_mapping({"timestamps": {"time_zone": "Asia/Shanghai"}})

    report = convert_event_files(
        [parquet_path, gzip_path], mapping, tmp_path / "e.parquet", tmp_path / "q.parquet", now=NOW
    )

    events = pd.read_parquet(tmp_path / "e.parquet")
    assert report.converted_rows == 3
    assert events["user_id"].tolist() == ["123", "124", "125"]
    assert events["event_time"].iloc[0] == pd.Timestamp("2024-03-01 01:15:00", tz="UTC")
    assert events["amount"].iloc[0] == 12.5
    assert events["_source_line"].tolist() == [1, 2, 2]


def test_properties_json_and_kept_columns(tmp_path: Path):
    source = tmp_path / "events.csv"
    source.write_text(
        "user_id,event_time,event_type,props,channel\n"
        'u1,2024-01-01T00:00:00Z,view,"{""coupon"": ""X1"", ""price"": ""3,5""}",app\n'
        "u1,2024-01-02T00:00:00Z,view,not json,web\n"
        "u1,2024-01-03T00:00:00Z,view,[1],web\n"
        "u1,2024-01-04T00:00:00Z,view,,\n"
    )
    mapping = parse_mapping(
        {
            "csv": {"delimiter": ",", "decimal": "."},
            "columns": {"properties": "props"},
            "amount": {"json_key": "price"},
            "properties": {"keep_columns": ["channel"]},
        }
    )
    report = convert_event_files([source], mapping, tmp_path / "e.parquet", tmp_path / "q.parquet", now=NOW)
    events = pd.read_parquet(tmp_path / "e.parquet")
    quarantine = pd.read_parquet(tmp_path / "q.parquet")

    assert report.converted_rows == 1
    assert quarantine["rule"].tolist() == ["invalid_amount", "invalid_properties_json", "invalid_properties_json"]
    assert quarantine["column"].tolist() == ["props.price", "props", "props"]
    assert events["properties"].tolist() == [None]


def test_decimal_comma_rejects_point(tmp_path: Path):
    source = tmp_path / "events.csv"
    source.write_text(
        "user_id;event_time;event_type;amount\nu1;2024-01-01T00:00:00Z;purchase;1.234\nu1;2024-01-02T00:00:00Z;purchase;1,5\n"
    )
    mapping = parse_mapping({"csv": {"delimiter": ";", "decimal": ","}})
    report = convert_event_files([source], mapping, tmp_path / "e.parquet", tmp_path / "q.parquet", now=NOW)
    quarantine = pd.read_parquet(tmp_path / "q.parquet")
    assert report.converted_rows == 1
    assert pd.read_parquet(tmp_path / "e.parquet")["amount"].tolist() == [1.5]
    assert "csv.thousands" in quarantine["reason"].iloc[0]


def test_daylight_saving_quarantine(tmp_path: Path):
    source = tmp_path / "events.csv"
    source.write_text(
        "user_id,event_time,event_type\n"
        "u1,2024-03-31 01:30:00,view\n"
        "u1,2024-10-27 01:30:00,view\n"
        "u1,2024-06-01 12:00:00,view\n"
    )
    lenient = parse_mapping({"timestamps": {"time_zone": "Europe/London"}})
    convert_event_files([source], lenient, tmp_path / "e.parquet", tmp_path / "q.parquet", now=NOW)
    assert pd.read_parquet(tmp_path / "e.parquet")["event_time"].tolist() == [
        pd.Timestamp("2024-03-31 01:00:00", tz="UTC"),
        pd.Timestamp("2024-10-27 00:30:00", tz="UTC"),
        pd.Timestamp("2024-06-01 11:00:00", tz="UTC"),
    ]

    strict = parse_mapping(
        {"timestamps": {"time_zone": "Europe/London", "ambiguous": "quarantine", "nonexistent": "quarantine"}}
    )
    report = convert_event_files([source], strict, tmp_path / "e.parquet", tmp_path / "q.parquet", now=NOW)
    assert report.quarantine_by_rule == {"invalid_local_event_time": 2}


def test_relative_words_not_timestamps(tmp_path: Path):
    source = tmp_path / "events.csv"
    source.write_text("user_id,event_time,event_type\nu1,now,view\nu1,3,view\nu1,2024-01-01,view\n")
    report = convert_event_files([source], SourceMapping(), tmp_path / "e.parquet", tmp_path / "q.parquet", now=NOW)
    assert report.converted_rows == 1
    assert report.quarantine_by_rule == {"invalid_event_time": 2}


def test_user_files(tmp_path: Path):
    source = tmp_path / "users.csv"
    source.write_text(
        "household_key,AGE_DESC,INCOME_DESC,signup\n"
        "001,19-24,Under 15K,2024-01-01 10:00:00\n"
        "002,25-34,,\n"
        "001,19-24,Under 15K,2024-01-01 10:00:00\n"
        "001,35-44,50-74K,\n"
        ",45-54,,\n"
        "003,55-64,,1970-01-01\n"
    )
    mapping = parse_mapping(
        {
            "timestamps": {"time_zone": "Asia/Shanghai"},
            "users": {
                "columns": {
                    "user_id": "household_key",
                    "age_band": "AGE_DESC",
                    "income_band": "INCOME_DESC",
                    "signup_time": "signup",
                }
            },
        }
    )
    users_path, quarantine_path = tmp_path / "users.parquet", tmp_path / "q.parquet"

    report = convert_user_files([source], mapping, users_path, quarantine_path=quarantine_path, now=NOW)

    users = pd.read_parquet(users_path)
    quarantine = pd.read_parquet(quarantine_path)
    assert pq.read_schema(users_path).remove_metadata() == USER_SCHEMA
    assert report.input_rows == 6
    assert report.converted_rows == 2
    assert report.duplicate_rows == 1
    assert report.quarantined_rows == 3
    assert users["user_id"].tolist() == ["001", "002"]
    assert users["income_band"].tolist() == ["Under 15K", None]
    assert users["household_size"].isna().all()
    assert users["signup_time"].iloc[0] == pd.Timestamp("2024-01-01 02:00:00", tz="UTC")
    assert pd.isna(users["signup_time"].iloc[1])
    assert quarantine["rule"].tolist() == ["duplicate_user_id", "missing_user_id", "signup_time_too_early"]
    assert quarantine["source_line"].tolist() == [5, 6, 7]


def test_user_files_without_quarantine_path(tmp_path: Path):
    source = tmp_path / "users.csv"
    source.write_text("user_id,region\nu1,north\n,south\n")
    report = convert_user_files(source, SourceMapping(), tmp_path / "users.parquet")
    assert report.converted_rows == 1
    assert report.quarantine_by_rule == {"missing_user_id": 1}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["users.csv", "users.parquet"]
