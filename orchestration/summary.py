"""The human and JSON summary of a pipeline run, built from the assets' materialization metadata."""

from __future__ import annotations

from typing import Any

import dagster as dg


def _plain(value: Any) -> Any:
    """Unwrap Dagster metadata values into JSON-friendly Python values."""
    inner = getattr(value, "value", value)
    if hasattr(inner, "path") and isinstance(getattr(inner, "path"), str):
        return inner.path
    return inner


def asset_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Return each materialized asset's metadata, keyed by the asset name."""
    collected: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        collected[name] = {key: _plain(value) for key, value in materialization.metadata.items()}
    return collected


def build_summary(metadata: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Assemble the summary of `retention demo --json` from the assets' metadata."""
    validated = metadata["validated_events"]
    models = metadata["retention_models"]["summary"]
    drift = metadata["feature_drift_report"]
    return {
        "rows": {
            "input": validated["input_rows"],
            "accepted": validated["accepted_rows"],
            "quarantined": validated["conversion_quarantined_rows"] + validated["validation_quarantined_rows"],
            "duplicates": validated["duplicate_rows"],
            "features": metadata["user_profile_features"]["rows"],
            "training_set": metadata["training_set"]["rows"],
        },
        "splits": models["splits"],
        "models": {name: model["test"] for name, model in models["models"].items()},
        "registered_model": models["registered_model"],
        "reports": {
            "data_docs": validated["data_docs"],
            "quarantine": validated["quarantine"],
            "drift_html": drift["html_report"],
            "drift_json": drift["json_report"],
        },
        "drift": {"drifted_columns_share": drift["drifted_columns_share"], "drifted_columns": drift["drifted_columns"]},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Render the summary as a few lines for a person at a terminal."""
    rows = summary["rows"]
    lines = [
        f"Events: {rows['input']:,} input, {rows['accepted']:,} accepted, "
        f"{rows['quarantined']:,} quarantined, {rows['duplicates']:,} duplicates",
        f"Features: {rows['features']:,} rows; training set {rows['training_set']:,} rows",
    ]
    for split, description in summary["splits"].items():
        lines.append(f"  {split:<10} {description['start'][:10]} to {description['end'][:10]}  {description['rows']:,} rows")
    lines.append("Test metrics:")
    for name, metrics in summary["models"].items():
        shown = ", ".join(f"{key} {value:.3f}" for key, value in metrics.items())
        lines.append(f"  {name:<10} {shown}")
    registered = summary["registered_model"]
    lines.append(
        f"Registered {registered['name']} version {registered['version']} "
        f"({registered['model_type']}) as @{registered['alias']}"
    )
    reports = summary["reports"]
    lines.append(f"Reports: data docs {reports['data_docs']}, drift {reports['drift_html']}")
    return "\n".join(lines)
