"""Great Expectations suites of the platform's tables, as code.

Every expectation carries meta entries that the reports and the quarantine read:
- "rule": a unique name, the expectation type plus the column (and the row condition, if any);
- "level": row, schema or dataset (see monitoring.summaries);
- "requirement": the rule as a sentence, used in quarantine reasons and in the Data Docs.

The API is that of Great Expectations 1.x (checked against 1.24.1): suites are built from
expectation objects, and row conditions are Condition objects because string row conditions are
deprecated since 1.9.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Optional

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.execution_engine import ExecutionEngine
from great_expectations.expectations.expectation import ColumnAggregateExpectation
from great_expectations.expectations.row_conditions import Column

from feature_repo.contract import USER_COLUMNS, conform_users, empty_events
from feature_repo.feature_columns import (
    CATEGORICAL_FEATURES,
    ENTITY_COLUMN,
    FEATURE_COLUMNS,
    SNAPSHOT_COLUMN,
)
from monitoring.summaries import DATASET_LEVEL, ROW_LEVEL, SCHEMA_LEVEL
from retention.settings import Settings

EVENTS_SUITE_NAME = "events"
USERS_SUITE_NAME = "users"
FEATURES_SUITE_NAME = "features"

PURCHASE_EVENT_TYPE = "purchase"


class ExpectColumnSpanToBeAtLeastDays(ColumnAggregateExpectation):
    """Expect max(column) - min(column) of a datetime column to be at least min_days days.

    Null values are ignored. An empty or all-null column fails with observed value None.
    """

    min_days: float

    metric_dependencies = ("column.min", "column.max")
    success_keys = ("min_days",)
    args_keys = ("column", "min_days")

    def _validate(
        self,
        metrics: Dict,
        runtime_configuration: Optional[dict] = None,
        execution_engine: Optional[ExecutionEngine] = None,
    ) -> dict[str, Any]:
        earliest = metrics.get("column.min")
        latest = metrics.get("column.max")
        if earliest is None or latest is None or pd.isna(earliest) or pd.isna(latest):
            return {"success": False, "result": {"observed_value": None}}
        span_days = (pd.Timestamp(latest) - pd.Timestamp(earliest)) / pd.Timedelta(days=1)
        return {"success": bool(span_days >= self.min_days), "result": {"observed_value": float(span_days)}}


def events_suite(settings: Settings, now: datetime | None = None) -> gx.ExpectationSuite:
    """Build the suite of the converted events table (the data contract of feature_repo.contract).

    now (default: the current UTC time) fixes the upper bound of event_time at now plus
    settings.validation.max_future_days.
    """
    validation = settings.validation
    now = now or datetime.now(timezone.utc)
    earliest = _utc_timestamp(validation.earliest_event_time).to_pydatetime()
    latest = (now + timedelta(days=validation.max_future_days)).astimezone(timezone.utc)
    max_abs = float(validation.max_abs_amount)

    expectations = _schema_expectations(empty_events().dtypes.astype(str).to_dict())
    expectations += [
        _expect(gxe.ExpectColumnValuesToNotBeNull, ROW_LEVEL, f"{column} must not be null", column=column)
        for column in ("user_id", "event_time", "event_type")
    ]
    expectations += [
        _expect(
            gxe.ExpectColumnValuesToBeBetween,
            ROW_LEVEL,
            f"event_time must be between {earliest.isoformat()} and {latest.isoformat()} "
            f"(now plus {validation.max_future_days} day(s))",
            column="event_time",
            min_value=earliest,
            max_value=latest,
        ),
        # Infinite amounts fail this bound too. NaN counts as missing, which amount allows.
        _expect(
            gxe.ExpectColumnValuesToBeBetween,
            ROW_LEVEL,
            f"amount must be finite with an absolute value of at most {max_abs}",
            column="amount",
            min_value=-max_abs,
            max_value=max_abs,
        ),
        _expect(
            gxe.ExpectColumnValuesToBeBetween,
            ROW_LEVEL,
            f"amount must not be negative when event_type is {PURCHASE_EVENT_TYPE!r}",
            rule_suffix=f" where event_type == {PURCHASE_EVENT_TYPE!r}",
            column="amount",
            min_value=0.0,
            row_condition=Column("event_type") == PURCHASE_EVENT_TYPE,
        ),
        # Units are counts, so never negative. The sign of a refund is carried by its amount.
        _expect(
            gxe.ExpectColumnValuesToBeBetween,
            ROW_LEVEL,
            "quantity must be null or not negative",
            column="quantity",
            min_value=0.0,
        ),
        _expect(
            ExpectColumnSpanToBeAtLeastDays,
            DATASET_LEVEL,
            f"event_time must span at least one horizon ({settings.retention.horizon_days} days) "
            "from the earliest to the latest accepted event",
            column="event_time",
            min_days=float(settings.retention.horizon_days),
        ),
    ]
    return gx.ExpectationSuite(name=EVENTS_SUITE_NAME, expectations=expectations)


def users_suite() -> gx.ExpectationSuite:
    """Build the suite of the user attributes table after conform_users."""
    expectations = _schema_expectations(conform_users(pd.DataFrame(columns=list(USER_COLUMNS))).dtypes.astype(str).to_dict())
    expectations += [
        _expect(gxe.ExpectColumnValuesToNotBeNull, ROW_LEVEL, "user_id must not be null", column="user_id"),
        _expect(gxe.ExpectColumnValuesToBeUnique, ROW_LEVEL, "user_id must be unique", column="user_id"),
    ]
    return gx.ExpectationSuite(name=USERS_SUITE_NAME, expectations=expectations)


def features_suite() -> gx.ExpectationSuite:
    """Build the suite of the user-profile feature table, after missing values were filled."""
    key_columns = (ENTITY_COLUMN, SNAPSHOT_COLUMN)
    expectations = [
        _expect(gxe.ExpectColumnToExist, SCHEMA_LEVEL, f"column {column} must exist", column=column)
        for column in (*key_columns, *FEATURE_COLUMNS)
    ]
    expectations += [
        _expect(gxe.ExpectColumnTypeToBe, SCHEMA_LEVEL, f"{column} must be of type string", column=column, type_="string")
        for column in CATEGORICAL_FEATURES
    ]

    expectations += [
        _expect(gxe.ExpectColumnValuesToNotBeNull, ROW_LEVEL, f"{column} must not be null", column=column)
        for column in (*key_columns, *FEATURE_COLUMNS)
    ]

    # active_days_90d and discount_share_90d have two-sided bounds below.
    non_negative = (
        "recency_days",
        "frequency_30d",
        "frequency_90d",
        "mean_interpurchase_days_90d",
        "category_diversity_90d",
        "tenure_days",
    )
    expectations += [
        _expect(gxe.ExpectColumnValuesToBeBetween, ROW_LEVEL, f"{column} must not be negative", column=column, min_value=0.0)
        for column in non_negative
    ]
    expectations += [
        _expect(
            gxe.ExpectColumnValuesToBeBetween,
            ROW_LEVEL,
            "active_days_90d must be between 0 and 90",
            column="active_days_90d",
            min_value=0.0,
            max_value=90.0,
        ),
        _expect(
            gxe.ExpectColumnValuesToBeBetween,
            ROW_LEVEL,
            "discount_share_90d must be between 0 and 1",
            column="discount_share_90d",
            min_value=0.0,
            max_value=1.0,
        ),
    ]

    # The 30-day window lies inside the 90-day window, and the last event is no older than the first.
    # Monetary values have no such rule: they net refunds, so a refund in days 31 to 90 rightly
    # makes monetary_90d smaller than monetary_30d.
    window_pairs = (
        ("frequency_90d", "frequency_30d"),
        ("tenure_days", "recency_days"),
    )
    expectations += [
        _expect(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            ROW_LEVEL,
            f"{larger} must be greater than or equal to {smaller}",
            column_A=larger,
            column_B=smaller,
            or_equal=True,
        )
        for larger, smaller in window_pairs
    ]
    return gx.ExpectationSuite(name=FEATURES_SUITE_NAME, expectations=expectations)


def expectation_level(expectation: gxe.Expectation) -> str:
    return (expectation.meta or {}).get("level", ROW_LEVEL)


def suite_with_levels(suite: gx.ExpectationSuite, levels: tuple[str, ...], name: str) -> gx.ExpectationSuite:
    """Return a new suite with copies of the expectations of the given levels."""
    expectations = [expectation.copy(update={"id": None}, deep=True) for expectation in suite.expectations]
    return gx.ExpectationSuite(
        name=name,
        expectations=[expectation for expectation in expectations if expectation_level(expectation) in levels],
    )


def _utc_timestamp(text: str) -> pd.Timestamp:
    """Parse an ISO time. A time without offset is taken as UTC."""
    timestamp = pd.Timestamp(text)
    if timestamp.tzinfo is None:
        return timestamp.tz_localize("UTC")
    return timestamp.tz_convert("UTC")


def _schema_expectations(dtypes: dict[str, str]) -> list[gxe.Expectation]:
    """Build the existence and dtype expectations of columns given as {name: pandas dtype name}."""
    expectations: list[gxe.Expectation] = []
    for column, dtype in dtypes.items():
        expectations.append(_expect(gxe.ExpectColumnToExist, SCHEMA_LEVEL, f"column {column} must exist", column=column))
        expectations.append(
            _expect(gxe.ExpectColumnTypeToBe, SCHEMA_LEVEL, f"{column} must be of type {dtype}", column=column, type_=dtype)
        )
    return expectations


def _expect(
    expectation_class: type[gxe.Expectation],
    level: str,
    requirement: str,
    rule_suffix: str = "",
    **kwargs: Any,
) -> gxe.Expectation:
    if "column" in kwargs:
        target = kwargs["column"]
    else:
        target = f"{kwargs['column_A']},{kwargs['column_B']}"
    rule = f"{expectation_class.expectation_type}:{target}{rule_suffix}"
    return expectation_class(**kwargs, meta={"rule": rule, "level": level, "requirement": requirement})
