"""The sequence-model candidates of the benchmark: CNN-LSTM and the Transformer encoder, the
latter pre-trained by masked-event prediction or trained from scratch.

Each fit writes its folder under <home>/checkpoints/<model type>/: run_config.json,
sequence_encoder.json, preprocessor.json, model.pt (the restored best weights), calibrator.json
(fitted on validation), history.json and best.pt from the training loop, and pretraining/ for
the pre-trained Transformer.
`load_sequence_candidate` restores a fitted candidate from that folder.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from feature_repo.feature_columns import CATEGORICAL_FEATURES, LABEL_COLUMN, NUMERIC_FEATURES
from retention.settings import Settings
from training import ddp
from training.calibration import ProbabilityCalibrator, fit_calibrator
from training.candidates import register_candidate
from training.config import CNN_LSTM, TRANSFORMER_PRETRAINED, TRANSFORMER_SCRATCH, RunConfig, build_run_config
from training.labels import positive_class_weight
from training.loop import LoopHistory, Objective, predict_outputs, train_loop
from training.preprocessing import LOG_SCALED_FEATURES, FeaturePreprocessor
from training.pretrain import pretrain_encoder
from training.sequence_data import SequenceEncoder, classification_dataset
from training.sequence_models import CNNLSTMClassifier, TransformerClassifier, TransformerSequenceEncoder

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
ENCODER_FILE = "sequence_encoder.json"
PREPROCESSOR_FILE = "preprocessor.json"
CALIBRATOR_FILE = "calibrator.json"


class SequenceCandidate:
    """A retention candidate over the profile features and the recent event sequence.

    `params` overrides run configuration values by their MLflow param names, for example
    {"loop.max_epochs": 3, "transformer.model_dim": 64}.
    """

    def __init__(self, model_type: str, params: dict[str, Any] | None = None):
        self.name = model_type
        self.params = dict(params or {})
        self.config: RunConfig | None = None
        self.history: LoopHistory | None = None
        self.pretraining_history: LoopHistory | None = None
        self.checkpoint_dir: Path | None = None
        self._model: nn.Module | None = None
        self._encoder: SequenceEncoder | None = None
        self._preprocessor: FeaturePreprocessor | None = None
        # Identity until fit() replaces it with the calibrator fitted on the validation window.
        self.calibrator = ProbabilityCalibrator()

    @property
    def model(self) -> nn.Module:
        """The fitted network, in evaluation mode on the device it was trained on."""
        if self._model is None:
            raise RuntimeError(f"The {self.name} candidate is not fitted; call fit() or load_sequence_candidate() first.")
        return self._model

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, settings: Settings, seed: int) -> None:
        config = build_run_config(self.name, settings, seed).with_params(self.params)
        folder = ddp.broadcast_object(_checkpoint_folder(settings, self.name, seed))
        self.fit_with_config(train, validation, config, folder)

    def fit_with_config(
        self, train: pd.DataFrame, validation: pd.DataFrame, config: RunConfig, folder: Path
    ) -> None:
        """Fit on `train`, early-stop on `validation`, and save the model to `folder` (rank 0 only)."""
        train_labels = train[LABEL_COLUMN].to_numpy(dtype=np.float32)
        validation_labels = validation[LABEL_COLUMN].to_numpy(dtype=np.float32)
        preprocessor = FeaturePreprocessor.fit(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES, LOG_SCALED_FEATURES)
        encoder = SequenceEncoder.fit(train, config.sequence)
        train_data = classification_dataset(train, encoder, preprocessor, train_labels)
        validation_data = classification_dataset(validation, encoder, preprocessor, validation_labels)

        torch.manual_seed(config.seed)
        model = build_network(config, encoder, len(preprocessor.feature_names_out))
        if config.pretraining is not None and isinstance(model, TransformerClassifier):
            self.pretraining_history = pretrain_encoder(
                model.encoder, train, encoder, config.pretraining, config.loop, config.seed, folder / "pretraining"
            )

        pos_weight = positive_class_weight(train_labels) if config.loop.class_weighting else 1.0
        trained, self.history = train_loop(
            model, binary_objective(pos_weight), train_data, validation_data, config.loop, config.seed, self.name, folder
        )

        self.config, self.checkpoint_dir = config, folder
        self._model, self._encoder, self._preprocessor = trained, encoder, preprocessor
        self.calibrator = fit_calibrator(config.calibration, validation_labels, self.raw_probabilities(validation))
        if ddp.is_main_process():
            self.save(folder)
            _log_to_mlflow(config, self.history)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.apply(self.raw_probabilities(frame))

    @property
    def preprocessor(self) -> FeaturePreprocessor:
        """The profile-feature preprocessor fitted on the train split."""
        if self._preprocessor is None:
            raise RuntimeError(f"The {self.name} candidate is not fitted; call fit() or load_sequence_candidate() first.")
        return self._preprocessor

    def model_inputs(self, frame: pd.DataFrame) -> tuple[torch.Tensor, ...]:
        """Return the network's inputs for `frame`: categories, event types, numeric channels, lengths, profile."""
        if self._encoder is None:
            raise RuntimeError(f"The {self.name} candidate is not fitted; call fit() or load_sequence_candidate() first.")
        return classification_dataset(frame, self._encoder, self.preprocessor).tensors

    def raw_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the network's probabilities before calibration."""
        if self._model is None or self._encoder is None or self._preprocessor is None or self.config is None:
            raise RuntimeError(f"The {self.name} candidate is not fitted; call fit() or load_sequence_candidate() first.")
        logits = predict_outputs(self._model, self.model_inputs(frame), self.config.loop.mixed_precision)
        return torch.sigmoid(logits).numpy().astype(np.float64)

    def save(self, folder: Path) -> None:
        """Write the run configuration, the fitted encoders and the network weights to `folder`."""
        if self.config is None or self._encoder is None or self._preprocessor is None:
            raise RuntimeError(f"The {self.name} candidate is not fitted; call fit() before save().")
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder)
        (folder / ENCODER_FILE).write_text(json.dumps(self._encoder.to_dict()), encoding="utf-8")
        (folder / PREPROCESSOR_FILE).write_text(json.dumps(self._preprocessor.to_dict()), encoding="utf-8")
        torch.save(self.model.state_dict(), folder / MODEL_FILE)
        (folder / CALIBRATOR_FILE).write_text(json.dumps(self.calibrator.to_dict()), encoding="utf-8")


