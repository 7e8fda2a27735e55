"""Turn feature columns into retention probabilities (and reasons) with a loaded MLflow pyfunc model.

MLflow's pyfunc `predict` checks the input schema and the models preprocess with pandas, which
costs about 3 ms of CPU for a single row (measured on 2 cores). For the two model classes of this
platform the scorer runs the same arithmetic, the saved calibrator included, on NumPy arrays
instead, and tests compare both paths on every fixture user. Any other model class, and every request for reasons, goes through pyfunc
`predict`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from serving.feature_schema import FeatureSchema
from training.baseline import LightGBMBaseline
from training.calibration import ProbabilityCalibrator
from training.preprocessing import UNKNOWN_CATEGORY, FeaturePreprocessor, signed_log1p
from training.pyfunc import LightGBMRetentionModel, MLPRetentionModel

EXPLAIN_PARAM = "explain"
TOP_K_PARAM = "top_k"

_thread_settings = threading.local()


class FastPath(Protocol):
    def predict(self, columns: dict[str, list[Any]]) -> np.ndarray: ...


@dataclass(frozen=True)
class Scores:
    probabilities: np.ndarray
    # One list of {"feature", "contribution"} per row, or None when reasons were not computed.
    reasons: list[list[dict[str, Any]]] | None


@dataclass(frozen=True)
class ModelScorer:
    """Scores rows of one feature service with one model."""

    model: mlflow.pyfunc.PyFuncModel
    schema: FeatureSchema
    # Whether the model signature declares the `explain` parameter.
    explains: bool
    fast_path: FastPath | None

    @property
    def fast_path_name(self) -> str | None:
        """The class of the NumPy path, such as "NumpyMLP", or None when pyfunc `predict` scores every request."""
        if self.fast_path is None:
            return None
        return type(getattr(self.fast_path, "raw", self.fast_path)).__name__

    @classmethod
    def for_model(cls, model: mlflow.pyfunc.PyFuncModel, schema: FeatureSchema) -> ModelScorer:
        return cls(model=model, schema=schema, explains=declares_explain(model), fast_path=fast_path_for(model))

    def score(self, columns: dict[str, list[Any]], top_k: int | None) -> Scores:
        """Return the probabilities of the rows in `columns`, with their top_k reasons unless top_k is None."""
        use_one_torch_thread()
        if top_k is not None and self.explains:
            output = self.model.predict(self.frame(columns), params={EXPLAIN_PARAM: True, TOP_K_PARAM: top_k})
            reasons = [[_reason(item) for item in row] for row in output["reasons"]]
            return Scores(np.asarray(output["probability"], dtype=np.float64), reasons)
        if self.fast_path is not None:
            return Scores(self.fast_path.predict(columns), None)
        output = self.model.predict(self.frame(columns))
        return Scores(np.asarray(output, dtype=np.float64).ravel(), None)

    def frame(self, columns: dict[str, list[Any]]) -> pd.DataFrame:
        """Return the model input: one column per feature of the service, numbers as float64."""
        data = {}
        for spec in self.schema.features:
            values = columns[spec.name]
            data[spec.name] = np.array(values, dtype=np.float64) if spec.is_number else values
        return pd.DataFrame(data)


def use_one_torch_thread() -> None:
    """Give torch one intra-op thread in the calling thread, once per thread.

    Requests score one to a few hundred rows, so more intra-op threads only compete for the
    cores. OpenMP keeps the thread count per calling thread: a request thread that never set
    it ran integrated gradients for one user in 116 ms instead of 14 ms (measured on 2 cores).
    """
    if not getattr(_thread_settings, "one_torch_thread", False):
        torch.set_num_threads(1)
        _thread_settings.one_torch_thread = True


def declares_explain(model: mlflow.pyfunc.PyFuncModel) -> bool:
    signature = model.metadata.signature
    params = signature.params if signature is not None else None
    return params is not None and any(param.name == EXPLAIN_PARAM for param in params.params)


def fast_path_for(model: mlflow.pyfunc.PyFuncModel) -> FastPath | None:
    """Return the NumPy path of the platform's own model classes, or None for any other model."""
    try:
        python_model = model.unwrap_python_model()
    except mlflow.exceptions.MlflowException:
        return None
    if isinstance(python_model, MLPRetentionModel):
        return CalibratedPath(NumpyMLP(python_model.preprocessor, python_model.model), python_model.calibrator)
    if isinstance(python_model, LightGBMRetentionModel):
        return CalibratedPath(NumpyLightGBM(python_model.baseline), python_model.calibrator)
    return None


