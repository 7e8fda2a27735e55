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
    """Assemble the summary of `retention demo --json` and `retention ingest --json` from the assets' metadata."""
    raw = metadata["raw_events"]
    validated = metadata["validated_events"]
    users = metadata["user_attributes"]
    models = metadata["retention_models"]["summary"]
    drift = metadata["feature_drift_report"]
    return {
        "rows": {
            "input": validated["input_rows"],
            "accepted": validated["accepted_rows"],
            "quarantined": validated["quarantined_rows"],
            "duplicates": validated["duplicate_rows"],
            "features": metadata["user_profile_features"]["rows"],
            "training_set": metadata["training_set"]["rows"],
        },
        "ingestion": {
            "source": raw["source"],
            "files": raw["files"],
            "quarantined_by_rule": validated["quarantine_by_rule"],
            "quarantine_share": validated["quarantine_share"],
            "max_quarantine_share": validated["max_quarantine_share"],
            "unknown_event_types": raw["unknown_event_types"],
            "event_types": raw["event_types"],
            "user_attributes": {
                "input": users["input_rows"],
                "accepted": users["rows"],
                "quarantined": users["quarantined_rows"],
                "duplicates": users["duplicate_rows"],
            },
            "pseudonymized_user_ids": raw["pseudonymized_user_ids"],
        },
        "splits": models["splits"],
        "models": {name: model["test"] for name, model in models["models"].items()},
        "registered_model": models["registered_model"],
        "reports": {
            "data_docs": validated["data_docs"],
            "quarantine": validated["quarantine"],
            "conversion_report": raw["conversion_report"],
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
        *_ingestion_lines(summary["ingestion"]),
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


def _ingestion_lines(ingestion: dict[str, Any]) -> list[str]:
    """Render the per-file counts, quarantine rules and unknown event types, indented under the totals."""
    lines = []
    for counts in ingestion["files"]:
        lines.append(
            f"  {counts['path']}: {counts['input_rows']:,} rows, {counts['converted_rows']:,} converted, "
            f"{counts['quarantined_rows']:,} quarantined, {counts['duplicate_rows']:,} duplicates"
        )
    lines.append(
        f"  quarantine share {ingestion['quarantine_share']:.2%} (limit {ingestion['max_quarantine_share']:.2%})"
    )
    for rule, count in sorted(ingestion["quarantined_by_rule"].items(), key=lambda item: -item[1]):
        lines.append(f"  quarantined by {rule}: {count:,}")
    for name, count in ingestion["unknown_event_types"].items():
        lines.append(f"  rows of unknown event type {name!r}: {count:,}")
    users = ingestion["user_attributes"]
    lines.append(
        f"User attributes: {users['input']:,} input, {users['accepted']:,} accepted, "
        f"{users['quarantined']:,} quarantined, {users['duplicates']:,} duplicates"
    )
    return lines
