"""Prediction for a list of user ids: online features from Feast, then the champion model.

Kept apart from the BentoML service so that tests and benchmarks call it in-process.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion

from feature_repo.definitions import FEATURE_SERVICE_NAME
from feature_repo.feature_columns import ENTITY_COLUMN, FEATURE_COLUMNS, NUMERIC_FEATURES
from feature_repo.store import get_feature_store, read_online_features
from retention.settings import Settings
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
    """Reads the users' online features and scores them with the champion model."""

    def __init__(self, settings: Settings, champion: ChampionModel | None = None) -> None:
        self.settings = settings
        self.store = get_feature_store(settings)
        self.champion = champion or load_champion(settings)

    def score_features(self, features: pd.DataFrame) -> list[float]:
        probabilities = self.champion.model.predict(features[list(FEATURE_COLUMNS)])
        return [float(p) for p in pd.Series(pd.DataFrame(probabilities).iloc[:, 0])]

    def predict(self, user_ids: list[str]) -> list[dict]:
        """Return one answer per user id, in request order.

        A user without online features gets `probability: None` and `known_user: False`
        instead of a made-up score.
        """
        features = read_online_features(self.store, user_ids)
        known = features[list(NUMERIC_FEATURES)].notna().all(axis=1)
        probabilities = [math.nan] * len(features)
        if known.any():
            scores = self.score_features(features[known])
            for position, score in zip(features.index[known], scores):
                probabilities[position] = score

        version = self.champion.version
        answers = []
        for position, user_id in enumerate(features[ENTITY_COLUMN]):
            is_known = bool(known.iloc[position])
            answers.append(
                {
                    "user_id": user_id,
                    "probability": probabilities[position] if is_known else None,
                    "known_user": is_known,
                    "model_name": version.name,
                    "model_version": str(version.version),
                    "feature_service": self.champion.feature_service,
                }
            )
        return answers