@dataclass(frozen=True)
class CalibratedPath:
    """A NumPy path followed by the model's saved calibrator, as the pyfunc's `predict` applies it."""

    raw: FastPath
    calibrator: ProbabilityCalibrator

    def predict(self, columns: dict[str, list[Any]]) -> np.ndarray:
        return self.calibrator.apply(self.raw.predict(columns))


class NumpyMLP:
    """FeaturePreprocessor.transform and the MLP forward pass on NumPy arrays."""

    def __init__(self, preprocessor: FeaturePreprocessor, network: torch.nn.Module) -> None:
        self.network = network.eval()
        self.numeric_columns = list(preprocessor.numeric_columns)
        self.medians = np.array([preprocessor.medians[c] for c in self.numeric_columns])
        self.means = np.array([preprocessor.means[c] for c in self.numeric_columns])
        self.stds = np.array([preprocessor.stds[c] for c in self.numeric_columns])
        self.log_mask = np.array([c in preprocessor.log_columns for c in self.numeric_columns])
        # (column, category -> output column, output column of UNKNOWN_CATEGORY) per categorical column.
        self.categorical: list[tuple[str, dict[str, int], int]] = []
        offset = len(self.numeric_columns)
        for column in preprocessor.categorical_columns:
            categories = preprocessor.categories[column]
            index = {category: offset + position for position, category in enumerate(categories)}
            self.categorical.append((column, index, index[UNKNOWN_CATEGORY]))
            offset += len(categories)
        self.width = offset

    def transform(self, columns: dict[str, list[Any]]) -> np.ndarray:
        rows = len(columns[self.numeric_columns[0]]) if self.numeric_columns else len(next(iter(columns.values())))
        matrix = np.zeros((rows, self.width), dtype=np.float64)
        if self.numeric_columns:
            # None becomes NaN; infinities count as missing, as in FeaturePreprocessor.
            numeric = np.array([columns[c] for c in self.numeric_columns], dtype=np.float64).T
            numeric = np.where(np.isfinite(numeric), numeric, self.medians)
            numeric = np.where(self.log_mask, signed_log1p(numeric), numeric)
            matrix[:, : len(self.numeric_columns)] = (numeric - self.means) / self.stds
        for column, index, unknown in self.categorical:
            for row, value in enumerate(columns[column]):
                matrix[row, unknown if value is None else index.get(str(value), unknown)] = 1.0
        return matrix.astype(np.float32)

    def predict(self, columns: dict[str, list[Any]]) -> np.ndarray:
        features = torch.from_numpy(self.transform(columns))
        with torch.inference_mode():
            return torch.sigmoid(self.network(features)).numpy().astype(np.float64)


class NumpyLightGBM:
    """LightGBMBaseline.prepare on NumPy arrays: categories become their codes, unseen ones NaN."""

    def __init__(self, baseline: LightGBMBaseline) -> None:
        self.booster = baseline.booster
        self.numeric_columns = list(baseline.numeric_columns)
        self.categorical = [
            (column, {category: float(code) for code, category in enumerate(baseline.categories[column])})
            for column in baseline.categorical_columns
        ]

    def predict(self, columns: dict[str, list[Any]]) -> np.ndarray:
        blocks = [np.array(columns[c], dtype=np.float64) for c in self.numeric_columns]
        for column, codes in self.categorical:
            blocks.append(np.array([np.nan if v is None else codes.get(str(v), np.nan) for v in columns[column]]))
        return np.asarray(self.booster.predict(np.column_stack(blocks)), dtype=np.float64)


def _reason(item: dict[str, Any]) -> dict[str, Any]:
    return {"feature": str(item["feature"]), "contribution": float(item["contribution"])}
