"""The neural network candidate: a small multilayer perceptron and its training loop."""

from __future__ import annotations

import copy
import logging
import random
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm import tqdm

from retention.errors import PipelineError
from training.labels import positive_class_weight

if TYPE_CHECKING:
    from retention.settings import Settings

logger = logging.getLogger(__name__)

WEIGHT_DECAY = 1e-2
MAX_GRADIENT_NORM = 1.0
# The learning rate halves after this share of the early-stopping patience without improvement.
PLATEAU_PATIENCE_SHARE = 0.5
PREDICTION_BATCH_ROWS = 65_536


class RetentionMLP(nn.Module):
    """Fully connected network that outputs one logit of retention per row.

    Each hidden layer is Linear, ReLU and Dropout. Training uses the logit with
    BCEWithLogitsLoss, and `predict_probabilities` applies the sigmoid.
    """

    def __init__(self, input_dim: int, hidden_units: tuple[int, ...] = (64, 32), dropout: float = 0.1):
        super().__init__()
        if input_dim < 1 or not hidden_units or min(hidden_units) < 1:
            raise ValueError(
                f"RetentionMLP needs input_dim >= 1 and at least one hidden layer of >= 1 unit, "
                f"got input_dim={input_dim}, hidden_units={hidden_units}. Check [training] hidden_units."
            )
        self.input_dim = input_dim
        self.hidden_units = tuple(hidden_units)
        self.dropout = dropout

        layers: list[nn.Module] = []
        width = input_dim
        for units in self.hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(-1)

    def architecture(self) -> dict[str, Any]:
        """Constructor arguments, saved as JSON next to the state_dict."""
        return {"input_dim": self.input_dim, "hidden_units": list(self.hidden_units), "dropout": self.dropout}


@dataclass
class MLPHistory:
    """Per-epoch losses (mean BCE per row, class-weighted) and validation ROC-AUC."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    validation_roc_auc: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    # 1-based epoch whose weights were restored.
    best_epoch: int = 0
    stopped_early: bool = False
    pos_weight: float = 1.0
    device: str = "cpu"


def select_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all CUDA devices included)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


@torch.no_grad()
def predict_probabilities(model: RetentionMLP, features: np.ndarray) -> np.ndarray:
    """Return the retention probability of every row as a 1-D float64 array."""
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, len(features), PREDICTION_BATCH_ROWS):
        rows = features[start : start + PREDICTION_BATCH_ROWS]
        batch = torch.as_tensor(rows, dtype=torch.float32, device=device)
        outputs.append(torch.sigmoid(model(batch)).cpu().numpy())
    if not outputs:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate(outputs).astype(np.float64)


def train_mlp(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: Settings,
) -> tuple[RetentionMLP, MLPHistory]:
    """Train RetentionMLP with early stopping on validation loss and return it on the CPU.

    The positive class is weighted by negatives / positives of the train split. The
    weights of the epoch with the lowest validation loss are restored before returning.
    """
    config = settings.training
    if config.max_epochs < 1 or config.batch_size < 1:
        raise PipelineError(
            f"[training] max_epochs={config.max_epochs} and batch_size={config.batch_size} must both be >= 1. "
            "Fix them in retention.toml."
        )
    pos_weight = positive_class_weight(y_train)
    device = select_device()
    seed_everything(config.seed)
    logger.info(
        "Training the MLP on %s: %d train rows, %d validation rows, %d features, pos_weight %.3f",
        device,
        len(x_train),
        len(x_val),
        x_train.shape[1],
        pos_weight,
    )

    model = RetentionMLP(x_train.shape[1], config.hidden_units, config.dropout).to(device)
    loss_function = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=WEIGHT_DECAY)
    plateau_patience = max(1, int(config.early_stopping_patience * PLATEAU_PATIENCE_SHARE))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=0.5, patience=plateau_patience
    )
    train_x = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    train_y = torch.as_tensor(y_train, dtype=torch.float32, device=device)
    val_x = torch.as_tensor(x_val, dtype=torch.float32, device=device)
    val_y = torch.as_tensor(y_val, dtype=torch.float32, device=device)
    shuffle_generator = torch.Generator(device="cpu").manual_seed(config.seed)

    history = MLPHistory(pos_weight=pos_weight, device=str(device))
    best_loss = float("inf")
    best_state = copy.deepcopy(model.state_dict())
    epochs_without_improvement = 0
    progress = tqdm(range(1, config.max_epochs + 1), desc="MLP", unit="epoch", file=sys.stderr)

    for epoch in progress:
        train_loss = _train_one_epoch(
            model, train_x, train_y, loss_function, optimizer, config.batch_size, shuffle_generator
        )
        val_loss, val_auc = _evaluate(model, val_x, val_y, loss_function)
        scheduler.step(val_loss)

        history.train_loss.append(train_loss)
        history.validation_loss.append(val_loss)
        history.validation_roc_auc.append(val_auc)
        history.learning_rate.append(optimizer.param_groups[0]["lr"])
        progress.set_postfix(train_loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}", val_auc=f"{val_auc:.4f}")

        if val_loss < best_loss:
            best_loss = val_loss
            best_state = copy.deepcopy(model.state_dict())
            history.best_epoch = epoch
            epochs_without_improvement = 0
        else:
            epochs_without_improvement += 1
        if epochs_without_improvement >= config.early_stopping_patience:
            history.stopped_early = True
            break

    progress.close()
    if history.best_epoch == 0:
        raise PipelineError(
            f"The MLP validation loss was never finite (last value {history.validation_loss[-1]}). "
            "Lower [training] learning_rate or check the features for extreme values."
        )
    model.load_state_dict(best_state)
    model = model.cpu().eval()
    logger.info(
        "MLP training stopped after %d epochs and restored epoch %d (validation loss %.4f, ROC-AUC %.4f)",
        len(history.train_loss),
        history.best_epoch,
        best_loss,
        history.validation_roc_auc[history.best_epoch - 1],
    )
    return model, history


def _train_one_epoch(
    model: RetentionMLP,
    features: torch.Tensor,
    labels: torch.Tensor,
    loss_function: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
) -> float:
    """Run one pass over shuffled mini-batches and return the mean loss per row."""
    model.train()
    order = torch.randperm(len(features), generator=generator).to(features.device)
    total_loss = 0.0
    for start in range(0, len(features), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = loss_function(model(features[batch]), labels[batch])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), MAX_GRADIENT_NORM)
        optimizer.step()
        total_loss += loss.item() * len(batch)
    return total_loss / len(features)


@torch.no_grad()
def _evaluate(
    model: RetentionMLP, features: torch.Tensor, labels: torch.Tensor, loss_function: nn.Module
) -> tuple[float, float]:
    """Return the validation loss and ROC-AUC, which is NaN when validation has one class."""
    model.eval()
    logits = model(features)
    loss = loss_function(logits, labels).item()
    label_values = labels.cpu().numpy()
    if len(np.unique(label_values)) < 2:
        return loss, float("nan")
    return loss, float(roc_auc_score(label_values, torch.sigmoid(logits).cpu().numpy()))
