"""The evaluation protocol that every retention candidate goes through.

Each origin is one time split of the training set: train, a gap, a validation window, a
gap and a later test window (training/splits.py). A gap spans ceil(horizon / snapshot
interval) snapshots, so the label window (t, t + horizon] of a row never reaches the
next split. Rolling origins repeat the split with the test window moved `step` snapshots
earlier each time, which measures the same model on several unseen periods.

A candidate is fitted on train, the classification threshold is the one with the highest
F1 on validation, and the test metrics use that threshold. The test window is never used
to choose anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from feature_repo.feature_columns import LABEL_COLUMN, SNAPSHOT_COLUMN
from retention.errors import PipelineError
from retention.settings import Settings
from training.candidates import CandidateFactory
from training.metrics import best_f1_threshold, classification_metrics
from training.splits import TimeSplits, gap_snapshot_count, split_by_time

logger = logging.getLogger(__name__)

# A single feature that separates the labels at least this well almost surely leaks the label.
LEAKAGE_ROC_AUC = 0.97


@dataclass(frozen=True)
class OriginResult:
    """Metrics of one fitted candidate on one origin; origin 0 has the latest test window."""

    model: str
    origin: int
    seed: int
    windows: dict[str, dict[str, Any]]
    # Chosen on validation: the probability threshold with the highest F1.
    threshold: float
    validation: dict[str, float]
    test: dict[str, float]
    fit_seconds: float
    # Test labels and probabilities, kept for plots; not part of to_dict.
    test_curve: tuple[np.ndarray, np.ndarray] = field(repr=False, compare=False, default=(np.empty(0), np.empty(0)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "origin": self.origin,
            "seed": self.seed,
            "windows": self.windows,
            "threshold": self.threshold,
            "validation": dict(self.validation),
            "test": dict(self.test),
            "fit_seconds": self.fit_seconds,
        }


def rolling_splits(training_set: pd.DataFrame, settings: Settings, origins: int, step: int | None = None) -> list[TimeSplits]:
    """Return one TimeSplits per origin, origin 0 first, each test window `step` snapshots earlier.

    `step` defaults to [split] test_snapshots, so the test windows of the origins do not overlap.
    Raises PipelineError when the training set has too few snapshots for all origins.
    """
    step = settings.split.test_snapshots if step is None else step
    if origins < 1 or step < 1:
        raise PipelineError(
            f"origins={origins} and step={step} must both be >= 1. Pass at least one origin and a positive step."
        )
    snapshots = np.sort(training_set[SNAPSHOT_COLUMN].dropna().unique())
    gap = gap_snapshot_count(settings)
    one_split = 1 + gap + settings.split.validation_snapshots + gap + settings.split.test_snapshots
    required = one_split + (origins - 1) * step
    if len(snapshots) < required:
        raise PipelineError(
            f"The training set has {len(snapshots)} snapshots, but {origins} origins {step} snapshots apart need "
            f"{required} ({one_split} for one split plus {step} per extra origin). Lower --origins, or lower "
            "[split] validation_snapshots and test_snapshots."
        )

    splits = []
    for origin in range(origins):
        last_snapshot = snapshots[len(snapshots) - 1 - origin * step]
        splits.append(split_by_time(training_set[training_set[SNAPSHOT_COLUMN] <= last_snapshot], settings))
    return splits


def evaluate_on_split(
    name: str, factory: CandidateFactory, splits: TimeSplits, settings: Settings, seed: int, origin: int = 0
) -> OriginResult:
    """Fit a fresh candidate on the train window and measure it on validation and test."""
    _check_time_order(splits)
    candidate = factory()
    started = time.perf_counter()
    candidate.fit(splits.train, splits.validation, settings, seed)
    fit_seconds = time.perf_counter() - started

    y_validation = splits.validation[LABEL_COLUMN].to_numpy(dtype=np.int64)
    y_test = splits.test[LABEL_COLUMN].to_numpy(dtype=np.int64)
    p_validation = _checked_probabilities(name, candidate.predict_proba(splits.validation), len(y_validation))
    p_test = _checked_probabilities(name, candidate.predict_proba(splits.test), len(y_test))
    threshold = best_f1_threshold(y_validation, p_validation)

    result = OriginResult(
        model=name,
        origin=origin,
        seed=seed,
        windows=splits.describe(),
        threshold=threshold,
        validation=classification_metrics(y_validation, p_validation, threshold),
        test=classification_metrics(y_test, p_test, threshold),
        fit_seconds=fit_seconds,
        test_curve=(y_test, p_test),
    )
    logger.info(
        "%s origin %d seed %d: test ROC-AUC %.4f, fitted in %.1f s", name, origin, seed, result.test["roc_auc"], fit_seconds
    )
    return result


def evaluate_candidate(
    name: str,
    factory: CandidateFactory,
    training_set: pd.DataFrame,
    settings: Settings,
    seed: int,
    origins: int = 3,
    step: int | None = None,
) -> list[OriginResult]:
    """Run one candidate through every rolling origin and return its results, origin 0 first."""
    return [
        evaluate_on_split(name, factory, splits, settings, seed, origin)
        for origin, splits in enumerate(rolling_splits(training_set, settings, origins, step))
    ]


def single_feature_roc_auc(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, float]:
    """Return max(AUC, 1 - AUC) of each numeric column used alone as a score of the label.

    Nulls take the column median. A value near 1 means the feature alone separates the
    classes, which on a retention label points to leakage; compare with LEAKAGE_ROC_AUC.
    """
    labels = frame[LABEL_COLUMN].to_numpy(dtype=np.int64)
    scores = {}
    for column in columns:
        values = pd.to_numeric(frame[column]).astype("float64")
        auc = float(roc_auc_score(labels, values.fillna(values.median()).fillna(0.0)))
        scores[column] = max(auc, 1.0 - auc)
    return scores


def _check_time_order(splits: TimeSplits) -> None:
    """Raise PipelineError unless every train snapshot precedes validation and validation precedes test."""
    ordered = [(name, frame[SNAPSHOT_COLUMN]) for name, frame in splits.frames().items()]
    for (earlier, earlier_times), (later, later_times) in zip(ordered, ordered[1:]):
        if earlier_times.max() >= later_times.min():
            raise PipelineError(
                f"The {earlier} window ends at {earlier_times.max()}, not before the {later} window starts at "
                f"{later_times.min()}. Build the splits with training.splits.split_by_time."
            )


def _checked_probabilities(name: str, values: Sequence[float], rows: int) -> np.ndarray:
    probabilities = np.asarray(values, dtype=np.float64).ravel()
    if len(probabilities) != rows:
        raise PipelineError(
            f"Candidate {name!r} returned {len(probabilities)} probabilities for {rows} rows. "
            "Its predict_proba must return one probability per row."
        )
    return probabilities
