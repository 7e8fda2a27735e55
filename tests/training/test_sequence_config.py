from dataclasses import fields, is_dataclass, replace

import pytest

from retention.errors import ConfigurationError
from retention.settings import Settings, TrainingSettings
from training.config import (
    MODEL_TYPES,
    SEQUENCE_MAX_EPOCHS,
    RunConfig,
    build_run_config,
)


def leaf_names(instance, prefix: str = "") -> set[str]:
    """Return the dotted names of every non-dataclass field that is set."""
    names = set()
    for item in fields(instance):
        value = getattr(instance, item.name)
        if is_dataclass(value):
            names |= leaf_names(value, f"{prefix}{item.name}.")
        elif value is not None:
            names.add(f"{prefix}{item.name}")
    return names


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_params_cover_every_field(model_type):
    config = build_run_config(model_type, Settings(), seed=3)
    assert set(config.to_params()) == leaf_names(config)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_config_round_trips_through_json(tmp_path, model_type):
    config = build_run_config(model_type, Settings(), seed=3)
    config.save(tmp_path)
    assert RunConfig.load(tmp_path) == config


def test_model_sections_match_type():
    assert build_run_config("cnn_lstm", Settings(), 1).transformer is None
    assert build_run_config("transformer_scratch", Settings(), 1).pretraining is None
    assert build_run_config("transformer_pretrained", Settings(), 1).pretraining is not None


def test_settings_fill_the_loop():
    settings = Settings(training=replace(TrainingSettings(), learning_rate=0.02, batch_size=64, max_epochs=99))
    config = build_run_config("cnn_lstm", settings, seed=5)
    assert config.loop.learning_rate == 0.02
    assert config.loop.batch_size == 64
    assert config.loop.max_epochs == SEQUENCE_MAX_EPOCHS
    assert config.seed == 5
    assert config.sequence.sequence_length == settings.features.sequence_length


def test_with_params_overrides_values():
    config = build_run_config("transformer_scratch", Settings(), 1)
    changed = config.with_params({"transformer.model_dim": 64, "loop.max_epochs": 2, "dropout": 0.2})
    assert changed.transformer.model_dim == 64
    assert changed.loop.max_epochs == 2
    assert changed.dropout == 0.2


def test_unknown_param_rejected():
    config = build_run_config("cnn_lstm", Settings(), 1)
    with pytest.raises(ConfigurationError, match="transformer.model_dim"):
        config.with_params({"transformer.model_dim": 64})


def test_indivisible_heads_rejected():
    config = build_run_config("transformer_scratch", Settings(), 1)
    with pytest.raises(ConfigurationError, match="attention_heads=3"):
        config.with_params({"transformer.attention_heads": 3})


def test_zero_batch_size_rejected():
    config = build_run_config("cnn_lstm", Settings(), 1)
    with pytest.raises(ConfigurationError, match="loop.batch_size=0"):
        config.with_params({"loop.batch_size": 0})


def test_unknown_model_type_rejected():
    with pytest.raises(ConfigurationError, match="'gru'"):
        build_run_config("gru", Settings(), 1)


def test_missing_model_section_rejected():
    document = build_run_config("transformer_pretrained", Settings(), 1).to_dict()
    document["pretraining"] = None
    with pytest.raises(ConfigurationError, match="'pretraining' is missing"):
        RunConfig.from_dict(document)
