"""Synthetic point-in-time training sets with a learnable retention signal."""

from __future__ import annotations

import os

# MLflow sends usage telemetry to a remote host unless it is disabled, and tests must not leave this machine.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from feature_repo.feature_columns import ENTITY_COLUMN, LABEL_COLUMN, SNAPSHOT_COLUMN
from retention.settings import Settings, TrainingSettings

AGE_BANDS = ("19-24", "25-34", "35-44", "45-54", "55-64", "65+")
INCOME_BANDS = ("Under 15K", "15-24K", "25-34K", "35-49K", "50-74K", "75K+")
HOUSEHOLD_SIZES = ("1", "2", "3", "4", "5+")


def make_training_set(users: int = 300, snapshots: int = 30, seed: int = 0) -> pd.DataFrame:
    """Build `users` x `snapshots` weekly rows whose label depends on a latent engagement score.

    Engagement is a per-user level plus weekly noise. Recency falls and frequency and money
    rise with it, and the label is Bernoulli(sigmoid(2 * engagement - 0.3)). Some numeric
    values are NaN and some categories are null.
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=snapshots, freq="7D", tz="UTC")
    user_ids = np.array([f"u{index:04d}" for index in range(users)])

    user_level = rng.normal(0.0, 1.0, users)
    engagement = np.repeat(user_level, snapshots) * 0.8 + rng.normal(0.0, 0.6, users * snapshots)
    rows = users * snapshots

    frequency_30d = rng.poisson(np.exp(0.6 * engagement + 1.0)).astype(float)
    frequency_90d = frequency_30d * 3 + rng.poisson(2.0, rows)
    monetary_30d = frequency_30d * rng.lognormal(3.0, 0.5, rows)
    monetary_90d = frequency_90d * rng.lognormal(3.0, 0.5, rows) - rng.exponential(5.0, rows)
    interpurchase = np.where(frequency_90d > 0, 90.0 / np.maximum(frequency_90d, 1.0), np.nan)

    frame = pd.DataFrame(
        {
            ENTITY_COLUMN: np.repeat(user_ids, snapshots),
            SNAPSHOT_COLUMN: np.tile(times, users),
            "recency_days": np.exp(-0.8 * engagement + 2.0) * rng.lognormal(0.0, 0.3, rows),
            "frequency_30d": frequency_30d,
            "frequency_90d": frequency_90d,
            "monetary_30d": monetary_30d,
            "monetary_90d": monetary_90d,
            "frequency_trend": frequency_30d / (frequency_90d / 3.0 + 1.0),
            "monetary_trend": monetary_30d / (np.abs(monetary_90d) / 3.0 + 1.0),
            "avg_basket_value_90d": monetary_90d / np.maximum(frequency_90d, 1.0),
            "active_days_90d": np.minimum(frequency_90d, 90.0),
            "mean_interpurchase_days_90d": interpurchase,
            "discount_share_90d": rng.uniform(0.0, 1.0, rows),
            "category_diversity_90d": rng.poisson(3.0, rows).astype(float),
            "tenure_days": np.tile(np.arange(snapshots) * 7.0, users)
            + np.repeat(rng.uniform(0, 700, users), snapshots),
            "age_band": _categories(rng, AGE_BANDS, users, snapshots),
            "income_band": _categories(rng, INCOME_BANDS, users, snapshots),
            "household_size": _categories(rng, HOUSEHOLD_SIZES, users, snapshots),
        }
    )
    frame.loc[rng.uniform(size=rows) < 0.05, "recency_days"] = np.nan
    frame.loc[rng.uniform(size=rows) < 0.05, "discount_share_90d"] = np.nan

    probability = 1.0 / (1.0 + np.exp(-(2.0 * engagement - 0.3)))
    frame[LABEL_COLUMN] = (rng.uniform(size=rows) < probability).astype(np.int64)
    frame[SNAPSHOT_COLUMN] = frame[SNAPSHOT_COLUMN].astype("datetime64[ns, UTC]")
    return frame


def _categories(rng: np.random.Generator, values: tuple[str, ...], users: int, snapshots: int) -> np.ndarray:
    """Draw one attribute per user, null for about 10 % of users, repeated over the snapshots."""
    per_user = rng.choice(np.array(values, dtype=object), users)
    per_user[rng.uniform(size=users) < 0.1] = None
    return np.repeat(per_user, snapshots)


@pytest.fixture(scope="session")
def training_set() -> pd.DataFrame:
    return make_training_set()


def small_settings(home: Path, **training_overrides: Any) -> Settings:
    """Return default settings under `home` with at most 15 MLP epochs, so a test trains in seconds."""
    training = replace(TrainingSettings(), **{"max_epochs": 15, **training_overrides})
    return Settings(home=home, training=training)


@pytest.fixture(scope="session")
def make_settings() -> Callable[..., Settings]:
    return small_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return small_settings(tmp_path)
