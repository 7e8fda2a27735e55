import json
from dataclasses import replace

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from feature_repo.feature_columns import CATEGORICAL_FEATURES, LABEL_COLUMN, NUMERIC_FEATURES
from retention.cli import main
from retention.errors import PipelineError
from retention.settings import PromotionSettings
from training.promotion import PROMOTED, REJECTED, TEST_ROC_AUC_TAG, gate_decision, promote_challenger
from training.promotion_log import read_records, rollback
from training.pyfunc import model_signature
from training.registry import RegisteredCandidate, configure_mlflow
from training.train import train_models

GATE = PromotionSettings(min_roc_auc_gain=0.005, calibration_metric="ece", max_calibration_increase=0.01)
WINDOWS = {
    "train": {"start": "2017-04-02T00:00:00+00:00", "end": "2017-06-04T00:00:00+00:00"},
    "test": {"start": "2017-07-02T00:00:00+00:00", "end": "2017-08-06T00:00:00+00:00"},
}


class ScoreModel(mlflow.pyfunc.PythonModel):
    """Scores sigmoid(frequency_30d) or, as a weak model, sigmoid(tenure_days); `power` spoils calibration."""

    def __init__(self, column: str, power: float = 1.0) -> None:
        self.column = column
        self.power = power

    def predict(self, context, model_input, params=None):
        return (1.0 / (1.0 + np.exp(-model_input[self.column].to_numpy()))) ** self.power


def window_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A test window whose label follows frequency_30d, the signal of the strong model."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({column: rng.normal(0.0, 1.0, rows) for column in NUMERIC_FEATURES})
    for column in CATEGORICAL_FEATURES:
        frame[column] = "unknown"
    probability = 1.0 / (1.0 + np.exp(-frame["frequency_30d"]))
    frame[LABEL_COLUMN] = (rng.uniform(size=rows) < probability).astype(int)
    return frame


@pytest.fixture(scope="module")
def store(make_settings, tmp_path_factory):
    """One MLflow SQLite store and promotion log for the module; each test has its own registered model."""
    settings = make_settings(tmp_path_factory.mktemp("promotion"))
    configure_mlflow(settings)
    return settings


@pytest.fixture
def settings(store, request):
    mlflow.set_tracking_uri(store.mlflow_tracking_uri)
    registry = replace(store.registry, registered_model_name=request.node.name)
    return replace(store, registry=registry, promotion=GATE)


def register(settings, model: ScoreModel, model_type: str) -> RegisteredCandidate:
    with mlflow.start_run() as run:
        # Explicit requirements skip MLflow's inference, which starts a subprocess for every model.
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=model_signature(NUMERIC_FEATURES, CATEGORICAL_FEATURES),
            pip_requirements=["mlflow", "numpy"],
        )
    tags = {"model_type": model_type, "feature_service": "user_retention_v1"}
    version = mlflow.register_model(info.model_uri, settings.registry.registered_model_name, tags=tags)
    return RegisteredCandidate(model_type, run.info.run_id, info.model_uri, version)


def champion_version(settings) -> str:
    name, alias = settings.registry.registered_model_name, settings.registry.champion_alias
    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


def promote(settings, candidate: RegisteredCandidate):
    return promote_challenger(settings, candidate, window_frame(), WINDOWS, "user_retention_v1", {"by": "tester"})


def metrics(roc_auc: float, ece: float) -> dict[str, float]:
    return {"roc_auc": roc_auc, "ece": ece, "brier": 0.2}


def test_gate_promotes_without_champion():
    assert gate_decision(metrics(0.6, 0.3), None, GATE).promote


def test_gate_rejects_gain_below_margin():
    decision = gate_decision(metrics(0.804, 0.10), metrics(0.800, 0.10), GATE)

    assert not decision.promote
    assert decision.reasons[0] == "ROC-AUC 0.8040 vs 0.8000: gain +0.0040 < required +0.0050"


def test_gate_rejects_worse_calibration():
    decision = gate_decision(metrics(0.850, 0.12), metrics(0.800, 0.10), GATE)

    assert not decision.promote
    assert decision.reasons[1] == "ece 0.1200 vs 0.1000: change +0.0200 > allowed +0.0100"


def test_gate_promotes_better_challenger():
    assert gate_decision(metrics(0.806, 0.105), metrics(0.800, 0.10), GATE).promote


def test_gate_rejects_undefined_auc():
    decision = gate_decision(metrics(float("nan"), 0.1), metrics(0.8, 0.1), GATE)

    assert not decision.promote
    assert "undefined" in decision.reasons[0]


def test_calibration_metric_is_validated():
    with pytest.raises(Exception, match="calibration_metric = 'auc' is not supported"):
        PromotionSettings(calibration_metric="auc")


