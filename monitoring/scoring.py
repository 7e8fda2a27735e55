"""Weekly batch scoring with the champion, the delayed labels and the champion's drift reference.

Scoring a week loads that week's feature rows into the Feast online store and reads them back
for every active user, which is a user with a feature row at the week's snapshot (eligible by
the lookback rule). It stores one prediction per user with the model version and feature service.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from feature_repo.definitions import FEATURE_SERVICE_NAME
from feature_repo.feature_columns import ENTITY_COLUMN, FEATURE_COLUMNS, LABEL_COLUMN, SEQUENCE_COLUMNS, SNAPSHOT_COLUMN
from feature_repo.store import get_feature_store, materialize_latest, read_online_features
from monitoring.weeks import predictions_path, reference_path, week_window
from retention.errors import PipelineError
from retention.io import write_parquet_atomic
from retention.settings import Settings
from training.promotion import DATA_AS_OF_TAG, TEST_ROC_AUC_TAG

logger = logging.getLogger(__name__)

PREDICTION_COLUMN = "prediction"
WEEK_COLUMN = "week"
REFERENCE_SEED = 0


@dataclass(frozen=True)
class Champion:
    """The version behind the champion alias, with what monitoring needs from its tags."""

    name: str
    version: str
    model_type: str
    feature_service: str
    # The version's ROC-AUC on its test window when it was promoted; NaN when unknown.
    test_roc_auc: float
    # When its newest training label became known; None when unknown.
    data_as_of: pd.Timestamp | None
    # First and last snapshot of the test window of its training run.
    test_window: tuple[pd.Timestamp, pd.Timestamp] | None
    model: mlflow.pyfunc.PyFuncModel

    @property
    def input_columns(self) -> list[str]:
        return self.model.metadata.get_input_schema().input_names()

    def age_weeks(self, moment: pd.Timestamp) -> float:
        """Return the weeks from data_as_of to `moment`, or NaN when data_as_of is unknown."""
        if self.data_as_of is None:
            return math.nan
        return (moment - self.data_as_of) / pd.Timedelta(weeks=1)


def load_current_champion(settings: Settings) -> Champion:
    """Resolve the champion alias and load that version."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    name, alias = settings.registry.registered_model_name, settings.registry.champion_alias
    try:
        version = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise PipelineError(
            f"Cannot resolve @{alias} of registered model {name!r} in {settings.mlflow_tracking_uri}: "
            f"{error.message} Train a champion first (the retraining job or `retention demo`)."
        ) from error
    return load_model_version(settings, str(version.version))


def load_model_version(settings: Settings, version: str) -> Champion:
    """Load one version of the registered model (cached per version within the process) with its tags."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    name = settings.registry.registered_model_name
    try:
        model_version = MlflowClient().get_model_version(name, version)
    except MlflowException as error:
        raise PipelineError(
            f"Version {version} of registered model {name!r} is not in {settings.mlflow_tracking_uri}: "
            f"{error.message} Check the model_version column of the predictions."
        ) from error
    tags = model_version.tags or {}
    return Champion(
        name=name,
        version=version,
        model_type=tags.get("model_type", "unknown"),
        feature_service=tags.get("feature_service", FEATURE_SERVICE_NAME),
        test_roc_auc=float(tags.get(TEST_ROC_AUC_TAG, "nan")),
        data_as_of=pd.Timestamp(tags[DATA_AS_OF_TAG]) if tags.get(DATA_AS_OF_TAG) else None,
        test_window=_window(tags.get("test_window")),
        model=_load_model(settings.mlflow_tracking_uri, name, version, model_version.source or ""),
    )


# The source is part of the key, so a recreated registry that reuses a version number loads its own model.
@functools.lru_cache(maxsize=8)
def _load_model(tracking_uri: str, name: str, version: str, source: str) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}")


def week_features(features: pd.DataFrame, week: str) -> pd.DataFrame:
    """Return the feature rows of the week's snapshot; raise PipelineError when the week has none."""
    start, end = week_window(week)
    times = pd.to_datetime(features[SNAPSHOT_COLUMN], utc=True)
    rows = features.loc[(times >= start) & (times < end)]
    if rows.empty:
        first, last = times.min(), times.max()
        raise PipelineError(
            f"Week {week} has no feature snapshot; the snapshots span {first:%Y-%m-%d} to {last:%Y-%m-%d}. "
            "Pick a week inside that range, or rebuild the features."
        )
    return rows.reset_index(drop=True)


def score_week(settings: Settings, week: str, week_rows: pd.DataFrame, champion: Champion) -> pd.DataFrame:
    """Materialize the week to the online store, score its active users, write and return the predictions."""
    store = get_feature_store(settings)
    start, end = week_window(week)
    # Feast 0.67's DuckDB offline store includes both bounds, so stop one second before the next week.
    materialize_latest(store, start.to_pydatetime(), (end - pd.Timedelta(seconds=1)).to_pydatetime())
    user_ids = week_rows[ENTITY_COLUMN].astype(str).tolist()
    online = read_online_features(store, user_ids, champion.feature_service)
    missing = [column for column in champion.input_columns if column not in online.columns]
    if missing:
        raise PipelineError(
            f"Feature service {champion.feature_service!r} returned no column(s) {missing} that champion version "
            f"{champion.version} reads. Apply the feature definitions (the feast_feature_store asset) and retry."
        )

    probabilities = np.asarray(champion.model.predict(online[champion.input_columns]), dtype=np.float64).ravel()
    predictions = online[[ENTITY_COLUMN, *[c for c in FEATURE_COLUMNS if c in online.columns]]].copy()
    predictions[SNAPSHOT_COLUMN] = week_rows[SNAPSHOT_COLUMN].iloc[0]
    predictions[WEEK_COLUMN] = week
    predictions[PREDICTION_COLUMN] = probabilities
    predictions["model_name"] = champion.name
    predictions["model_version"] = champion.version
    predictions["model_type"] = champion.model_type
    predictions["feature_service"] = champion.feature_service
    write_parquet_atomic(predictions, predictions_path(settings, week))
    logger.info("Scored %d users of week %s with %s version %s", len(predictions), week, champion.name, champion.version)
    return predictions


