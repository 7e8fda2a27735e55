"""The model benchmark: every registered candidate through the evaluation protocol, with several
seeds and rolling origins, summarized as mean and standard deviation per metric.

Each (model, seed, origin) run fits a fresh candidate. The standard deviation is taken over
all runs of a model, so it mixes seed noise with the differences between test periods.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from tqdm import tqdm

import training
from retention.errors import ConfigurationError, PipelineError
from retention.settings import Settings
from training.benchmark_cache import RunCache, run_context, run_key
from training.candidates import CANDIDATES, CandidateFactory
from training.evaluation import OriginResult, evaluate_on_split, rolling_splits
from training.plots import evaluation_figures

logger = logging.getLogger(__name__)

# A decorator line that registers a candidate, at the start of a line of a module's source.
REGISTRATION = re.compile(r"^@register_candidate\(", re.MULTILINE)
BENCHMARK_EXPERIMENT = "retention_benchmark"
# Table order of the baselines, from the simplest; other candidates follow them.
BASELINE_ORDER = ("recency", "bg_nbd", "logistic_regression", "lightgbm")
# Test-window metrics of the table, in column order.
TABLE_METRICS = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier_score",
    "expected_calibration_error",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "top_decile_lift",
)


@dataclass
class BenchmarkResult:
    """Every run of the benchmark and the windows of each origin."""

    models: list[str]
    seeds: list[int]
    origins: int
    # windows[origin] = {"train" | "validation" | "test": {"start", "end", "snapshots", "rows"}}
    windows: list[dict[str, dict[str, Any]]]
    runs: list[OriginResult] = field(default_factory=list)
    # Runs taken from the cache of an earlier call instead of fitted again.
    reused_fits: int = 0

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Return {model: {metric or "fit_seconds": {"mean", "std", "runs"}}} over all runs of each model."""
        table = {}
        for model in self.models:
            runs = [run for run in self.runs if run.model == model]
            columns = {metric: [run.test[metric] for run in runs] for metric in TABLE_METRICS}
            columns["fit_seconds"] = [run.fit_seconds for run in runs]
            table[model] = {name: _mean_std(values) for name, values in columns.items()}
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "seeds": list(self.seeds),
            "origins": self.origins,
            "windows": self.windows,
            "summary": _nan_to_none(self.summary()),
            "runs": [_nan_to_none(run.to_dict()) for run in self.runs],
            "reused_fits": self.reused_fits,
        }


def discover_candidates() -> dict[str, CandidateFactory]:
    """Import every module of the training package that registers a candidate, and return the registry.

    Such a module has a line starting with the `@register_candidate(` decorator of
    training/candidates.py, and importing it fills CANDIDATES.
    """
    package_dir = Path(training.__file__).parent
    for module in pkgutil.iter_modules([str(package_dir)]):
        source = package_dir / f"{module.name}.py"
        if source.is_file() and REGISTRATION.search(source.read_text(encoding="utf-8")):
            importlib.import_module(f"training.{module.name}")
    return dict(CANDIDATES)


def select_models(requested: Sequence[str] | None, available: dict[str, CandidateFactory]) -> list[str]:
    """Return the requested model names in the given order, or every available one; reject unknown names.

    Without a request, the baselines come first in BASELINE_ORDER, then the other candidates
    in registration order.
    """
    if not requested:
        return sorted(available, key=lambda name: BASELINE_ORDER.index(name) if name in BASELINE_ORDER else len(BASELINE_ORDER))
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise ConfigurationError(
            f"Unknown model(s) {unknown} in --models. Registered candidates: {', '.join(available)}."
        )
    return list(dict.fromkeys(requested))


def load_training_set(settings: Settings) -> pd.DataFrame:
    """Read the point-in-time training set that the pipeline wrote, or explain how to create it."""
    path = settings.training_set_path
    if not path.exists():
        raise PipelineError(
            f"The training set {path} does not exist. Run the pipeline first with "
            f"`retention demo --home {settings.home}`, then rerun the benchmark with the same --home."
        )
    return pd.read_parquet(path)


