"""Explanations of the retention models: global feature importance and per-user top reasons.

Contributions are in log-odds (the logit of the retention probability) for both models:

- LightGBM: TreeSHAP values from `Booster.predict(pred_contrib=True)`, which sum with the
  expected value to the row's raw score.
- MLP: Captum's IntegratedGradients of the logit against a baseline row, the train median of
  every numeric feature with every categorical feature at its "unknown" category. They sum
  to logit(row) - logit(baseline) up to the integration error.

Contributions of the one-hot columns of a categorical feature are summed, so every reason
names a raw feature of the feature service.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from mlflow import MlflowClient

from retention.errors import InputDataError
from training.baseline import LightGBMBaseline
from training.mlp import RetentionMLP
from training.preprocessing import UNKNOWN_CATEGORY, FeaturePreprocessor

INTEGRATION_STEPS = 32
# Rows per Captum forward pass; each input row becomes INTEGRATION_STEPS rows.
INTEGRATION_BATCH_ROWS = 32_768
# Rows of the frame that the MLP's global importance averages over.
IMPORTANCE_SAMPLE_ROWS = 2_000
GLOBAL_IMPORTANCE_ARTIFACT = "global_importance.json"


def lightgbm_contributions(baseline: LightGBMBaseline, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Return the TreeSHAP contribution of every raw feature to every row's log-odds, and the feature names."""
    contributions = np.asarray(baseline.booster.predict(baseline.prepare(frame), pred_contrib=True), dtype=np.float64)
    # The last column is the expected value of the raw score, shared by every row.
    return contributions[:, :-1], [*baseline.numeric_columns, *baseline.categorical_columns]


def lightgbm_global_importance(baseline: LightGBMBaseline) -> dict[str, float]:
    """Return each feature's share of the total split gain, highest first."""
    gains = baseline.booster.feature_importance(importance_type="gain")
    names = baseline.booster.feature_name()
    total = float(np.sum(gains)) or 1.0
    return _sorted_importance(dict(zip(names, (float(gain) / total for gain in gains))))


def median_baseline(preprocessor: FeaturePreprocessor) -> np.ndarray:
    """Return the preprocessed reference row: train medians and the unknown category."""
    row = {column: [preprocessor.medians[column]] for column in preprocessor.numeric_columns}
    row.update({column: [UNKNOWN_CATEGORY] for column in preprocessor.categorical_columns})
    return preprocessor.transform(pd.DataFrame(row))


def mlp_contributions(
    model: RetentionMLP, preprocessor: FeaturePreprocessor, frame: pd.DataFrame
) -> tuple[np.ndarray, list[str]]:
    """Return the integrated-gradients contribution of every raw feature to every row's logit."""
    # Imported here because only explanations need Captum, and serving without them should not load it.
    from captum.attr import IntegratedGradients

    inputs = torch.as_tensor(preprocessor.transform(frame), dtype=torch.float32)
    reference = torch.as_tensor(median_baseline(preprocessor), dtype=torch.float32)
    model = model.cpu().eval()
    attributions = IntegratedGradients(model).attribute(
        inputs,
        baselines=reference,
        n_steps=INTEGRATION_STEPS,
        internal_batch_size=max(1, INTEGRATION_BATCH_ROWS // INTEGRATION_STEPS),
    )
    return sum_by_raw_feature(attributions.detach().numpy().astype(np.float64), preprocessor)


def mlp_global_importance(
    model: RetentionMLP, preprocessor: FeaturePreprocessor, frame: pd.DataFrame, seed: int = 0
) -> dict[str, float]:
    """Return each raw feature's share of the mean |integrated gradient| over a sample of `frame`, highest first."""
    return importance_shares(*mlp_contributions(model, preprocessor, importance_sample(frame, seed)))


def importance_sample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Return at most IMPORTANCE_SAMPLE_ROWS rows of `frame`, drawn with `seed`, for a global importance."""
    return frame.sample(IMPORTANCE_SAMPLE_ROWS, random_state=seed) if len(frame) > IMPORTANCE_SAMPLE_ROWS else frame


def importance_shares(contributions: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Return each name's share of the mean |contribution| over the rows, highest first."""
    mean_absolute = np.abs(contributions).mean(axis=0)
    total = float(mean_absolute.sum()) or 1.0
    return _sorted_importance({name: float(value) / total for name, value in zip(names, mean_absolute)})


def top_reasons(contributions: np.ndarray, names: Sequence[str], top_k: int) -> list[list[dict[str, float | str]]]:
    """Return, per row, the `top_k` features with the largest |contribution|, largest first."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InputDataError(f"top_k={top_k!r} is invalid: pass a whole number of reasons >= 1, such as 3.")
    keep = min(int(top_k), len(names))
    # A stable sort on -|contribution| keeps the feature order among ties, so reasons are reproducible.
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :keep]
    return [
        [{"feature": names[index], "contribution": float(row[index])} for index in row_order]
        for row, row_order in zip(contributions, order)
    ]


def log_global_importance(run_id: str, importance: dict[str, float]) -> None:
    """Log the importance shares as the JSON artifact global_importance.json of the MLflow run."""
    MlflowClient().log_dict(run_id, importance, GLOBAL_IMPORTANCE_ARTIFACT)


def sum_by_raw_feature(attributions: np.ndarray, preprocessor: FeaturePreprocessor) -> tuple[np.ndarray, list[str]]:
    """Sum the one-hot columns of each categorical feature; numeric columns map one to one."""
    names = list(preprocessor.numeric_columns)
    blocks = [attributions[:, : len(names)]]
    start = len(names)
    for column in preprocessor.categorical_columns:
        width = len(preprocessor.categories[column])
        blocks.append(attributions[:, start : start + width].sum(axis=1, keepdims=True))
        names.append(column)
        start += width
    return np.hstack(blocks), names


def _sorted_importance(importance: dict[str, float]) -> dict[str, float]:
    return dict(sorted(importance.items(), key=lambda item: item[1], reverse=True))
