"""Sequence networks over each user's recent events, joined with the profile features.

Inputs per row: category ids and event-type ids of shape (batch, length), numeric channels of
shape (batch, length, NUMERIC_CHANNELS), the number of real events `lengths` of shape (batch,),
and the preprocessed profile features of shape (batch, profile_dim). Sequences are right-padded,
so position i is real when i < lengths. Every classifier returns one retention logit per row.
"""

from __future__ import annotations

import torch
from torch import nn

from training.config import CNNLSTMConfig, SequenceInputConfig, TransformerConfig
from training.sequence_data import NUMERIC_CHANNELS, PAD_ID


class EventEmbedding(nn.Module):
    """Concatenates category and event-type embeddings with the numeric channels of each event."""

    def __init__(self, config: SequenceInputConfig, category_count: int, event_type_count: int):
        super().__init__()
        self.categories = nn.Embedding(category_count, config.category_embedding_dim, padding_idx=PAD_ID)
        self.event_types = nn.Embedding(event_type_count, config.event_type_embedding_dim, padding_idx=PAD_ID)
        self.output_dim = config.category_embedding_dim + config.event_type_embedding_dim + NUMERIC_CHANNELS

    def forward(self, categories: torch.Tensor, event_types: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        # (batch, length, output_dim)
        return torch.cat([self.categories(categories), self.event_types(event_types), numeric], dim=-1)


def classification_head(input_dim: int, hidden_units: tuple[int, ...], dropout: float) -> nn.Sequential:
    """Return Linear, ReLU and Dropout per hidden layer, then a Linear layer to one logit."""
    layers: list[nn.Module] = []
    width = input_dim
    for units in hidden_units:
        layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
        width = units
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def padding_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """Return the (batch, length) boolean mask that is True at padding positions."""
    positions = torch.arange(length, device=lengths.device)
    return positions[None, :] >= lengths[:, None]


class CNNLSTMClassifier(nn.Module):
    """Event embeddings, a 1-D convolution over time, an LSTM, then an MLP head with the profile."""

    def __init__(
        self,
        sequence: SequenceInputConfig,
        config: CNNLSTMConfig,
        category_count: int,
        event_type_count: int,
        profile_dim: int,
        hidden_units: tuple[int, ...],
        dropout: float,
    ):
        super().__init__()
        self.embedding = EventEmbedding(sequence, category_count, event_type_count)
        self.convolution = nn.Conv1d(
            self.embedding.output_dim, config.conv_channels, config.conv_kernel_size, padding="same"
        )
        self.lstm = nn.LSTM(config.conv_channels, config.lstm_hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = classification_head(config.lstm_hidden_size + profile_dim, hidden_units, dropout)

    def forward(
        self,
        categories: torch.Tensor,
        event_types: torch.Tensor,
        numeric: torch.Tensor,
        lengths: torch.Tensor,
        profile: torch.Tensor,
    ) -> torch.Tensor:
        padding = padding_mask(lengths, categories.shape[1])
        events = self.embedding(categories, event_types, numeric).masked_fill(padding[..., None], 0.0)

        # Conv1d reads (batch, channels, length); padding positions are zero before and after it.
        convolved = torch.relu(self.convolution(events.transpose(1, 2))).transpose(1, 2)
        convolved = convolved.masked_fill(padding[..., None], 0.0)

        # Packing makes the final hidden state that of the last real event. A row without events
        # is read as one all-zero step.
        packed = nn.utils.rnn.pack_padded_sequence(
            convolved, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        sequence_summary = self.dropout(hidden[-1])  # (batch, lstm_hidden_size)

        return self.head(torch.cat([sequence_summary, profile], dim=-1)).squeeze(-1)


class TransformerSequenceEncoder(nn.Module):
    """Transformer encoder over the events with a learned [CLS] token at position 0.

    The output has shape (batch, length + 1, model_dim). Index 0 is the pooled [CLS] output,
    and index i + 1 is the output of event i.
    """

    def __init__(
        self,
        sequence: SequenceInputConfig,
        config: TransformerConfig,
        category_count: int,
        event_type_count: int,
        dropout: float,
    ):
        super().__init__()
        self.embedding = EventEmbedding(sequence, category_count, event_type_count)
        self.projection = nn.Linear(self.embedding.output_dim, config.model_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.model_dim))
        self.positions = nn.Embedding(sequence.sequence_length + 1, config.model_dim)
        layer = nn.TransformerEncoderLayer(
            config.model_dim,
            config.attention_heads,
            config.feedforward_dim,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, config.encoder_layers, norm=nn.LayerNorm(config.model_dim), enable_nested_tensor=False
        )
        self.model_dim = config.model_dim
        nn.init.normal_(self.cls_token, std=0.02)

    def forward(
        self, categories: torch.Tensor, event_types: torch.Tensor, numeric: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        batch, length = categories.shape
        events = self.projection(self.embedding(categories, event_types, numeric))  # (batch, length, model_dim)
        tokens = torch.cat([self.cls_token.expand(batch, 1, -1), events], dim=1)  # (batch, length + 1, model_dim)
        tokens = tokens + self.positions(torch.arange(length + 1, device=tokens.device))[None]

        # The [CLS] position is never padding, so a row without events still attends to something.
        padding = torch.cat(
            [torch.zeros(batch, 1, dtype=torch.bool, device=tokens.device), padding_mask(lengths, length)], dim=1
        )
        return self.encoder(tokens, src_key_padding_mask=padding)


class TransformerClassifier(nn.Module):
    """The pooled [CLS] output of the encoder joined with the profile features, then an MLP head."""

    def __init__(
        self, encoder: TransformerSequenceEncoder, profile_dim: int, hidden_units: tuple[int, ...], dropout: float
    ):
        super().__init__()
        self.encoder = encoder
        self.head = classification_head(encoder.model_dim + profile_dim, hidden_units, dropout)

    def forward(
        self,
        categories: torch.Tensor,
        event_types: torch.Tensor,
        numeric: torch.Tensor,
        lengths: torch.Tensor,
        profile: torch.Tensor,
    ) -> torch.Tensor:
        pooled = self.encoder(categories, event_types, numeric, lengths)[:, 0]  # (batch, model_dim)
        return self.head(torch.cat([pooled, profile], dim=-1)).squeeze(-1)


class MaskedEventModel(nn.Module):
    """The encoder with a linear layer that predicts each event's category id, for pre-training."""

    def __init__(self, encoder: TransformerSequenceEncoder, category_count: int):
        super().__init__()
        self.encoder = encoder
        self.category_logits = nn.Linear(encoder.model_dim, category_count)

    def forward(
        self, categories: torch.Tensor, event_types: torch.Tensor, numeric: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.encoder(categories, event_types, numeric, lengths)[:, 1:]  # (batch, length, model_dim)
        return self.category_logits(hidden)  # (batch, length, category_count)
