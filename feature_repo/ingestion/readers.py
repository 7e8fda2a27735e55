"""Reading of CSV, gzipped CSV and Parquet files in chunks of bounded memory.

Every value reaches the converter as the text written in the file: CSV fields are read with
dtype=str and no NA detection, so "00123", "42.0" and ids beyond int64 stay as written, and
Parquet values are cast to strings. `open_source` checks a file before any row is read, so a
caller can check every input before writing anything.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feature_repo.ingestion.mapping import CsvOptions
from retention.errors import InputDataError

PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
# Start of the file inspected for signatures of binary formats.
SAMPLE_BYTES = 64 * 1024
# Signatures of binary files that are sometimes exported or named as .csv by mistake.
BINARY_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook is one; export the sheet as CSV)",
    b"\xd0\xcf\x11\xe0": "an OLE document (an .xls workbook is one; export the sheet as CSV)",
    b"SQLite format 3\x00": "an SQLite database",
}
# A sample with a larger share of C0 control bytes (other than tab, newline, carriage return and
# form feed) is taken for binary data. Text in an ASCII-compatible encoding has next to none.
MAX_CONTROL_SHARE = 0.01
_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 12, 13})
_DECODE_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    """An input file that passed the checks of `open_source`, with its header."""

    path: Path
    format: Literal["csv", "parquet"]
    compression: Literal["gzip"] | None
    columns: tuple[str, ...]
    csv: CsvOptions


@dataclass(frozen=True)
class RawChunk:
    """Consecutive rows of one file, every value a str ("" where the field is empty)."""

    frame: pd.DataFrame
    # Line number of each row: 1-based, with the CSV header as line 1. For Parquet, the 1-based
    # row number. NOTE: a quoted CSV field that contains line breaks shifts later CSV numbers.
    lines: np.ndarray


def open_source(path: str | Path, csv: CsvOptions) -> SourceFile:
    """Check that `path` is a readable CSV, gzipped CSV or Parquet table and read its header.

    Raises InputDataError naming the file for a missing or empty file, a file of another
    format, bytes invalid in `csv.encoding`, and a malformed header.
    """
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"Input file {path} not found. Check the path.")
    if path.is_dir():
        raise InputDataError(f"Input path {path} is a directory. Pass the CSV or Parquet files inside it.")
    if path.stat().st_size == 0:
        raise InputDataError(
            f"Input file {path} is empty (0 bytes), so it is not a CSV or Parquet table. "
            "Export the data again or leave the file out."
        )

    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head.startswith(PARQUET_MAGIC):
        return _open_parquet(path, csv)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        raise InputDataError(
            f"Input file {path} is not a readable CSV or Parquet file: it is named {path.suffix} but does "
            f"not start with the Parquet signature {PARQUET_MAGIC!r}. Rename a CSV file to .csv, "
            "or export the data again."
        )

    compression: Literal["gzip"] | None = None
    if head.startswith(GZIP_MAGIC):
        compression = "gzip"
        head = _read_gzip_sample(path)
    _check_text_sample(path, head, csv.encoding)
    return _open_csv(path, compression, csv)


def require_columns(source: SourceFile, required: dict[str, str]) -> None:
    """Raise InputDataError unless `source` has every column in `required`.

    `required` maps each mapping option, such as "columns.event_time", to the column it names.
    """
    missing = {option: column for option, column in required.items() if column not in source.columns}
    if not missing:
        return
    details = "; ".join(f"{option} names column {column!r}" for option, column in missing.items())
    found = ", ".join(repr(column) for column in source.columns)
    options = ", ".join(missing)
    hint = ""
    if source.format == "csv" and len(source.columns) == 1:
        separators = [mark for mark in (",", ";", "\t", "|") if mark in source.columns[0]]
        if separators:
            hint = f" The header looks separated by {separators[0]!r}: set csv.delimiter to it."
    raise InputDataError(
        f"Input file {source.path} lacks required column(s): {details}. Columns found: {found}. "
        f"Set {options} in the mapping file to the name of the column that holds the value.{hint}"
    )


def has_rows(source: SourceFile) -> bool:
    """Return whether `source` has a row besides its header, reading no more than the first rows."""
    if source.format == "parquet":
        try:
            return pq.ParquetFile(source.path).metadata.num_rows > 0
        except pa.ArrowException as error:
            raise InputDataError(f"Input file {source.path} is not a readable Parquet file ({error}).") from error
    chunks = iter_chunks(source, 1)
    try:
        return next(chunks, None) is not None
    finally:
        chunks.close()


def iter_chunks(source: SourceFile, chunk_rows: int) -> Iterator[RawChunk]:
    """Yield the rows of `source` in chunks of at most `chunk_rows` rows.

    CSV lines whose fields are all empty, such as blank lines, are skipped: they are no rows.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if source.format == "parquet":
        yield from _iter_parquet(source, chunk_rows)
    else:
        yield from _iter_csv(source, chunk_rows)


