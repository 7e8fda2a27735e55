"""Event sequences as padded tensors: vocabularies and numeric scales fitted on train only.

Sequences arrive as array columns: NumPy arrays from Feast historical reads, Python lists from
online reads, None where a user has no sequence row. Each is truncated to its last
`sequence_length` events and right-padded with PAD_ID, so position 0 is the oldest event kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from feature_repo.feature_columns import (
    ENTITY_COLUMN,
    SEQUENCE_AMOUNT_COLUMN,
    SEQUENCE_CATEGORY_COLUMN,
    SEQUENCE_COLUMNS,
    SEQUENCE_EVENT_TYPE_COLUMN,
    SEQUENCE_GAP_COLUMN,
)
from retention.errors import InputDataError
from training.config import SequenceInputConfig
from training.preprocessing import FeaturePreprocessor, signed_log1p

FORMAT_VERSION = 1
PAD_ID = 0
# Categories and event types not in the train vocabulary, or too rare there.
UNKNOWN_ID = 1
# Hides the category of each event whose category masked-event pre-training predicts.
MASK_ID = 2
FIRST_TOKEN_ID = 3
# Per event: signed log1p of the amount and log1p of the days to the snapshot, both standardized.
NUMERIC_CHANNELS = 2


@dataclass(frozen=True)
class Vocabulary:
    """Token ids of the values seen in train: value tokens[i] has id FIRST_TOKEN_ID + i."""

    tokens: tuple[str, ...]

    @property
    def size(self) -> int:
        return FIRST_TOKEN_ID + len(self.tokens)

    @classmethod
    def fit(cls, values: np.ndarray, min_count: int) -> Vocabulary:
        counts = pd.Series(values, dtype="object").value_counts()
        return cls(tokens=tuple(sorted(str(value) for value in counts[counts >= min_count].index)))

    def lookup(self, values: np.ndarray) -> np.ndarray:
        """Return the int64 ids of `values`; values outside the vocabulary get UNKNOWN_ID."""
        codes = pd.Categorical(values, categories=list(self.tokens)).codes.astype(np.int64)
        return np.where(codes < 0, UNKNOWN_ID, codes + FIRST_TOKEN_ID)


@dataclass(frozen=True)
class SequenceTensors:
    categories: torch.Tensor  # (rows, length) int64
    event_types: torch.Tensor  # (rows, length) int64
    numeric: torch.Tensor  # (rows, length, NUMERIC_CHANNELS) float32
    lengths: torch.Tensor  # (rows,) int64, real events per row; positions >= length are padding

    def __len__(self) -> int:
        return len(self.lengths)

    def as_tuple(self) -> tuple[torch.Tensor, ...]:
        return self.categories, self.event_types, self.numeric, self.lengths


@dataclass(frozen=True)
class SequenceEncoder:
    """Turns the array columns of a frame into padded tensors, fitted on the train split."""

    length: int
    categories: Vocabulary
    event_types: Vocabulary
    numeric_means: tuple[float, ...]
    numeric_stds: tuple[float, ...]

    @classmethod
    def fit(cls, train: pd.DataFrame, config: SequenceInputConfig) -> SequenceEncoder:
        columns = _flat_columns(train, config.sequence_length)
        numeric = _numeric_channels(columns)
        means = np.zeros(NUMERIC_CHANNELS)
        stds = np.ones(NUMERIC_CHANNELS)
        if np.isfinite(numeric).any():
            means = np.nan_to_num(np.nanmean(numeric, axis=0))
            stds = np.nan_to_num(np.nanstd(numeric, axis=0))
        return cls(
            length=config.sequence_length,
            categories=Vocabulary.fit(columns[SEQUENCE_CATEGORY_COLUMN], config.min_category_count),
            event_types=Vocabulary.fit(columns[SEQUENCE_EVENT_TYPE_COLUMN], 1),
            numeric_means=tuple(float(value) for value in means),
            # A constant channel is centred and left unscaled.
            numeric_stds=tuple(float(value) if value > 0 else 1.0 for value in stds),
        )

    def encode(self, frame: pd.DataFrame) -> SequenceTensors:
        columns = _flat_columns(frame, self.length)
        lengths = columns["lengths"]
        rows = np.repeat(np.arange(len(lengths)), lengths)
        positions = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)

        categories = np.full((len(lengths), self.length), PAD_ID, dtype=np.int64)
        categories[rows, positions] = self.categories.lookup(columns[SEQUENCE_CATEGORY_COLUMN])
        event_types = np.full((len(lengths), self.length), PAD_ID, dtype=np.int64)
        event_types[rows, positions] = self.event_types.lookup(columns[SEQUENCE_EVENT_TYPE_COLUMN])

        scaled = (_numeric_channels(columns) - np.array(self.numeric_means)) / np.array(self.numeric_stds)
        numeric = np.zeros((len(lengths), self.length, NUMERIC_CHANNELS), dtype=np.float32)
        numeric[rows, positions] = np.nan_to_num(scaled, nan=0.0)

        return SequenceTensors(
            categories=torch.from_numpy(categories),
            event_types=torch.from_numpy(event_types),
            numeric=torch.from_numpy(numeric),
            lengths=torch.from_numpy(lengths.astype(np.int64)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "length": self.length,
            "categories": list(self.categories.tokens),
            "event_types": list(self.event_types.tokens),
            "numeric_means": list(self.numeric_means),
            "numeric_stds": list(self.numeric_stds),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> SequenceEncoder:
        if document.get("format_version") != FORMAT_VERSION:
            raise InputDataError(
                f"Sequence encoder format_version {document.get('format_version')!r} is not supported, because "
                f"this code reads version {FORMAT_VERSION}. Retrain the model with this version of the code."
            )
        return cls(
            length=int(document["length"]),
            categories=Vocabulary(tuple(document["categories"])),
            event_types=Vocabulary(tuple(document["event_types"])),
            numeric_means=tuple(document["numeric_means"]),
            numeric_stds=tuple(document["numeric_stds"]),
        )


def classification_dataset(
    frame: pd.DataFrame,
    encoder: SequenceEncoder,
    preprocessor: FeaturePreprocessor,
    labels: np.ndarray | None = None,
) -> TensorDataset:
    """Return (categories, event_types, numeric, lengths, profile[, labels]) rows of `frame`.

    `profile` is the preprocessed profile feature matrix, shape (rows, profile features).
    """
    tensors = [*encoder.encode(frame).as_tuple(), torch.from_numpy(preprocessor.transform(frame))]
    if labels is not None:
        tensors.append(torch.as_tensor(labels, dtype=torch.float32))
    return TensorDataset(*tensors)


def _flat_columns(frame: pd.DataFrame, length: int) -> dict[str, np.ndarray]:
    """Return each sequence column's last `length` values of all rows, concatenated, and the lengths."""
    missing = [column for column in SEQUENCE_COLUMNS if column not in frame.columns]
    if missing:
        raise InputDataError(
            f"The frame lacks the event-sequence column(s) {missing}. Sequence models read the feature "
            "service user_retention_seq_v1; build the training set or the online request from it."
        )
    cells = {column: [_last_values(cell, length, column) for cell in frame[column]] for column in SEQUENCE_COLUMNS}
    lengths = {column: np.array([len(values) for values in cells[column]], dtype=np.int64) for column in cells}
    reference = lengths[SEQUENCE_CATEGORY_COLUMN]
    for column, column_lengths in lengths.items():
        mismatched = np.flatnonzero(column_lengths != reference)
        if len(mismatched):
            row = frame.iloc[mismatched[0]]
            raise InputDataError(
                f"The event sequence of user {row.get(ENTITY_COLUMN)!r} has {column_lengths[mismatched[0]]} values "
                f"in {column!r} but {reference[mismatched[0]]} in {SEQUENCE_CATEGORY_COLUMN!r}. Every sequence "
                "column must hold one value per event; rebuild the sequences with feature_repo.sequences."
            )
    flat: dict[str, np.ndarray] = {"lengths": reference}
    for column, values in cells.items():
        kind = object if column in (SEQUENCE_CATEGORY_COLUMN, SEQUENCE_EVENT_TYPE_COLUMN) else np.float64
        flat[column] = np.concatenate(values).astype(kind) if values else np.zeros(0, dtype=kind)
    return flat


def _last_values(cell: Any, length: int, column: str) -> np.ndarray:
    if cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell)):
        return np.zeros(0, dtype=object)
    values = np.asarray(cell, dtype=object)
    if values.ndim != 1:
        raise InputDataError(
            f"The sequence column {column!r} contains {cell!r}, which is not a one-dimensional array. "
            "Send one list of values per row, as the feature service user_retention_seq_v1 returns."
        )
    return values[-length:]


def _numeric_channels(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Return the (events, NUMERIC_CHANNELS) matrix: signed log1p amount and log1p days to the snapshot."""
    amounts = signed_log1p(np.asarray(columns[SEQUENCE_AMOUNT_COLUMN], dtype=np.float64))
    gaps = np.log1p(np.clip(np.asarray(columns[SEQUENCE_GAP_COLUMN], dtype=np.float64), 0.0, None))
    return np.stack([amounts, gaps], axis=1)
