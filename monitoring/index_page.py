"""One page for data stewards that lists every monitored week and opens offline.

Per week it shows the data-quality result (with its Data Docs page), feature and prediction
drift, realized performance, the model that served, and the retraining decision with the gate's
outcome. The cohort retention chart sits above the table. The page carries its CSS inline, embeds
the chart as a PNG data URI, has no scripts and links only to report files beside it.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.cohorts import cohort_chart_png, png_data_uri
from monitoring.policy import read_decisions
from monitoring.weeks import decision_log_path, index_page_path, monitoring_dir, week_report_dir
from retention.settings import Settings
from training.promotion_log import promotion_log_path, read_records

REPLAY_FILE_NAME = "replay.json"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #1d1d1f; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { border: 1px solid #ddd; padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: #f3f3f5; }
.bad { background: #fde2e1; } .good { background: #e3f6e8; } .note { color: #555; font-size: .85rem; }
tr.retrain td { border-top: 2px solid #a1160a; }
"""


@dataclass
class WeekEntry:
    week: str
    scores: dict[str, Any]
    quality: bool | None
    drift: dict[str, Any] | None
    performance: dict[str, Any] | None
    decision: dict[str, Any] | None
    promotion: dict[str, Any] | None


def write_index_page(settings: Settings) -> Path:
    """Collect every monitored week under settings.home, write the index page and return its path."""
    path = index_page_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    scored = _read_predictions(settings)
    entries = collect_weeks(settings, scored)
    png = cohort_chart_png(scored) if not scored.empty else None
    replay = _read_json(monitoring_dir(settings) / REPLAY_FILE_NAME)
    page = render_index_page(entries, settings, replay, png, path.parent)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    return path


def collect_weeks(settings: Settings, scored: pd.DataFrame) -> list[WeekEntry]:
    decisions = {record["week"]: record for record in read_decisions(decision_log_path(settings))}
    promotions = {
        record["week"]: record
        for record in read_records(settings)
        if record.get("event") == "promotion" and record.get("week")
    }
    entries = []
    for week, rows in scored.groupby("week", sort=True):
        folder = week_report_dir(settings, str(week))
        entries.append(
            WeekEntry(
                week=str(week),
                scores={
                    "snapshot": str(rows["snapshot_time"].iloc[0])[:10],
                    "users": len(rows),
                    "model": f"v{rows['model_version'].iloc[0]} ({rows['model_type'].iloc[0]})",
                    "mean_prediction": float(rows["prediction"].mean()),
                },
                quality=_suite_success(folder / "data_docs" / "suites"),
                drift=_read_json(folder / "drift_summary.json"),
                performance=_read_json(folder / "performance_summary.json"),
                decision=decisions.get(str(week)),
                promotion=promotions.get(str(week)),
            )
        )
    return entries


def render_index_page(
    entries: list[WeekEntry], settings: Settings, replay: dict | None, png: bytes | None, page_dir: Path
) -> str:
    """Render the page as one self-contained HTML document."""
    retrains = sum(1 for entry in entries if entry.decision and entry.decision.get("decision") == "retrain")
    promoted = sum(1 for entry in entries if entry.promotion and entry.promotion.get("decision") == "promoted")
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<title>Retention monitoring: weekly reports</title>\n",
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<h1>Retention monitoring: weekly reports</h1>\n",
        f"<p class=\"note\">Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {html.escape(str(settings.home))}. "
        f"{len(entries)} weeks scored, {retrains} retraining decisions, {promoted} promotions.</p>\n",
        _replay_note(replay),
        _policy_note(settings),
        "<h2>Cohort retention</h2>\n",
        f'<img alt="Realized retention by cohort" src="{png_data_uri(png)}">\n' if png else "<p>No week has realized labels yet.</p>\n",
        "<h2>Weeks</h2>\n",
        _table(entries, settings, page_dir),
        _log_links(settings, page_dir),
        "</body>\n</html>\n",
    ]
    return "".join(parts)


def _table(entries: list[WeekEntry], settings: Settings, page_dir: Path) -> str:
    head = (
        "<table>\n<thead><tr><th>Week</th><th>Snapshot</th><th>Users</th><th>Model served</th>"
        "<th>Data quality</th><th>Feature drift</th><th>Prediction drift</th><th>Realized performance</th>"
        "<th>Retraining decision</th><th>Promotion gate</th></tr></thead>\n<tbody>\n"
    )
    rows = [_row(entry, week_report_dir(settings, entry.week), page_dir) for entry in entries]
    return head + "".join(rows) + "</tbody>\n</table>\n"


def _row(entry: WeekEntry, folder: Path, page_dir: Path) -> str:
    decision = (entry.decision or {}).get("decision")
    promotion = (entry.promotion or {}).get("decision")
    cells = [
        (html.escape(entry.week), ""),
        (html.escape(entry.scores["snapshot"]), ""),
        (f"{entry.scores['users']:,}", ""),
        (f"{html.escape(entry.scores['model'])}<br><span class=\"note\">mean p {entry.scores['mean_prediction']:.3f}</span>", ""),
        (_quality_cell(entry.quality, folder, page_dir), "bad" if entry.quality is False else ""),
        (_drift_cell(entry.drift, page_dir), ""),
        (_prediction_drift_cell(entry.drift), ""),
        (_performance_cell(entry.performance, page_dir), ""),
        (_decision_cell(entry.decision), "bad" if decision == "retrain" else ""),
        (_promotion_cell(entry.promotion), "good" if promotion == "promoted" else ""),
    ]
    row_class = ' class="retrain"' if decision == "retrain" else ""
    rendered = "".join(f'<td class="{css}">{cell}</td>' if css else f"<td>{cell}</td>" for cell, css in cells)
    return f"<tr{row_class}>{rendered}</tr>\n"


