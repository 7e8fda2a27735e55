"""Plain, JSON-ready summaries of expectation suite results.

They carry what the reports need from a Great Expectations validation result, so that the Data
Docs page and the Dagster metadata can be built without importing Great Expectations.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

# Levels of an expectation, stored in its meta["level"].
# Rows failing a "row" expectation are quarantined one by one.
ROW_LEVEL = "row"
# A "schema" expectation checks column presence and dtype of every batch or chunk.
SCHEMA_LEVEL = "schema"
# A "dataset" expectation checks the accepted data as a whole, for example the time span it covers.
DATASET_LEVEL = "dataset"
LEVELS = (ROW_LEVEL, SCHEMA_LEVEL, DATASET_LEVEL)

# Number of unexpected values kept per expectation for the reports.
SAMPLE_SIZE = 20


@dataclass
class ExpectationSummary:
    """Outcome of one expectation, possibly aggregated over several chunks of a file."""

    rule: str
    expectation: str
    column: str | None
    level: str
    requirement: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    observed_value: str | None = None
    unexpected_sample: list[str] = field(default_factory=list)
    exception: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SuiteSummary:
    """Outcome of one expectation suite on one data set."""

    suite: str
    success: bool
    row_count: int
    validated_at: str
    expectations: list[ExpectationSummary] = field(default_factory=list)

    @property
    def evaluated_expectations(self) -> int:
        return len(self.expectations)

    @property
    def successful_expectations(self) -> int:
        return sum(1 for expectation in self.expectations if expectation.success)

    def expectation(self, rule: str) -> ExpectationSummary:
        """Return the summary of the expectation with this rule name."""
        for expectation in self.expectations:
            if expectation.rule == rule:
                return expectation
        known = [expectation.rule for expectation in self.expectations]
        raise KeyError(f"suite {self.suite!r} has no rule {rule!r}. Its rules are {known}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "success": self.success,
            "row_count": self.row_count,
            "validated_at": self.validated_at,
            "evaluated_expectations": self.evaluated_expectations,
            "successful_expectations": self.successful_expectations,
            "expectations": [expectation.to_dict() for expectation in self.expectations],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteSummary:
        return cls(
            suite=data["suite"],
            success=data["success"],
            row_count=data["row_count"],
            validated_at=data["validated_at"],
            expectations=[ExpectationSummary(**expectation) for expectation in data["expectations"]],
        )


def value_text(value: Any) -> str | None:
    """Format an offending value as text. None, NA, NaN and NaT become None (missing)."""
    if isinstance(value, dict):
        return ", ".join(f"{key}={value_text(item)}" for key, item in value.items())
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def sample_text(value: Any) -> str:
    """Format a value for a sample list, where a missing value is shown as null."""
    text = value_text(value)
    return "null" if text is None else text
