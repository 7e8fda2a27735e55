import json

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException

from feature_repo.feature_columns import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
from retention.errors import InputDataError
from training.baselines import LightGBMCandidate, MLPCandidate
from training.explain import (
    lightgbm_contributions,
    lightgbm_global_importance,
    median_baseline,
    mlp_contributions,
    mlp_global_importance,
    top_reasons,
)
from training.pyfunc import (
    GLOBAL_IMPORTANCE_FILE,
    LIGHTGBM_MODEL_CODE,
    MLP_MODEL_CODE,
    PIP_REQUIREMENTS,
    code_paths,
    model_signature,
    save_lightgbm_artifacts,
    save_mlp_artifacts,
)
from training.splits import split_by_time

from .conftest import make_training_set

EXPLAIN = {"explain": True, "top_k": 3}


@pytest.fixture(scope="module")
def fitted(make_settings, tmp_path_factory):
    """Fit both models briefly and save each as an MLflow model folder."""
    folder = tmp_path_factory.mktemp("explain")
    settings = make_settings(folder, max_epochs=3)
    splits = split_by_time(make_training_set(users=150, snapshots=20, seed=5), settings)
    lightgbm, mlp = LightGBMCandidate(), MLPCandidate()
    lightgbm.fit(splits.train, splits.validation, settings, 1)
    mlp.fit(splits.train, splits.validation, settings, 1)
    importance = mlp_global_importance(mlp.model, mlp.preprocessor, splits.validation)

    saved = {
        "mlp": (
            MLP_MODEL_CODE,
            lambda path: save_mlp_artifacts(mlp.model, mlp.preprocessor, path, importance, mlp.calibrator),
        ),
        "lightgbm": (LIGHTGBM_MODEL_CODE, lambda path: save_lightgbm_artifacts(lightgbm.model, path, lightgbm.calibrator)),
    }
    for name, (model_code, save_artifacts) in saved.items():
        (folder / f"{name}_files").mkdir()
        mlflow.pyfunc.save_model(
            path=folder / name,
            python_model=model_code,
            artifacts=save_artifacts(folder / f"{name}_files"),
            code_paths=code_paths(),
            pip_requirements=list(PIP_REQUIREMENTS),
            signature=model_signature(NUMERIC_FEATURES, CATEGORICAL_FEATURES),
            input_example=splits.train[list(FEATURE_COLUMNS)].head(3),
        )
    return {"folder": folder, "lightgbm": lightgbm, "mlp": mlp, "rows": splits.test[list(FEATURE_COLUMNS)].head(20)}


def test_tree_contributions_sum_to_raw_score(fitted):
    baseline, rows = fitted["lightgbm"].model, fitted["rows"]

    contributions, names = lightgbm_contributions(baseline, rows)

    raw_score = baseline.booster.predict(baseline.prepare(rows), raw_score=True)
    expected_value = baseline.booster.predict(baseline.prepare(rows), pred_contrib=True)[:, -1]
    assert names == [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    np.testing.assert_allclose(contributions.sum(axis=1) + expected_value, raw_score, atol=1e-6)


def test_gradients_sum_to_logit_change(fitted):
    mlp, rows = fitted["mlp"], fitted["rows"]

    contributions, names = mlp_contributions(mlp.model, mlp.preprocessor, rows)

    with torch.no_grad():
        logits = mlp.model(torch.as_tensor(mlp.preprocessor.transform(rows))).numpy()
        reference = mlp.model(torch.as_tensor(median_baseline(mlp.preprocessor))).numpy()
    assert names == [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    np.testing.assert_allclose(contributions.sum(axis=1), logits - reference, atol=2e-2)


def test_reasons_sorted_by_magnitude():
    contributions = np.array([[0.1, -0.5, 0.3], [0.0, 0.2, -0.2]])

    reasons = top_reasons(contributions, ["a", "b", "c"], top_k=2)

    assert [reason["feature"] for reason in reasons[0]] == ["b", "c"]
    assert reasons[0][0]["contribution"] == pytest.approx(-0.5)
    assert [reason["feature"] for reason in reasons[1]] == ["b", "c"]


def test_reasons_reject_zero_top_k():
    with pytest.raises(InputDataError, match="top_k=0"):
        top_reasons(np.zeros((1, 2)), ["a", "b"], top_k=0)


def test_global_importance_shares_sum_to_one(fitted):
    importance = lightgbm_global_importance(fitted["lightgbm"].model)

    assert sum(importance.values()) == pytest.approx(1.0)
    assert list(importance.values()) == sorted(importance.values(), reverse=True)


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_default_predict_stays_probabilities(fitted, model_type):
    loaded = mlflow.pyfunc.load_model(str(fitted["folder"] / model_type))

    predictions = loaded.predict(fitted["rows"])

    assert isinstance(predictions, np.ndarray)
    assert predictions.shape == (len(fitted["rows"]),)
    np.testing.assert_allclose(predictions, fitted[model_type].predict_proba(fitted["rows"]), atol=1e-7)


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_explain_param_adds_reasons(fitted, model_type):
    loaded = mlflow.pyfunc.load_model(str(fitted["folder"] / model_type))

    explained = loaded.predict(fitted["rows"], params=EXPLAIN)

    assert isinstance(explained, pd.DataFrame)
    assert list(explained.columns) == ["probability", "reasons"]
    np.testing.assert_allclose(explained["probability"], fitted[model_type].predict_proba(fitted["rows"]), atol=1e-7)
    for reasons in explained["reasons"]:
        magnitudes = [abs(reason["contribution"]) for reason in reasons]
        assert len(reasons) == 3
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert {reason["feature"] for reason in reasons} <= set(FEATURE_COLUMNS)


def test_explain_rejects_text_top_k(fitted):
    loaded = mlflow.pyfunc.load_model(str(fitted["folder"] / "lightgbm"))

    with pytest.raises(MlflowException, match="top_k"):
        loaded.predict(fitted["rows"], params={"explain": True, "top_k": "three"})


@pytest.mark.parametrize("model_type", ["mlp", "lightgbm"])
def test_loaded_model_exposes_global_importance(fitted, model_type):
    python_model = mlflow.pyfunc.load_model(str(fitted["folder"] / model_type)).unwrap_python_model()

    assert set(python_model.global_importance) <= set(FEATURE_COLUMNS)
    assert sum(python_model.global_importance.values()) == pytest.approx(1.0)


def test_mlp_importance_is_stored_with_model(fitted):
    stored = json.loads((fitted["folder"] / "mlp_files" / GLOBAL_IMPORTANCE_FILE).read_text())

    assert set(stored) == set(FEATURE_COLUMNS)
