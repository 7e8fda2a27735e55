"""The probability returned for a user without online features: the base retention rate of the champion's training data."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.entities.model_registry import ModelVersion

from feature_repo.feature_columns import LABEL_COLUMN, SNAPSHOT_COLUMN

logger = logging.getLogger(__name__)

# Model version tag with the share of positive labels in the train split, written at registration.
BASE_RATE_TAG = "base_retention_rate"
# Model version tag "<first snapshot>/<last snapshot>" (ISO 8601) of the train split.
TRAIN_WINDOW_TAG = "train_window"


@dataclass(frozen=True)
class ColdStartAnswer:
    # The probability returned for an unknown user, or None when no base rate is available.
    probability: float | None
    # Source of the probability, written to the startup log.
    source: str


def cold_start_answer(version: ModelVersion, training_set_path: Path) -> ColdStartAnswer:
    """Return the base retention rate of the version's train split.

    The rate comes from the version tag base_retention_rate when present. Otherwise it is the
    mean label of the training-set rows inside the version's train_window tag, computed once
    here. Without either, the probability is None.
    """
    tags = version.tags or {}
    if BASE_RATE_TAG in tags:
        return ColdStartAnswer(float(tags[BASE_RATE_TAG]), f"model version tag {BASE_RATE_TAG}")

    window = tags.get(TRAIN_WINDOW_TAG)
    if window and training_set_path.exists():
        start, _, end = window.partition("/")
        frame = pd.read_parquet(training_set_path, columns=[SNAPSHOT_COLUMN, LABEL_COLUMN])
        snapshots = pd.to_datetime(frame[SNAPSHOT_COLUMN], utc=True)
        in_window = frame.loc[snapshots.between(pd.Timestamp(start), pd.Timestamp(end)), LABEL_COLUMN]
        if len(in_window):
            return ColdStartAnswer(
                float(in_window.mean()),
                f"mean label of {len(in_window)} rows of {training_set_path} in the train window {window}",
            )

    logger.warning(
        "No base retention rate for %s version %s: it has no %s tag, and %s has no rows in its %s %r. "
        "Users without online features get a null probability with cold_start true.",
        version.name,
        version.version,
        BASE_RATE_TAG,
        training_set_path,
        TRAIN_WINDOW_TAG,
        window,
    )
    return ColdStartAnswer(None, "none")
