"""The typed configuration of one sequence-model run, saved with the model and logged to MLflow.

`build_run_config` fills it from the platform settings. `to_params` flattens it to dotted names
such as "loop.learning_rate", and `with_params` accepts the same names, so a hyperparameter
search sets exactly the values that MLflow later shows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from retention.errors import ConfigurationError
from retention.settings import CALIBRATION_METHODS, SEQUENCE_MODEL_TYPES, Settings

CONFIG_FILE_NAME = "run_config.json"
CNN_LSTM, TRANSFORMER_PRETRAINED, TRANSFORMER_SCRATCH = SEQUENCE_MODEL_TYPES
MODEL_TYPES = SEQUENCE_MODEL_TYPES
# One fit of a sequence model on the bundled data takes several seconds per epoch on a CPU, so
# sequence models train for at most this many epochs even when [training] max_epochs is higher.
SEQUENCE_MAX_EPOCHS = 12


@dataclass(frozen=True)
class LoopConfig:
    """Optimisation settings of the shared training loop."""

    max_epochs: int
    batch_size: int
    learning_rate: float
    early_stopping_patience: int
    weight_decay: float = 1e-2
    max_gradient_norm: float = 1.0
    # Share of all steps over which OneCycleLR raises the learning rate before annealing it.
    warmup_share: float = 0.1
    # Weight the positive class by negatives / positives of the train split.
    class_weighting: bool = True
    # bfloat16 (or float16 with gradient scaling) autocast; applies on CUDA only.
    mixed_precision: bool = True


@dataclass(frozen=True)
class SequenceInputConfig:
    """Encoding of the event sequence before the first network layer."""

    sequence_length: int
    # Categories seen fewer times in train share the unknown id, so that id is trained too.
    min_category_count: int = 5
    category_embedding_dim: int = 16
    event_type_embedding_dim: int = 4


@dataclass(frozen=True)
class CNNLSTMConfig:
    conv_channels: int = 32
    conv_kernel_size: int = 3
    lstm_hidden_size: int = 32


@dataclass(frozen=True)
class TransformerConfig:
    model_dim: int = 32
    # Two heads of 16 dimensions train about twice as fast on a CPU as four of 8, because the
    # attention then multiplies half as many small matrices.
    attention_heads: int = 2
    encoder_layers: int = 2
    feedforward_dim: int = 64


@dataclass(frozen=True)
class PretrainingConfig:
    """Masked-event pre-training of the Transformer encoder on the train window's sequences."""

    epochs: int = 6
    batch_size: int = 256
    learning_rate: float = 2e-3
    # Share of real events whose category is replaced by the mask id and predicted.
    mask_probability: float = 0.15
    # Share of users held out of pre-training to early-stop it on their masked-event loss.
    holdout_share: float = 0.1


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one fit of a sequence model, apart from the data."""

    model_type: str
    seed: int
    loop: LoopConfig
    sequence: SequenceInputConfig
    head_hidden_units: tuple[int, ...]
    dropout: float
    cnn_lstm: CNNLSTMConfig | None = None
    transformer: TransformerConfig | None = None
    pretraining: PretrainingConfig | None = None
    # Probability calibration fitted on the validation window after training, as [training] calibration.
    calibration: str = "platt"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_params(self) -> dict[str, Any]:
        """Return the configuration as flat MLflow params: {"loop.learning_rate": 0.001, ...}."""
        return _flatten(self.to_dict())

    def with_params(self, params: dict[str, Any]) -> RunConfig:
        """Return a copy with the dotted-name values of `params` replaced, as `to_params` names them."""
        document = self.to_dict()
        for name, value in params.items():
            section, _, key = name.rpartition(".")
            target = document[section] if section else document
            if not isinstance(target, dict) or key not in target:
                raise ConfigurationError(
                    f"Unknown run configuration parameter {name!r} for model type {self.model_type!r}. "
                    f"Valid names: {sorted(self.to_params())}."
                )
            target[key] = value
        return RunConfig.from_dict(document)

    def save(self, folder: Path) -> Path:
        path = folder / CONFIG_FILE_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> RunConfig:
        return cls.from_dict(json.loads((folder / CONFIG_FILE_NAME).read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> RunConfig:
        sections = {
            "loop": LoopConfig,
            "sequence": SequenceInputConfig,
            "cnn_lstm": CNNLSTMConfig,
            "transformer": TransformerConfig,
            "pretraining": PretrainingConfig,
        }
        values = dict(document)
        for name, section_class in sections.items():
            if values.get(name) is not None:
                values[name] = section_class(**values[name])
        values["head_hidden_units"] = tuple(values["head_hidden_units"])
        config = cls(**values)
        validate_run_config(config)
        return config


def build_run_config(model_type: str, settings: Settings, seed: int) -> RunConfig:
    """Return the run configuration of `model_type` from the [training] and [features] settings."""
    if model_type not in MODEL_TYPES:
        raise ConfigurationError(f"Unknown sequence model type {model_type!r}. Use one of: {', '.join(MODEL_TYPES)}.")
    training = settings.training
    loop = LoopConfig(
        max_epochs=min(training.max_epochs, SEQUENCE_MAX_EPOCHS),
        batch_size=training.batch_size,
        learning_rate=training.learning_rate,
        early_stopping_patience=training.early_stopping_patience,
    )
    config = RunConfig(
        model_type=model_type,
        seed=seed,
        loop=loop,
        sequence=SequenceInputConfig(sequence_length=settings.features.sequence_length),
        head_hidden_units=tuple(training.hidden_units),
        dropout=training.dropout,
        cnn_lstm=CNNLSTMConfig() if model_type == CNN_LSTM else None,
        transformer=TransformerConfig() if model_type != CNN_LSTM else None,
        pretraining=PretrainingConfig() if model_type == TRANSFORMER_PRETRAINED else None,
        calibration=training.calibration,
    )
    validate_run_config(config)
    return config


def validate_run_config(config: RunConfig) -> None:
    """Raise ConfigurationError when a value cannot train a model, naming the parameter."""
    problems = [
        f"{name}={value!r} must be >= 1"
        for name, value in config.to_params().items()
        if isinstance(value, int) and not isinstance(value, bool) and name != "seed" and value < 1
    ]
    shares = {"loop.warmup_share": config.loop.warmup_share, "dropout": config.dropout}
    if config.pretraining is not None:
        shares["pretraining.mask_probability"] = config.pretraining.mask_probability
        shares["pretraining.holdout_share"] = config.pretraining.holdout_share
    problems += [f"{name}={value!r} must be in [0, 1)" for name, value in shares.items() if not 0 <= value < 1]
    required_sections = {
        CNN_LSTM: ("cnn_lstm",),
        TRANSFORMER_SCRATCH: ("transformer",),
        TRANSFORMER_PRETRAINED: ("transformer", "pretraining"),
    }
    problems += [
        f"section {section!r} is missing"
        for section in required_sections.get(config.model_type, ())
        if getattr(config, section) is None
    ]
    if config.calibration not in CALIBRATION_METHODS:
        problems.append(f"calibration={config.calibration!r} must be one of {list(CALIBRATION_METHODS)}")
    if config.model_type not in MODEL_TYPES:
        problems.append(f"model_type must be one of {list(MODEL_TYPES)}")
    if config.transformer and config.transformer.model_dim % config.transformer.attention_heads:
        problems.append(
            f"transformer.model_dim={config.transformer.model_dim} must be a multiple of "
            f"transformer.attention_heads={config.transformer.attention_heads}"
        )
    if problems:
        raise ConfigurationError(
            f"Invalid {config.model_type} run configuration: {'; '.join(problems)}. "
            "Fix the [training] or [features] settings, or the parameters passed to with_params."
        )


def _flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif value is not None:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat
