"""Validation of the feature rows that callers send to predict_features."""

import pytest
from feast.value_type import ValueType

from serving.errors import InvalidRequestError
from serving.feature_schema import MAX_LISTED_ERRORS, FeatureSchema, FeatureSpec

SCHEMA = FeatureSchema(
    feature_service="service_v1",
    features=(
        FeatureSpec("recency_days", ValueType.DOUBLE),
        FeatureSpec("visits", ValueType.INT64),
        FeatureSpec("age_band", ValueType.STRING),
        FeatureSpec("recent_categories", ValueType.STRING_LIST),
    ),
)
VALID = {"recency_days": 2.5, "visits": 3, "age_band": "25-34", "recent_categories": ["a", "b"]}


def _details(row: dict) -> list[dict]:
    with pytest.raises(InvalidRequestError) as raised:
        SCHEMA.validate_rows([row])
    return raised.value.detail


def test_valid_row_passes():
    SCHEMA.validate_rows([VALID, {**VALID, "user_id": "7"}])


def test_nulls_are_allowed():
    SCHEMA.validate_rows([{name: None for name in VALID}])


def test_integer_counts_as_number():
    SCHEMA.validate_rows([{**VALID, "recency_days": 2}])


@pytest.mark.parametrize(
    "name, value",
    [
        ("recency_days", "2.5"),
        ("recency_days", True),
        ("recency_days", float("inf")),
        ("visits", 3.5),
        ("age_band", 34),
        ("recent_categories", "a"),
        ("recent_categories", ["a", 1]),
    ],
)
def test_wrong_type_names_feature(name, value):
    details = _details({**VALID, name: value})
    assert details[0]["loc"] == ["rows", 0, name]
    assert "Input should be" in details[0]["msg"]


def test_missing_feature_named():
    row = dict(VALID)
    del row["visits"]
    assert _details(row)[0]["loc"] == ["rows", 0, "visits"]


def test_unknown_feature_named():
    details = _details({**VALID, "shoe_size": 43})
    assert details[0]["loc"] == ["rows", 0, "shoe_size"]
    assert "service_v1" in details[0]["msg"]


def test_numeric_user_id_rejected():
    assert _details({**VALID, "user_id": 7})[0]["loc"] == ["rows", 0, "user_id"]


def test_error_list_is_capped():
    with pytest.raises(InvalidRequestError) as raised:
        SCHEMA.validate_rows([{}] * 10)
    assert len(raised.value.detail) == MAX_LISTED_ERRORS
    assert raised.value.message.startswith("40 invalid feature value(s)")
