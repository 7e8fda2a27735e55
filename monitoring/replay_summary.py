"""The summary of a replay: weeks, the model that served each, and every retraining and gate decision."""

from __future__ import annotations

from typing import Any

import pandas as pd

from monitoring.policy import read_decisions
from monitoring.weeks import decision_log_path, predictions_path
from retention.settings import Settings
from training.promotion_log import read_records


def summarize(settings: Settings, replayed: list[str], shift: dict | None, index: Any, seconds: float) -> dict[str, Any]:
    """Collect what the replay of `replayed` weeks did, from its predictions and its two logs."""
    decisions = read_decisions(decision_log_path(settings))
    promotions = [record for record in read_records(settings) if record.get("event") == "promotion"]
    served = {}
    for week in replayed:
        versions = pd.read_parquet(predictions_path(settings, week), columns=["model_version"])["model_version"]
        served[week] = str(versions.iloc[0])
    retrains = [record for record in decisions if record["decision"] == "retrain"]
    return {
        "home": str(settings.home),
        "weeks": len(replayed),
        "first_week": replayed[0],
        "last_week": replayed[-1],
        "shift": shift,
        "retrains": len(retrains),
        "promotions": sum(1 for record in promotions[1:] if record["decision"] == "promoted"),
        "decisions": [{"week": record["week"], "decision": record["decision"], "summary": record["summary"]} for record in decisions],
        "gate": [
            {"week": record.get("week"), "decision": record["decision"], "champion_after": record["champion_after"], "reasons": record["reasons"]}
            for record in promotions
        ],
        "served_versions": served,
        "index_page": str(index),
        "wall_seconds": round(seconds, 1),
    }
