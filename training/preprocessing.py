"""Feature preprocessing for the neural network, fitted on the train split only.

The preprocessor is saved as JSON next to the model, so that serving turns raw feature
rows into the same matrix that training used. This module imports neither Feast nor the
platform settings, because it is loaded inside the MLflow model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from retention.errors import InputDataError

FORMAT_VERSION = 1
# Equal to feature_repo.feature_columns.UNKNOWN_CATEGORY, which this module must not import. A test
# checks that the two stay equal.
UNKNOWN_CATEGORY = "unknown"

# Counts, money and day spans are right-skewed, so the preprocessor of the neural networks applies
# signed log1p to them.
LOG_SCALED_FEATURES = (
    "recency_days",
    "frequency_30d",
    "frequency_90d",
    "monetary_30d",
    "monetary_90d",
    "avg_basket_value_90d",
    "active_days_90d",
    "mean_interpurchase_days_90d",
    "tenure_days",
)


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """Compress heavy tails on both sides: sign(x) * log(1 + |x|). Refunds make money negative."""
    return np.sign(values) * np.log1p(np.abs(values))


@dataclass(frozen=True)
class FeaturePreprocessor:
    """Median imputation, optional signed log1p and standardization of numeric columns,
    then one-hot encoding of categorical columns.

    Each categorical column gets one output per category seen in train plus one for
    UNKNOWN_CATEGORY, which receives nulls and categories not seen in train.
    """

    numeric_columns: tuple[str, ...]
    log_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    medians: dict[str, float]
    means: dict[str, float]
    stds: dict[str, float]
    categories: dict[str, tuple[str, ...]]

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        numeric_columns: Sequence[str],
        categorical_columns: Sequence[str],
        log_columns: Sequence[str] = (),
    ) -> FeaturePreprocessor:
        """Learn medians, scales and categories from the train split."""
        unknown_log_columns = sorted(set(log_columns) - set(numeric_columns))
        if unknown_log_columns:
            raise ValueError(
                f"log_columns {unknown_log_columns} are not among the numeric columns {list(numeric_columns)}. "
                "Pass only numeric columns to log_columns."
            )
        _require_columns(train, [*numeric_columns, *categorical_columns], "the train split")

        medians, means, stds = {}, {}, {}
        for column in numeric_columns:
            raw = _numeric_values(train, column)
            median = float(np.nanmedian(raw)) if np.isfinite(raw).any() else 0.0
            filled = np.where(np.isnan(raw), median, raw)
            scaled = signed_log1p(filled) if column in log_columns else filled
            std = float(scaled.std())
            medians[column] = median
            means[column] = float(scaled.mean())
            # A constant column has a standard deviation of 0, so it is centred and left unscaled.
            stds[column] = std if std > 0.0 else 1.0

        categories = {}
        for column in categorical_columns:
            seen = set(_category_values(train[column]).unique())
            seen.discard(UNKNOWN_CATEGORY)
            categories[column] = (*sorted(seen), UNKNOWN_CATEGORY)

        return cls(
            numeric_columns=tuple(numeric_columns),
            log_columns=tuple(column for column in numeric_columns if column in log_columns),
            categorical_columns=tuple(categorical_columns),
            medians=medians,
            means=means,
            stds=stds,
            categories=categories,
        )

    @property
    def feature_names_out(self) -> list[str]:
        """Names of the output columns: numeric columns, then `column=category` indicators."""
        names = list(self.numeric_columns)
        for column in self.categorical_columns:
            names.extend(f"{column}={category}" for category in self.categories[column])
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the float32 matrix of shape (rows, len(feature_names_out))."""
        _require_columns(frame, [*self.numeric_columns, *self.categorical_columns], "the input frame")

        blocks = []
        for column in self.numeric_columns:
            raw = _numeric_values(frame, column)
            filled = np.where(np.isnan(raw), self.medians[column], raw)
            scaled = signed_log1p(filled) if column in self.log_columns else filled
            blocks.append(((scaled - self.means[column]) / self.stds[column])[:, None])

        for column in self.categorical_columns:
            known = self.categories[column]
            values = _category_values(frame[column])
            values = values.where(values.isin(known), UNKNOWN_CATEGORY)
            codes = pd.Categorical(values, categories=known).codes
            blocks.append(np.eye(len(known))[codes])

        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serializable description that `from_dict` restores."""
        return {
            "format_version": FORMAT_VERSION,
            "numeric_columns": list(self.numeric_columns),
            "log_columns": list(self.log_columns),
            "categorical_columns": list(self.categorical_columns),
            "medians": dict(self.medians),
            "means": dict(self.means),
            "stds": dict(self.stds),
            "categories": {column: list(values) for column, values in self.categories.items()},
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> FeaturePreprocessor:
        """Restore a preprocessor saved by `to_dict`."""
        version = document.get("format_version")
        if version != FORMAT_VERSION:
            raise InputDataError(
                f"Preprocessor format_version {version!r} is not supported, because this code reads version "
                f"{FORMAT_VERSION}. Retrain the model with this version of the training package."
            )
        return cls(
            numeric_columns=tuple(document["numeric_columns"]),
            log_columns=tuple(document["log_columns"]),
            categorical_columns=tuple(document["categorical_columns"]),
            medians={key: float(value) for key, value in document["medians"].items()},
            means={key: float(value) for key, value in document["means"].items()},
            stds={key: float(value) for key, value in document["stds"].items()},
            categories={key: tuple(values) for key, values in document["categories"].items()},
        )


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InputDataError(
            f"Feature column(s) {missing} are missing from {where} (it has {list(frame.columns)}). "
            "Send every raw feature column of the feature service."
        )


def _numeric_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Return the column as float64, with nulls and infinities as NaN."""
    try:
        values = pd.to_numeric(frame[column]).astype("float64").to_numpy()
    except (ValueError, TypeError) as error:
        raise InputDataError(
            f"Numeric feature column {column!r} contains a value that is not a number: {error}. "
            "Send numbers or nulls in this column."
        ) from error
    return np.where(np.isfinite(values), values, np.nan)


def _category_values(series: pd.Series) -> pd.Series:
    """Return the column as strings with nulls replaced by UNKNOWN_CATEGORY."""
    as_text = series.astype("object").where(series.notna(), UNKNOWN_CATEGORY)
    return as_text.map(str).reset_index(drop=True)
