import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_repo.contract import QUARANTINE_COLUMNS, QUARANTINE_SCHEMA, empty_quarantine
from monitoring.quarantine import RowFailure, open_converted_events, quarantine_frame, read_quarantine, row_json
from retention.errors import InputDataError, PipelineError
from tests.monitoring.factories import SOURCE_FILE, good_events, with_provenance, write_converted_events


def test_quarantine_row_lists_all_reasons():
    chunk = with_provenance(good_events(rows=6), first_line=10)
    failures = {
        104: [
            RowFailure("rule_a:user_id", "user_id", None, "user_id must not be null"),
            RowFailure("rule_b:quantity", "quantity", -1.0, "quantity must not be negative"),
        ]
    }

    frame = quarantine_frame(chunk, failures, first_position=100)

    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["source_file"] == SOURCE_FILE
    assert row["source_line"] == 14
    assert row["rule"] == "rule_a:user_id"
    assert row["column"] == "user_id"
    assert row["value"] is None
    assert "user_id is missing, but user_id must not be null (rule rule_a:user_id)." in row["reason"]
    assert "quantity is -1.0, but quantity must not be negative (rule rule_b:quantity)." in row["reason"]
    assert json.loads(row["original_row"])["item_id"] == "item-4"


def test_quarantine_frame_fits_schema():
    chunk = with_provenance(good_events(rows=4))
    failures = {1: [RowFailure("rule_a:amount", "amount", float("inf"), "amount must be finite")]}

    table = pa.Table.from_pandas(quarantine_frame(chunk, failures, 0), schema=QUARANTINE_SCHEMA, preserve_index=False)

    assert table.num_rows == 1
    assert table.column("value").to_pylist() == ["inf"]


def test_empty_quarantine_frame_fits_schema():
    chunk = with_provenance(good_events(rows=4))

    table = pa.Table.from_pandas(quarantine_frame(chunk, {}, 0), schema=QUARANTINE_SCHEMA, preserve_index=False)

    assert table.num_rows == 0


def test_row_json_encodes_missing_infinite_and_times():
    row = {
        "user_id": "u1",
        "event_time": pd.Timestamp("2024-01-02T03:04:05", tz="UTC"),
        "amount": float("-inf"),
        "quantity": np.float64("nan"),
        "properties": pd.NA,
    }

    decoded = json.loads(row_json(row))

    assert decoded == {
        "user_id": "u1",
        "event_time": "2024-01-02T03:04:05+00:00",
        "amount": "-inf",
        "quantity": None,
        "properties": None,
    }


def test_missing_input_file_is_pipeline_error(tmp_path):
    with pytest.raises(PipelineError, match="Run the conversion step first"):
        open_converted_events(tmp_path / "absent.parquet")


def test_input_without_provenance_rejected(tmp_path):
    path = tmp_path / "raw.parquet"
    pq.write_table(pa.Table.from_pandas(good_events(), preserve_index=False), path)

    with pytest.raises(InputDataError, match="_source_file"):
        open_converted_events(path)


def test_input_with_wrong_time_type_rejected(tmp_path):
    path = tmp_path / "raw.parquet"
    events = with_provenance(good_events())
    events["event_time"] = events["event_time"].astype(str)
    pq.write_table(pa.Table.from_pandas(events, preserve_index=False), path)

    with pytest.raises(InputDataError, match="event_time is string"):
        open_converted_events(path)


def test_valid_input_opens(tmp_path):
    path = tmp_path / "raw.parquet"
    write_converted_events(with_provenance(good_events(rows=7)), path)

    assert open_converted_events(path).metadata.num_rows == 7


def test_read_quarantine_without_file_is_empty(tmp_path):
    table = read_quarantine(tmp_path / "quarantine.parquet")

    assert table.num_rows == 0
    assert table.schema == QUARANTINE_SCHEMA


def test_read_quarantine_keeps_rows(tmp_path):
    path = tmp_path / "quarantine.parquet"
    rows = empty_quarantine()
    rows.loc[0, list(QUARANTINE_COLUMNS)] = ["a.csv", 3, "unparseable_time", "event_time", "x", "bad time", "{}"]
    pq.write_table(pa.Table.from_pandas(rows, schema=QUARANTINE_SCHEMA, preserve_index=False), path)

    table = read_quarantine(path)

    assert table.column("rule").to_pylist() == ["unparseable_time"]
