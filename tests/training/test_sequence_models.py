import pytest
import torch

from training.config import CNNLSTMConfig, SequenceInputConfig, TransformerConfig
from training.pretrain import masked_event_objective
from training.sequence_data import FIRST_TOKEN_ID, MASK_ID
from training.sequence_models import (
    CNNLSTMClassifier,
    MaskedEventModel,
    TransformerClassifier,
    TransformerSequenceEncoder,
)

SEQUENCE = SequenceInputConfig(sequence_length=6)
CATEGORIES, EVENT_TYPES, PROFILE_DIM = 10, 4, 5


def cnn_lstm() -> CNNLSTMClassifier:
    return CNNLSTMClassifier(SEQUENCE, CNNLSTMConfig(), CATEGORIES, EVENT_TYPES, PROFILE_DIM, (8,), 0.1).eval()


def transformer() -> TransformerClassifier:
    encoder = TransformerSequenceEncoder(SEQUENCE, TransformerConfig(), CATEGORIES, EVENT_TYPES, 0.1)
    return TransformerClassifier(encoder, PROFILE_DIM, (8,), 0.1).eval()


def batch(lengths: list[int]) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    rows = len(lengths)
    categories = torch.randint(FIRST_TOKEN_ID, CATEGORIES, (rows, 6), generator=generator)
    event_types = torch.randint(FIRST_TOKEN_ID, EVENT_TYPES, (rows, 6), generator=generator)
    numeric = torch.randn(rows, 6, 2, generator=generator)
    profile = torch.randn(rows, PROFILE_DIM, generator=generator)
    return categories, event_types, numeric, torch.tensor(lengths), profile


@pytest.mark.parametrize("build", [cnn_lstm, transformer], ids=["cnn_lstm", "transformer"])
def test_padding_values_are_ignored(build):
    torch.manual_seed(0)
    model = build()
    categories, event_types, numeric, lengths, profile = batch([3, 6, 1])
    changed_categories, changed_numeric = categories.clone(), numeric.clone()
    changed_categories[0, 3:] = FIRST_TOKEN_ID
    changed_numeric[2, 1:] = 50.0
    with torch.no_grad():
        original = model(categories, event_types, numeric, lengths, profile)
        changed = model(changed_categories, event_types, changed_numeric, lengths, profile)
    assert torch.allclose(original, changed, atol=1e-5)


@pytest.mark.parametrize("build", [cnn_lstm, transformer], ids=["cnn_lstm", "transformer"])
def test_empty_sequence_gives_finite_logit(build):
    torch.manual_seed(0)
    with torch.no_grad():
        logits = build()(*batch([0, 2]))
    assert logits.shape == (2,)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("build", [cnn_lstm, transformer], ids=["cnn_lstm", "transformer"])
def test_real_events_change_the_logit(build):
    torch.manual_seed(0)
    model = build()
    categories, event_types, numeric, lengths, profile = batch([4])
    changed = categories.clone()
    changed[0, 0] = FIRST_TOKEN_ID + (categories[0, 0] - FIRST_TOKEN_ID + 1) % (CATEGORIES - FIRST_TOKEN_ID)
    with torch.no_grad():
        original = model(categories, event_types, numeric, lengths, profile)
        modified = model(changed, event_types, numeric, lengths, profile)
    assert not torch.allclose(original, modified)


def test_masked_objective_masks_real_events_only():
    torch.manual_seed(0)
    encoder = TransformerSequenceEncoder(SEQUENCE, TransformerConfig(), CATEGORIES, EVENT_TYPES, 0.0)
    seen: list[torch.Tensor] = []

    class Recorder(MaskedEventModel):
        def forward(self, categories, *rest):
            seen.append(categories)
            return super().forward(categories, *rest)

    categories, event_types, numeric, lengths, _ = batch([2, 5, 0])
    loss_sum, count = masked_event_objective(0.999)(Recorder(encoder, CATEGORIES), (categories, event_types, numeric, lengths))
    masked = seen[0] == MASK_ID
    assert count == int(masked.sum())
    assert masked[0, 2:].sum().item() == 0
    assert masked[2].sum().item() == 0
    assert torch.isfinite(loss_sum)
