"""Reader checks: file formats, encodings, chunking and the errors for unreadable inputs."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_repo.ingestion.mapping import CsvOptions
from feature_repo.ingestion.readers import iter_chunks, open_source, require_columns
from retention.errors import InputDataError

CSV = CsvOptions()


def read_all(path: Path, csv: CsvOptions = CSV, chunk_rows: int = 1000) -> tuple[pd.DataFrame, list[int]]:
    source = open_source(path, csv)
    chunks = list(iter_chunks(source, chunk_rows))
    frame = pd.concat([chunk.frame for chunk in chunks], ignore_index=True) if chunks else pd.DataFrame()
    lines = [int(line) for chunk in chunks for line in chunk.lines]
    return frame, lines


def test_missing_file(tmp_path: Path):
    with pytest.raises(InputDataError, match="absent.csv not found"):
        open_source(tmp_path / "absent.csv", CSV)


def test_directory_rejected(tmp_path: Path):
    with pytest.raises(InputDataError, match="is a directory"):
        open_source(tmp_path, CSV)


def test_zero_bytes_rejected(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputDataError, match=r"empty\.csv is empty \(0 bytes\)"):
        open_source(path, CSV)


def test_header_only_yields_no_rows(tmp_path: Path):
    path = tmp_path / "header.csv"
    path.write_text("user_id,event_time,event_type\n")
    frame, lines = read_all(path)
    assert frame.empty
    assert lines == []
    assert open_source(path, CSV).columns == ("user_id", "event_time", "event_type")


def test_values_stay_text(tmp_path: Path):
    path = tmp_path / "ids.csv"
    path.write_text("user_id,amount\n00123,1.50\n42.0,NaN\n18446744073709551616,\n")
    frame, _ = read_all(path)
    assert frame["user_id"].tolist() == ["00123", "42.0", "18446744073709551616"]
    assert frame["amount"].tolist() == ["1.50", "NaN", ""]


def test_line_numbers_skip_blank_lines(tmp_path: Path):
    path = tmp_path / "blank.csv"
    path.write_text("user_id,amount\na,1\n\nb,2\n,\nc,3\n")
    frame, lines = read_all(path, chunk_rows=2)
    assert frame["user_id"].tolist() == ["a", "b", "c"]
    assert lines == [2, 4, 6]


def test_header_names_stripped_and_bom(tmp_path: Path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeff user_id ;金额\nu1;2\n".encode("utf-8"))
    source = open_source(path, CsvOptions(delimiter=";"))
    assert source.columns == ("user_id", "金额")


def test_gzip_csv(tmp_path: Path):
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("user_id,amount\nu1,1\nu2,2\n")
    source = open_source(path, CSV)
    frame, lines = read_all(path)
    assert source.compression == "gzip"
    assert frame["user_id"].tolist() == ["u1", "u2"]
    assert lines == [2, 3]


def test_invalid_encoding_offset(tmp_path: Path):
    body = b"user_id,item_id\n" + b"u1,plain\n" * 50_000 + b"u2,caf\xe9\n"
    offset = body.index(b"\xe9")
    path = tmp_path / "late.csv"
    path.write_bytes(body)
    with pytest.raises(InputDataError) as caught:
        read_all(path, chunk_rows=10_000)
    message = str(caught.value)
    assert "late.csv" in message
    assert f"byte offset {offset}" in message
    assert "line 50002" in message
    assert "csv.encoding" in message


def test_invalid_encoding_in_gzip(tmp_path: Path):
    body = b"user_id,item_id\nu1,caf\xe9\n"
    offset = body.index(b"\xe9")
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(body))
    with pytest.raises(InputDataError) as caught:
        read_all(path)
    assert f"byte offset {offset} of the decompressed data" in str(caught.value)


def test_utf16_with_declared_encoding(tmp_path: Path):
    path = tmp_path / "utf16.csv"
    path.write_bytes("user_id,item_id\nu1,Müsli\n".encode("utf-16"))
    frame, _ = read_all(path, CsvOptions(encoding="utf-16"))
    assert frame["item_id"].tolist() == ["Müsli"]


def test_utf16_without_declared_encoding(tmp_path: Path):
    path = tmp_path / "utf16.csv"
    path.write_bytes("user_id,item_id\nu1,Müsli\n".encode("utf-16"))
    with pytest.raises(InputDataError, match="Set csv.encoding in the mapping file to utf-16"):
        open_source(path, CSV)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG image"),
        (b"PK\x03\x04" + b"\x00" * 64, "ZIP archive"),
        (b"user_id\n" + bytes(range(1, 9)) * 40, "control bytes"),
        (b"user_id\x00,amount\n", "control bytes"),
    ],
)
def test_binary_named_csv(tmp_path: Path, content: bytes, kind: str):
    path = tmp_path / "events.csv"
    path.write_bytes(content)
    with pytest.raises(InputDataError) as caught:
        open_source(path, CSV)
    assert "events.csv is not a readable CSV or Parquet file" in str(caught.value)
    assert kind in str(caught.value)


def test_text_named_parquet(tmp_path: Path):
    path = tmp_path / "events.parquet"
    path.write_text("user_id,amount\nu1,1\n")
    with pytest.raises(InputDataError, match=r"events\.parquet is not a readable CSV or Parquet file"):
        open_source(path, CSV)


def test_truncated_parquet(tmp_path: Path):
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"user_id": ["u1", "u2"]}), whole)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(whole.read_bytes()[:-20])
    with pytest.raises(InputDataError, match=r"broken\.parquet is not a readable Parquet file"):
        read_all(broken)


def test_parquet_typed_columns_as_text(tmp_path: Path):
    path = tmp_path / "typed.parquet"
    table = pa.table(
        {
            "user_id": pa.array([123, 18446744073709551615], type=pa.uint64()),
            "event_time": pa.array(pd.to_datetime(["2024-03-01 01:15:00", "2024-03-02 00:00:00"]).tz_localize("UTC")),
            "amount": pa.array([19.99, None]),
            "properties": pa.array([{"keyword": "shoes"}, None]),
        }
    )
    pq.write_table(table, path, row_group_size=1)
    frame, lines = read_all(path, chunk_rows=1)
    assert frame["user_id"].tolist() == ["123", "18446744073709551615"]
    assert frame["event_time"].tolist() == ["2024-03-01 01:15:00.000000000Z", "2024-03-02 00:00:00.000000000Z"]
    assert frame["amount"].tolist() == ["19.99", ""]
    assert frame["properties"].tolist() == ['{"keyword": "shoes"}', ""]
    assert lines == [1, 2]


def test_malformed_row_names_file(tmp_path: Path):
    path = tmp_path / "ragged.csv"
    path.write_text("user_id,amount\nu1,1\nu2,2,3\n")
    with pytest.raises(InputDataError) as caught:
        read_all(path)
    assert "ragged.csv" in str(caught.value)
    assert "csv.delimiter" in str(caught.value)


def test_require_columns_message(tmp_path: Path):
    path = tmp_path / "semicolons.csv"
    path.write_text("user_id;event_time\nu1;2024-01-01\n")
    source = open_source(path, CSV)
    with pytest.raises(InputDataError) as caught:
        require_columns(source, {"columns.user_id": "user_id"})
    message = str(caught.value)
    assert "columns.user_id names column 'user_id'" in message
    assert "Columns found: 'user_id;event_time'" in message
    assert "set csv.delimiter to it" in message
