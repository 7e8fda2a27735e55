"""The interface every retention model of the benchmark implements, and their registry.

A candidate is fitted on the train split, may use the validation split for early stopping or
threshold choice, and predicts probabilities for any frame with the same columns. Frames contain
user_id, snapshot_time, label and the feature service's columns. Sequence models also read the
array columns of the event-sequence feature view when the frame has them.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
import pandas as pd

from retention.settings import Settings


class RetentionCandidate(Protocol):
    name: str

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, settings: Settings, seed: int) -> None:
        """Fit on `train`; `validation` is for early stopping only, never for gradient steps."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return one retention probability per row of `frame`, shape (n,)."""


CandidateFactory = Callable[[], RetentionCandidate]
CANDIDATES: dict[str, CandidateFactory] = {}


def register_candidate(name: str) -> Callable[[CandidateFactory], CandidateFactory]:
    """Register a factory under `name` so the benchmark and the training asset can build it."""

    def decorator(factory: CandidateFactory) -> CandidateFactory:
        if name in CANDIDATES:
            raise ValueError(f"a retention candidate named {name!r} is already registered")
        CANDIDATES[name] = factory
        return factory

    return decorator
