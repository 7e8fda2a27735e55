"""MLflow pyfunc models that turn raw feature rows into retention probabilities.

Both models keep their preprocessing inside, so a caller sends the raw feature columns
of the feature service and receives one probability per row. The weights are saved as
plain files (a torch state_dict with its architecture in JSON, LightGBM model text and
the preprocessor in JSON) and never as pickled torch modules or torch.export programs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

from retention.errors import InputDataError
from training.baseline import LightGBMBaseline
from training.calibration import ProbabilityCalibrator
from training.explain import lightgbm_contributions, lightgbm_global_importance, mlp_contributions, top_reasons
from training.mlp import RetentionMLP, predict_probabilities
from training.preprocessing import FeaturePreprocessor

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Models-from-code files that MLflow runs to create each model object.
MLP_MODEL_CODE = Path(__file__).with_name("pyfunc_mlp.py")
LIGHTGBM_MODEL_CODE = Path(__file__).with_name("pyfunc_lightgbm.py")

# Version ranges instead of the installed versions, because an exact pin such as
# torch==2.13.0+cu128 from a GPU machine names a CUDA build that CPU-only serving cannot use.
PIP_REQUIREMENTS = (
    "mlflow>=3,<3.18",
    "torch>=2.13,<2.15",
    "lightgbm>=4.3",
    "pandas>=2.2",
    "numpy>=1.26",
    "scikit-learn>=1.5",
    "tqdm>=4.66",
    "captum>=0.8",
)

MLP_STATE_FILE = "mlp_state_dict.pt"
MLP_ARCHITECTURE_FILE = "mlp_architecture.json"
PREPROCESSOR_FILE = "preprocessor.json"
LIGHTGBM_MODEL_FILE = "lightgbm_model.txt"
LIGHTGBM_COLUMNS_FILE = "lightgbm_columns.json"
GLOBAL_IMPORTANCE_FILE = "global_importance.json"
CALIBRATOR_FILE = "calibrator.json"
# Optional inference parameters of `predict`; MLflow drops params that the signature does not declare.
EXPLAIN_PARAM = "explain"
TOP_K_PARAM = "top_k"
DEFAULT_TOP_K = 3
PROBABILITY_COLUMN = "probability"
REASONS_COLUMN = "reasons"


def code_paths() -> list[str]:
    """Return the packages that the model classes import, copied into every model.

    With them a model loads in an environment that has only PIP_REQUIREMENTS installed.
    """
    return [str(PACKAGE_ROOT / "training"), str(PACKAGE_ROOT / "retention")]


def model_signature(numeric_columns: tuple[str, ...], categorical_columns: tuple[str, ...]) -> ModelSignature:
    """Return the signature: every feature column is required, and its values may be null.

    MLflow enforces it before `predict`: numeric columns must have a float dtype (it rejects
    int64 as an unsafe conversion), and a missing column raises MlflowException. The params
    `explain` (default False) and `top_k` (default 3) switch on the reasons; the outputs
    describe the default output, one probability per row.
    """
    inputs = Schema(
        [ColSpec(DataType.double, column) for column in numeric_columns]
        + [ColSpec(DataType.string, column) for column in categorical_columns]
    )
    outputs = Schema([TensorSpec(np.dtype("float64"), (-1,))])
    return ModelSignature(inputs=inputs, outputs=outputs, params=explain_param_schema())


def explain_param_schema() -> ParamSchema:
    """Return the optional inference parameters `explain` (default False) and `top_k` (default 3)."""
    return ParamSchema(
        [
            ParamSpec(EXPLAIN_PARAM, DataType.boolean, False),
            ParamSpec(TOP_K_PARAM, DataType.long, DEFAULT_TOP_K),
        ]
    )


def explained_output(
    probabilities: np.ndarray, contributions: np.ndarray, names: list[str], top_k: int
) -> pd.DataFrame:
    """Return the `probability` column and the `reasons` column of `predict(params={"explain": True})`.

    Each reason list contains {"feature": name, "contribution": log-odds} dictionaries, sorted
    by |contribution| from the largest. Contributions explain the model's log-odds before
    calibration; Platt scaling multiplies all of them by one positive slope, so their order holds.
    """
    return pd.DataFrame(
        {PROBABILITY_COLUMN: probabilities, REASONS_COLUMN: top_reasons(contributions, names, top_k)}
    )


class MLPRetentionModel(mlflow.pyfunc.PythonModel):
    """RetentionMLP behind FeaturePreprocessor, on the CPU.

    `global_importance` maps each raw feature to its share of the mean |integrated gradient|;
    it is empty for a model saved without it.
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.preprocessor = FeaturePreprocessor.from_dict(_read_json(context.artifacts["preprocessor"]))
        architecture = _read_json(context.artifacts["architecture"])
        self.model = RetentionMLP(
            input_dim=architecture["input_dim"],
            hidden_units=tuple(architecture["hidden_units"]),
            dropout=architecture["dropout"],
        )
        state = torch.load(context.artifacts["state_dict"], map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)
        self.model.eval()
        self.global_importance = _optional_json(context.artifacts.get("global_importance"))
        self.calibrator = load_calibrator(context.artifacts)

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray | pd.DataFrame:
        """Return the retention probability of every input row as a 1-D float64 array.

        With params {"explain": True, "top_k": k} it returns a frame of `probability` and the
        `reasons` from integrated gradients instead.
        """
        frame = require_frame(model_input)
        probabilities = self.calibrator.apply(predict_probabilities(self.model, self.preprocessor.transform(frame)))
        explain, top_k = explain_params(params)
        if not explain:
            return probabilities
        contributions, names = mlp_contributions(self.model, self.preprocessor, frame)
        return explained_output(probabilities, contributions, names, top_k)


