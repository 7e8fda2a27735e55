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


def conform_events(events: pd.DataFrame) -> pd.DataFrame:
    """Return the events with exactly the contract's columns, order and dtypes."""
    missing = [column for column in REQUIRED_EVENT_COLUMNS if column not in events.columns]
    if missing:
        raise ValueError(f"events lack required contract column(s) {missing}")
    table = pa.Table.from_pandas(events.reindex(columns=EVENT_COLUMNS), schema=EVENT_SCHEMA, preserve_index=False)
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


def conform_users(users: pd.DataFrame) -> pd.DataFrame:
    """Return the user attributes with exactly the contract's columns, order and dtypes."""
    table = pa.Table.from_pandas(users.reindex(columns=USER_COLUMNS), schema=USER_SCHEMA, preserve_index=False)
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


def empty_events() -> pd.DataFrame:
    return EVENT_SCHEMA.empty_table().to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


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
    return QUARANTINE_SCHEMA.empty_table().to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
