"""The data contract: the columns and types every event source is converted to."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

EVENT_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("item_id", pa.string()),
        pa.field("category", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("quantity", pa.float64()),
        pa.field("session_id", pa.string()),
        pa.field("properties", pa.string()),
    ]
)
EVENT_COLUMNS = tuple(EVENT_SCHEMA.names)
REQUIRED_EVENT_COLUMNS = ("user_id", "event_time", "event_type")

# User attributes are optional; a source may provide any subset besides user_id.
USER_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("age_band", pa.string()),
        pa.field("income_band", pa.string()),
        pa.field("household_size", pa.string()),
        pa.field("region", pa.string()),
        pa.field("signup_time", pa.timestamp("ns", tz="UTC")),
    ]
)
USER_COLUMNS = tuple(USER_SCHEMA.names)
USER_ATTRIBUTE_COLUMNS = ("age_band", "income_band", "household_size", "region")


# Arrow-backed strings take about a third of the memory of Python string objects.
_STRING_DTYPE = pd.StringDtype("pyarrow")


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper={pa.string(): _STRING_DTYPE}.get)


def conform_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Return the frame as an Arrow table with exactly the schema's columns; absent ones are null."""
    arrays = []
    for schema_field in schema:
        if schema_field.name in frame.columns:
            arrays.append(pa.array(frame[schema_field.name], type=schema_field.type, from_pandas=True))
        else:
            arrays.append(pa.nulls(len(frame), type=schema_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def conform_events(events: pd.DataFrame) -> pd.DataFrame:
    """Return the events with exactly the contract's columns, order and dtypes."""
    missing = [column for column in REQUIRED_EVENT_COLUMNS if column not in events.columns]
    if missing:
        raise ValueError(f"events lack required contract column(s) {missing}")
    return _to_pandas(conform_table(events, EVENT_SCHEMA))


def conform_users(users: pd.DataFrame) -> pd.DataFrame:
    """Return the user attributes with exactly the contract's columns, order and dtypes."""
    if "user_id" not in users.columns:
        raise ValueError("user attributes lack the required column 'user_id'")
    return _to_pandas(conform_table(users, USER_SCHEMA))


def empty_events() -> pd.DataFrame:
    return _to_pandas(EVENT_SCHEMA.empty_table())


# Provenance columns travel with events between reading and validation, then are dropped.
SOURCE_FILE_COLUMN = "_source_file"
SOURCE_LINE_COLUMN = "_source_line"

# One row per rejected input row, with the rule that failed and the offending value.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string()),
        pa.field("source_line", pa.int64()),
        pa.field("rule", pa.string()),
        pa.field("column", pa.string()),
        pa.field("value", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("original_row", pa.string()),
    ]
)
QUARANTINE_COLUMNS = tuple(QUARANTINE_SCHEMA.names)


def empty_quarantine() -> pd.DataFrame:
    return _to_pandas(QUARANTINE_SCHEMA.empty_table())
