"""The promotion gate: a challenger takes the champion alias only when it beats the champion.

Both models score the challenger's test window. Under the same [split] settings, the champion's
train and validation windows end before that window, so neither model was fitted on it. The
challenger is promoted when its ROC-AUC is at least [promotion] min_roc_auc_gain higher and its calibration
error at most max_calibration_increase higher. Without a champion the challenger is promoted.
Every decision is written to the promotion log and as tags of the challenger's model version.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from feature_repo.feature_columns import LABEL_COLUMN
from retention.errors import PipelineError
from retention.settings import PromotionSettings, Settings
from training.calibration import probability_metrics
from training.promotion_log import append_record, code_version, current_actor, utc_now
from training.registry import RegisteredCandidate

logger = logging.getLogger(__name__)

PROMOTED = "promoted"
REJECTED = "rejected"
# Model version tag holding the challenger's ROC-AUC on its test window; monitoring compares
# realized weekly ROC-AUC with it.
TEST_ROC_AUC_TAG = "promotion_test_roc_auc"
# Model version tag: ISO 8601 time up to which the version's training labels were known.
DATA_AS_OF_TAG = "data_as_of"


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str]


@dataclass(frozen=True)
class PromotionOutcome:
    """The gate's decision and the champion after it, which is the old one when rejected."""

    decision: str
    reasons: list[str]
    champion: RegisteredCandidate
    record: dict[str, Any] = field(default_factory=dict)


def gate_decision(
    challenger: dict[str, float], champion: dict[str, float] | None, config: PromotionSettings
) -> GateDecision:
    """Decide from test-window metrics ({"roc_auc", "ece", "brier"}) whether the challenger is promoted."""
    if champion is None:
        return GateDecision(True, ["no current champion, so the first candidate is promoted"])
    if math.isnan(challenger["roc_auc"]) or math.isnan(champion["roc_auc"]):
        return GateDecision(False, ["ROC-AUC is undefined on the test window (one label class), so nothing is compared"])

    reasons = []
    gain = challenger["roc_auc"] - champion["roc_auc"]
    auc_passed = gain >= config.min_roc_auc_gain
    reasons.append(
        f"ROC-AUC {challenger['roc_auc']:.4f} vs {champion['roc_auc']:.4f}: gain {gain:+.4f} "
        f"{'>=' if auc_passed else '<'} required {config.min_roc_auc_gain:+.4f}"
    )
    metric = config.calibration_metric
    increase = challenger[metric] - champion[metric]
    calibration_passed = increase <= config.max_calibration_increase
    reasons.append(
        f"{metric} {challenger[metric]:.4f} vs {champion[metric]:.4f}: change {increase:+.4f} "
        f"{'<=' if calibration_passed else '>'} allowed {config.max_calibration_increase:+.4f}"
    )
    return GateDecision(auc_passed and calibration_passed, reasons)


def select_challenger(
    candidates: list[RegisteredCandidate], validation_roc_auc: dict[str, float], settings: Settings
) -> RegisteredCandidate:
    """Return the candidate with the highest validation ROC-AUC; NaN is skipped and ties keep the earlier one."""
    ranked = [item for item in candidates if not math.isnan(validation_roc_auc[item.model_type])]
    if not ranked:
        raise PipelineError(
            f"No candidate has a validation ROC-AUC (values: {validation_roc_auc}), so none can become "
            f"{settings.registry.champion_alias}. The validation window needs both retained and churned users."
        )
    return max(ranked, key=lambda candidate: validation_roc_auc[candidate.model_type])


def promote_best_candidate(
    settings: Settings,
    candidates: list[RegisteredCandidate],
    validation_roc_auc: dict[str, float],
    test_frame: pd.DataFrame,
    windows: dict[str, dict[str, Any]],
    feature_service: str,
    context: dict[str, str] | None = None,
) -> PromotionOutcome:
    """Pick the best candidate on validation and send it through the gate against the current champion."""
    challenger = select_challenger(candidates, validation_roc_auc, settings)
    return promote_challenger(settings, challenger, test_frame, windows, feature_service, context)


def promote_challenger(
    settings: Settings,
    challenger: RegisteredCandidate,
    test_frame: pd.DataFrame,
    windows: dict[str, dict[str, Any]],
    feature_service: str,
    context: dict[str, str] | None = None,
) -> PromotionOutcome:
    """Evaluate challenger and champion on `test_frame`, move the alias when the gate passes, record both cases.

    `windows` is TimeSplits.describe() of the challenger's training; `context` may hold "by" (who
    launched the training, default user@host), "trigger" (why), "week" and "data_as_of" (ISO 8601).
    """
    context = dict(context or {})
    client = MlflowClient()
    name = settings.registry.registered_model_name
    champion_version = _current_champion(client, settings)
    bins = settings.promotion.calibration_bins

    challenger_metrics = _test_metrics(challenger.model_uri, test_frame, bins)
    champion_metrics = None
    if champion_version is not None:
        champion_metrics = _test_metrics(f"models:/{name}/{champion_version.version}", test_frame, bins)
    decision = gate_decision(challenger_metrics, champion_metrics, settings.promotion)

    record = _gate_record(
        settings, challenger, champion_version, (challenger_metrics, champion_metrics), decision, windows, feature_service, context
    )
    champion = challenger
    if decision.promote:
        client.set_registered_model_alias(name, settings.registry.champion_alias, challenger.version.version)
        logger.info("Promoted version %s of %s to @%s: %s", challenger.version.version, name,
                    settings.registry.champion_alias, "; ".join(decision.reasons))
    else:
        champion = _as_candidate(champion_version, name)
        logger.info("Rejected version %s of %s; @%s stays on version %s: %s", challenger.version.version, name,
                    settings.registry.champion_alias, champion_version.version, "; ".join(decision.reasons))
    record["champion_after"] = str(champion.version.version)
    _tag_version(client, name, challenger.version.version, record)
    append_record(settings, record)
    return PromotionOutcome(record["decision"], decision.reasons, champion, record)


