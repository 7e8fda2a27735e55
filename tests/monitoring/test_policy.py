import math
from dataclasses import replace

import pytest

from monitoring.policy import RETRAIN, SKIP, PolicyInputs, append_decision, evaluate_policy, read_decisions
from retention.settings import PolicySettings

POLICY = PolicySettings(
    max_drifted_feature_share=0.3,
    retrain_on_prediction_drift=True,
    max_roc_auc_drop=0.05,
    max_model_age_weeks=13,
    min_weeks_between_retrains=4,
)


@pytest.fixture
def calm() -> PolicyInputs:
    """A week in which no rule triggers: little drift, no prediction drift, good performance, a young model."""
    return PolicyInputs(
        week="2017-09-03",
        champion_version="3",
        drift_status="ok",
        drifted_share=0.0625,
        drifted_columns=["tenure_days"],
        prediction_drift=False,
        model_age_weeks=2.0,
        realized_week="2017-08-20",
        realized_roc_auc=0.85,
        expected_roc_auc=0.86,
        weeks_since_retrain=None,
    )


def test_calm_week_skips_with_every_rule(calm):
    decision = evaluate_policy(calm, POLICY)

    assert decision.decision == SKIP
    assert decision.reasons[0] == "no rule triggered"
    assert [rule.rule for rule in decision.rules] == ["feature_drift", "prediction_drift", "performance", "model_age"]
    assert len(decision.reasons) == 5
    assert "drifted feature share 0.06 < 0.30 (tenure_days)" in decision.reasons


def test_drifted_share_at_limit_retrains(calm):
    decision = evaluate_policy(replace(calm, drifted_share=0.3, drifted_columns=["a", "b"]), POLICY)

    assert decision.decision == RETRAIN
    assert decision.reasons == ["drifted feature share 0.30 >= 0.30 (a, b)"]


def test_prediction_drift_retrains(calm):
    decision = evaluate_policy(replace(calm, prediction_drift=True), POLICY)

    assert decision.decision == RETRAIN
    assert decision.reasons == ["prediction drift detected"]


def test_prediction_drift_rule_can_be_off(calm):
    policy = replace(POLICY, retrain_on_prediction_drift=False)

    decision = evaluate_policy(replace(calm, prediction_drift=True), policy)

    assert decision.decision == SKIP
    assert "prediction drift detected, ignored by retrain_on_prediction_drift" in decision.reasons


def test_roc_auc_drop_retrains(calm):
    decision = evaluate_policy(replace(calm, realized_roc_auc=0.80, expected_roc_auc=0.86), POLICY)

    assert decision.decision == RETRAIN
    assert "drop +0.060 >= 0.050" in decision.reasons[0]


def test_unknown_realized_performance_is_no_trigger(calm):
    decision = evaluate_policy(replace(calm, realized_roc_auc=None, realized_week=None), POLICY)

    assert decision.decision == SKIP
    assert "no realized ROC-AUC of champion version 3 yet" in decision.reasons


def test_nan_expected_auc_is_no_trigger(calm):
    decision = evaluate_policy(replace(calm, expected_roc_auc=math.nan), POLICY)

    assert decision.decision == SKIP


def test_old_model_retrains(calm):
    decision = evaluate_policy(replace(calm, model_age_weeks=13.0), POLICY)

    assert decision.decision == RETRAIN
    assert decision.reasons == ["model age 13.0 >= 13 weeks"]


def test_insufficient_drift_data_is_no_trigger(calm):
    inputs = replace(
        calm, drift_status="insufficient data", drift_reason="the week has 12 rows", drifted_share=None, prediction_drift=None
    )

    decision = evaluate_policy(inputs, POLICY)

    assert decision.decision == SKIP
    assert "feature drift not assessed: insufficient data, the week has 12 rows" in decision.reasons
    assert "prediction drift not assessed" in decision.reasons


def test_recent_retraining_postpones_trigger(calm):
    decision = evaluate_policy(replace(calm, prediction_drift=True, weeks_since_retrain=2.0), POLICY)

    assert decision.decision == SKIP
    assert decision.reasons[0].startswith("waiting: the last retraining was 2 week(s) ago")
    assert "prediction drift detected" in decision.reasons


def test_cooldown_ends_after_enough_weeks(calm):
    decision = evaluate_policy(replace(calm, prediction_drift=True, weeks_since_retrain=4.0), POLICY)

    assert decision.decision == RETRAIN


def test_decision_log_keeps_order(tmp_path, calm):
    path = tmp_path / "decisions.jsonl"
    first = evaluate_policy(calm, POLICY)
    second = evaluate_policy(replace(calm, week="2017-09-10", model_age_weeks=20.0), POLICY)

    append_decision(path, first.to_dict())
    append_decision(path, second.to_dict())
    records = read_decisions(path)

    assert [record["week"] for record in records] == ["2017-09-03", "2017-09-10"]
    assert [record["decision"] for record in records] == [SKIP, RETRAIN]
    assert records[1]["summary"] == "retrain at week 2017-09-10: model age 20.0 >= 13 weeks"
