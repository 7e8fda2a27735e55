"""Load the champion model version with everything needed to serve it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from feature_repo.definitions import FEATURE_SERVICE_NAME
from feature_repo.store import get_feature_store
from retention.errors import PipelineError
from retention.settings import Settings
from serving.cold_start import ColdStartAnswer, cold_start_answer
from serving.feature_schema import FeatureSchema
from serving.online_features import OnlineFeatureReader
from serving.scoring import ModelScorer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """One model version with its feature reader, input schema and cold-start probability.

    The predictor swaps the whole object when the champion changes, so a request that has
    taken a reference to it finishes with the version it started with.
    """

    name: str
    version: str
    feature_service: str
    scorer: ModelScorer
    reader: OnlineFeatureReader
    cold_start: ColdStartAnswer

    @property
    def schema(self) -> FeatureSchema:
        return self.scorer.schema


def champion_version(settings: Settings) -> ModelVersion:
    """Return the model version behind the champion alias; raise PipelineError when there is none."""
    name = settings.registry.registered_model_name
    alias = settings.registry.champion_alias
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise PipelineError(
            f"Cannot resolve alias {alias!r} of registered model {name!r} in {settings.mlflow_tracking_uri}: "
            f"{error.message} Run training first, or set the alias on an existing version."
        ) from error


def load_serving_model(settings: Settings, version: ModelVersion | None = None) -> ServingModel:
    """Load `version` (by default the champion) by its number, so a moving alias cannot mix two versions."""
    version = version or champion_version(settings)
    model = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    feature_service = (version.tags or {}).get("feature_service", FEATURE_SERVICE_NAME)
    store = get_feature_store(_with_redis_options(settings))
    schema = FeatureSchema.from_feature_service(store, feature_service)
    scorer = ModelScorer.for_model(model, schema)
    cold_start = cold_start_answer(version, settings.training_set_path)
    logger.info(
        "Loaded %s version %s on feature service %s (fast path: %s, explains: %s, cold-start probability %s from %s)",
        version.name,
        version.version,
        feature_service,
        scorer.fast_path_name or "none",
        scorer.explains,
        cold_start.probability,
        cold_start.source,
    )
    return ServingModel(
        name=version.name,
        version=str(version.version),
        feature_service=feature_service,
        scorer=scorer,
        reader=OnlineFeatureReader(store, feature_service),
        cold_start=cold_start,
    )


def _with_redis_options(settings: Settings) -> Settings:
    """Give the Redis client short timeouts and no retries, so a failing Redis fails requests in about a second.

    redis-py 7 otherwise retries three times with exponential backoff, which keeps a request
    waiting for seconds before it fails. Feast passes the `key=value` items of the connection string, JSON-decoded,
    to redis.Redis as keyword arguments; retry=null means no retry.
    """
    if settings.profile != "production" or "socket_timeout" in settings.redis_url:
        return settings
    timeout = settings.serving.store_timeout_seconds
    options = f"socket_timeout={timeout},socket_connect_timeout={timeout},retry=null"
    return replace(settings, redis_url=f"{settings.redis_url},{options}")
