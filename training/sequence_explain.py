"""Explanations of a sequence model: integrated gradients over the profile, one share for the events.

The reference is the MLP's: the train median of every numeric feature and the unknown
category, here with no event at all. A row's log-odds minus the reference's is split in two
steps. Integrated gradients move the profile from the reference to the row while the row's
events stay fixed, which gives one contribution per profile feature. The difference that the
row's events make at the reference profile is the contribution named "recent_events". The
contributions sum to logit(row) - logit(reference) up to the integration error.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch

from training.explain import (
    INTEGRATION_STEPS,
    importance_sample,
    importance_shares,
    median_baseline,
    sum_by_raw_feature,
)
from training.sequence_candidates import SequenceCandidate

SEQUENCE_REASON = "recent_events"
# Rows per Captum forward pass; each input row becomes INTEGRATION_STEPS rows of a sequence network.
INTEGRATION_BATCH_ROWS = 4_096


def sequence_contributions(candidate: SequenceCandidate, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Return each raw profile feature's and the event sequence's contribution to every row's logit, and their names."""
    # Imported here because only explanations need Captum, and serving without them should not load it.
    from captum.attr import IntegratedGradients

    # A CPU copy, so that explaining neither moves the candidate's network nor needs cuDNN's RNN backward.
    model = copy.deepcopy(candidate.model).cpu().eval()
    categories, event_types, numeric, lengths, profile = candidate.model_inputs(frame)
    reference = torch.as_tensor(median_baseline(candidate.preprocessor), dtype=torch.float32)

    def logits(profile_rows: torch.Tensor, *sequence: torch.Tensor) -> torch.Tensor:
        return model(*sequence, profile_rows)

    sequence = (categories, event_types, numeric, lengths)
    attributions = IntegratedGradients(logits).attribute(
        profile,
        baselines=reference,
        additional_forward_args=sequence,
        n_steps=INTEGRATION_STEPS,
        internal_batch_size=max(1, INTEGRATION_BATCH_ROWS // INTEGRATION_STEPS),
    )
    profile_part, names = sum_by_raw_feature(attributions.detach().numpy().astype(np.float64), candidate.preprocessor)

    empty = (torch.zeros_like(categories), torch.zeros_like(event_types), torch.zeros_like(numeric), torch.zeros_like(lengths))
    reference_rows = reference.expand(len(profile), -1)
    with torch.no_grad():
        sequence_part = logits(reference_rows, *sequence) - logits(reference_rows, *empty)
    return np.column_stack([profile_part, sequence_part.numpy().astype(np.float64)]), [*names, SEQUENCE_REASON]


def sequence_global_importance(candidate: SequenceCandidate, frame: pd.DataFrame, seed: int = 0) -> dict[str, float]:
    """Return each profile feature's and the events' share of the mean |contribution| over a sample of `frame`."""
    return importance_shares(*sequence_contributions(candidate, importance_sample(frame, seed)))
