"""The gradient-boosted tree baseline: LightGBM on the raw features."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from retention.errors import InputDataError
from training.labels import positive_class_weight

if TYPE_CHECKING:
    from retention.settings import Settings

logger = logging.getLogger(__name__)

MAX_TREES = 1000
# Boosting stops when the validation log loss has not improved for this many trees.
EARLY_STOPPING_ROUNDS = 50
TREE_PARAMETERS = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
}


@dataclass(frozen=True)
class LightGBMBaseline:
    """A trained booster with the column order and categories it was trained on.

    Categorical columns are passed to LightGBM as pandas categoricals over the train
    categories. Nulls and categories not seen in train become missing values.
    """

    booster: lgb.Booster
    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return the feature columns with the dtypes the booster was trained on."""
        return _prepare_frame(frame, self.numeric_columns, self.categorical_columns, self.categories)

    def predict_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the retention probability of every row as a 1-D float64 array."""
        return np.asarray(self.booster.predict(self.prepare(frame)), dtype=np.float64)

    def columns_to_dict(self) -> dict[str, Any]:
        """Return the JSON-serializable column description. The booster is saved separately."""
        return {
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
            "categories": {column: list(values) for column, values in self.categories.items()},
        }

    @classmethod
    def from_saved(cls, model_text: str, columns: dict[str, Any]) -> LightGBMBaseline:
        """Restore a baseline from `booster.model_to_string()` and `columns_to_dict()`."""
        return cls(
            booster=lgb.Booster(model_str=model_text),
            numeric_columns=tuple(columns["numeric_columns"]),
            categorical_columns=tuple(columns["categorical_columns"]),
            categories={key: tuple(values) for key, values in columns["categories"].items()},
        )


def train_lightgbm(
    train: pd.DataFrame,
    y_train: np.ndarray,
    validation: pd.DataFrame,
    y_val: np.ndarray,
    settings: Settings,
    numeric_columns: Sequence[str],
    categorical_columns: Sequence[str],
    tree_parameters: dict[str, Any] | None = None,
) -> tuple[LightGBMBaseline, dict[str, Any]]:
    """Train a LightGBM binary classifier with early stopping on validation log loss.

    Returns the baseline and its parameters, including the best iteration. The positive
    class is weighted by negatives / positives of the train split, as for the MLP.
    `tree_parameters` replaces entries of TREE_PARAMETERS, for example from a search.
    """
    categories = {column: _train_categories(train[column]) for column in categorical_columns}
    x_train = _prepare_frame(train, numeric_columns, categorical_columns, categories)
    x_val = _prepare_frame(validation, numeric_columns, categorical_columns, categories)
    parameters = {
        **TREE_PARAMETERS,
        **(tree_parameters or {}),
        "objective": "binary",
        "metric": "binary_logloss",
        "scale_pos_weight": positive_class_weight(y_train),
        "seed": settings.training.seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
    }

    # lgb.train is the binary classifier behind LGBMClassifier. Its validation arguments are
    # the same in every LightGBM 4 release, while LGBMClassifier.fit renamed eval_set in 4.7.
    train_data = lgb.Dataset(x_train, label=y_train)
    validation_data = lgb.Dataset(x_val, label=y_val, reference=train_data)
    booster = lgb.train(
        parameters,
        train_data,
        num_boost_round=MAX_TREES,
        valid_sets=[validation_data],
        valid_names=["validation"],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )

    best_iteration = booster.best_iteration or booster.current_iteration()
    logger.info(
        "LightGBM stopped at %d of at most %d trees (%d train rows, %d validation rows)",
        best_iteration,
        MAX_TREES,
        len(x_train),
        len(x_val),
    )
    # Saving and reloading keeps only the trees up to the best iteration, so the in-memory
    # baseline predicts exactly like the one that MLflow serves.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best_iteration))
    baseline = LightGBMBaseline(
        booster=booster,
        numeric_columns=tuple(numeric_columns),
        categorical_columns=tuple(categorical_columns),
        categories=categories,
    )
    return baseline, {**parameters, "max_trees": MAX_TREES, "best_iteration": best_iteration}


def _train_categories(series: pd.Series) -> tuple[str, ...]:
    return tuple(sorted(series.dropna().astype(str).unique()))


def _prepare_frame(
    frame: pd.DataFrame,
    numeric_columns: Sequence[str],
    categorical_columns: Sequence[str],
    categories: dict[str, tuple[str, ...]],
) -> pd.DataFrame:
    missing = [column for column in (*numeric_columns, *categorical_columns) if column not in frame.columns]
    if missing:
        raise InputDataError(
            f"Feature column(s) {missing} are missing from the LightGBM input (it has {list(frame.columns)}). "
            "Send every raw feature column of the feature service."
        )

    prepared = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column in numeric_columns:
        try:
            prepared[column] = pd.to_numeric(frame[column]).astype("float64").to_numpy()
        except (ValueError, TypeError) as error:
            raise InputDataError(
                f"Numeric feature column {column!r} contains a value that is not a number: {error}. "
                "Send numbers or nulls in this column."
            ) from error
    for column in categorical_columns:
        values = frame[column].astype("object").where(frame[column].notna(), None)
        text = values.map(lambda value: None if value is None else str(value)).to_numpy()
        prepared[column] = pd.Categorical(text, categories=list(categories[column]))
    return prepared
