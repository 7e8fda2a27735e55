"""Hyperparameter search with Optuna, one nested MLflow run per trial under a parent run.

A trial fits the candidate on the train window and scores the ROC-AUC on the validation
window, so the test window stays unseen. The random sampler gives a reference that the
TPE sampler should beat with the same number of trials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mlflow
import numpy as np
import optuna
from sklearn.metrics import roc_auc_score

from feature_repo.feature_columns import LABEL_COLUMN
from retention.errors import ConfigurationError
from retention.settings import Settings
from training.baselines import LightGBMCandidate, LogisticRegressionCandidate, MLPCandidate
from training.candidates import RetentionCandidate
from training.registry import configure_mlflow
from training.splits import TimeSplits

logger = logging.getLogger(__name__)

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}
OBJECTIVE_METRIC = "validation_roc_auc"
PARENT_RUN_TAG = "mlflow.parentRunId"


def lightgbm_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 400, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def mlp_space(trial: optuna.Trial) -> dict[str, Any]:
    width = trial.suggest_categorical("width", [32, 64, 128, 256])
    layers = trial.suggest_int("layers", 1, 3)
    return {
        # Each hidden layer is half as wide as the one before it.
        "hidden_units": tuple(max(8, width // 2**index) for index in range(layers)),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024, 2048]),
    }


def logistic_regression_space(trial: optuna.Trial) -> dict[str, Any]:
    return {"c": trial.suggest_float("c", 1e-3, 100.0, log=True)}


# Model name -> (search space, candidate built from the space's values).
SEARCH_SPACES: dict[str, tuple[Callable[[optuna.Trial], dict[str, Any]], Callable[[dict[str, Any]], RetentionCandidate]]] = {
    "lightgbm": (lightgbm_space, lambda values: LightGBMCandidate(tree_parameters=values)),
    "mlp": (mlp_space, lambda values: MLPCandidate(training_overrides=values)),
    "logistic_regression": (logistic_regression_space, lambda values: LogisticRegressionCandidate(**values)),
}


@dataclass(frozen=True)
class SearchResult:
    """Outcome of one search: the parent run, the best values and every trial."""

    model: str
    sampler: str
    parent_run_id: str
    best_values: dict[str, Any]
    best_validation_roc_auc: float
    # One {"number", "values", "validation_roc_auc", "run_id"} per trial.
    trials: list[dict[str, Any]] = field(default_factory=list)


def search_hyperparameters(
    model: str,
    splits: TimeSplits,
    settings: Settings,
    trials: int,
    sampler: str = "tpe",
    seed: int = 0,
) -> SearchResult:
    """Search the model's space for the highest validation ROC-AUC and log every trial to MLflow."""
    if model not in SEARCH_SPACES:
        raise ConfigurationError(f"No search space for model {model!r}. Searchable models: {sorted(SEARCH_SPACES)}.")
    if sampler not in SAMPLERS:
        raise ConfigurationError(f"Unknown sampler {sampler!r}. Use one of: {sorted(SAMPLERS)}.")
    if trials < 1:
        raise ConfigurationError(f"trials={trials} must be >= 1. Pass the number of trials to run.")
    space, build = SEARCH_SPACES[model]
    y_validation = splits.validation[LABEL_COLUMN].to_numpy(dtype=np.int64)
    experiment_id = configure_mlflow(settings)
    records: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        values = space(trial)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{model}-trial-{trial.number}", nested=True) as run:
            mlflow.log_params({"trial_number": trial.number, **values})
            candidate = build(values)
            candidate.fit(splits.train, splits.validation, settings, seed)
            score = float(roc_auc_score(y_validation, candidate.predict_proba(splits.validation)))
            mlflow.log_metric(OBJECTIVE_METRIC, score)
        records.append({"number": trial.number, "values": values, OBJECTIVE_METRIC: score, "run_id": run.info.run_id})
        logger.info("%s trial %d: validation ROC-AUC %.4f with %s", model, trial.number, score, values)
        return score

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{model}-search-{sampler}") as parent:
        mlflow.set_tags({"search_model": model, "search_sampler": sampler})
        mlflow.log_params({"trials": trials, "sampler": sampler, "seed": seed})
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=SAMPLERS[sampler](seed))
        study.optimize(objective, n_trials=trials)
        best = next(record for record in records if record["number"] == study.best_trial.number)
        mlflow.log_metric(f"best_{OBJECTIVE_METRIC}", study.best_value)
        mlflow.log_dict({"best_values": _plain(best["values"]), "trials": _plain(records)}, "search.json")

    return SearchResult(
        model=model,
        sampler=sampler,
        parent_run_id=parent.info.run_id,
        best_values=best["values"],
        best_validation_roc_auc=float(study.best_value),
        trials=records,
    )


def _plain(value: Any) -> Any:
    """Return `value` with tuples as lists, so that it is JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