def build_network(
    config: RunConfig, encoder: SequenceEncoder, profile_dim: int
) -> CNNLSTMClassifier | TransformerClassifier:
    """Return the untrained classifier that `config` describes; validate_run_config ensures its section is set."""
    vocabulary_sizes = (encoder.categories.size, encoder.event_types.size)
    if config.cnn_lstm is not None:
        return CNNLSTMClassifier(
            config.sequence, config.cnn_lstm, *vocabulary_sizes, profile_dim, config.head_hidden_units, config.dropout
        )
    assert config.transformer is not None
    sequence_encoder = TransformerSequenceEncoder(config.sequence, config.transformer, *vocabulary_sizes, config.dropout)
    return TransformerClassifier(sequence_encoder, profile_dim, config.head_hidden_units, config.dropout)


def binary_objective(pos_weight: float) -> Objective:
    """Return the class-weighted binary cross-entropy, summed over the rows of a batch."""

    def objective(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
        *inputs, labels = batch
        logits = model(*inputs).float()
        weight = torch.tensor(pos_weight, device=logits.device)
        loss_sum = nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight, reduction="sum")
        return loss_sum, len(labels)

    return objective


def load_sequence_candidate(folder: Path) -> SequenceCandidate:
    """Restore a candidate saved by `SequenceCandidate.save`, on the CPU."""
    config = RunConfig.load(folder)
    candidate = SequenceCandidate(config.model_type)
    encoder = SequenceEncoder.from_dict(json.loads((folder / ENCODER_FILE).read_text(encoding="utf-8")))
    preprocessor = FeaturePreprocessor.from_dict(json.loads((folder / PREPROCESSOR_FILE).read_text(encoding="utf-8")))
    model = build_network(config, encoder, len(preprocessor.feature_names_out))
    model.load_state_dict(torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True))
    candidate.config, candidate.checkpoint_dir = config, folder
    candidate._model, candidate._encoder, candidate._preprocessor = model.eval(), encoder, preprocessor
    calibrator_path = folder / CALIBRATOR_FILE
    if calibrator_path.exists():
        candidate.calibrator = ProbabilityCalibrator.from_dict(json.loads(calibrator_path.read_text(encoding="utf-8")))
    return candidate


def _checkpoint_folder(settings: Settings, model_type: str, seed: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return settings.home / "checkpoints" / model_type / f"{stamp}-seed{seed}"


def _log_to_mlflow(config: RunConfig, history: LoopHistory) -> None:
    """Log the run configuration and loop history to the active MLflow run, when there is one."""
    # A run can only be active when MLflow is imported, so an unimported MLflow costs nothing here.
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or mlflow.active_run() is None:
        return
    mlflow.log_params(config.to_params())
    mlflow.log_dict(config.to_dict(), "run_config.json")
    mlflow.log_params(
        {
            "best_epoch": history.best_epoch,
            "device": history.device,
            "world_size": history.world_size,
            "precision": history.precision,
        }
    )
    for epoch, (train_loss, validation_loss) in enumerate(zip(history.train_loss, history.validation_loss), start=1):
        mlflow.log_metrics({"epoch_train_loss": train_loss, "epoch_validation_loss": validation_loss}, step=epoch)


@register_candidate(CNN_LSTM)
def cnn_lstm_candidate() -> SequenceCandidate:
    return SequenceCandidate(CNN_LSTM)


@register_candidate(TRANSFORMER_PRETRAINED)
def transformer_pretrained_candidate() -> SequenceCandidate:
    return SequenceCandidate(TRANSFORMER_PRETRAINED)


@register_candidate(TRANSFORMER_SCRATCH)
def transformer_scratch_candidate() -> SequenceCandidate:
    return SequenceCandidate(TRANSFORMER_SCRATCH)
