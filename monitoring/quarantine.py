"""Quarantine rows of failed events, and the checks on the files validation reads.

Nothing here imports Great Expectations: the functions take the failures GE reported, already
reduced to RowFailure objects keyed by row position.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_repo.contract import (
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    QUARANTINE_COLUMNS,
    QUARANTINE_SCHEMA,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
)
from monitoring.summaries import value_text
from retention.errors import InputDataError, PipelineError

_PROVENANCE_TYPES = {SOURCE_FILE_COLUMN: (pa.string(), pa.large_string()), SOURCE_LINE_COLUMN: (pa.int64(),)}


@dataclass
class RowFailure:
    """One expectation that one row failed, with the offending value."""

    rule: str
    column: str | None
    value: Any
    requirement: str

    def reason(self) -> str:
        value = value_text(self.value)
        if value is None:
            value = "missing"
        return f"{self.column} is {value}, but {self.requirement} (rule {self.rule})."


def quarantine_frame(chunk: pd.DataFrame, failures: dict[int, list[RowFailure]], first_position: int) -> pd.DataFrame:
    """Build one quarantine row per failing row of the chunk.

    failures maps the row position in the input file to the row's failures in suite order, and
    first_position is the position of the chunk's first row. The quarantine row names the first
    failure in rule, column and value, and gives the reasons of all failures.
    """
    if not failures:
        return QUARANTINE_SCHEMA.empty_table().to_pandas()
    positions = sorted(failures)
    rows = chunk.iloc[np.asarray(positions, dtype="int64") - first_position]
    firsts = [failures[position][0] for position in positions]
    return pd.DataFrame(
        {
            "source_file": [value_text(name) for name in rows[SOURCE_FILE_COLUMN].tolist()],
            "source_line": [None if pd.isna(line) else int(line) for line in rows[SOURCE_LINE_COLUMN].tolist()],
            "rule": [first.rule for first in firsts],
            "column": [first.column for first in firsts],
            "value": [value_text(first.value) for first in firsts],
            "reason": [" ".join(failure.reason() for failure in failures[position]) for position in positions],
            "original_row": [row_json(row) for row in rows.loc[:, list(EVENT_COLUMNS)].to_dict("records")],
        }
    )


def row_json(row: dict[str, Any]) -> str:
    """Serialize a contract row as JSON.

    Missing values become null, times ISO strings, and infinite numbers the strings "inf" and
    "-inf" because JSON has no infinity.
    """
    return json.dumps({column: _json_value(value) for column, value in row.items()}, ensure_ascii=False)


def open_converted_events(path: Path) -> pq.ParquetFile:
    """Open the converted events file after checking its columns and types against the contract."""
    if not path.exists():
        raise PipelineError(f"The converted events file {path} does not exist. Run the conversion step first.")
    try:
        parquet_file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputDataError(f"{path} cannot be read as Parquet: {error}. Rerun the conversion step.") from error

    schema = parquet_file.schema_arrow
    missing = [name for name in (*EVENT_COLUMNS, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN) if name not in schema.names]
    if missing:
        raise InputDataError(
            f"{path} lacks column(s) {missing}. Validation needs the contract columns plus "
            f"{SOURCE_FILE_COLUMN} and {SOURCE_LINE_COLUMN}. Rerun the conversion step."
        )

    mismatched = []
    for contract_field in EVENT_SCHEMA:
        actual = schema.field(contract_field.name).type
        allowed = (pa.string(), pa.large_string()) if contract_field.type == pa.string() else (contract_field.type,)
        if actual not in allowed:
            mismatched.append(f"{contract_field.name} is {actual}, expected {contract_field.type}")
    for name, allowed in _PROVENANCE_TYPES.items():
        actual = schema.field(name).type
        if actual not in allowed:
            mismatched.append(f"{name} is {actual}, expected {allowed[0]}")
    if mismatched:
        raise InputDataError(
            f"{path} does not match the data contract: {'; '.join(mismatched)}. Rerun the conversion step."
        )
    return parquet_file


def read_quarantine(path: Path) -> pa.Table:
    """Read the quarantine rows already in path, or return an empty table when there is no file."""
    if not path.exists():
        return QUARANTINE_SCHEMA.empty_table()
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputDataError(f"The existing quarantine file {path} cannot be read: {error}.") from error
    missing = [name for name in QUARANTINE_COLUMNS if name not in table.column_names]
    if missing:
        raise InputDataError(
            f"The existing quarantine file {path} lacks column(s) {missing}, so it does not follow "
            "QUARANTINE_SCHEMA. Move it away or rerun the conversion step."
        )
    return table.select(list(QUARANTINE_COLUMNS)).cast(QUARANTINE_SCHEMA)


def temporary_path(path: Path) -> Path:
    """Return a hidden sibling path to write before renaming onto path."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _json_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(value)
    return value_text(value)
