"""Self-supervised pre-training of the Transformer encoder by masked-event prediction.

A share of the real events of each sequence gets the category id MASK_ID, and the encoder
learns to predict the original category from the other events, their event types, amounts and
times. Pre-training reads only the sequences of the train split, never their labels, so the
validation and test windows stay unseen until fine-tuning evaluates on them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import TensorDataset

from feature_repo.feature_columns import ENTITY_COLUMN
from training.config import LoopConfig, PretrainingConfig
from training.loop import LoopHistory, Objective, train_loop
from training.sequence_data import MASK_ID, SequenceEncoder
from training.sequence_models import MaskedEventModel, TransformerSequenceEncoder, padding_mask

logger = logging.getLogger(__name__)


def masked_event_objective(mask_probability: float) -> Objective:
    """Return the objective: cross-entropy of the true category at each masked position."""

    def objective(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
        categories, event_types, numeric, lengths = batch
        real = ~padding_mask(lengths, categories.shape[1])
        masked = (torch.rand(categories.shape, device=categories.device) < mask_probability) & real
        logits = model(categories.masked_fill(masked, MASK_ID), event_types, numeric, lengths)
        # logits[masked]: (masked events, category_count)
        loss_sum = functional.cross_entropy(logits[masked].float(), categories[masked], reduction="sum")
        return loss_sum, int(masked.sum())

    return objective


def pretrain_encoder(
    encoder: TransformerSequenceEncoder,
    train: pd.DataFrame,
    sequence_encoder: SequenceEncoder,
    config: PretrainingConfig,
    loop: LoopConfig,
    seed: int,
    checkpoint_dir: Path | None,
) -> LoopHistory:
    """Pre-train `encoder` in place on the event sequences of `train` and return the loop history.

    A random `holdout_share` of the users is held out, and pre-training stops early when their
    masked-event loss stops falling.
    """
    fit_rows, holdout_rows = _split_users(train, config.holdout_share, seed)
    fit_data = TensorDataset(*sequence_encoder.encode(train.iloc[fit_rows]).as_tuple())
    holdout_data = TensorDataset(*sequence_encoder.encode(train.iloc[holdout_rows]).as_tuple())
    logger.info(
        "Pre-training the Transformer encoder on %d sequences, %d held out, mask probability %.2f",
        len(fit_data), len(holdout_data), config.mask_probability,
    )

    model = MaskedEventModel(encoder, sequence_encoder.categories.size)
    pretraining_loop = LoopConfig(
        max_epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        early_stopping_patience=loop.early_stopping_patience,
        weight_decay=loop.weight_decay,
        max_gradient_norm=loop.max_gradient_norm,
        warmup_share=loop.warmup_share,
        class_weighting=False,
        mixed_precision=loop.mixed_precision,
    )
    _, history = train_loop(
        model,
        masked_event_objective(config.mask_probability),
        fit_data,
        holdout_data,
        pretraining_loop,
        seed,
        "pre-training",
        checkpoint_dir,
    )
    return history


def _split_users(frame: pd.DataFrame, holdout_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return row positions of the pre-training users and of the held-out users.

    With fewer than two users nothing can be held out, so both sets are all rows.
    """
    users = frame[ENTITY_COLUMN].astype(str).to_numpy()
    unique_users = np.unique(users)
    if len(unique_users) < 2:
        everything = np.arange(len(frame))
        return everything, everything
    holdout_count = min(len(unique_users) - 1, max(1, round(holdout_share * len(unique_users))))
    held_out = np.random.default_rng(seed).choice(unique_users, holdout_count, replace=False)
    is_held_out = np.isin(users, held_out)
    return np.flatnonzero(~is_held_out), np.flatnonzero(is_held_out)
