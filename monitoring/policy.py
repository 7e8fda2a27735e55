"""The retraining policy: four rules over one monitored week, and the log of every decision.

Any triggered rule requests a retraining, unless the last retraining is more recent than
[policy] min_weeks_between_retrains. Every decision, retrain or not, states the outcome of each
rule, so a skipped week records its reason as plainly as a retrained one.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retention.settings import PolicySettings

RETRAIN = "retrain"
SKIP = "skip"


@dataclass(frozen=True)
class PolicyInputs:
    """Monitoring results available at the end of one week."""

    week: str
    champion_version: str
    # "ok" or "insufficient data" (with drift_reason), from the week's drift report.
    drift_status: str
    drift_reason: str = ""
    drifted_share: float | None = None
    drifted_columns: list[str] = field(default_factory=list)
    prediction_drift: bool | None = None
    # Weeks since the champion's newest training label, NaN when unknown.
    model_age_weeks: float = math.nan
    # The newest week with realized labels that the current champion served, and its ROC-AUC.
    realized_week: str | None = None
    realized_roc_auc: float | None = None
    # The champion's ROC-AUC on its test window at promotion.
    expected_roc_auc: float | None = None
    # Weeks since the champion was trained or the policy last launched a retraining, whichever is
    # more recent; None when unknown.
    weeks_since_retrain: float | None = None


@dataclass(frozen=True)
class RuleOutcome:
    rule: str
    triggered: bool
    explanation: str


@dataclass(frozen=True)
class PolicyDecision:
    week: str
    decision: str
    reasons: list[str]
    rules: list[RuleOutcome]

    @property
    def retrain(self) -> bool:
        return self.decision == RETRAIN

    def summary(self) -> str:
        return f"{self.decision} at week {self.week}: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary()}


def evaluate_policy(inputs: PolicyInputs, policy: PolicySettings) -> PolicyDecision:
    """Apply the four rules of `policy` to one week and decide whether to retrain."""
    rules = [
        _feature_drift_rule(inputs, policy),
        _prediction_drift_rule(inputs, policy),
        _performance_rule(inputs, policy),
        _age_rule(inputs, policy),
    ]
    triggered = [rule for rule in rules if rule.triggered]
    if not triggered:
        reasons = ["no rule triggered"] + [rule.explanation for rule in rules]
        return PolicyDecision(inputs.week, SKIP, reasons, rules)

    wait = policy.min_weeks_between_retrains
    if inputs.weeks_since_retrain is not None and inputs.weeks_since_retrain < wait:
        reasons = [
            f"waiting: the last retraining was {inputs.weeks_since_retrain:g} week(s) ago, fewer than "
            f"min_weeks_between_retrains = {wait}, although these rules triggered"
        ] + [rule.explanation for rule in triggered]
        return PolicyDecision(inputs.week, SKIP, reasons, rules)
    return PolicyDecision(inputs.week, RETRAIN, [rule.explanation for rule in triggered], rules)


def _feature_drift_rule(inputs: PolicyInputs, policy: PolicySettings) -> RuleOutcome:
    if inputs.drift_status != "ok" or inputs.drifted_share is None:
        return RuleOutcome("feature_drift", False, f"feature drift not assessed: {inputs.drift_status}, {inputs.drift_reason}")
    limit = policy.max_drifted_feature_share
    triggered = inputs.drifted_share >= limit
    drifted = ", ".join(inputs.drifted_columns) or "none"
    relation = ">=" if triggered else "<"
    return RuleOutcome(
        "feature_drift", triggered, f"drifted feature share {inputs.drifted_share:.2f} {relation} {limit:.2f} ({drifted})"
    )


def _prediction_drift_rule(inputs: PolicyInputs, policy: PolicySettings) -> RuleOutcome:
    if inputs.prediction_drift is None:
        return RuleOutcome("prediction_drift", False, "prediction drift not assessed")
    if not policy.retrain_on_prediction_drift:
        state = "detected" if inputs.prediction_drift else "not detected"
        return RuleOutcome("prediction_drift", False, f"prediction drift {state}, ignored by retrain_on_prediction_drift")
    if inputs.prediction_drift:
        return RuleOutcome("prediction_drift", True, "prediction drift detected")
    return RuleOutcome("prediction_drift", False, "prediction drift not detected")


def _performance_rule(inputs: PolicyInputs, policy: PolicySettings) -> RuleOutcome:
    if inputs.realized_roc_auc is None or inputs.expected_roc_auc is None or _is_nan(inputs.realized_roc_auc, inputs.expected_roc_auc):
        return RuleOutcome(
            "performance", False, f"no realized ROC-AUC of champion version {inputs.champion_version} yet"
        )
    drop = inputs.expected_roc_auc - inputs.realized_roc_auc
    limit = policy.max_roc_auc_drop
    triggered = drop >= limit
    return RuleOutcome(
        "performance",
        triggered,
        f"realized ROC-AUC {inputs.realized_roc_auc:.3f} in week {inputs.realized_week} vs {inputs.expected_roc_auc:.3f} "
        f"at promotion: drop {drop:+.3f} {'>=' if triggered else '<'} {limit:.3f}",
    )


def _age_rule(inputs: PolicyInputs, policy: PolicySettings) -> RuleOutcome:
    if math.isnan(inputs.model_age_weeks):
        return RuleOutcome("model_age", False, f"age of champion version {inputs.champion_version} unknown")
    limit = policy.max_model_age_weeks
    triggered = inputs.model_age_weeks >= limit
    return RuleOutcome(
        "model_age", triggered, f"model age {inputs.model_age_weeks:.1f} {'>=' if triggered else '<'} {limit} weeks"
    )


def _is_nan(*values: float) -> bool:
    return any(math.isnan(value) for value in values)


def append_decision(path: Path, record: dict[str, Any]) -> None:
    """Append one decision record (a JSON object) to the decision log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")


def read_decisions(path: Path) -> list[dict[str, Any]]:
    """Return the decision log's records, oldest first, or none when the log does not exist."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