def test_first_candidate_becomes_champion(settings):
    candidate = register(settings, ScoreModel("tenure_days"), "weak")

    outcome = promote(settings, candidate)

    assert outcome.decision == PROMOTED
    assert champion_version(settings) == "1"
    assert outcome.record["previous_champion"] is None


def test_weaker_challenger_is_rejected(settings):
    promote(settings, register(settings, ScoreModel("frequency_30d"), "strong"))
    weak = register(settings, ScoreModel("tenure_days"), "weak")

    outcome = promote(settings, weak)
    tags = MlflowClient().get_model_version(settings.registry.registered_model_name, "2").tags

    assert outcome.decision == REJECTED
    assert champion_version(settings) == "1"
    assert outcome.champion.model_type == "strong"
    assert tags["promotion_decision"] == REJECTED
    assert tags["promotion_compared_with"] == "1"


def test_worse_calibration_is_rejected(settings):
    promote(settings, register(settings, ScoreModel("frequency_30d"), "calibrated"))
    # The same ranking, so the same ROC-AUC, with every probability pushed towards 1.
    squashed = register(settings, ScoreModel("frequency_30d", power=0.1), "squashed")
    settings = replace(settings, promotion=replace(GATE, min_roc_auc_gain=0.0))

    outcome = promote(settings, squashed)

    assert outcome.decision == REJECTED
    assert "ece" in outcome.reasons[1]
    assert champion_version(settings) == "1"


def test_stronger_challenger_is_promoted(settings):
    promote(settings, register(settings, ScoreModel("tenure_days"), "weak"))

    outcome = promote(settings, register(settings, ScoreModel("frequency_30d"), "strong"))

    assert outcome.decision == PROMOTED
    assert champion_version(settings) == "2"
    assert outcome.record["previous_champion"]["version"] == "1"


def test_promotion_record_has_provenance(settings):
    outcome = promote(settings, register(settings, ScoreModel("frequency_30d"), "strong"))
    logged = [record for record in read_records(settings) if record["model_name"] == settings.registry.registered_model_name]
    tags = MlflowClient().get_model_version(settings.registry.registered_model_name, "1").tags

    assert logged == [json.loads(json.dumps(outcome.record, default=str))]
    assert logged[0]["by"] == "tester"
    assert logged[0]["feature_service"] == "user_retention_v1"
    assert logged[0]["data_window"] == WINDOWS
    assert logged[0]["code_version"]
    assert logged[0]["challenger"]["metrics"]["roc_auc"] > 0.6
    assert float(tags[TEST_ROC_AUC_TAG]) == pytest.approx(logged[0]["challenger"]["metrics"]["roc_auc"], abs=1e-6)
    assert tags["data_as_of"] == "2017-08-20T00:00:00+00:00"


def test_rollback_restores_previous_champion(settings):
    promote(settings, register(settings, ScoreModel("tenure_days"), "weak"))
    promote(settings, register(settings, ScoreModel("frequency_30d"), "strong"))

    record = rollback(settings, actor="tester")

    assert champion_version(settings) == "1"
    assert (record["from_version"], record["to_version"]) == ("2", "1")
    assert read_records(settings)[-1]["event"] == "rollback"


def test_rollback_without_previous_raises(settings):
    promote(settings, register(settings, ScoreModel("frequency_30d"), "strong"))

    with pytest.raises(PipelineError, match="records no champion before it"):
        rollback(settings)


def test_rollback_command_prints_json(settings, monkeypatch):
    promote(settings, register(settings, ScoreModel("tenure_days"), "weak"))
    promote(settings, register(settings, ScoreModel("frequency_30d"), "strong"))
    config = settings.home / f"{settings.registry.registered_model_name}.toml"
    config.write_text(f'[registry]\nregistered_model_name = "{settings.registry.registered_model_name}"\n')
    monkeypatch.setenv("RETENTION_CONFIG", str(config))

    result = CliRunner().invoke(main, ["rollback", "--home", str(settings.home), "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["to_version"] == "1"
    assert champion_version(settings) == "1"


def test_retraining_promotes_through_gate(settings, training_set):
    weak = register(settings, ScoreModel("tenure_days"), "weak")
    promote(settings, weak)
    settings = replace(settings, training=replace(settings.training, max_epochs=3))

    summary = train_models(training_set, settings, "user_retention_v1", {"by": "sensor", "trigger": "test"})

    assert summary.promotion["decision"] == PROMOTED
    assert summary.promotion["previous_champion"]["version"] == "1"
    assert summary.promotion["by"] == "sensor"
    assert summary.registered_model["version"] == champion_version(settings)
    assert summary.registered_model["version"] != "1"
