import math

import mlflow
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from retention.errors import InputDataError, PipelineError
from training.candidates import CANDIDATES
from training.config import RunConfig
from training.loop import BEST_CHECKPOINT, HISTORY_FILE
from training.sequence_candidates import SequenceCandidate, load_sequence_candidate
from training.splits import split_by_time
from tests.training.sequence_fixtures import one_torch_thread, sequence_only_training_set, sequence_settings

SEQUENCE_COLUMNS = ("recent_categories", "recent_event_types", "recent_amounts", "recent_gap_days")
pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    settings = sequence_settings(tmp_path_factory.mktemp("sequence_home"))
    return settings, split_by_time(sequence_only_training_set(users=120, snapshots=24), settings)


@pytest.fixture(scope="module")
def fitted(splits):
    """One fitted candidate per model type, on labels that only the sequence explains."""
    settings, data = splits
    candidates = {}
    for model_type in ("cnn_lstm", "transformer_scratch", "transformer_pretrained"):
        candidate = SequenceCandidate(model_type)
        candidate.fit(data.train, data.validation, settings, seed=11)
        candidates[model_type] = candidate
    return candidates


@pytest.mark.parametrize("model_type", ["cnn_lstm", "transformer_scratch", "transformer_pretrained"])
def test_candidate_learns_sequence_signal(fitted, splits, model_type):
    _, data = splits
    probabilities = fitted[model_type].predict_proba(data.test)
    assert probabilities.shape == (len(data.test),)
    assert roc_auc_score(data.test.label, probabilities) > 0.75


def test_pretraining_beats_uniform_guess(fitted):
    candidate = fitted["transformer_pretrained"]
    history = candidate.pretraining_history
    best_loss = history.validation_loss[history.best_epoch - 1]
    assert best_loss < math.log(candidate._encoder.categories.size)


def test_scratch_transformer_skips_pretraining(fitted):
    assert fitted["transformer_scratch"].pretraining_history is None
    assert fitted["transformer_scratch"].config.pretraining is None


def test_fit_writes_model_folder(fitted):
    folder = fitted["cnn_lstm"].checkpoint_dir
    names = {path.name for path in folder.iterdir()}
    expected = {"run_config.json", "sequence_encoder.json", "preprocessor.json", "model.pt", BEST_CHECKPOINT, HISTORY_FILE}
    assert expected | {"calibrator.json"} <= names


def test_probabilities_are_calibrated_on_validation(fitted, splits):
    _, data = splits
    candidate = fitted["cnn_lstm"]
    raw = candidate.raw_probabilities(data.test)

    assert candidate.calibrator.method == candidate.config.calibration == "platt"
    np.testing.assert_allclose(candidate.predict_proba(data.test), candidate.calibrator.apply(raw))
    assert roc_auc_score(data.test["label"], candidate.predict_proba(data.test)) == pytest.approx(
        roc_auc_score(data.test["label"], raw), abs=1e-9
    )


def test_pretraining_writes_its_checkpoint(fitted):
    folder = fitted["transformer_pretrained"].checkpoint_dir / "pretraining"
    assert (folder / BEST_CHECKPOINT).exists()


def test_checkpoint_stores_best_epoch(fitted):
    candidate = fitted["cnn_lstm"]
    checkpoint = torch.load(candidate.checkpoint_dir / BEST_CHECKPOINT, weights_only=True)
    assert checkpoint["epoch"] == candidate.history.best_epoch


def test_saved_config_matches_fit(fitted):
    candidate = fitted["transformer_pretrained"]
    assert RunConfig.load(candidate.checkpoint_dir) == candidate.config
    assert candidate.config.seed == 11


@pytest.mark.parametrize("model_type", ["cnn_lstm", "transformer_pretrained"])
def test_loaded_candidate_predicts_identically(fitted, splits, model_type):
    _, data = splits
    loaded = load_sequence_candidate(fitted[model_type].checkpoint_dir)
    expected = fitted[model_type].predict_proba(data.test)
    np.testing.assert_allclose(loaded.predict_proba(data.test), expected, rtol=1e-5, atol=1e-6)


def test_online_lists_predict_like_arrays(fitted, splits):
    _, data = splits
    online = data.test.copy()
    for column in SEQUENCE_COLUMNS:
        online[column] = [list(values) for values in data.test[column]]
    candidate = fitted["cnn_lstm"]
    np.testing.assert_allclose(candidate.predict_proba(online), candidate.predict_proba(data.test), rtol=1e-6)


def test_same_seed_same_predictions(fitted, splits):
    settings, data = splits
    again = SequenceCandidate("cnn_lstm")
    again.fit(data.train, data.validation, settings, seed=11)
    np.testing.assert_allclose(again.predict_proba(data.test), fitted["cnn_lstm"].predict_proba(data.test), rtol=1e-5)


def test_frame_without_sequences_rejected(splits):
    settings, data = splits
    profile_only = data.train.drop(columns=list(SEQUENCE_COLUMNS))
    with pytest.raises(InputDataError, match="user_retention_seq_v1"):
        SequenceCandidate("cnn_lstm").fit(profile_only, data.validation, settings, seed=1)


def test_registry_lists_sequence_models():
    for name in ("cnn_lstm", "transformer_pretrained", "transformer_scratch"):
        assert CANDIDATES[name]().name == name


@pytest.fixture
def tracking_uri(tmp_path):
    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(previous)


def test_active_mlflow_run_gets_params(splits, tmp_path, tracking_uri):
    settings, data = splits
    experiment = mlflow.create_experiment("sequence_params", artifact_location=(tmp_path / "artifacts").as_uri())
    candidate = SequenceCandidate("transformer_scratch", {"loop.max_epochs": 1})
    with mlflow.start_run(experiment_id=experiment) as run:
        candidate.fit(data.train, data.validation, settings, seed=2)
    params = mlflow.get_run(run.info.run_id).data.params
    assert params["transformer.model_dim"] == str(candidate.config.transformer.model_dim)
    assert params["loop.max_epochs"] == "1"
    assert params["best_epoch"] == "1"


def test_empty_validation_rejected(splits):
    settings, data = splits
    with pytest.raises(PipelineError, match="validation data has no rows"):
        SequenceCandidate("cnn_lstm").fit(data.train, data.validation.iloc[:0], settings, seed=1)
