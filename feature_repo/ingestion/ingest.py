"""Conversion of whole event and user files to contract Parquet files, with row accounting.

Every input file is checked (format, header, required columns) before anything is written.
Rows stream through in chunks to temporary files next to the outputs, which replace the outputs
only when the conversion succeeds, so a failure or an empty input never leaves a half-written or
empty output in place of earlier data.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_repo.contract import QUARANTINE_SCHEMA, USER_SCHEMA
from feature_repo.ingestion.convert import RAW_EVENT_SCHEMA, ChunkResult, EventConverter, UserConverter
from feature_repo.ingestion.duplicates import DuplicateRowFilter, HashSet64, hash_strings
from feature_repo.ingestion.mapping import CsvOptions, SourceMapping, load_mapping
from feature_repo.ingestion.privacy import read_pseudonym_key
from feature_repo.ingestion.readers import RawChunk, SourceFile, iter_chunks, open_source, require_columns
from feature_repo.ingestion.report import ConversionReport, FileCounts
from retention.errors import InputDataError
from retention.settings import Settings, ValidationSettings

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 200_000
# Quarantine reasons kept in the report for display.
MAX_QUARANTINE_EXAMPLES = 5

PathLike = str | Path


class NoRowsConvertedError(InputDataError):
    """No row of the inputs was converted, so the outputs were left as they were.

    `report` has the counts, so that a caller can tell header-only inputs (no input rows)
    from inputs whose every row was quarantined or a duplicate.
    """

    def __init__(self, message: str, report: ConversionReport) -> None:
        super().__init__(message)
        self.report = report


def convert_event_files(
    paths: PathLike | Iterable[PathLike],
    mapping: SourceMapping | PathLike,
    raw_events_path: PathLike,
    quarantine_path: PathLike,
    settings: ValidationSettings | Settings | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    now: pd.Timestamp | None = None,
) -> ConversionReport:
    """Convert event files to `raw_events_path` and their rejected rows to `quarantine_path`.

    The events file contains the contract's columns plus _source_file and _source_line. `mapping`
    is a SourceMapping or the path of a mapping file; `settings` defaults to ValidationSettings();
    `now` (UTC, default the current time) bounds future event times.
    Raises InputDataError for an unreadable input, NoRowsConvertedError (an InputDataError) when
    no row at all was converted, and ConfigurationError for an invalid mapping or a missing
    pseudonymization key.
    """
    mapping = _resolve_mapping(mapping)
    validation = _validation_settings(settings)
    key = read_pseudonym_key(mapping.privacy.key_env) if mapping.privacy.pseudonymize_user_ids else None
    converter = EventConverter(mapping, validation, now=now, pseudonym_key=key)
    sources = _open_sources(paths, mapping.csv, converter.required_columns())

    report = ConversionReport()
    duplicates = DuplicateRowFilter()
    unknown_types: Counter[str] = Counter()
    converted_types: Counter[str] = Counter()
    with (
        _atomic_parquet(Path(raw_events_path), RAW_EVENT_SCHEMA) as events_out,
        _atomic_parquet(Path(quarantine_path), QUARANTINE_SCHEMA) as quarantine_out,
    ):
        for source in sources:
            logger.info("Converting events of %s (%s)", source.path, source.format)
            counts = FileCounts(path=str(source.path))
            for chunk in _unique_rows(source, chunk_rows, duplicates, counts):
                result = converter.convert(chunk, str(source.path))
                _write_result(result, events_out, quarantine_out, counts, report)
                unknown_types.update(result.unknown_event_types)
                converted_types.update(result.rows["event_type"].value_counts().to_dict())
                _update_time_range(report, result.rows["event_time"])
            _finish_file(report, counts)

        report.unknown_event_types = dict(unknown_types.most_common())
        report.event_types = dict(converted_types.most_common())
        report.check_balance()
        if report.converted_rows == 0:
            raise nothing_converted_error("event", report, [raw_events_path, quarantine_path])
        quarantine_out.commit()
        events_out.commit()

    if unknown_types:
        logger.warning("Rows of event types outside the mapping, by type: %s", report.unknown_event_types)
    logger.info("Converted events to %s: %s", raw_events_path, report.summary().replace("\n", "; "))
    return report


def convert_user_files(
    paths: PathLike | Iterable[PathLike],
    mapping: SourceMapping | PathLike,
    users_path: PathLike,
    settings: ValidationSettings | Settings | None = None,
    quarantine_path: PathLike | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    now: pd.Timestamp | None = None,
) -> ConversionReport:
    """Convert user attribute files (`mapping.users`) to `users_path`, one row per user id.

    A later row with an id already converted is quarantined as duplicate_user_id, unless it
    repeats the earlier row exactly, which counts as a duplicate. The rejected rows go to
    `quarantine_path` when one is given; they are counted in the report either way. Raises
    as convert_event_files does.
    """
    mapping = _resolve_mapping(mapping)
    validation = _validation_settings(settings)
    key = read_pseudonym_key(mapping.privacy.key_env) if mapping.privacy.pseudonymize_user_ids else None
    converter = UserConverter(mapping, validation, now=now, pseudonym_key=key)
    sources = _open_sources(paths, mapping.user_csv, converter.required_columns())

    report = ConversionReport()
    duplicates = DuplicateRowFilter()
    user_ids = HashSet64()

    def repeated_user(ids: pd.Series) -> np.ndarray:
        return user_ids.add(hash_strings(ids))

    outputs = [Path(users_path)] + ([Path(quarantine_path)] if quarantine_path is not None else [])
    with (
        _atomic_parquet(Path(users_path), USER_SCHEMA) as users_out,
        _atomic_parquet(
            Path(quarantine_path) if quarantine_path is not None else None, QUARANTINE_SCHEMA
        ) as quarantine_out,
    ):
        for source in sources:
            logger.info("Converting user attributes of %s (%s)", source.path, source.format)
            counts = FileCounts(path=str(source.path))
            for chunk in _unique_rows(source, chunk_rows, duplicates, counts):
                result = converter.convert(chunk, str(source.path), repeated_user)
                _write_result(result, users_out, quarantine_out, counts, report)
            _finish_file(report, counts)

        report.check_balance()
        if report.converted_rows == 0:
            raise nothing_converted_error("user attribute", report, outputs)
        quarantine_out.commit()
        users_out.commit()

    logger.info("Converted user attributes to %s: %s", users_path, report.summary().replace("\n", "; "))
    return report


def check_event_files(paths: PathLike | Iterable[PathLike], mapping: SourceMapping | PathLike) -> list[SourceFile]:
    """Check that every event file is a readable table with the columns `mapping` requires.

    Reads the headers only. Raises InputDataError as convert_event_files does.
    """
    mapping = _resolve_mapping(mapping)
    return _open_sources(paths, mapping.csv, EventConverter(mapping, ValidationSettings()).required_columns())


def check_user_files(paths: PathLike | Iterable[PathLike], mapping: SourceMapping | PathLike) -> list[SourceFile]:
    """Check that every user attribute file is a readable table with the columns `mapping` requires."""
    mapping = _resolve_mapping(mapping)
    return _open_sources(paths, mapping.user_csv, UserConverter(mapping, ValidationSettings()).required_columns())


def _resolve_mapping(mapping: SourceMapping | PathLike) -> SourceMapping:
    return mapping if isinstance(mapping, SourceMapping) else load_mapping(mapping)


def _validation_settings(settings: ValidationSettings | Settings | None) -> ValidationSettings:
    if settings is None:
        return ValidationSettings()
    return settings.validation if isinstance(settings, Settings) else settings


def _open_sources(paths: PathLike | Iterable[PathLike], csv: CsvOptions, required: dict[str, str]) -> list[SourceFile]:
    """Check every input file and its columns before any row is converted or written."""
    path_list = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not path_list:
        raise InputDataError("No input files were given. Pass at least one CSV or Parquet file.")
    sources = [open_source(path, csv) for path in path_list]
    for source in sources:
        require_columns(source, required)
    return sources


def _unique_rows(
    source: SourceFile, chunk_rows: int, duplicates: DuplicateRowFilter, counts: FileCounts
) -> Iterator[RawChunk]:
    """Yield the chunks of `source` without rows that repeat an earlier row; count both kinds."""
    for chunk in iter_chunks(source, chunk_rows):
        counts.input_rows += len(chunk.frame)
        repeated = duplicates.mark_duplicates(chunk.frame)
        counts.duplicate_rows += int(repeated.sum())
        if repeated.any():
            kept = ~repeated
            chunk = RawChunk(frame=chunk.frame.loc[kept].reset_index(drop=True), lines=chunk.lines[kept])
        if len(chunk.frame):
            yield chunk


def _write_result(
    result: ChunkResult,
    rows_out: _AtomicParquetWriter,
    quarantine_out: _AtomicParquetWriter,
    counts: FileCounts,
    report: ConversionReport,
) -> None:
    rows_out.write(result.rows)
    quarantine_out.write(result.quarantine)
    counts.converted_rows += len(result.rows)
    counts.quarantined_rows += len(result.quarantine)
    for rule, count in result.quarantine["rule"].value_counts().items():
        report.quarantine_by_rule[rule] = report.quarantine_by_rule.get(rule, 0) + int(count)
    room = MAX_QUARANTINE_EXAMPLES - len(report.quarantine_examples)
    for row in result.quarantine.head(max(room, 0)).itertuples(index=False):
        report.quarantine_examples.append(f"{row.source_file} line {row.source_line}: {row.reason}")


def _finish_file(report: ConversionReport, counts: FileCounts) -> None:
    report.files.append(counts)
    report.input_rows += counts.input_rows
    report.converted_rows += counts.converted_rows
    report.quarantined_rows += counts.quarantined_rows
    report.duplicate_rows += counts.duplicate_rows
    if counts.input_rows == 0:
        logger.warning("%s has no rows (a header only)", counts.path)
    else:
        logger.info(
            "%s: %d rows, %d converted, %d quarantined, %d duplicates",
            counts.path,
            counts.input_rows,
            counts.converted_rows,
            counts.quarantined_rows,
            counts.duplicate_rows,
        )


def _update_time_range(report: ConversionReport, event_times: pd.Series) -> None:
    if event_times.empty:
        return
    first = event_times.min().strftime("%Y-%m-%dT%H:%M:%SZ")
    last = event_times.max().strftime("%Y-%m-%dT%H:%M:%SZ")
    # ISO 8601 text of one layout sorts like the times themselves.
    report.first_event_time = min(first, report.first_event_time or first)
    report.last_event_time = max(last, report.last_event_time or last)


def nothing_converted_error(kind: str, report: ConversionReport, outputs: Sequence[PathLike]) -> NoRowsConvertedError:
    """Build the error of a conversion without converted rows; `outputs` are the files left unchanged."""
    empty = [counts.path for counts in report.files if counts.input_rows == 0]
    kept = (
        f"Nothing was written, and {', '.join(str(path) for path in outputs)} keep their previous contents."
    )
    if report.input_rows == 0:
        parts = [f"No rows: the {kind} file(s) {', '.join(empty)} contain a header only.", kept]
        parts.append("Export the data again with its rows, or pass files that have rows.")
        return NoRowsConvertedError(" ".join(parts), report)

    parts = [
        f"No {kind} row was converted from {len(report.files)} file(s). {kept}",
        f"Counts: {report.input_rows} input rows, {report.quarantined_rows} quarantined, "
        f"{report.duplicate_rows} duplicates.",
    ]
    if empty:
        parts.append(f"No rows (a header only): {', '.join(empty)}.")
    if report.quarantine_by_rule:
        rules = ", ".join(f"{rule} {count}" for rule, count in report.quarantine_by_rule.items())
        parts.append(f"Quarantined by rule: {rules}. First reasons: {' | '.join(report.quarantine_examples)}.")
        parts.append("Fix the mapping file or the input data.")
    return NoRowsConvertedError(" ".join(parts), report)


class _AtomicParquetWriter:
    """Streams tables into a temporary file next to `path`; `commit` renames it over `path`.

    With `path` None every write is discarded, for an output the caller did not ask for.
    """

    def __init__(self, path: Path | None, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self._writer: pq.ParquetWriter | None = None
        self._temporary: Path | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            self._writer = pq.ParquetWriter(self._temporary, schema)

    def write(self, rows: pd.DataFrame) -> None:
        if self._writer is not None and len(rows):
            self._writer.write_table(pa.Table.from_pandas(rows, schema=self.schema, preserve_index=False))

    def commit(self) -> None:
        if self._writer is None or self._temporary is None or self.path is None:
            return
        self._writer.close()
        self._writer = None
        os.replace(self._temporary, self.path)
        self._temporary = None

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None


@contextmanager
def _atomic_parquet(path: Path | None, schema: pa.Schema) -> Iterator[_AtomicParquetWriter]:
    """Yield a writer whose temporary file is removed unless the block committed it."""
    writer = _AtomicParquetWriter(path, schema)
    try:
        yield writer
    finally:
        writer.discard()
