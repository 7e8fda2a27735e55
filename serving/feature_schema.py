"""The input schema of a Feast feature service, and the validation of feature rows that callers send."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from feast import FeatureStore
from feast.value_type import ValueType

from feature_repo.feature_columns import ENTITY_COLUMN
from serving.errors import InvalidRequestError

# Errors listed in one response; the count in the message still covers all of them.
MAX_LISTED_ERRORS = 20

_NUMBER_TYPES = {ValueType.DOUBLE, ValueType.FLOAT}
_INTEGER_TYPES = {ValueType.INT32, ValueType.INT64}
_LIST_BASE_TYPES = {
    ValueType.DOUBLE_LIST: ValueType.DOUBLE,
    ValueType.FLOAT_LIST: ValueType.FLOAT,
    ValueType.INT32_LIST: ValueType.INT32,
    ValueType.INT64_LIST: ValueType.INT64,
    ValueType.STRING_LIST: ValueType.STRING,
    ValueType.BOOL_LIST: ValueType.BOOL,
}


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    value_type: ValueType

    @property
    def is_number(self) -> bool:
        return self.value_type in _NUMBER_TYPES

    @property
    def type_name(self) -> str:
        """The JSON type that a value must have, as written in error messages."""
        base = _LIST_BASE_TYPES.get(self.value_type)
        if base is not None:
            return f"a list of {_scalar_type_name(base)}s"
        return f"a {_scalar_type_name(self.value_type)}"

    def accepts(self, value: Any) -> bool:
        """Return whether `value` is valid for this feature; null is valid because the models impute it."""
        if value is None:
            return True
        base = _LIST_BASE_TYPES.get(self.value_type)
        if base is None:
            return _scalar_matches(base_type=self.value_type, value=value)
        return isinstance(value, list) and all(_scalar_matches(base, item) for item in value)


@dataclass(frozen=True)
class FeatureSchema:
    """The features of one feature service, in the order of its views and their fields."""

    feature_service: str
    features: tuple[FeatureSpec, ...]

    @classmethod
    def from_feature_service(cls, store: FeatureStore, name: str) -> FeatureSchema:
        service = store.get_feature_service(name)
        specs = [
            FeatureSpec(field.name, field.dtype.to_value_type())
            for projection in service.feature_view_projections
            for field in projection.features
        ]
        return cls(feature_service=name, features=tuple(specs))

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.features]

    def validate_rows(self, rows: list[dict[str, Any]]) -> None:
        """Raise InvalidRequestError naming every missing, unknown or mistyped feature of `rows`.

        Each row needs every feature of the service. A value may be null. The key user_id is
        allowed and echoed in the prediction.
        """
        known = {spec.name for spec in self.features}
        errors: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            for spec in self.features:
                if spec.name not in row:
                    errors.append(_error(index, spec.name, f"Field required: feature service {self.feature_service} needs it"))
                elif not spec.accepts(row[spec.name]):
                    value = row[spec.name]
                    errors.append(
                        _error(index, spec.name, f"Input should be {spec.type_name} or null, got {value!r} ({type(value).__name__})")
                    )
            for name in sorted(set(row) - known - {ENTITY_COLUMN}):
                errors.append(_error(index, name, f"Unknown feature: feature service {self.feature_service} has {self.names}"))
            user_id = row.get(ENTITY_COLUMN)
            if user_id is not None and not isinstance(user_id, str):
                errors.append(_error(index, ENTITY_COLUMN, f"Input should be a string, got {user_id!r}"))

        if errors:
            first = errors[0]
            location = ".".join(str(part) for part in first["loc"])
            raise InvalidRequestError(
                f"{len(errors)} invalid feature value(s) in rows; the first: {location}: {first['msg']}",
                errors[:MAX_LISTED_ERRORS],
            )


def _error(index: int, name: str, message: str) -> dict[str, Any]:
    return {"loc": ["rows", index, name], "msg": message}


def _scalar_type_name(value_type: ValueType) -> str:
    if value_type in _NUMBER_TYPES:
        return "number"
    if value_type in _INTEGER_TYPES:
        return "integer"
    if value_type == ValueType.BOOL:
        return "boolean"
    return "string"


def _scalar_matches(base_type: ValueType, value: Any) -> bool:
    # bool is a subclass of int in Python, but true is not a number in the feature schema.
    if isinstance(value, bool):
        return base_type == ValueType.BOOL
    if base_type in _NUMBER_TYPES:
        return isinstance(value, (int, float)) and math.isfinite(value)
    if base_type in _INTEGER_TYPES:
        return isinstance(value, int)
    if base_type == ValueType.STRING:
        return isinstance(value, str)
    return False
