"""Prediction for a list of user ids or feature rows: online features from Feast, then the champion model.

Kept apart from the BentoML service so that tests and benchmarks call it in-process.
"""

from __future__ import annotations

import logging
import math
import threading
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion

from feature_repo.definitions import FEATURE_SERVICE_NAME
from feature_repo.feature_columns import ENTITY_COLUMN
from feature_repo.ingestion.privacy import privacy_record_path, read_privacy_record, stored_id_function
from retention.settings import ServingSettings, Settings
from serving import metrics
from serving.champion import ServingModel, champion_version, load_serving_model
from serving.errors import OnlineStoreUnavailableError, RateLimitedLog, ReloadFailedError
from training import registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionModel:
    model: mlflow.pyfunc.PyFuncModel
    version: ModelVersion

    @property
    def feature_service(self) -> str:
        return self.version.tags.get("feature_service", FEATURE_SERVICE_NAME)


def load_champion(settings: Settings) -> ChampionModel:
    """Load the model version behind the champion alias from the MLflow registry."""
    model, version = registry.load_champion(settings)
    return ChampionModel(model=model, version=version)


class RetentionPredictor:
    """Reads the users' online features and scores them with the current champion.

    `reload` replaces `self.model` as a whole. Every request reads it once, so requests in
    flight during a switch finish on the version they started with.
    """

    def __init__(self, settings: Settings, model: ServingModel | None = None) -> None:
        self.settings = settings
        self.model = model or load_serving_model(settings)
        # When the ingestion pseudonymized the ids, the store is keyed by HMAC(id) under the same key.
        self.stored_id = stored_id_function(read_privacy_record(privacy_record_path(settings.data_dir)))
        self._store_log = RateLimitedLog(logger, settings.serving.store_error_log_seconds)
        self._reload_lock = threading.Lock()
        metrics.model_version().set(_version_number(self.model.version))

    def predict(self, user_ids: list[str], explain: bool = True) -> list[dict[str, Any]]:
        """Return one prediction per user id, in request order.

        A user without online features gets the cold-start probability: the base retention rate of
        the champion's training data, flagged `cold_start: true`. Raises OnlineStoreUnavailableError
        when the online store cannot be read.
        """
        model = self.model
        try:
            rows = model.reader.read([self.stored_id(user_id) for user_id in user_ids])
        except OnlineStoreUnavailableError as error:
            metrics.online_store_errors().inc()
            self._store_log.error("Online store read failed for %d user id(s): %s", len(user_ids), error.message)
            raise
        self._store_log.recovered("Reading the online feature store works again")

        known = [position for position, found in enumerate(rows.found) if found]
        probabilities: list[float | None] = [model.cold_start.probability] * len(user_ids)
        reasons: list[list[dict[str, Any]]] = [[] for _ in user_ids]
        if known:
            columns = {name: [values[position] for position in known] for name, values in rows.columns.items()}
            scores = model.scorer.score(columns, self._top_k(explain))
            for index, position in enumerate(known):
                probabilities[position] = float(scores.probabilities[index])
                if scores.reasons is not None:
                    reasons[position] = scores.reasons[index]

        metrics.count_answers("predict", len(user_ids), len(user_ids) - len(known))
        return [
            self._answer(model, user_id, probabilities[position], not rows.found[position],
                         rows.snapshot_times[position], reasons[position])
            for position, user_id in enumerate(user_ids)
        ]

    def predict_rows(self, rows: list[dict[str, Any]], explain: bool = True) -> list[dict[str, Any]]:
        """Return one prediction per feature row; raise InvalidRequestError when a row does not match the schema."""
        model = self.model
        model.schema.validate_rows(rows)
        columns = {name: [row[name] for row in rows] for name in model.schema.names}
        scores = model.scorer.score(columns, self._top_k(explain))
        metrics.count_answers("predict_features", len(rows), 0)
        return [
            self._answer(model, row.get(ENTITY_COLUMN), float(scores.probabilities[index]), False, None,
                         scores.reasons[index] if scores.reasons is not None else [])
            for index, row in enumerate(rows)
        ]

    def reload(self) -> bool:
        """Load the version behind the champion alias when it differs from the current one; return whether it did."""
        with self._reload_lock:
            current = self.model
            try:
                version = champion_version(self.settings)
                if str(version.version) == current.version:
                    return False
                model = load_serving_model(self.settings, version)
            # Whatever fails (registry, artifact store, Feast registry, a broken model), the current
            # model keeps serving, and the caller gets the reason.
            except Exception as error:  # noqa: BLE001
                metrics.model_reloads().labels(outcome="failed").inc()
                raise ReloadFailedError(
                    f"Loading the champion failed, so version {current.version} keeps serving: "
                    f"{type(error).__name__}: {error}"
                ) from error
            previous, self.model = current, model
        metrics.model_reloads().labels(outcome="loaded").inc()
        metrics.model_version().set(_version_number(model.version))
        logger.info("Switched from %s version %s to version %s", model.name, previous.version, model.version)
        return True

    def _top_k(self, explain: bool) -> int | None:
        return self.settings.serving.top_reasons if explain else None

    def _answer(
        self,
        model: ServingModel,
        user_id: str | None,
        probability: float | None,
        cold_start: bool,
        computed_at: datetime | None,
        reasons: list[dict[str, Any]],
    ) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "probability": probability,
            "risk_tier": risk_tier(probability, self.settings.serving),
            "cold_start": cold_start,
            "model_name": model.name,
            "model_version": model.version,
            "feature_service": model.feature_service,
            "features_computed_at": computed_at.isoformat().replace("+00:00", "Z") if computed_at else None,
            "reasons": reasons,
        }



def risk_tier(probability: float | None, config: ServingSettings) -> str | None:
    """Return the tier of the probability: a low retention probability is a high risk of churn.

    NOTE: both models train with a class-weighted loss, so their probabilities are not
    calibrated retention rates, and fixed cut points split them only approximately.
    """
    if probability is None or math.isnan(probability):
        return None
    return config.risk_tier_names[bisect_right(config.risk_tier_cut_points, probability)]


def _version_number(version: str) -> float:
    return float(version) if version.isdigit() else float("nan")
