"""Retraining as of a moment: only the snapshots whose labels were known then, through the gate."""

from __future__ import annotations

import logging

import pandas as pd

from feature_repo.definitions import FEATURE_SERVICE_NAME
from feature_repo.feature_columns import SNAPSHOT_COLUMN
from feature_repo.store import get_feature_store, read_training_frame
from retention.errors import PipelineError
from retention.settings import Settings
from training.train import TrainingSummary, train_models

logger = logging.getLogger(__name__)


def training_set_as_of(settings: Settings, as_of: pd.Timestamp) -> pd.DataFrame:
    """Return the point-in-time training set of the snapshots labelled by `as_of` (snapshot + horizon <= as_of)."""
    labels = pd.read_parquet(settings.labels_path)
    horizon = pd.Timedelta(days=settings.retention.horizon_days)
    known = labels.loc[pd.to_datetime(labels[SNAPSHOT_COLUMN], utc=True) + horizon <= as_of]
    if known.empty:
        raise PipelineError(
            f"No label is known at {as_of:%Y-%m-%d %H:%M} (labels need {settings.retention.horizon_days} days "
            f"after their snapshot; the first snapshot is {labels[SNAPSHOT_COLUMN].min()}). Retrain at a later week."
        )
    frame = read_training_frame(get_feature_store(settings), known.reset_index(drop=True), FEATURE_SERVICE_NAME)
    logger.info(
        "Training set as of %s: %d rows over %d snapshots", as_of, len(frame), frame[SNAPSHOT_COLUMN].nunique()
    )
    return frame


def retrain_as_of(settings: Settings, as_of: pd.Timestamp, context: dict[str, str]) -> TrainingSummary:
    """Train both candidates on the data known at `as_of` and send the better one through the promotion gate.

    `context` ("by", "trigger") is recorded with the gate's decision, together with data_as_of.
    """
    frame = training_set_as_of(settings, as_of)
    return train_models(frame, settings, FEATURE_SERVICE_NAME, {**context, "data_as_of": as_of.isoformat()})