def _link(target: Path, page_dir: Path, text: str) -> str:
    return f'<a href="{html.escape(os.path.relpath(target, page_dir))}">{html.escape(text)}</a>'


def _quality_cell(success: bool | None, folder: Path, page_dir: Path) -> str:
    if success is None:
        return "not validated"
    return f"{'passed' if success else 'failed'} ({_link(folder / 'data_docs' / 'index.html', page_dir, 'Data Docs')})"


def _drift_cell(drift: dict | None, page_dir: Path) -> str:
    if drift is None:
        return "no report"
    link = _link(Path(drift["html_path"]), page_dir, "report")
    if drift["status"] != "ok":
        return f"{html.escape(drift['status'])}: {html.escape(drift['reason'])} ({link})"
    parts = [f"{drift['drifted_share']:.0%} of features drifted ({link})"]
    if drift["drifted_columns"]:
        parts.append("drifted: " + html.escape(", ".join(drift["drifted_columns"])))
    issues = drift["issues"]
    if issues["empty"]:
        parts.append("empty: " + html.escape(", ".join(issues["empty"])))
    if issues["constant"]:
        parts.append("constant: " + html.escape(", ".join(issues["constant"])))
    for column, values in issues["unseen_categories"].items():
        parts.append(f"new in {html.escape(column)}: " + html.escape(", ".join(values)))
    return "<br>".join(parts)


def _prediction_drift_cell(drift: dict | None) -> str:
    prediction = (drift or {}).get("prediction_drift")
    if not prediction:
        return "not assessed"
    state = "drifted" if prediction["drifted"] else "no drift"
    return f"{state}<br><span class=\"note\">{html.escape(prediction['method'])} {prediction['score']:.3f} (threshold {prediction['threshold']:g})</span>"


def _performance_cell(performance: dict | None, page_dir: Path) -> str:
    if performance is None:
        return "labels not known yet"
    link = _link(Path(performance["html_path"]), page_dir, "report")
    if performance["status"] != "ok":
        return f"{html.escape(performance['status'])}: {html.escape(performance['reason'])} ({link})"
    metrics = performance["metrics"]
    return (
        f"ROC-AUC {metrics['roc_auc']:.3f}, ECE {metrics['ece']:.3f}, Brier {metrics['brier']:.3f}<br>"
        f"<span class=\"note\">{metrics['rows']:,} labelled, {metrics['positive_rate']:.0%} came back</span> ({link})"
    )


def _decision_cell(decision: dict | None) -> str:
    if decision is None:
        return "not evaluated"
    reasons = "<br>".join(html.escape(reason) for reason in decision["reasons"])
    return f"<strong>{html.escape(decision['decision'])}</strong><br><span class=\"note\">{reasons}</span>"


def _promotion_cell(record: dict | None) -> str:
    if record is None:
        return ""
    challenger = record["challenger"]
    reasons = "<br>".join(html.escape(reason) for reason in record["reasons"])
    outcome = "champion now" if record["decision"] == "promoted" else "champion stays"
    return (
        f"<strong>{html.escape(record['decision'])}</strong> v{html.escape(str(challenger['version']))} "
        f"({html.escape(str(challenger['model_type']))}); {outcome} v{html.escape(str(record['champion_after']))}"
        f"<br><span class=\"note\">{reasons}</span>"
    )


def _replay_note(replay: dict | None) -> str:
    if not replay:
        return ""
    shift = replay.get("shift")
    text = f"Replay of weeks {replay.get('first_week')} to {replay.get('last_week')}. "
    if shift:
        text += (
            f"Injected shift from {shift['start'][:10]} on: amounts multiplied by {shift['amount_factor']:g}, "
            f"category {shift['removed_category']!r} removed ({shift['removed_rows']:,} events)."
        )
    else:
        text += "No shift injected."
    return f"<p>{html.escape(text)}</p>\n"


def _policy_note(settings: Settings) -> str:
    policy, promotion = settings.policy, settings.promotion
    text = (
        f"Retraining policy: drifted feature share >= {policy.max_drifted_feature_share:g}, "
        f"prediction drift ({'on' if policy.retrain_on_prediction_drift else 'off'}), "
        f"ROC-AUC drop >= {policy.max_roc_auc_drop:g}, model age >= {policy.max_model_age_weeks} weeks; "
        f"at least {policy.min_weeks_between_retrains} weeks between retrainings. "
        f"Promotion gate: ROC-AUC gain >= {promotion.min_roc_auc_gain:g} and "
        f"{promotion.calibration_metric} increase <= {promotion.max_calibration_increase:g}."
    )
    return f"<p class=\"note\">{html.escape(text)}</p>\n"


def _log_links(settings: Settings, page_dir: Path) -> str:
    links = [
        _link(path, page_dir, label)
        for path, label in ((decision_log_path(settings), "decision log"), (promotion_log_path(settings), "promotion log"))
        if path.exists()
    ]
    return f"<p class=\"note\">Logs: {', '.join(links)}</p>\n" if links else ""


def _read_predictions(settings: Settings) -> pd.DataFrame:
    files = sorted((monitoring_dir(settings) / "predictions").glob("*.parquet"))
    if not files:
        return pd.DataFrame(columns=["week", "snapshot_time", "prediction", "model_version", "model_type"])
    return pd.concat([pd.read_parquet(file) for file in files], ignore_index=True)


def _suite_success(suites_dir: Path) -> bool | None:
    summaries = [_read_json(path) for path in sorted(suites_dir.glob("*.json"))]
    if not summaries:
        return None
    return all(summary.get("success", False) for summary in summaries if summary)


def _read_json(path: Path) -> Any:
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
