"""The MLflow pyfunc model of a sequence candidate (CNN-LSTM or Transformer), for registration and serving.

The model reads the profile columns and the four array columns of the feature service
user_retention_seq_v1, as Feast returns them: NumPy arrays from historical reads, lists from
online reads, None for a user without events. Its files are the candidate's own folder
(training/sequence_candidates.py), calibrator included, so the registered model predicts
exactly what the benchmark measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema, TensorSpec
from mlflow.types.schema import Array

from feature_repo.feature_columns import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    SEQUENCE_AMOUNT_COLUMN,
    SEQUENCE_CATEGORY_COLUMN,
    SEQUENCE_EVENT_TYPE_COLUMN,
    SEQUENCE_GAP_COLUMN,
)
from training.pyfunc import explain_param_schema, explain_params, explained_output, require_frame
from training.sequence_candidates import SequenceCandidate, load_sequence_candidate
from training.sequence_explain import sequence_contributions

SEQUENCE_MODEL_CODE = Path(__file__).with_name("pyfunc_sequence.py")
MODEL_FOLDER_ARTIFACT = "sequence_model"
# Element types of the array columns, as the feature view declares them.
SEQUENCE_COLUMN_TYPES = {
    SEQUENCE_CATEGORY_COLUMN: DataType.string,
    SEQUENCE_EVENT_TYPE_COLUMN: DataType.string,
    SEQUENCE_AMOUNT_COLUMN: DataType.double,
    SEQUENCE_GAP_COLUMN: DataType.double,
}


class SequenceRetentionModel(mlflow.pyfunc.PythonModel):
    """A fitted SequenceCandidate on the CPU; it returns calibrated probabilities and, on request, reasons."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.candidate = load_sequence_candidate(Path(context.artifacts[MODEL_FOLDER_ARTIFACT]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray | pd.DataFrame:
        """Return the retention probability of every input row as a 1-D float64 array.

        With params {"explain": True, "top_k": k} it returns a frame of `probability` and the
        `reasons` from integrated gradients instead (training/sequence_explain.py).
        """
        frame = require_frame(model_input)
        probabilities = self.candidate.predict_proba(frame)
        explain, top_k = explain_params(params)
        if not explain:
            return probabilities
        contributions, names = sequence_contributions(self.candidate, frame)
        return explained_output(probabilities, contributions, names, top_k)


def save_sequence_artifacts(candidate: SequenceCandidate, directory: Path) -> dict[str, str]:
    """Write the candidate's folder into `directory` and return the artifacts mapping of log_model."""
    folder = directory / MODEL_FOLDER_ARTIFACT
    candidate.save(folder)
    return {MODEL_FOLDER_ARTIFACT: str(folder)}


def sequence_signature() -> ModelSignature:
    """Return the signature: every profile column, and the array columns, which may be null."""
    inputs = Schema(
        [ColSpec(DataType.double, column) for column in NUMERIC_FEATURES]
        + [ColSpec(DataType.string, column) for column in CATEGORICAL_FEATURES]
        + [ColSpec(Array(element), column, required=False) for column, element in SEQUENCE_COLUMN_TYPES.items()]
    )
    outputs = Schema([TensorSpec(np.dtype("float64"), (-1,))])
    return ModelSignature(inputs=inputs, outputs=outputs, params=explain_param_schema())