class LightGBMRetentionModel(mlflow.pyfunc.PythonModel):
    """LightGBMBaseline on the raw feature columns.

    `global_importance` maps each feature to its share of the total split gain.
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        model_text = Path(context.artifacts["model"]).read_text(encoding="utf-8")
        self.baseline = LightGBMBaseline.from_saved(model_text, _read_json(context.artifacts["columns"]))
        self.global_importance = lightgbm_global_importance(self.baseline)
        self.calibrator = load_calibrator(context.artifacts)

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray | pd.DataFrame:
        """Return the retention probability of every input row as a 1-D float64 array.

        With params {"explain": True, "top_k": k} it returns a frame of `probability` and the
        `reasons` from TreeSHAP instead.
        """
        frame = require_frame(model_input)
        probabilities = self.calibrator.apply(self.baseline.predict_probabilities(frame))
        explain, top_k = explain_params(params)
        if not explain:
            return probabilities
        contributions, names = lightgbm_contributions(self.baseline, frame)
        return explained_output(probabilities, contributions, names, top_k)


def save_mlp_artifacts(
    model: RetentionMLP,
    preprocessor: FeaturePreprocessor,
    directory: Path,
    global_importance: dict[str, float] | None = None,
    calibrator: ProbabilityCalibrator | None = None,
) -> dict[str, str]:
    """Write the MLP files into `directory` and return the artifacts mapping of log_model.

    `global_importance`, from training.explain.mlp_global_importance, is stored with the
    model when given, so that serving can show it; so is the `calibrator` of its probabilities.
    """
    paths = {
        "state_dict": directory / MLP_STATE_FILE,
        "architecture": directory / MLP_ARCHITECTURE_FILE,
        "preprocessor": directory / PREPROCESSOR_FILE,
    }
    cpu_state = {key: tensor.detach().cpu() for key, tensor in model.state_dict().items()}
    torch.save(cpu_state, paths["state_dict"])
    _write_json(paths["architecture"], model.architecture())
    _write_json(paths["preprocessor"], preprocessor.to_dict())
    if global_importance is not None:
        paths["global_importance"] = directory / GLOBAL_IMPORTANCE_FILE
        _write_json(paths["global_importance"], global_importance)
    paths.update(_save_calibrator(calibrator, directory))
    return {key: str(path) for key, path in paths.items()}


def save_lightgbm_artifacts(
    baseline: LightGBMBaseline, directory: Path, calibrator: ProbabilityCalibrator | None = None
) -> dict[str, str]:
    """Write the LightGBM files, and the calibrator when given, into `directory`; return the artifacts mapping."""
    paths = {"model": directory / LIGHTGBM_MODEL_FILE, "columns": directory / LIGHTGBM_COLUMNS_FILE}
    paths["model"].write_text(baseline.booster.model_to_string(), encoding="utf-8")
    _write_json(paths["columns"], baseline.columns_to_dict())
    paths.update(_save_calibrator(calibrator, directory))
    return {key: str(path) for key, path in paths.items()}


def load_calibrator(artifacts: dict[str, str]) -> ProbabilityCalibrator:
    """Return the model's saved calibrator, or the identity for a model saved without one."""
    path = artifacts.get("calibrator")
    return ProbabilityCalibrator.from_dict(_read_json(path)) if path else ProbabilityCalibrator()


def _save_calibrator(calibrator: ProbabilityCalibrator | None, directory: Path) -> dict[str, Path]:
    if calibrator is None:
        return {}
    path = directory / CALIBRATOR_FILE
    _write_json(path, calibrator.to_dict())
    return {"calibrator": path}


def explain_params(params: dict[str, Any] | None) -> tuple[bool, int]:
    """Return (explain, top_k) from the inference params, which MLflow has checked against the signature."""
    params = params or {}
    return bool(params.get(EXPLAIN_PARAM, False)), params.get(TOP_K_PARAM, DEFAULT_TOP_K)


def require_frame(model_input: Any) -> pd.DataFrame:
    if not isinstance(model_input, pd.DataFrame):
        raise InputDataError(
            f"The retention model expects a pandas DataFrame of raw feature columns, got "
            f"{type(model_input).__name__}. Send one row per user with one column per feature of its feature service."
        )
    return model_input


def _read_json(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _optional_json(path: str | Path | None) -> dict[str, Any]:
    return _read_json(path) if path else {}


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
