"""Conversion of raw chunks to the data contract, with a quarantine row for every rejected row.

A row is rejected by the first rule it fails, in this order: user id, event time, event type,
properties JSON, quantity, amount. Each quarantine row names the rule (a snake_case id), the
source column, the value as written and a sentence that explains the rejection.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from feature_repo.contract import (
    EVENT_SCHEMA,
    QUARANTINE_COLUMNS,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    USER_ATTRIBUTE_COLUMNS,
)
from feature_repo.ingestion.mapping import OTHER_EVENT_TYPE, SourceMapping
from feature_repo.ingestion.privacy import pseudonymize, pseudonymize_series
from feature_repo.ingestion.readers import RawChunk
from feature_repo.ingestion.values import (
    ParsedNumbers,
    clean_text,
    number_from_json,
    parse_numbers,
    parse_timestamps,
    starts_with,
)
from retention.errors import ConfigurationError
from retention.settings import ValidationSettings

# The events file contains the contract's columns followed by the provenance of each row.
RAW_EVENT_SCHEMA = EVENT_SCHEMA.append(pa.field(SOURCE_FILE_COLUMN, pa.string(), nullable=False)).append(
    pa.field(SOURCE_LINE_COLUMN, pa.int64(), nullable=False)
)
# Raw values of one column, by row position.
RawValues = Sequence[Any] | np.ndarray
UNIX_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
# Products of quantity and unit price are rounded to the decimals of their factors, up to this many.
MAX_PRODUCT_DECIMALS = 12


@dataclass
class ChunkResult:
    """The converted rows of one chunk, its quarantine rows, and its unknown event types by name."""

    rows: pd.DataFrame
    quarantine: pd.DataFrame
    unknown_event_types: Counter[str] = field(default_factory=Counter)


class _Rejections:
    """The first failed rule of each row of a chunk."""

    def __init__(self, size: int) -> None:
        self.rejected = np.zeros(size, dtype=bool)
        self.rule = np.full(size, None, dtype=object)
        self.column = np.full(size, None, dtype=object)
        self.value = np.full(size, None, dtype=object)
        self.reason = np.full(size, None, dtype=object)

    def add(
        self, mask: np.ndarray, rule: str, column: str, raw: RawValues, describe: Callable[[int, Any], str]
    ) -> None:
        """Reject the rows in `mask` not rejected yet; `describe(position, raw value)` writes the reason."""
        new = np.flatnonzero(np.asarray(mask, dtype=bool) & ~self.rejected)
        for position in new.tolist():
            value = raw[position]
            self.rule[position] = rule
            self.column[position] = column
            self.value[position] = None if value is None else str(value)
            self.reason[position] = describe(position, value)
        self.rejected[new] = True

    def quarantine(self, chunk: RawChunk, source_file: str, original_rows: list[str]) -> pd.DataFrame:
        positions = np.flatnonzero(self.rejected)
        return pd.DataFrame(
            {
                "source_file": source_file,
                "source_line": chunk.lines[positions],
                "rule": self.rule[positions],
                "column": self.column[positions],
                "value": self.value[positions],
                "reason": self.reason[positions],
                "original_row": original_rows,
            },
            columns=list(QUARANTINE_COLUMNS),
        )


def _parse_setting_time(value: str, option: str) -> pd.Timestamp:
    """Parse a timestamp setting, read as UTC when it has no offset."""
    try:
        timestamp = pd.Timestamp(value)
    except ValueError as error:
        raise ConfigurationError(
            f"{option} = {value!r} is not an ISO 8601 timestamp such as 1990-01-01T00:00:00Z."
        ) from error
    return timestamp.tz_localize("UTC") if timestamp.tzinfo is None else timestamp.tz_convert("UTC")


def _iso(timestamp: pd.Timestamp) -> str:
    return timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


class _TimeRange:
    """The window of plausible event times: [earliest_event_time, now + max_future_days]."""

    def __init__(self, validation: ValidationSettings, now: pd.Timestamp | None) -> None:
        self.earliest = _parse_setting_time(validation.earliest_event_time, "validation.earliest_event_time")
        if now is None:
            now = pd.Timestamp.now(tz="UTC")
        self.now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
        self.max_future_days = validation.max_future_days
        self.latest = self.now + pd.Timedelta(days=validation.max_future_days)

    def reject_outside(
        self, rejections: _Rejections, times: pd.Series, raw: RawValues, column: str, label: str
    ) -> None:
        values = times.dt.tz_localize(None).to_numpy()
        too_early = values < self.earliest.to_datetime64()
        in_future = values > self.latest.to_datetime64()

        def describe_early(position: int, value: Any) -> str:
            parsed = times.iat[position]
            reason = (
                f"{label} {value!r} ({_iso(parsed)}) is before validation.earliest_event_time {_iso(self.earliest)}"
            )
            if parsed == UNIX_EPOCH:
                reason += "; it is the Unix epoch, a common placeholder for a missing time"
            return reason

        def describe_future(position: int, value: Any) -> str:
            return (
                f"{label} {value!r} ({_iso(times.iat[position])}) is more than validation.max_future_days = "
                f"{self.max_future_days} day(s) after the conversion time {_iso(self.now)}"
            )

        prefix = label.replace(" ", "_")
        rejections.add(too_early, f"{prefix}_too_early", column, raw, describe_early)
        rejections.add(in_future, f"{prefix}_in_future", column, raw, describe_future)


def _reject_times(
    rejections: _Rejections,
    text: pd.Series,
    raw: RawValues,
    column: str,
    label: str,
    mapping: SourceMapping,
    time_range: _TimeRange,
    required: bool,
) -> pd.Series:
    """Parse a timestamp column, reject the rows whose value is missing, invalid or out of range."""
    rules = mapping.timestamps
    parsed = parse_timestamps(text, rules)
    prefix = label.replace(" ", "_")
    if required:
        rejections.add(
            parsed.missing, f"missing_{prefix}", column, raw, lambda _, value: f"{label} {value!r} is missing"
        )
    layout = f"format {rules.format!r}" if rules.format else "ISO 8601 or a common date layout"
    if rules.day_first:
        layout += " with the day first"
    rejections.add(
        parsed.invalid,
        f"invalid_{prefix}",
        column,
        raw,
        lambda _, value: f"{label} {value!r} is not a timestamp in {layout} between the years 1677 and 2262",
    )
    rejections.add(
        parsed.invalid_local_time,
        f"invalid_local_{prefix}",
        column,
        raw,
        lambda _, value: (
            f"{label} {value!r} is skipped or repeated in {rules.time_zone} by a daylight saving change, and the "
            "mapping quarantines such times (timestamps.ambiguous, timestamps.nonexistent)"
        ),
    )
    time_range.reject_outside(rejections, parsed.values, raw, column, label)
    return parsed.values


class EventConverter:
    """Converts raw chunks of event files to contract rows by one mapping."""

    def __init__(
        self,
        mapping: SourceMapping,
        validation: ValidationSettings,
        now: pd.Timestamp | None = None,
        pseudonym_key: bytes | None = None,
    ) -> None:
        self.mapping = mapping
        self.validation = validation
        self.pseudonym_key = pseudonym_key
        self._time_range = _TimeRange(validation, now)
        self._json_keys = {key for key in (mapping.amount.json_key, mapping.quantity.json_key) if key is not None}

    def required_columns(self) -> dict[str, str]:
        """Return the source column of every mapping option that the files must have."""
        mapping = self.mapping
        columns = mapping.columns
        required = {"columns.user_id": columns.user_id, "columns.event_time": columns.event_time}
        if mapping.event_types.constant is None:
            required["columns.event_type"] = columns.event_type
        for name in ("item_id", "category", "session_id", "properties"):
            if columns.is_set(name):
                required[f"columns.{name}"] = getattr(columns, name)
        if mapping.amount.json_key is not None or mapping.quantity.json_key is not None:
            required["columns.properties"] = columns.properties
        if mapping.amount.column is not None:
            required["amount.column"] = mapping.amount.column
        if mapping.amount.unit_price_column is not None:
            required["amount.unit_price_column"] = mapping.amount.unit_price_column
        if mapping.quantity.column is not None:
            required["quantity.column"] = mapping.quantity.column
        for index, rule in enumerate(mapping.refunds.rules):
            required[f"refunds.rules[{index}].column"] = rule.column
        for index, name in enumerate(mapping.properties.keep_columns):
            required[f"properties.keep_columns[{index}]"] = name
        return required

    def convert(self, chunk: RawChunk, source_file: str) -> ChunkResult:
        """Convert one chunk; every row ends up in exactly one of `rows` and `quarantine`."""
        frame = chunk.frame
        mapping = self.mapping
        rejections = _Rejections(len(frame))

        user_column = mapping.columns.user_id
        user_ids = self._text(frame, user_column)
        rejections.add(
            user_ids.isna().to_numpy(),
            "missing_user_id",
            user_column,
            frame[user_column].to_numpy(),
            lambda _, value: f"user id {value!r} is missing: it is empty, blank or a null marker (null_markers)",
        )

        time_column = mapping.columns.event_time
        event_times = _reject_times(
            rejections,
            self._text(frame, time_column),
            frame[time_column].to_numpy(),
            time_column,
            "event time",
            mapping,
            self._time_range,
            required=True,
        )

        event_types, unknown_names = self._event_types(frame, rejections)
        objects = self._properties_objects(frame, rejections)
        quantity, quantity_label, quantity_raw = self._number(frame, objects, rejections, "quantity")
        amount = self._amount(frame, objects, rejections, event_types, quantity, quantity_label, quantity_raw)

        accepted = ~rejections.rejected
        unknown_counts = Counter(unknown_names[accepted | (rejections.rule == "unknown_event_type")].dropna().tolist())
        rows = self._rows(
            frame, chunk, source_file, accepted, user_ids, event_times, event_types, amount, quantity, objects
        )
        original_rows = _original_rows(
            frame, rejections.rejected, user_ids, mapping.columns.user_id, self.pseudonym_key
        )
        quarantine = rejections.quarantine(chunk, source_file, original_rows)
        return ChunkResult(rows=rows, quarantine=quarantine, unknown_event_types=unknown_counts)

    def _text(self, frame: pd.DataFrame, column: str | None) -> pd.Series:
        if column is None or column not in frame.columns:
            return pd.Series(None, index=frame.index, dtype=object)
        return clean_text(frame[column], self.mapping.null_markers)

    def _event_types(self, frame: pd.DataFrame, rejections: _Rejections) -> tuple[pd.Series, pd.Series]:
        """Return the contract type of every row and the normalized name of each unknown source value."""
        mapping = self.mapping
        settings = mapping.event_types
        unknown_names = pd.Series(None, index=frame.index, dtype=object)

        if settings.constant is not None:
            types = pd.Series(settings.constant, index=frame.index, dtype=object)
        else:
            column = mapping.columns.event_type
            raw = frame[column].to_numpy()
            text = self._text(frame, column)
            rejections.add(
                text.isna().to_numpy(),
                "missing_event_type",
                column,
                raw,
                lambda _, value: f"event type {value!r} is missing",
            )
            # Logs repeat a few distinct types, so each distinct value is normalized and mapped once.
            codes, distinct = pd.factorize(text, use_na_sentinel=True)
            known = mapping.known_event_types
            normalized_distinct = np.array([value.casefold() for value in distinct] + [None], dtype=object)
            types_distinct = np.array(
                [settings.values.get(name, name if name in known else None) for name in normalized_distinct[:-1]]
                + [None],
                dtype=object,
            )
            # Code -1 (a missing value) selects the trailing None of both lookup arrays.
            normalized = normalized_distinct[codes]
            types = pd.Series(types_distinct[codes], index=frame.index, dtype=object)
            unknown = (types.isna() & text.notna()).to_numpy()
            unknown_names = pd.Series(np.where(unknown, normalized, None), index=frame.index, dtype=object)
            if settings.unknown == "quarantine":
                rejections.add(
                    unknown,
                    "unknown_event_type",
                    column,
                    raw,
                    lambda _, value: (
                        f"event type {value!r} is not in event_types.values, and event_types.unknown is quarantine"
                    ),
                )
            types = types.where(~unknown, OTHER_EVENT_TYPE)

        for rule in mapping.refunds.rules:
            matched = starts_with(self._text(frame, rule.column), rule.prefix)
            types = types.where(~matched, rule.event_type)
        return types, unknown_names

    def _properties_objects(self, frame: pd.DataFrame, rejections: _Rejections) -> list[dict | None] | None:
        """Parse the JSON column into one dict (or None) per row; None when the source has no such column."""
        column = self.mapping.columns.properties
        if column not in frame.columns:
            return None
        raw = frame[column].to_numpy()
        objects: list[dict | None] = []
        invalid = np.zeros(len(frame), dtype=bool)
        for position, text in enumerate(self._text(frame, column)):
            if text is None:
                objects.append(None)
                continue
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if not isinstance(parsed, dict):
                invalid[position] = True
                parsed = None
            objects.append(parsed)
        rejections.add(
            invalid,
            "invalid_properties_json",
            column,
            raw,
            lambda _, value: f'properties {value!r} is not a JSON object such as {{"keyword": "shoes"}}',
        )
        return objects

    def _number(
        self, frame: pd.DataFrame, objects: list[dict | None] | None, rejections: _Rejections, name: str
    ) -> tuple[np.ndarray, str, np.ndarray]:
        """Parse the quantity or a plain amount; return the values, the source label and the raw values."""
        source = getattr(self.mapping, name)
        csv = self.mapping.csv
        if source.json_key is not None:
            label = f"{self.mapping.columns.properties}.{source.json_key}"
            values = pd.Series(
                [None if item is None else item.get(source.json_key) for item in (objects or [None] * len(frame))],
                index=frame.index,
                dtype=object,
            )
            parsed = number_from_json(values, csv.decimal, csv.thousands)
            raw = values.to_numpy()
        else:
            label = source.source_column
            parsed = parse_numbers(self._text(frame, label), csv.decimal, csv.thousands)
            raw = frame[label].to_numpy() if label in frame.columns else np.full(len(frame), None, dtype=object)
        self._reject_numbers(rejections, parsed, name, label, raw)
        return parsed.values, label, raw

    def _reject_numbers(
        self, rejections: _Rejections, parsed: ParsedNumbers, name: str, label: str, raw: RawValues
    ) -> None:
        csv = self.mapping.csv
        number_format = f"decimal mark {csv.decimal!r}, thousands separator {csv.thousands or 'none'}"
        rejections.add(
            parsed.invalid,
            f"invalid_{name}",
            label,
            raw,
            lambda _, value: f"{name} {value!r} is not a number ({number_format}; see csv.decimal and csv.thousands)",
        )
        rejections.add(
            parsed.non_finite,
            f"non_finite_{name}",
            label,
            raw,
            lambda _, value: f"{name} {value!r} is not a finite number",
        )

    def _amount(
        self,
        frame: pd.DataFrame,
        objects: list[dict | None] | None,
        rejections: _Rejections,
        event_types: pd.Series,
        quantity: np.ndarray,
        quantity_label: str,
        quantity_raw: np.ndarray,
    ) -> np.ndarray:
        """Parse or compute the amount, reject implausible ones, and make refunds negative."""
        mapping = self.mapping
        csv = mapping.csv
        price_column = mapping.amount.unit_price_column
        if price_column is None:
            amount, label, raw = self._number(frame, objects, rejections, "amount")
        else:
            price_text = self._text(frame, price_column)
            price = parse_numbers(price_text, csv.decimal, csv.thousands)
            price_raw = frame[price_column].to_numpy()
            self._reject_numbers(rejections, price, "unit_price", price_column, price_raw)
            amount = _rounded_product(quantity, quantity_raw, price.values, price_raw, csv.decimal, csv.thousands)
            label = f"{quantity_label} * {price_column}"
            raw = np.array([f"{q} * {p}" for q, p in zip(quantity_raw, price_raw, strict=True)], dtype=object)

        limit = self.validation.max_abs_amount
        with np.errstate(invalid="ignore"):
            too_large = np.abs(amount) > limit
            negative = amount < 0
        rejections.add(
            too_large,
            "amount_out_of_range",
            label,
            raw,
            lambda _, value: f"amount {value!r} exceeds validation.max_abs_amount = {limit:,} in absolute value",
        )
        refund_types = set(mapping.refunds.event_types)
        is_refund = event_types.isin(refund_types).to_numpy()
        rejections.add(
            negative & ~is_refund,
            "negative_amount",
            label,
            raw,
            lambda position, value: (
                f"amount {value!r} is negative on a {event_types.iat[position]!r} event; only refunds "
                f"({', '.join(sorted(refund_types))}, see refunds.event_types) may be negative"
            ),
        )
        # Refunds are negative in the contract, whatever sign the source writes.
        return np.where(is_refund, -np.abs(amount), amount)

    def _rows(
        self,
        frame: pd.DataFrame,
        chunk: RawChunk,
        source_file: str,
        accepted: np.ndarray,
        user_ids: pd.Series,
        event_times: pd.Series,
        event_types: pd.Series,
        amount: np.ndarray,
        quantity: np.ndarray,
        objects: list[dict | None] | None,
    ) -> pd.DataFrame:
        columns = self.mapping.columns
        rows = pd.DataFrame(
            {
                "user_id": _stored_ids(user_ids[accepted], self.pseudonym_key),
                "event_time": event_times.array[accepted],
                "event_type": event_types[accepted].to_numpy(dtype=object),
                "item_id": self._text(frame, columns.item_id)[accepted].to_numpy(dtype=object),
                "category": self._text(frame, columns.category)[accepted].to_numpy(dtype=object),
                "amount": amount[accepted],
                "quantity": quantity[accepted],
                "session_id": self._text(frame, columns.session_id)[accepted].to_numpy(dtype=object),
                "properties": self._properties(frame, objects, accepted),
                SOURCE_FILE_COLUMN: source_file,
                SOURCE_LINE_COLUMN: chunk.lines[accepted],
            }
        )
        return rows

    def _properties(self, frame: pd.DataFrame, objects: list[dict | None] | None, accepted: np.ndarray) -> np.ndarray:
        """Return the JSON text of the properties of each accepted row, None where there are none."""
        options = self.mapping.properties
        positions = np.flatnonzero(accepted)
        if objects is None and not options.keep_columns:
            return np.full(len(positions), None, dtype=object)
        kept = {name: self._text(frame, name).to_numpy() for name in options.keep_columns}
        result = np.full(len(positions), None, dtype=object)
        for index, position in enumerate(positions):
            properties: dict[str, Any] = {}
            source = objects[position] if objects is not None else None
            for key, value in (source or {}).items():
                if key not in self._json_keys:
                    properties[options.rename.get(key, key)] = value
            for name, values in kept.items():
                if values[position] is not None:
                    properties[options.rename.get(name, name)] = values[position]
            if properties:
                result[index] = json.dumps(properties, ensure_ascii=False)
        return result


def _stored_ids(user_ids: pd.Series, key: bytes | None) -> np.ndarray:
    """Return the ids as written to the outputs: pseudonymized when a key is given."""
    if key is not None:
        user_ids = pseudonymize_series(user_ids, key)
    return user_ids.to_numpy(dtype=object)


def _original_rows(
    frame: pd.DataFrame, rejected: np.ndarray, user_ids: pd.Series, user_column: str, key: bytes | None
) -> list[str]:
    """Return the JSON text of each rejected raw row, with its user id pseudonymized when a key is given."""
    positions = np.flatnonzero(rejected)
    records = frame.iloc[positions].to_dict("records")
    if key is not None:
        # The quarantine must not contain the raw ids that the pseudonyms protect.
        for record, user_id in zip(records, user_ids.iloc[positions], strict=True):
            if user_id is not None:
                record[user_column] = pseudonymize(user_id, key)
    return [json.dumps(record, ensure_ascii=False) for record in records]


def _decimal_places(raw: RawValues, decimal: str, thousands: str | None) -> np.ndarray:
    """Return the digits after the decimal mark of each value as written; -1 for exponent notation."""
    places = np.zeros(len(raw), dtype=np.int64)
    for position, value in enumerate(raw):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            text, mark = repr(value), "."
        else:
            text, mark = str(value).strip(), decimal
            if thousands is not None:
                text = text.replace(thousands, "")
        if "e" in text.lower():
            places[position] = -1
        elif mark in text:
            places[position] = len(text) - text.index(mark) - 1
    return places


def _rounded_product(
    quantity: np.ndarray,
    quantity_raw: RawValues,
    price: np.ndarray,
    price_raw: RawValues,
    decimal: str,
    thousands: str | None,
) -> np.ndarray:
    """Multiply quantity by unit price, rounded to the decimals of the two factors.

    The exact product of 6 and 2.55 has two decimals, but float multiplication gives
    15.299999999999999. Rounding to the factors' decimals returns the float nearest to 15.30.
    """
    product = quantity * price
    places = _decimal_places(quantity_raw, decimal, thousands) + _decimal_places(price_raw, decimal, thousands)
    exact = (places >= 0) & (places <= MAX_PRODUCT_DECIMALS) & np.isfinite(product)
    rounded = product.copy()
    for count in np.unique(places[exact]):
        selected = exact & (places == count)
        rounded[selected] = np.round(product[selected], int(count))
    return rounded


class UserConverter:
    """Converts raw chunks of user attribute files to rows of the contract's user table."""

    def __init__(
        self,
        mapping: SourceMapping,
        validation: ValidationSettings,
        now: pd.Timestamp | None = None,
        pseudonym_key: bytes | None = None,
    ) -> None:
        self.mapping = mapping
        self.pseudonym_key = pseudonym_key
        self._time_range = _TimeRange(validation, now)

    def required_columns(self) -> dict[str, str]:
        columns = self.mapping.users.columns
        required = {"users.columns.user_id": columns.user_id}
        for name in (*USER_ATTRIBUTE_COLUMNS, "signup_time"):
            if columns.is_set(name):
                required[f"users.columns.{name}"] = getattr(columns, name)
        return required

    def convert(
        self, chunk: RawChunk, source_file: str, repeated_user: Callable[[pd.Series], np.ndarray]
    ) -> ChunkResult:
        """Convert one chunk; `repeated_user` marks ids already given by an earlier row and remembers the rest."""
        frame = chunk.frame
        columns = self.mapping.users.columns
        null_markers = self.mapping.null_markers
        rejections = _Rejections(len(frame))

        def text(column: str) -> pd.Series:
            if column not in frame.columns:
                return pd.Series(None, index=frame.index, dtype=object)
            return clean_text(frame[column], null_markers)

        user_ids = text(columns.user_id)
        raw_ids = frame[columns.user_id].to_numpy()
        rejections.add(
            user_ids.isna().to_numpy(),
            "missing_user_id",
            columns.user_id,
            raw_ids,
            lambda _, value: f"user id {value!r} is missing: it is empty, blank or a null marker (null_markers)",
        )
        signup_raw = (
            frame[columns.signup_time].to_numpy() if columns.signup_time in frame.columns else [None] * len(frame)
        )
        signup_time = _reject_times(
            rejections,
            text(columns.signup_time),
            signup_raw,
            columns.signup_time,
            "signup time",
            self.mapping,
            self._time_range,
            required=False,
        )

        candidates = ~rejections.rejected
        repeated = np.zeros(len(frame), dtype=bool)
        repeated[candidates] = repeated_user(user_ids[candidates])
        rejections.add(
            repeated,
            "duplicate_user_id",
            columns.user_id,
            [None] * len(frame),
            # The id itself stays out of the reason, which may be shown or logged.
            lambda _, __: "an earlier row already gave the attributes of this user id, with other values",
        )

        accepted = ~rejections.rejected
        rows = pd.DataFrame({"user_id": _stored_ids(user_ids[accepted], self.pseudonym_key)})
        for name in USER_ATTRIBUTE_COLUMNS:
            rows[name] = text(getattr(columns, name))[accepted].to_numpy(dtype=object)
        rows["signup_time"] = signup_time.array[accepted]

        original_rows = _original_rows(frame, rejections.rejected, user_ids, columns.user_id, self.pseudonym_key)
        quarantine = rejections.quarantine(chunk, source_file, original_rows)
        return ChunkResult(rows=rows, quarantine=quarantine)
