from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from feature_repo.feature_columns import CATEGORICAL_FEATURES, LABEL_COLUMN, NUMERIC_FEATURES
from retention.errors import PipelineError
from training.mlp import RetentionMLP, predict_probabilities, train_mlp
from training.preprocessing import FeaturePreprocessor
from training.splits import split_by_time
from training.train import LOG_SCALED_FEATURES


@pytest.fixture(scope="module")
def arrays(training_set, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("mlp"))
    splits = split_by_time(training_set, settings)
    preprocessor = FeaturePreprocessor.fit(
        splits.train, NUMERIC_FEATURES, CATEGORICAL_FEATURES, LOG_SCALED_FEATURES
    )
    return {
        "settings": settings,
        "x_train": preprocessor.transform(splits.train),
        "y_train": splits.train[LABEL_COLUMN].to_numpy(),
        "x_val": preprocessor.transform(splits.validation),
        "y_val": splits.validation[LABEL_COLUMN].to_numpy(),
    }


@pytest.fixture(scope="module")
def trained(arrays):
    return train_mlp(arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"], arrays["settings"])


def test_mlp_learns_signal(trained, arrays):
    model, _ = trained

    probabilities = predict_probabilities(model, arrays["x_val"])

    assert roc_auc_score(arrays["y_val"], probabilities) > 0.7


def test_mlp_restores_best_epoch_weights(trained, arrays):
    model, history = trained
    loss_function = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(history.pos_weight))

    with torch.no_grad():
        logits = model(torch.as_tensor(arrays["x_val"]))
        loss = loss_function(logits, torch.as_tensor(arrays["y_val"], dtype=torch.float32)).item()

    assert loss == pytest.approx(min(history.validation_loss), rel=1e-5)
    assert history.validation_loss[history.best_epoch - 1] == min(history.validation_loss)


def test_mlp_history_has_one_entry_per_epoch(trained, arrays):
    _, history = trained
    epochs = len(history.train_loss)

    assert 1 <= epochs <= arrays["settings"].training.max_epochs
    assert len(history.validation_loss) == epochs
    assert len(history.validation_roc_auc) == epochs
    assert len(history.learning_rate) == epochs


def test_mlp_is_returned_on_cpu_in_eval_mode(trained):
    model, _ = trained

    assert next(model.parameters()).device.type == "cpu"
    assert not model.training


def test_mlp_uses_hidden_units_from_settings(trained, arrays):
    model, _ = trained
    linear_layers = [layer for layer in model.layers if isinstance(layer, nn.Linear)]

    assert [layer.out_features for layer in linear_layers] == [*arrays["settings"].training.hidden_units, 1]


def test_mlp_training_is_reproducible(arrays):
    settings = replace(arrays["settings"], training=replace(arrays["settings"].training, max_epochs=2))
    first, _ = train_mlp(arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"], settings)
    second, _ = train_mlp(arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"], settings)

    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_mlp_stops_early_without_improvement(arrays):
    # Shuffled validation labels carry no signal, so the validation loss stops improving
    # once the network fits the train signal.
    shuffled = np.random.default_rng(0).permutation(arrays["y_val"])
    training = replace(arrays["settings"].training, max_epochs=40, early_stopping_patience=1)
    settings = replace(arrays["settings"], training=training)

    _, history = train_mlp(arrays["x_train"], arrays["y_train"], arrays["x_val"], shuffled, settings)

    assert history.stopped_early
    assert len(history.train_loss) < 40


def test_mlp_progress_bar_goes_to_stderr(arrays, capsys):
    settings = replace(arrays["settings"], training=replace(arrays["settings"].training, max_epochs=1))

    train_mlp(arrays["x_train"], arrays["y_train"], arrays["x_val"], arrays["y_val"], settings)
    captured = capsys.readouterr()

    assert "val_auc" in captured.err
    assert "val_loss" in captured.err
    assert "val_auc" not in captured.out


def test_mlp_rejects_single_class_train(arrays):
    labels = np.zeros_like(arrays["y_train"])

    with pytest.raises(PipelineError, match="0 positive"):
        train_mlp(arrays["x_train"], labels, arrays["x_val"], arrays["y_val"], arrays["settings"])


def test_mlp_rejects_empty_hidden_units():
    with pytest.raises(ValueError, match="hidden_units"):
        RetentionMLP(10, hidden_units=())


def test_predict_probabilities_are_in_unit_interval(trained, arrays):
    model, _ = trained

    probabilities = predict_probabilities(model, arrays["x_val"])

    assert probabilities.shape == (len(arrays["x_val"]),)
    assert probabilities.min() >= 0.0
    assert probabilities.max() <= 1.0