def run_benchmark(
    training_set: pd.DataFrame,
    settings: Settings,
    models: Sequence[str],
    factories: dict[str, CandidateFactory],
    seeds: Sequence[int],
    origins: int,
    cache: RunCache | None = None,
    resume: bool = False,
) -> BenchmarkResult:
    """Fit and evaluate every (model, seed, origin) with a progress bar on stderr.

    A candidate class with `deterministic = True` ignores the seed, so it is fitted with the
    first seed only, once per origin. With a `cache`, every finished fit is stored in it, and
    with `resume` a stored fit of the same settings, data and code is reused instead of refitted.
    """
    splits = rolling_splits(training_set, settings, origins)
    result = BenchmarkResult(
        models=list(models), seeds=list(seeds), origins=origins, windows=[split.describe() for split in splits]
    )
    seeds_of = {model: list(seeds[:1]) if is_deterministic(factories[model]) else list(seeds) for model in models}
    total = sum(len(model_seeds) for model_seeds in seeds_of.values()) * len(splits)
    context = run_context(settings) if cache is not None else ""
    with tqdm(total=total, desc="benchmark", unit="fit", file=sys.stderr) as progress:
        for model in models:
            for seed in seeds_of[model]:
                for origin, split in enumerate(splits):
                    progress.set_postfix_str(f"{model} seed {seed} origin {origin}")
                    key = run_key(context, model, seed, origin, result.windows[origin])
                    run = cache.get(key) if cache is not None and resume else None
                    if run is None:
                        run = evaluate_on_split(model, factories[model], split, settings, seed, origin)
                        if cache is not None:
                            cache.put(key, run)
                    else:
                        result.reused_fits += 1
                    result.runs.append(run)
                    progress.update()
    if cache is not None and resume:
        logger.info("Reused %d of %d fits from %s", result.reused_fits, total, cache.folder)
    return result


def log_benchmark_runs(result: BenchmarkResult, settings: Settings, command: str) -> dict[str, str]:
    """Log one MLflow run per model to the experiment retention_benchmark and return their run ids.

    Each run contains the mean and standard deviation of every test metric and the ROC,
    precision-recall and calibration plots of origin 0, one curve per seed.
    """
    if settings.profile != "production":
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    experiment = mlflow.get_experiment_by_name(BENCHMARK_EXPERIMENT)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else mlflow.create_experiment(BENCHMARK_EXPERIMENT, artifact_location=settings.mlflow_artifact_location)
    )
    run_ids = {}
    for model, statistics in result.summary().items():
        with mlflow.start_run(experiment_id=experiment_id, run_name=model) as run:
            mlflow.set_tags({"model_type": model, "command": command})
            mlflow.log_params({"seeds": ",".join(map(str, result.seeds)), "origins": result.origins})
            for name, values in statistics.items():
                if values["runs"]:
                    mlflow.log_metric(f"test_{name}_mean", values["mean"])
                if values["runs"] > 1:
                    mlflow.log_metric(f"test_{name}_std", values["std"])
            curves = {f"seed {run.seed}": run.test_curve for run in result.runs if run.model == model and run.origin == 0}
            for file_name, figure in evaluation_figures(curves, f"{model} origin 0").items():
                mlflow.log_figure(figure, file_name)
            run_ids[model] = run.info.run_id
    return run_ids


def is_deterministic(factory: CandidateFactory) -> bool:
    """Return True when the factory is a candidate class that declares `deterministic = True`."""
    return bool(getattr(factory, "deterministic", False))


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    if len(finite) == 0:
        return {"mean": float("nan"), "std": float("nan"), "runs": 0}
    # Sample standard deviation (ddof=1), undefined (NaN) for a single run.
    std = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
    return {"mean": float(finite.mean()), "std": std, "runs": int(len(finite))}


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
