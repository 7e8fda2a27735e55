import json

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.models import Model

from feature_repo.feature_columns import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    LABEL_COLUMN,
    NUMERIC_FEATURES,
)
from retention.errors import InputDataError
from training.baseline import train_lightgbm
from training.calibration import fit_calibrator
from training.mlp import predict_probabilities, train_mlp
from training.preprocessing import FeaturePreprocessor
from training.pyfunc import (
    LIGHTGBM_MODEL_CODE,
    MLP_MODEL_CODE,
    PIP_REQUIREMENTS,
    code_paths,
    model_signature,
    save_lightgbm_artifacts,
    save_mlp_artifacts,
)
from training.splits import split_by_time
from training.train import LOG_SCALED_FEATURES


@pytest.fixture(scope="module")
def models(training_set, make_settings, tmp_path_factory):
    """Train both models for a few epochs and save each as an MLflow model folder."""
    folder = tmp_path_factory.mktemp("pyfunc")
    settings = make_settings(folder, max_epochs=3)
    splits = split_by_time(training_set, settings)
    y_train = splits.train[LABEL_COLUMN].to_numpy()
    y_val = splits.validation[LABEL_COLUMN].to_numpy()

    preprocessor = FeaturePreprocessor.fit(
        splits.train, NUMERIC_FEATURES, CATEGORICAL_FEATURES, LOG_SCALED_FEATURES
    )
    mlp, _ = train_mlp(
        preprocessor.transform(splits.train), y_train, preprocessor.transform(splits.validation), y_val, settings
    )
    baseline, _ = train_lightgbm(
        splits.train, y_train, splits.validation, y_val, settings, NUMERIC_FEATURES, CATEGORICAL_FEATURES
    )

    raw = {
        "mlp": lambda frame: predict_probabilities(mlp, preprocessor.transform(frame)),
        "lightgbm": baseline.predict_probabilities,
    }
    # One calibration method per model, so that the pyfunc applies both kinds.
    calibrators = {
        "mlp": fit_calibrator("platt", y_val, raw["mlp"](splits.validation)),
        "lightgbm": fit_calibrator("isotonic", y_val, raw["lightgbm"](splits.validation)),
    }
    (folder / "mlp_files").mkdir()
    (folder / "lightgbm_files").mkdir()
    saved = {
        "mlp": (MLP_MODEL_CODE, save_mlp_artifacts(mlp, preprocessor, folder / "mlp_files", None, calibrators["mlp"])),
        "lightgbm": (
            LIGHTGBM_MODEL_CODE,
            save_lightgbm_artifacts(baseline, folder / "lightgbm_files", calibrators["lightgbm"]),
        ),
    }
    for name, (model_code, artifacts) in saved.items():
        mlflow.pyfunc.save_model(
            path=folder / name,
            python_model=model_code,
            artifacts=artifacts,
            code_paths=code_paths(),
            pip_requirements=list(PIP_REQUIREMENTS),
            signature=model_signature(NUMERIC_FEATURES, CATEGORICAL_FEATURES),
            input_example=splits.train[list(FEATURE_COLUMNS)].head(3),
        )

    return {
        "folder": folder,
        "test": splits.test[list(FEATURE_COLUMNS)].reset_index(drop=True),
        "in_memory": {
            name: (lambda frame, name=name: calibrators[name].apply(raw[name](frame))) for name in raw
        },
        "raw": raw,
    }


def _edge_rows(test: pd.DataFrame) -> pd.DataFrame:
    rows = test.head(4).copy()
    rows.loc[0, "age_band"] = "Martian"
    rows.loc[1, "income_band"] = None
    rows.loc[2, "recency_days"] = np.nan
    rows.loc[3, "monetary_90d"] = -250.0
    return rows


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_pyfunc_matches_in_memory_model(models, model_type):
    loaded = mlflow.pyfunc.load_model(str(models["folder"] / model_type))
    test = models["test"]

    predictions = loaded.predict(test)

    assert predictions.shape == (len(test),)
    np.testing.assert_allclose(predictions, models["in_memory"][model_type](test), rtol=0, atol=1e-7)


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_pyfunc_applies_the_saved_calibrator(models, model_type):
    loaded = mlflow.pyfunc.load_model(str(models["folder"] / model_type))
    test = models["test"]

    predictions = loaded.predict(test)

    assert not np.allclose(predictions, models["raw"][model_type](test), atol=1e-3)


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_pyfunc_handles_nulls_and_unseen_categories(models, model_type):
    loaded = mlflow.pyfunc.load_model(str(models["folder"] / model_type))
    rows = _edge_rows(models["test"])

    predictions = loaded.predict(rows)

    assert np.isfinite(predictions).all()
    np.testing.assert_allclose(predictions, models["in_memory"][model_type](rows), rtol=0, atol=1e-7)


def test_pyfunc_rejects_missing_feature_column(models):
    loaded = mlflow.pyfunc.load_model(str(models["folder"] / "mlp"))

    with pytest.raises(mlflow.exceptions.MlflowException, match="tenure_days"):
        loaded.predict(models["test"].drop(columns=["tenure_days"]))


def test_python_model_rejects_non_frame_input(models):
    python_model = mlflow.pyfunc.load_model(str(models["folder"] / "lightgbm")).unwrap_python_model()

    with pytest.raises(InputDataError, match="DataFrame"):
        python_model.predict(None, [[1.0, 2.0]])


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_requirements_pin_no_local_torch_build(models, model_type):
    requirements = (models["folder"] / model_type / "requirements.txt").read_text().splitlines()
    torch_lines = [line for line in requirements if line.startswith("torch")]

    assert torch_lines == ["torch<2.15,>=2.13"]
    assert not [line for line in requirements if "+" in line]


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_model_is_plain_pyfunc_without_pickle(models, model_type):
    flavors = Model.load(str(models["folder"] / model_type)).flavors
    pyfunc_flavor = flavors["python_function"]

    assert set(flavors) == {"python_function"}
    assert "python_model" not in pyfunc_flavor
    assert pyfunc_flavor["model_code_path"].endswith(f"pyfunc_{model_type}.py")


def test_mlp_artifacts_are_plain_files(models):
    files = models["folder"] / "mlp_files"
    architecture = json.loads((files / "mlp_architecture.json").read_text())
    state = torch.load(files / "mlp_state_dict.pt", weights_only=True)

    assert architecture["hidden_units"] == [64, 32]
    assert set(state) == {f"layers.{index}.{kind}" for index in (0, 3, 6) for kind in ("weight", "bias")}
