"""The mapping file: how the columns and values of one source map to the data contract.

A mapping is a YAML document, loaded with `load_mapping` into a frozen `SourceMapping`. Every
section is optional and every key has a default, so an empty mapping reads a CSV file whose
columns already carry the contract's names. docs/mapping.md describes each key with examples.
"""

from __future__ import annotations

import codecs
import re
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from retention.errors import ConfigurationError

# Contract event types that are known without being named in the mapping.
STANDARD_EVENT_TYPES = ("view", "search", "cart", "purchase", "review", "refund")
# The type given to source values outside the mapping when `event_types.unknown` is "other".
OTHER_EVENT_TYPE = "other"
DEFAULT_NULL_MARKERS = ("NULL", "null")
DEFAULT_PSEUDONYM_KEY_ENV = "RETENTION_PSEUDONYM_KEY"

_EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_YAML_HINT = "Quote the value in YAML when it is a bare word such as yes, no, null or a number."


def normalize_event_type(value: str) -> str:
    """Return the form in which source event types are compared: trimmed and case-folded."""
    return value.strip().casefold()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def is_set(self, name: str) -> bool:
        """Return whether the mapping file gave `name` a value instead of leaving the default."""
        return name in self.model_fields_set


def _column_name(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("a column name must not be empty")
    return stripped


# Header names are compared after stripping, so the mapping's names are stripped too.
ColumnName = Annotated[str, AfterValidator(_column_name)]


def _contract_type(value: str) -> str:
    if not _EVENT_TYPE_PATTERN.match(value):
        raise ValueError(
            f"event type {value!r} is not a valid contract type; use lowercase snake_case such as 'purchase'"
        )
    return value


class CsvOptions(_Section):
    """Field splitting and decoding options of CSV files."""

    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    # Digit-group separator inside numbers, such as "." in "1.234,56"; None accepts none.
    thousands: str | None = None
    quote_char: str = '"'
    encoding: str = "utf-8"

    @field_validator("delimiter", "quote_char", "thousands")
    @classmethod
    def _single_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f'{value!r} must be exactly one character (write a tab as "\\t")')
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding {value!r}; use a Python codec name such as utf-8, latin-1 or cp1252"
            ) from None
        return value

    @model_validator(mode="after")
    def _distinct_separators(self) -> CsvOptions:
        if self.decimal == self.delimiter:
            raise ValueError(
                f"decimal {self.decimal!r} equals the delimiter; files with a decimal comma use delimiter ';'"
            )
        if self.thousands is not None and self.thousands in (self.decimal, self.delimiter):
            raise ValueError(f"thousands {self.thousands!r} must differ from the decimal mark and the delimiter")
        return self


class EventColumns(_Section):
    """Source column of each contract column; a column left at its default may be absent from the file."""

    user_id: ColumnName = "user_id"
    event_time: ColumnName = "event_time"
    event_type: ColumnName = "event_type"
    item_id: ColumnName = "item_id"
    category: ColumnName = "category"
    session_id: ColumnName = "session_id"
    # A column of JSON objects whose keys become the contract's `properties`.
    properties: ColumnName = "properties"

    @model_validator(mode="before")
    @classmethod
    def _numeric_columns_elsewhere(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("amount", "quantity"):
                if name in data:
                    raise ValueError(f"set the {name} column as `{name}.column`, not `columns.{name}`")
        return data


class AmountSource(_Section):
    """Source of the money value: one of a column, a JSON key, or quantity times a unit price."""

    column: ColumnName | None = None
    # A key of the JSON object in `columns.properties`.
    json_key: str | None = None
    # The amount is the quantity (see `quantity`) times the value of this column.
    unit_price_column: ColumnName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AmountSource:
        given = [name for name in ("column", "json_key", "unit_price_column") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"set only one of column, json_key and unit_price_column, not {', '.join(given)}")
        return self

    @property
    def explicit(self) -> bool:
        return any(getattr(self, name) is not None for name in ("column", "json_key", "unit_price_column"))

    @property
    def source_column(self) -> str:
        """Column read for a plain amount; the contract name when the mapping names no source."""
        return self.column or "amount"


class QuantitySource(_Section):
    """Source of the number of units: a column or a JSON key."""

    column: ColumnName | None = None
    json_key: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> QuantitySource:
        if self.column is not None and self.json_key is not None:
            raise ValueError("set only one of column and json_key")
        return self

    @property
    def explicit(self) -> bool:
        return self.column is not None or self.json_key is not None

    @property
    def source_column(self) -> str:
        return self.column or "quantity"


class TimestampRules(_Section):
    """Parsing rules of timestamps, and the zone of timestamps without an offset."""

    # IANA zone of timestamps written without an offset; values with Z or an offset keep theirs.
    time_zone: str = "UTC"
    # strftime pattern such as "%d/%m/%Y %H:%M"; None accepts ISO 8601 and common date layouts.
    format: str | None = None
    # Read "01/12/2023" as 1 December when no format is given.
    day_first: bool = False
    # Local times that occur twice when clocks go back: take the earlier or later instant, or quarantine.
    ambiguous: Literal["earliest", "latest", "quarantine"] = "earliest"
    # Local times skipped when clocks go forward: move them past the gap, or quarantine.
    nonexistent: Literal["shift_forward", "quarantine"] = "shift_forward"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as UTC, Europe/London or Asia/Shanghai"
            ) from None
        return value

    @field_validator("format")
    @classmethod
    def _valid_format(cls, value: str | None) -> str | None:
        if value is None:
            return value
        sample = datetime(2001, 2, 3, 4, 5, 6)
        try:
            datetime.strptime(sample.strftime(value), value)
        except ValueError as error:
            raise ValueError(f"format {value!r} is not a valid strftime pattern ({error})") from None
        return value

    @model_validator(mode="after")
    def _format_or_day_first(self) -> TimestampRules:
        if self.format is not None and self.day_first:
            raise ValueError("set either format or day_first: a format already fixes the order of day and month")
        return self


