import numpy as np
import pandas as pd
import pytest

from retention.errors import InputDataError
from training.config import SequenceInputConfig
from training.sequence_data import FIRST_TOKEN_ID, PAD_ID, UNKNOWN_ID, SequenceEncoder, Vocabulary

CONFIG = SequenceInputConfig(sequence_length=4, min_category_count=2)


def sequence_frame(rows: list[tuple[list[str], list[float]]]) -> pd.DataFrame:
    """Build a frame from (categories, gaps) pairs; event types are "purchase" and amounts 1.0."""
    return pd.DataFrame(
        {
            "user_id": [f"u{index}" for index in range(len(rows))],
            "recent_categories": [np.array(categories, dtype=object) for categories, _ in rows],
            "recent_event_types": [np.array(["purchase"] * len(categories), dtype=object) for categories, _ in rows],
            "recent_amounts": [np.ones(len(categories)) for categories, _ in rows],
            "recent_gap_days": [np.array(gaps, dtype=float) for _, gaps in rows],
        }
    )


TRAIN = sequence_frame(
    [
        (["milk", "bread", "milk"], [9.0, 5.0, 1.0]),
        (["bread", "milk", "eggs", "bread", "milk", "tea"], [20.0, 15.0, 9.0, 6.0, 3.0, 2.0]),
        ([], []),
    ]
)


def test_vocabulary_maps_unseen_to_unknown():
    vocabulary = Vocabulary.fit(np.array(["a", "b"], dtype=object), min_count=1)
    ids = vocabulary.lookup(np.array(["b", "zzz"], dtype=object))
    assert ids.tolist() == [FIRST_TOKEN_ID + 1, UNKNOWN_ID]


def test_vocabulary_drops_rare_values():
    encoder = SequenceEncoder.fit(TRAIN, CONFIG)
    assert encoder.categories.tokens == ("bread", "milk")


def test_encoder_keeps_latest_events():
    encoded = SequenceEncoder.fit(TRAIN, CONFIG).encode(TRAIN.iloc[[1]])
    bread, milk = FIRST_TOKEN_ID, FIRST_TOKEN_ID + 1
    assert encoded.categories[0].tolist() == [UNKNOWN_ID, bread, milk, UNKNOWN_ID]
    assert encoded.lengths.tolist() == [4]


def test_encoder_pads_after_events():
    encoded = SequenceEncoder.fit(TRAIN, CONFIG).encode(TRAIN)
    assert encoded.lengths.tolist() == [3, 4, 0]
    assert encoded.categories[0, 3].item() == PAD_ID
    assert encoded.event_types[2].tolist() == [PAD_ID] * 4
    assert encoded.numeric[2].abs().sum().item() == 0.0


def test_encoder_standardizes_numeric_channels():
    encoder = SequenceEncoder.fit(TRAIN, CONFIG)
    encoded = encoder.encode(TRAIN)
    real = encoded.numeric[:, :, 1][encoded.categories != PAD_ID]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert real.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


def test_online_lists_encode_like_arrays():
    encoder = SequenceEncoder.fit(TRAIN, CONFIG)
    online = TRAIN.copy()
    for column in ("recent_categories", "recent_event_types", "recent_amounts", "recent_gap_days"):
        online[column] = [list(values) for values in TRAIN[column]]
    online.loc[2, "recent_categories"] = None
    arrays, lists = encoder.encode(TRAIN), encoder.encode(online)
    assert lists.categories.equal(arrays.categories)
    assert lists.numeric.equal(arrays.numeric)


def test_missing_sequence_columns_rejected():
    with pytest.raises(InputDataError, match="user_retention_seq_v1"):
        SequenceEncoder.fit(TRAIN.drop(columns=["recent_gap_days"]), CONFIG)


def test_unequal_arrays_rejected():
    broken = TRAIN.copy()
    broken["recent_gap_days"] = [np.array([1.0]), *TRAIN["recent_gap_days"][1:]]
    with pytest.raises(InputDataError, match="'u0'"):
        SequenceEncoder.fit(broken, CONFIG)


def test_scalar_cell_rejected():
    broken = TRAIN.copy()
    broken["recent_amounts"] = [1.0, *TRAIN["recent_amounts"][1:]]
    with pytest.raises(InputDataError, match="not a one-dimensional array"):
        SequenceEncoder.fit(broken, CONFIG)


def test_encoder_round_trips_through_dict():
    encoder = SequenceEncoder.fit(TRAIN, CONFIG)
    restored = SequenceEncoder.from_dict(encoder.to_dict())
    assert restored == encoder
