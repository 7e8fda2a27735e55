"""One test per ingestion case under tests/data/cases; each README there states the expectations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from feature_repo.ingestion.ingest import NoRowsConvertedError, convert_event_files
from feature_repo.ingestion.mapping import SourceMapping
from retention.errors import InputDataError
from retention.settings import ValidationSettings
from tests.ingestion.conftest import CASES, NOW, case_mapping


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def rules_by_line(quarantine: pd.DataFrame) -> dict[int, str]:
    return dict(zip(quarantine["source_line"], quarantine["rule"], strict=True))


def test_amounts_valid_and_quarantined(convert_case):
    result = convert_case("amounts", "events.csv")

    assert result.report.input_rows == 8
    assert result.report.converted_rows == 3
    assert result.report.quarantined_rows == 5
    events = result.events
    assert events["amount"].iloc[0] == 19.99
    assert events["amount"].iloc[1] == -19.99
    assert events["event_type"].tolist() == ["purchase", "refund", "view"]
    assert math.isnan(events["amount"].iloc[2])
    assert rules_by_line(result.quarantine) == {
        4: "negative_amount",
        5: "non_finite_amount",
        6: "non_finite_amount",
        7: "invalid_amount",
        8: "amount_out_of_range",
    }
    for value, reason in zip(["-5", "NaN", "inf", "abc", "1e308"], result.quarantine["reason"], strict=True):
        assert f"'{value}'" in reason
    assert result.quarantine["value"].tolist() == ["-5", "NaN", "inf", "abc", "1e308"]
    assert "max_abs_amount" in result.quarantine["reason"].iloc[4]


def test_amounts_upper_bound_configurable(convert_case):
    result = convert_case("amounts", "events.csv", validation=ValidationSettings(max_abs_amount=1e308))

    assert result.report.converted_rows == 4
    assert result.report.quarantined_rows == 4
    assert 1e308 in result.events["amount"].tolist()
    assert "amount_out_of_range" not in result.report.quarantine_by_rule


def test_duplicates_counted_not_converted(convert_case):
    result = convert_case("duplicates", "events.csv")

    report = result.report
    assert report.converted_rows == 3
    assert report.duplicate_rows == 3
    assert report.quarantined_rows == 0
    assert report.converted_rows + report.quarantined_rows + report.duplicate_rows == 6
    assert result.events["_source_line"].tolist() == [2, 3, 4]
    assert report.files[0].duplicate_rows == 3


def test_duplicates_across_chunks_and_files(convert_case, tmp_path: Path):
    one_row_chunks = convert_case("duplicates", "events.csv", chunk_rows=1)
    assert one_row_chunks.report.converted_rows == 3
    assert one_row_chunks.report.duplicate_rows == 3

    copy = tmp_path / "copy.csv"
    copy.write_bytes((CASES / "duplicates" / "events.csv").read_bytes())
    report = convert_event_files(
        [CASES / "duplicates" / "events.csv", copy],
        SourceMapping(),
        tmp_path / "events.parquet",
        tmp_path / "quarantine.parquet",
        ValidationSettings(),
        chunk_rows=2,
        now=NOW,
    )
    assert report.input_rows == 12
    assert report.converted_rows == 3
    assert report.duplicate_rows == 9
    assert report.files[1].duplicate_rows == 6


def test_empty_zero_bytes_fails(tmp_path: Path):
    events_path = tmp_path / "raw_events.parquet"
    with pytest.raises(InputDataError) as caught:
        convert_event_files(
            [CASES / "empty" / "zero_bytes.csv"], SourceMapping(), events_path, tmp_path / "q.parquet", now=NOW
        )
    message = str(caught.value)
    assert "zero_bytes.csv" in message
    assert "0 bytes" in message
    assert "not a CSV or Parquet table" in message
    assert not events_path.exists()


def test_empty_header_only_keeps_outputs(tmp_path: Path):
    events_path = tmp_path / "raw_events.parquet"
    quarantine_path = tmp_path / "quarantine.parquet"
    events_path.write_bytes(b"earlier events")
    quarantine_path.write_bytes(b"earlier quarantine")

    with pytest.raises(NoRowsConvertedError) as caught:
        convert_event_files(
            [CASES / "empty" / "header_only.csv"], SourceMapping(), events_path, quarantine_path, now=NOW
        )

    message = str(caught.value)
    assert caught.value.report.input_rows == 0
    assert "No rows" in message
    assert "header_only.csv" in message
    assert events_path.read_bytes() == b"earlier events"
    assert quarantine_path.read_bytes() == b"earlier quarantine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["quarantine.parquet", "raw_events.parquet"]


def test_empty_header_only_beside_data(tmp_path: Path):
    report = convert_event_files(
        [CASES / "empty" / "header_only.csv", CASES / "amounts" / "events.csv"],
        SourceMapping(),
        tmp_path / "events.parquet",
        tmp_path / "quarantine.parquet",
        now=NOW,
    )
    assert report.files[0].input_rows == 0
    assert report.converted_rows == 3
    assert "header_only.csv: no rows" in report.summary()


def test_huge_ids_kept_exactly(convert_case):
    result = convert_case("huge_ids", "events.csv")

    assert result.events["user_id"].tolist() == [
        "18446744073709551615",
        "143349558619761320",
        "143349558619761321",
    ]
    assert result.events["user_id"].nunique() == 3
    assert result.report.converted_rows == 3


def test_latin1_without_encoding_fails(tmp_path: Path):
    data = (CASES / "latin1" / "events.csv").read_bytes()
    offset = data.index(b"\xe9")

    with pytest.raises(InputDataError) as caught:
        convert_event_files(
            [CASES / "latin1" / "events.csv"], SourceMapping(), tmp_path / "e.parquet", tmp_path / "q.parquet"
        )

    message = str(caught.value)
    assert "latin1/events.csv" in message
    assert f"byte offset {offset}" in message
    assert "line 2" in message
    assert "csv.encoding" in message
    assert list(tmp_path.iterdir()) == []


def test_latin1_with_encoding_accepted(convert_case):
    result = convert_case("latin1", "events.csv")

    assert result.report.converted_rows == 2
    assert result.events["item_id"].tolist() == ["Café crème", "Müsli"]


def test_missing_column_fails_before_writing(tmp_path: Path):
    events_path = tmp_path / "raw_events.parquet"
    with pytest.raises(InputDataError) as caught:
        convert_event_files(
            [CASES / "missing_column" / "events.csv"], SourceMapping(), events_path, tmp_path / "q.parquet"
        )

    message = str(caught.value)
    assert "'event_time'" in message
    assert "Columns found: 'user_id', 'event_type', 'amount'" in message
    assert "Set columns.event_time" in message
    assert list(tmp_path.iterdir()) == []


def test_missing_user_id_quarantined(convert_case):
    result = convert_case("missing_user_id", "events.csv")

    assert result.report.converted_rows == 1
    assert result.report.quarantined_rows == 3
    assert result.events["user_id"].tolist() == ["m1"]
    assert result.quarantine["rule"].tolist() == ["missing_user_id"] * 3
    assert result.quarantine["value"].tolist() == ["", "   ", "NULL"]
    assert "'NULL'" in result.quarantine["reason"].iloc[2]
    assert "NULL" not in result.events["user_id"].tolist()


def test_mixed_id_types_stay_strings(convert_case):
    result = convert_case("mixed_id_types", "part1.csv", "part2.csv")

    users = result.events["user_id"]
    assert sorted(users.unique()) == sorted(["123", "00123", "42", "A-77", "42.0"])
    assert (users == "123").sum() == 2
    assert "123.0" not in users.tolist()
    assert result.events["_source_file"].str.endswith("part2.csv").sum() == 3


def test_naive_offset_utc_identical(convert_case):
    times = {}
    for name in ("naive.csv", "offset.csv", "utc.csv"):
        result = convert_case("naive_offset_utc", name)
        assert result.report.converted_rows == 4
        times[name] = result.events["event_time"].tolist()

    assert times["naive.csv"] == times["offset.csv"] == times["utc.csv"]
    assert times["naive.csv"][0] == utc("2024-03-01 01:15:00")
    assert times["naive.csv"][3] == utc("2024-03-30 18:30:00")


def test_naive_offset_utc_mixed_in_one_file(convert_case, tmp_path: Path):
    offset = (CASES / "naive_offset_utc" / "offset.csv").read_text().splitlines()
    naive = (CASES / "naive_offset_utc" / "naive.csv").read_text().splitlines()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([offset[0], offset[1], naive[2], offset[3], naive[4]]) + "\n")

    report = convert_event_files(
        [mixed], case_mapping("naive_offset_utc"), tmp_path / "events.parquet", tmp_path / "q.parquet", now=NOW
    )

    reference = convert_case("naive_offset_utc", "utc.csv").events["event_time"].tolist()
    assert report.converted_rows == 4
    assert pd.read_parquet(tmp_path / "events.parquet")["event_time"].tolist() == reference


@pytest.mark.parametrize("name", ["events.csv", "events.parquet"])
def test_not_a_table_fails(name: str, tmp_path: Path):
    with pytest.raises(InputDataError) as caught:
        convert_event_files(
            [CASES / "not_a_table" / name], SourceMapping(), tmp_path / "e.parquet", tmp_path / "q.parquet"
        )

    message = str(caught.value)
    assert f"not_a_table/{name}" in message
    assert "not a readable CSV or Parquet file" in message
    assert list(tmp_path.iterdir()) == []


def test_seed_format_mapping_only(convert_case):
    result = convert_case("seed_format", "events.csv")

    events = result.events
    assert result.report.converted_rows == 6
    assert result.report.quarantined_rows == 0
    assert events["event_type"].tolist() == ["view", "search", "purchase", "review", "purchase", "refund"]
    assert events["event_time"].iloc[0] == utc("2024-10-01 02:00:00")

    purchases = events[events["event_type"] == "purchase"]
    assert purchases[purchases["user_id"] == "U1001"]["amount"].tolist() == [199.0]
    assert purchases[purchases["user_id"] == "U1002"]["amount"].tolist() == [59.9]
    assert purchases[purchases["user_id"] == "U1002"]["quantity"].tolist() == [2.0]
    refunds = events[events["event_type"] == "refund"]
    assert refunds["user_id"].tolist() == ["U1002"]
    assert refunds["amount"].tolist() == [-59.9]

    search = events[events["event_type"] == "search"].iloc[0]
    assert json.loads(search["properties"]) == {"keyword": "蓝牙耳机"}
    review = events[events["event_type"] == "review"].iloc[0]
    assert json.loads(review["properties"]) == {"rating": 5, "text": "很好"}
    assert events["item_id"].iloc[1] is None


def test_time_range_each_reason(convert_case):
    result = convert_case("time_range", "events.csv")

    assert result.report.converted_rows == 1
    assert result.report.quarantined_rows == 5
    assert result.events["event_time"].tolist() == [utc("2024-05-01 10:00:00")]
    assert rules_by_line(result.quarantine) == {
        3: "event_time_in_future",
        4: "event_time_too_early",
        5: "event_time_too_early",
        6: "invalid_event_time",
        7: "missing_event_time",
    }
    values = ["2099-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1899-12-31T00:00:00Z", "not a date", ""]
    for value, reason in zip(values, result.quarantine["reason"], strict=True):
        assert f"'{value}'" in reason
    assert "Unix epoch" in result.quarantine["reason"].iloc[1]
    assert result.quarantine["reason"].nunique() == 5


def test_transaction_log_mapping_only(convert_case):
    result = convert_case("transaction_log", "invoices.csv")

    assert result.report.converted_rows == 4
    assert result.report.quarantined_rows == 1
    assert result.quarantine["rule"].tolist() == ["missing_user_id"]
    assert result.quarantine["source_line"].tolist() == [5]
    assert result.quarantine["column"].tolist() == ["CustomerID"]

    events = result.events.set_index("_source_line")
    customer = events[events["user_id"] == "17850"]
    purchases = customer[customer["event_type"] == "purchase"]
    assert purchases["amount"].tolist() == [15.30, 6.78]
    assert purchases["event_time"].tolist() == [utc("2023-12-01 08:26:00")] * 2
    refund = customer[customer["event_type"] == "refund"]
    assert refund["amount"].tolist() == [-2.55]
    assert refund["session_id"].tolist() == ["C500002"]
    other = events[events["user_id"] == "12583"]
    assert other["event_type"].tolist() == ["purchase"]
    assert other["amount"].tolist() == [30.00]
    assert other["event_time"].tolist() == [utc("2023-12-03 11:11:00")]
    assert json.loads(other["properties"].iloc[0]) == {"country": "France"}


def test_unknown_event_type_kept_as_other(convert_case):
    result = convert_case("unknown_event_type", "events.csv")

    assert result.events["event_type"].tolist() == ["purchase", "other", "purchase", "purchase"]
    assert result.report.unknown_event_types == {"wishlist": 1}
    assert result.report.quarantined_rows == 0


def test_unknown_event_type_strict(convert_case):
    result = convert_case("unknown_event_type", "events.csv", mapping="strict.yaml")

    assert result.report.converted_rows == 3
    assert result.report.quarantined_rows == 1
    assert result.quarantine["rule"].tolist() == ["unknown_event_type"]
    assert "'wishlist'" in result.quarantine["reason"].iloc[0]
    assert result.report.unknown_event_types == {"wishlist": 1}
    assert set(result.events["event_type"]) == {"purchase"}