class EventTypes(_Section):
    """Mapping of source event types to contract types."""

    # Source value (compared trimmed and case-folded) -> contract type.
    values: dict[str, str] = {}
    # The type of every row when the source has no event type column, such as an invoice log.
    constant: str | None = None
    # Source values outside `values`: keep them as type "other" or quarantine them (strict mode).
    unknown: Literal["other", "quarantine"] = "other"

    @model_validator(mode="before")
    @classmethod
    def _retention_types_elsewhere(cls, data: Any) -> Any:
        # The retention definition belongs to the model, not to one source, so it has one home.
        if isinstance(data, dict):
            for name in ("activity", "qualifying"):
                if name in data:
                    raise ValueError(
                        f"event_types.{name} is not a mapping key: every accepted event counts as activity, and "
                        "the types that count as a return are set once for all sources in retention.toml, "
                        "[retention] qualifying_event_types"
                    )
        return data

    @field_validator("values", mode="before")
    @classmethod
    def _normalize_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        normalized: dict[str, Any] = {}
        for key, target in value.items():
            if isinstance(key, bool) or key is None:
                raise ValueError(f"source value {key!r} was read as a YAML keyword. {_YAML_HINT}")
            # Numeric codes such as 1: view are common, and YAML reads them as numbers.
            name = normalize_event_type(str(key))
            if name in normalized and normalized[name] != target:
                raise ValueError(
                    f"source value {key!r} maps to {target!r} but equals another key after trimming and "
                    f"case folding, which maps to {normalized[name]!r}"
                )
            normalized[name] = target
        return normalized

    @field_validator("values")
    @classmethod
    def _contract_targets(cls, value: dict[str, str]) -> dict[str, str]:
        for target in value.values():
            _contract_type(target)
        return value

    @field_validator("constant")
    @classmethod
    def _contract_constant(cls, value: str | None) -> str | None:
        return None if value is None else _contract_type(value)


class RefundRule(_Section):
    """Rows whose `column` starts with `prefix` (after trimming, case-sensitive) become `event_type`."""

    column: ColumnName
    prefix: str
    event_type: str = "refund"

    @field_validator("prefix")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("prefix must not be empty")
        return value


class Refunds(_Section):
    """Refund types, whose amount is made negative, and the rules that find refund rows."""

    event_types: tuple[str, ...] = ("refund",)
    rules: tuple[RefundRule, ...] = ()

    @model_validator(mode="after")
    def _rule_types_are_refunds(self) -> Refunds:
        for rule in self.rules:
            if rule.event_type not in self.event_types:
                raise ValueError(
                    f"rule on column {rule.column!r} sets event type {rule.event_type!r}, which is not one of "
                    f"refunds.event_types {list(self.event_types)}"
                )
        return self


class PropertyOptions(_Section):
    """Contents of the contract's JSON `properties` besides the keys of `columns.properties`."""

    # Further source columns copied into properties under their own names.
    keep_columns: tuple[ColumnName, ...] = ()
    # Renames of property keys, such as 关键词: keyword.
    rename: dict[str, str] = {}


class Privacy(_Section):
    """Pseudonymization of user ids with HMAC-SHA256 under a key read from the environment."""

    pseudonymize_user_ids: bool = False
    key_env: str = DEFAULT_PSEUDONYM_KEY_ENV


class UserColumns(_Section):
    """Source column of each user attribute; any of them may be absent from the file."""

    user_id: ColumnName = "user_id"
    age_band: ColumnName = "age_band"
    income_band: ColumnName = "income_band"
    household_size: ColumnName = "household_size"
    region: ColumnName = "region"
    signup_time: ColumnName = "signup_time"


