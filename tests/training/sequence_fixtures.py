"""Synthetic training sets with event-sequence columns, for the sequence-model and DDP tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from feature_repo.feature_columns import (
    LABEL_COLUMN,
    SEQUENCE_AMOUNT_COLUMN,
    SEQUENCE_CATEGORY_COLUMN,
    SEQUENCE_EVENT_TYPE_COLUMN,
    SEQUENCE_GAP_COLUMN,
)
from retention.settings import FeatureSettings, Settings, TrainingSettings
from tests.training.conftest import make_training_set

CATEGORIES = ("dairy", "produce", "bakery", "frozen", "snacks", "household")
SHORT_SEQUENCE_LENGTH = 8


def add_sequences(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Add array columns whose content depends on the label, as NumPy arrays like a Feast historical read.

    Retained rows lean towards "produce" and towards short gaps. About 5 % of rows have no events.
    """
    rng = np.random.default_rng(seed)
    columns: dict[str, list[np.ndarray]] = {
        SEQUENCE_CATEGORY_COLUMN: [],
        SEQUENCE_EVENT_TYPE_COLUMN: [],
        SEQUENCE_AMOUNT_COLUMN: [],
        SEQUENCE_GAP_COLUMN: [],
    }
    for label in frame[LABEL_COLUMN].to_numpy():
        length = 0 if rng.uniform() < 0.05 else int(rng.integers(1, 12))
        produce_share = 0.6 if label else 0.1
        weights = np.full(len(CATEGORIES), (1 - produce_share) / (len(CATEGORIES) - 1))
        weights[CATEGORIES.index("produce")] = produce_share
        gaps = np.sort(rng.exponential(4.0 if label else 12.0, length) + 0.01)[::-1]
        columns[SEQUENCE_CATEGORY_COLUMN].append(rng.choice(np.array(CATEGORIES, dtype=object), length, p=weights))
        columns[SEQUENCE_EVENT_TYPE_COLUMN].append(
            rng.choice(np.array(["purchase", "view"], dtype=object), length, p=[0.7, 0.3])
        )
        columns[SEQUENCE_AMOUNT_COLUMN].append(np.round(rng.lognormal(2.0, 0.8, length), 2))
        columns[SEQUENCE_GAP_COLUMN].append(gaps)
    result = frame.copy()
    for column, values in columns.items():
        result[column] = pd.Series(values, index=frame.index, dtype=object)
    return result


def sequence_only_training_set(users: int = 120, snapshots: int = 20, seed: int = 0) -> pd.DataFrame:
    """Return a training set whose labels are independent of the profile features but not of the sequence."""
    frame = make_training_set(users=users, snapshots=snapshots, seed=seed)
    rng = np.random.default_rng(seed + 1)
    frame[LABEL_COLUMN] = rng.permutation(frame[LABEL_COLUMN].to_numpy())
    return add_sequences(frame, seed)


def sequence_settings(home: Path, **training_overrides: Any) -> Settings:
    """Return settings under `home` with short sequences and few epochs, so a fit takes seconds."""
    training = replace(TrainingSettings(), **{"max_epochs": 6, "batch_size": 128, **training_overrides})
    return Settings(home=home, training=training, features=FeatureSettings(sequence_length=SHORT_SEQUENCE_LENGTH))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run the module's tiny networks on one thread and restore the previous count afterwards.

    Batches of a few hundred short sequences gain nothing from more threads, and on a busy
    machine several OpenMP threads per process slow training down many times over.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
