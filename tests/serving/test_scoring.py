"""The in-process parts of serving on the demo home: fast paths, online reads and the cold-start rate."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from feature_repo.feature_columns import FEATURE_COLUMNS
from feature_repo.store import get_feature_store, read_online_features
from serving.cold_start import cold_start_answer
from serving.feature_schema import FeatureSchema
from serving.online_features import OnlineFeatureReader
from serving.scoring import NumpyLightGBM, NumpyMLP, fast_path_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def store(local_settings):
    return get_feature_store(local_settings)


@pytest.fixture(scope="module")
def online(store, fixture_user_ids) -> pd.DataFrame:
    return read_online_features(store, fixture_user_ids, include_snapshot_time=True)


def _model_of_type(settings, model_type: str):
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    name = settings.registry.registered_model_name
    versions = MlflowClient().search_model_versions(f"name = '{name}'")
    version = next(v for v in versions if v.tags.get("model_type") == model_type)
    return mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")


def _columns(frame: pd.DataFrame) -> dict[str, list]:
    return {column: [None if pd.isna(value) else value for value in frame[column]] for column in FEATURE_COLUMNS}


def _edge_rows(online: pd.DataFrame) -> pd.DataFrame:
    """Rows with a never-seen category, a null category and null or infinite numbers."""
    rows = online.head(3).copy()
    rows.loc[rows.index[0], "age_band"] = "never-seen-band"
    rows.loc[rows.index[1], "income_band"] = None
    rows.loc[rows.index[1], "recency_days"] = np.nan
    rows.loc[rows.index[2], "monetary_90d"] = np.inf
    return rows


@pytest.mark.parametrize("model_type, fast_class", [("mlp", NumpyMLP), ("lightgbm", NumpyLightGBM)])
def test_fast_path_equals_pyfunc(local_settings, online, model_type, fast_class):
    model = _model_of_type(local_settings, model_type)
    fast = fast_path_for(model)
    assert isinstance(fast.raw, fast_class)
    assert fast.calibrator.method == "platt"
    for frame in (online, _edge_rows(online)):
        expected = np.asarray(model.predict(frame[list(FEATURE_COLUMNS)]), dtype=np.float64)
        assert np.max(np.abs(fast.predict(_columns(frame)) - expected)) < 1e-6


def test_reader_matches_feast_read(store, online, fixture_user_ids):
    reader = OnlineFeatureReader(store, "user_retention_v1")
    rows = reader.read(fixture_user_ids)
    assert rows.found == [True] * len(fixture_user_ids)
    assert rows.snapshot_times == [time.to_pydatetime() for time in online.snapshot_time]
    for column in FEATURE_COLUMNS:
        assert rows.columns[column] == _columns(online)[column], column


def test_reader_marks_absent_users(store):
    rows = OnlineFeatureReader(store, "user_retention_v1").read(["no-such-user"])
    assert rows.found == [False]
    assert rows.snapshot_times == [None]
    assert rows.columns["recency_days"] == [None]


def test_base_rate_from_train_window(local_settings):
    client = MlflowClient(tracking_uri=local_settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(
        local_settings.registry.registered_model_name, local_settings.registry.champion_alias
    )
    training = pd.read_parquet(local_settings.training_set_path)
    start, end = version.tags["train_window"].split("/")
    in_window = training[pd.to_datetime(training.snapshot_time, utc=True).between(pd.Timestamp(start), pd.Timestamp(end))]
    answer = cold_start_answer(version, local_settings.training_set_path)
    assert answer.probability == pytest.approx(in_window.label.mean())
    assert 0 < answer.probability < 1


def test_base_rate_tag_wins(local_settings):
    client = MlflowClient(tracking_uri=local_settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(
        local_settings.registry.registered_model_name, local_settings.registry.champion_alias
    )
    version.tags["base_retention_rate"] = "0.25"
    assert cold_start_answer(version, local_settings.training_set_path).probability == 0.25


def test_base_rate_unknown_is_none(local_settings, tmp_path):
    client = MlflowClient(tracking_uri=local_settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(
        local_settings.registry.registered_model_name, local_settings.registry.champion_alias
    )
    assert cold_start_answer(version, tmp_path / "missing.parquet").probability is None


def test_schema_lists_service_features(store):
    schema = FeatureSchema.from_feature_service(store, "user_retention_v1")
    assert schema.names == list(FEATURE_COLUMNS)