def _gate_record(
    settings: Settings,
    challenger: RegisteredCandidate,
    champion_version: ModelVersion | None,
    metrics: tuple[dict[str, float], dict[str, float] | None],
    decision: GateDecision,
    windows: dict[str, dict[str, Any]],
    feature_service: str,
    context: dict[str, str],
) -> dict[str, Any]:
    """Return the promotion log record of one gate decision, without champion_after."""
    challenger_metrics, champion_metrics = metrics
    return {
        "event": "promotion",
        "decision": PROMOTED if decision.promote else REJECTED,
        "reasons": decision.reasons,
        "at": utc_now(),
        "by": context.get("by") or current_actor(),
        "trigger": context.get("trigger", ""),
        # The monitored week that led to this training, when a weekly run launched it.
        "week": context.get("week", ""),
        "model_name": settings.registry.registered_model_name,
        "challenger": {**_describe(challenger.version), "model_type": challenger.model_type, "metrics": challenger_metrics},
        "previous_champion": _describe(champion_version) if champion_version is not None else None,
        "champion_metrics": champion_metrics,
        "thresholds": {
            "min_roc_auc_gain": settings.promotion.min_roc_auc_gain,
            "calibration_metric": settings.promotion.calibration_metric,
            "max_calibration_increase": settings.promotion.max_calibration_increase,
        },
        "test_window": windows.get("test"),
        "data_window": windows,
        "data_as_of": context.get("data_as_of") or _data_as_of(windows, settings),
        "feature_service": feature_service,
        "code_version": code_version(),
    }


def _current_champion(client: MlflowClient, settings: Settings) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(
            settings.registry.registered_model_name, settings.registry.champion_alias
        )
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _test_metrics(model_uri: str, test_frame: pd.DataFrame, bins: int) -> dict[str, float]:
    """Score the test window with the registered model, as serving would, and return its metrics."""
    model = mlflow.pyfunc.load_model(model_uri)
    columns = model.metadata.get_input_schema().input_names()
    missing = [column for column in columns if column not in test_frame.columns]
    if missing:
        raise PipelineError(
            f"The test window lacks column(s) {missing} that model {model_uri} reads, so the gate cannot "
            "compare it. Train the challenger on a feature service that includes the champion's features."
        )
    probabilities = model.predict(test_frame[columns])
    return probability_metrics(test_frame[LABEL_COLUMN].to_numpy(), probabilities, bins)


def _describe(version: ModelVersion) -> dict[str, Any]:
    tags = version.tags or {}
    return {
        "version": str(version.version),
        "model_type": tags.get("model_type"),
        "run_id": tags.get("run_id") or version.run_id,
        "feature_service": tags.get("feature_service"),
    }


def _as_candidate(version: ModelVersion, name: str) -> RegisteredCandidate:
    tags = version.tags or {}
    return RegisteredCandidate(
        model_type=tags.get("model_type", "unknown"),
        run_id=tags.get("run_id") or version.run_id or "",
        model_uri=f"models:/{name}/{version.version}",
        version=version,
    )


def _data_as_of(windows: dict[str, dict[str, Any]], settings: Settings) -> str | None:
    """Return when the newest training label became known: the test window's last snapshot plus the horizon."""
    test = windows.get("test") or {}
    if not test.get("end"):
        return None
    return (pd.Timestamp(test["end"]) + pd.Timedelta(days=settings.retention.horizon_days)).isoformat()


def _tag_version(client: MlflowClient, name: str, version: str, record: dict[str, Any]) -> None:
    metrics = record["challenger"]["metrics"]
    champion = record["previous_champion"]
    tags = {
        "promotion_decision": record["decision"],
        "promotion_reasons": " | ".join(record["reasons"]),
        "promotion_at": record["at"],
        "promotion_by": record["by"],
        "promotion_compared_with": champion["version"] if champion else "none",
        TEST_ROC_AUC_TAG: f"{metrics['roc_auc']:.6f}",
        "promotion_test_ece": f"{metrics['ece']:.6f}",
        "promotion_test_brier": f"{metrics['brier']:.6f}",
        DATA_AS_OF_TAG: record["data_as_of"] or "",
        "code_version": record["code_version"],
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