def _read_gzip_sample(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as error:
        raise InputDataError(f"Input file {path} starts like gzip but cannot be decompressed ({error}).") from error


def _check_text_sample(path: Path, sample: bytes, encoding: str) -> None:
    for signature, kind in BINARY_SIGNATURES.items():
        if sample.startswith(signature):
            raise InputDataError(
                f"Input file {path} is not a readable CSV or Parquet file: it starts with the signature of {kind}."
            )
    # UTF-16 and UTF-32 text contains NUL bytes, so the check below applies to other encodings only.
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return
    for mark, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if sample.startswith(mark):
            raise InputDataError(
                f"Input file {path} starts with a {name} byte order mark, but csv.encoding is {encoding}. "
                f"Set csv.encoding in the mapping file to {name}."
            )
    control_bytes = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if b"\x00" in sample or control_bytes > MAX_CONTROL_SHARE * len(sample):
        raise InputDataError(
            f"Input file {path} is not a readable CSV or Parquet file: its first {len(sample)} bytes contain "
            f"{control_bytes} control bytes, which text does not contain. Export the data as CSV or Parquet."
        )


def _csv_reader_options(source_path: Path, compression: str | None, csv: CsvOptions) -> dict:
    return {
        "filepath_or_buffer": source_path,
        "sep": csv.delimiter,
        "quotechar": csv.quote_char,
        "encoding": csv.encoding,
        "encoding_errors": "strict",
        "compression": compression,
        # Every field stays the text written in the file: no dtype guessing, no NA detection.
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        # Blank lines are kept as rows, so that index + 2 is the line number; they are dropped later.
        "skip_blank_lines": False,
        "engine": "c",
    }


def _open_csv(path: Path, compression: Literal["gzip"] | None, csv: CsvOptions) -> SourceFile:
    options = _csv_reader_options(path, compression, csv)
    try:
        header = pd.read_csv(**options, nrows=0)
    except UnicodeDecodeError as error:
        raise _encoding_error(path, compression, csv.encoding, error) from error
    except pd.errors.EmptyDataError as error:
        raise InputDataError(f"Input file {path} has no header line, so it is not a CSV table.") from error
    except pd.errors.ParserError as error:
        raise InputDataError(
            f"Input file {path} is not a readable CSV file ({error}). Check csv.delimiter and csv.quote_char "
            "in the mapping."
        ) from error
    except (OSError, EOFError, zlib.error) as error:
        raise InputDataError(f"Input file {path} cannot be read ({error}).") from error
    columns = tuple(str(name).strip() for name in header.columns)
    return SourceFile(path=path, format="csv", compression=compression, columns=columns, csv=csv)


def _iter_csv(source: SourceFile, chunk_rows: int) -> Iterator[RawChunk]:
    options = _csv_reader_options(source.path, source.compression, source.csv)
    try:
        with pd.read_csv(**options, chunksize=chunk_rows) as reader:
            for frame in reader:
                frame.columns = list(source.columns)
                lines = frame.index.to_numpy(dtype=np.int64) + 2
                filled = (frame != "").any(axis=1).to_numpy()
                if not filled.all():
                    frame = frame.loc[filled]
                    lines = lines[filled]
                if len(frame):
                    yield RawChunk(frame=frame.reset_index(drop=True), lines=lines)
    except UnicodeDecodeError as error:
        raise _encoding_error(source.path, source.compression, source.csv.encoding, error) from error
    except pd.errors.ParserError as error:
        raise InputDataError(
            f"Input file {source.path} is not a readable CSV file ({error}). Check csv.delimiter and "
            "csv.quote_char in the mapping, or fix the line."
        ) from error
    except (OSError, EOFError, zlib.error) as error:
        raise InputDataError(f"Input file {source.path} cannot be read ({error}).") from error


def _encoding_error(path: Path, compression: str | None, encoding: str, error: UnicodeDecodeError) -> InputDataError:
    # The decoder's error position is relative to a buffer inside pandas, so the file is decoded
    # again from the start to find the absolute offset of the first invalid byte.
    found = _first_invalid_byte(path, compression, encoding)
    if found is None:
        where = f"({error})"
    else:
        offset, line, value = found
        place = "of the decompressed data " if compression else ""
        where = f"at byte offset {offset} {place}(line {line}, byte 0x{value:02x})"
    return InputDataError(
        f"Input file {path} is not valid {encoding} {where}. Set csv.encoding in the mapping file to the "
        "file's encoding, for example latin-1 or cp1252."
    )


def _first_invalid_byte(path: Path, compression: str | None, encoding: str) -> tuple[int, int, int] | None:
    """Return (offset, 1-based line, byte value) of the first byte invalid in `encoding`, or None."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    newlines = 0
    handle: gzip.GzipFile | io.BufferedReader = gzip.GzipFile(path, "rb") if compression == "gzip" else path.open("rb")
    with handle:
        while block := handle.read(_DECODE_BLOCK_BYTES):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                data = pending + block
                newlines_before = newlines - pending.count(b"\n") + data[: error.start].count(b"\n")
                return offset - len(pending) + error.start, newlines_before + 1, data[error.start]
            offset += len(block)
            newlines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            pending = error.object
            return offset - len(pending) + error.start, newlines - pending.count(b"\n") + 1, pending[error.start]
    return None


def _open_parquet(path: Path, csv: CsvOptions) -> SourceFile:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise InputDataError(f"Input file {path} is not a readable Parquet file ({error}).") from error
    columns = tuple(name.strip() for name in schema.names)
    return SourceFile(path=path, format="parquet", compression=None, columns=columns, csv=csv)


def _iter_parquet(source: SourceFile, chunk_rows: int) -> Iterator[RawChunk]:
    first_row = 0
    try:
        parquet_file = pq.ParquetFile(source.path)
        for batch in parquet_file.iter_batches(batch_size=chunk_rows):
            frame = pd.DataFrame(
                {
                    name: _as_strings(source.path, name, column)
                    for name, column in zip(source.columns, batch.columns, strict=True)
                }
            )
            lines = np.arange(first_row + 1, first_row + 1 + len(frame), dtype=np.int64)
            first_row += len(frame)
            if len(frame):
                yield RawChunk(frame=frame, lines=lines)
    except pa.ArrowException as error:
        raise InputDataError(f"Input file {source.path} is not a readable Parquet file ({error}).") from error


def _as_strings(path: Path, name: str, column: pa.Array) -> np.ndarray:
    """Return the values of a Parquet column as Python strings, "" for null."""
    if pa.types.is_nested(column.type):
        values = [
            "" if value is None else json.dumps(value, ensure_ascii=False, default=str) for value in column.to_pylist()
        ]
        return np.array(values, dtype=object)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        try:
            column = pc.cast(column, pa.string())
        except pa.ArrowException as error:
            raise InputDataError(
                f"Input file {path}: column {name!r} of type {column.type} cannot be read as text ({error})."
            ) from error
    return column.fill_null("").to_numpy(zero_copy_only=False)