class UserMapping(_Section):
    """Mapping of a table of user attributes to the contract's user table."""

    columns: UserColumns = UserColumns()
    # CSV options of the user files; None uses the mapping's top-level `csv`.
    csv: CsvOptions | None = None


class SourceMapping(_Section):
    """A whole mapping file. `origin` names the file in error messages."""

    version: Literal[1] = 1
    csv: CsvOptions = CsvOptions()
    # Values read as missing in every column, besides empty and whitespace-only ones. "NaN" is not
    # among the defaults so that a NaN amount is quarantined as invalid instead of read as missing.
    null_markers: tuple[str, ...] = DEFAULT_NULL_MARKERS
    columns: EventColumns = EventColumns()
    timestamps: TimestampRules = TimestampRules()
    event_types: EventTypes = EventTypes()
    amount: AmountSource = AmountSource()
    quantity: QuantitySource = QuantitySource()
    refunds: Refunds = Refunds()
    properties: PropertyOptions = PropertyOptions()
    privacy: Privacy = Privacy()
    users: UserMapping = UserMapping()
    origin: str = "<default mapping>"

    @model_validator(mode="after")
    def _consistent(self) -> SourceMapping:
        if self.event_types.constant is not None and self.columns.is_set("event_type"):
            raise ValueError("set either columns.event_type or event_types.constant, not both")
        if self.amount.unit_price_column is not None and not self.quantity.explicit:
            raise ValueError("amount.unit_price_column needs quantity.column or quantity.json_key")
        return self

    @property
    def known_event_types(self) -> frozenset[str]:
        """Contract types that a normalized source value may already be written as."""
        names = set(STANDARD_EVENT_TYPES) | set(self.event_types.values.values()) | {OTHER_EVENT_TYPE}
        names |= set(self.refunds.event_types) | {rule.event_type for rule in self.refunds.rules}
        if self.event_types.constant is not None:
            names.add(self.event_types.constant)
        return frozenset(names)

    @property
    def user_csv(self) -> CsvOptions:
        return self.users.csv or self.csv

    def with_strict_event_types(self) -> SourceMapping:
        """Return a copy that quarantines source event types outside `event_types.values`."""
        strict = self.event_types.model_copy(update={"unknown": "quarantine"})
        return self.model_copy(update={"event_types": strict})


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_mapping(path: str | Path) -> SourceMapping:
    """Read and validate a mapping file; raise ConfigurationError naming the file, key and fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"Mapping file {path} not found. Check the path or write one (see docs/mapping.md)."
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigurationError(
            f"Mapping file {path} is not valid UTF-8 (byte offset {error.start}). Save it as UTF-8."
        ) from error
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ConfigurationError(f"Mapping file {path} is not valid YAML: {error}") from error
    return parse_mapping(document, origin=str(path))


def parse_mapping(document: Any, origin: str = "<mapping>") -> SourceMapping:
    """Validate an already parsed mapping document (None reads as an empty mapping)."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"Mapping file {origin} must contain a YAML mapping of sections such as `columns:`, "
            f"not a {type(document).__name__}."
        )
    if "origin" in document:
        raise ConfigurationError(f"Unknown key 'origin' in mapping file {origin}. {_valid_keys_text(SourceMapping)}")
    try:
        return SourceMapping.model_validate({**document, "origin": origin})
    except ValidationError as error:
        problems = "\n".join(f"  - {_describe_error(item)}" for item in error.errors())
        raise ConfigurationError(
            f"Invalid mapping file {origin}:\n{problems}\nFix these keys; docs/mapping.md describes the format."
        ) from error


def _describe_error(item: Any) -> str:
    location = ".".join(str(part) for part in item["loc"]) or "(top level)"
    if item["type"] == "extra_forbidden":
        model = _model_at(item["loc"][:-1])
        return f"unknown key '{location}'. {_valid_keys_text(model)}"
    if item["type"] == "missing":
        return f"{location}: this key is required"
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "string_type" and (item["input"] is None or isinstance(item["input"], (bool, int, float))):
        return f"{location}: {message}, got {item['input']!r}. {_YAML_HINT}"
    if "input" in item and item["type"] not in ("value_error", "assertion_error"):
        return f"{location}: {message}, got {item['input']!r}"
    return f"{location}: {message}"


def _valid_keys_text(model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = [name for name in model.model_fields if name != "origin"]
    return f"Valid keys there: {', '.join(names)}."


def _model_at(location: tuple[Any, ...]) -> type[BaseModel] | None:
    """Return the section class that a validation error location points into."""
    model: type[BaseModel] | None = SourceMapping
    for part in location:
        if model is None:
            return None
        if not isinstance(part, str) or part not in model.model_fields:
            continue  # a list index
        model = _section_class(model.model_fields[part].annotation)
    return model


def _section_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple):
        for argument in typing.get_args(annotation):
            found = _section_class(argument)
            if found is not None:
                return found
    return None