def join_realized_labels(settings: Settings, week: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Add the realized label to the week's predictions once its horizon has passed at `as_of`.

    Rows without a label (the data ends before their horizon does) are dropped. The labelled
    predictions are written back to the week's file and returned.
    """
    path = predictions_path(settings, week)
    if not path.exists():
        raise PipelineError(f"Week {week} has no predictions at {path}. Score the week first (weekly_predictions).")
    predictions = pd.read_parquet(path).drop(columns=[LABEL_COLUMN], errors="ignore")
    snapshot = pd.Timestamp(predictions[SNAPSHOT_COLUMN].iloc[0])
    matures_at = snapshot + pd.Timedelta(days=settings.retention.horizon_days)
    if matures_at > as_of:
        raise PipelineError(
            f"The labels of week {week} (snapshot {snapshot:%Y-%m-%d}) are known from {matures_at:%Y-%m-%d %H:%M} on, "
            f"after {as_of:%Y-%m-%d %H:%M}. Evaluate that week's performance later."
        )
    labels = pd.read_parquet(settings.labels_path, columns=[ENTITY_COLUMN, SNAPSHOT_COLUMN, LABEL_COLUMN])
    labels = labels.loc[pd.to_datetime(labels[SNAPSHOT_COLUMN], utc=True) == snapshot, [ENTITY_COLUMN, LABEL_COLUMN]]
    labels[ENTITY_COLUMN] = labels[ENTITY_COLUMN].astype(str)
    predictions[ENTITY_COLUMN] = predictions[ENTITY_COLUMN].astype(str)
    labelled = predictions.merge(labels, on=ENTITY_COLUMN, how="inner", validate="one_to_one")
    write_parquet_atomic(labelled, path)
    return labelled


def champion_reference(settings: Settings, champion: Champion) -> pd.DataFrame:
    """Return the champion's drift reference: its test window, with labels and its predictions.

    The test window is the newest data of the champion's training run. It is also the only part
    whose predictions are out of sample, as served predictions are. Train-window predictions are
    fitted, so their distribution would differ from any served week. The sample (at most
    [monitoring] max_reference_rows rows, seeded) is computed once per version and stored.
    """
    path = reference_path(settings, champion.version)
    if path.exists():
        return pd.read_parquet(path)
    if champion.test_window is None:
        raise PipelineError(
            f"Champion version {champion.version} has no test_window tag, so its reference data is unknown. "
            "Register models through training/train.py, which tags the split windows."
        )
    first, last = champion.test_window
    features = pd.read_parquet(settings.features_path)
    times = pd.to_datetime(features[SNAPSHOT_COLUMN], utc=True)
    rows = features.loc[(times >= first) & (times <= last)]
    labels = pd.read_parquet(settings.labels_path, columns=[ENTITY_COLUMN, SNAPSHOT_COLUMN, LABEL_COLUMN])
    rows = rows.merge(labels, on=[ENTITY_COLUMN, SNAPSHOT_COLUMN], how="inner")
    if any(column in champion.input_columns for column in SEQUENCE_COLUMNS):
        rows = _with_sequences(settings, rows)
    if len(rows) > settings.monitoring.max_reference_rows:
        rows = rows.sample(settings.monitoring.max_reference_rows, random_state=REFERENCE_SEED)
    rows = rows.reset_index(drop=True)
    if rows.empty:
        raise PipelineError(
            f"No labelled feature rows fall into the test window {first} to {last} of champion version "
            f"{champion.version}. Rebuild the features of the data the champion was trained on."
        )
    rows[PREDICTION_COLUMN] = np.asarray(champion.model.predict(rows[champion.input_columns]), dtype=np.float64)
    write_parquet_atomic(rows, path)
    return rows


def _with_sequences(settings: Settings, rows: pd.DataFrame) -> pd.DataFrame:
    """Add the recent-event arrays of each row, None where the user had no event, as Feast serves them."""
    sequences = pd.read_parquet(settings.sequences_path, columns=[ENTITY_COLUMN, SNAPSHOT_COLUMN, *SEQUENCE_COLUMNS])
    merged = rows.merge(sequences, on=[ENTITY_COLUMN, SNAPSHOT_COLUMN], how="left")
    for column in SEQUENCE_COLUMNS:
        merged[column] = merged[column].astype(object).where(merged[column].notna(), None)
    return merged


def _window(value: str | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if not value or "/" not in value:
        return None
    first, last = value.split("/", 1)
    return pd.Timestamp(first), pd.Timestamp(last)
