"""Evidently reports of one week: feature and prediction drift, and realized performance.

Both reports read the reference and the current week through one explicit column list, so a
column that one frame has and the other lacks never changes what is compared. They also
survive real data:
- a week (or reference) with fewer rows than the minimum reports "insufficient data", not drift;
- categorical values that the reference never had are listed by column and name;
- a column without any value is listed as empty and left out of the drift tests, because
  Evidently 0.7.23 raises on it;
- a column with one value is listed as constant and still tested.

Each report writes <name>.html and <name>.json (Evidently's own files, or a short page when data
is insufficient) and <name>_summary.json with the findings below.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift
from evidently.presets import ClassificationPreset, DataDriftPreset

from feature_repo.feature_columns import CATEGORICAL_FEATURES, LABEL_COLUMN, NUMERIC_FEATURES
from monitoring.scoring import PREDICTION_COLUMN
from retention.errors import InputDataError
from retention.io import write_json_atomic
from training.calibration import probability_metrics

logger = logging.getLogger(__name__)

OK = "ok"
INSUFFICIENT_DATA = "insufficient data"
# Type names in the results of Evidently 0.7.23, as monitoring/drift.py documents them.
_DRIFTED_COLUMNS_COUNT_TYPE = "evidently:metric_v2:DriftedColumnsCount"
_VALUE_DRIFT_TYPE = "evidently:metric_v2:ValueDrift"
_DRIFT_DETECTED_STATUS = "FAIL"


@dataclass(frozen=True)
class ReportColumns:
    """The one column list that both the reference and the current data are read through."""

    numeric: tuple[str, ...] = NUMERIC_FEATURES
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES
    prediction: str = PREDICTION_COLUMN
    target: str = LABEL_COLUMN

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


@dataclass
class ColumnIssues:
    # Columns without any value in the reference or the current data. They are left out of the drift tests.
    empty: list[str] = field(default_factory=list)
    # Columns with one distinct value in the reference or the current data. They are still tested.
    constant: list[str] = field(default_factory=list)
    # {column: values of the current data that the reference never had}
    unseen_categories: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class DriftFindings:
    status: str
    reason: str
    reference_rows: int
    current_rows: int
    columns: list[str]
    issues: ColumnIssues
    tested_columns: list[str] = field(default_factory=list)
    drifted_columns: list[str] = field(default_factory=list)
    drifted_share: float | None = None
    # {column: {"score", "method", "threshold", "drifted"}}
    column_drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    prediction_drift: dict[str, Any] | None = None
    html_path: str = ""
    json_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PerformanceFindings:
    status: str
    reason: str
    rows: int
    # roc_auc, ece, brier, rows and positive_rate of the current data, when status is ok.
    metrics: dict[str, float] = field(default_factory=dict)
    html_path: str = ""
    json_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_columns(frame: pd.DataFrame, columns: list[str], numeric: set[str], name: str, fix: str) -> pd.DataFrame:
    """Return exactly `columns` of `frame`, numeric ones as float64 and the others as text or None.

    Raises InputDataError naming the missing columns, the data (`name`) and what to do (`fix`).
    """
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InputDataError(f"The {name} data lacks column(s) {missing} of the report's column list {columns}. {fix}")
    selected = frame.loc[:, columns].reset_index(drop=True)
    for column in columns:
        if column in numeric:
            selected[column] = pd.to_numeric(selected[column], errors="coerce").astype("float64")
        else:
            values = selected[column].astype("object")
            selected[column] = values.where(values.notna(), None)
    return selected


def column_issues(reference: pd.DataFrame, current: pd.DataFrame, columns: ReportColumns) -> ColumnIssues:
    issues = ColumnIssues()
    for column in [*columns.features, columns.prediction]:
        if column not in reference.columns:
            continue
        if reference[column].isna().all() or current[column].isna().all():
            issues.empty.append(column)
        elif reference[column].nunique() == 1 or current[column].nunique() == 1:
            issues.constant.append(column)
    for column in columns.categorical:
        unseen = set(current[column].dropna().astype(str)) - set(reference[column].dropna().astype(str))
        if unseen:
            issues.unseen_categories[column] = sorted(unseen)
    return issues


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    output_dir: Path,
    min_rows: int,
    columns: ReportColumns = ReportColumns(),
) -> DriftFindings:
    """Compare the week's features and predictions with the reference and write drift.html and drift.json."""
    names = [*columns.features, columns.prediction]
    numeric = {*columns.numeric, columns.prediction}
    fix = "Score the week with the champion's feature service, and build the reference from the same features."
    reference = select_columns(reference, names, numeric, "reference", fix)
    current = select_columns(current, names, numeric, "current", fix)
    issues = column_issues(reference, current, columns)
    findings = DriftFindings(OK, "", len(reference), len(current), names, issues)

    tested = [column for column in columns.features if column not in issues.empty]
    reason = _insufficient_reason({"week": len(current), "reference": len(reference)}, min_rows)
    if reason is None and not tested:
        reason = f"every feature column is empty: {issues.empty}"
    output_dir = Path(output_dir)
    if reason is not None:
        return _write_insufficient(findings, reason, output_dir, "drift", "Drift")

    definition = DataDefinition(
        numerical_columns=[c for c in (*columns.numeric, columns.prediction) if c not in issues.empty],
        categorical_columns=[c for c in columns.categorical if c not in issues.empty],
    )
    metrics: list[Any] = [DataDriftPreset(columns=tested)]
    if columns.prediction not in issues.empty:
        metrics.append(ValueDrift(column=columns.prediction))
    # Evidently 0.7's Report.run takes the current data first, then the reference.
    snapshot = Report(metrics, include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    findings.tested_columns = tested
    _parse_drift(snapshot.dict(), findings, columns.prediction)
    findings.html_path, findings.json_path = _save_snapshot(snapshot, output_dir, "drift")
    write_json_atomic(findings.to_dict(), output_dir / "drift_summary.json")
    return findings


def performance_report(
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    output_dir: Path,
    min_rows: int,
    calibration_bins: int,
    columns: ReportColumns = ReportColumns(),
) -> PerformanceFindings:
    """Evaluate the week's predictions against its realized labels; write performance.html and .json."""
    names = [columns.prediction, columns.target]
    numeric = {columns.prediction}
    fix = "Join the realized labels to the week's predictions once its horizon has passed."
    current = select_columns(current, names, numeric, "current", fix)
    findings = PerformanceFindings(OK, "", len(current))
    output_dir = Path(output_dir)

    reason = _insufficient_reason({"week": len(current)}, min_rows)
    if reason is None and current[columns.target].nunique() < 2:
        reason = f"all {len(current)} realized labels are {current[columns.target].iloc[0]}, so ROC-AUC is undefined"
    if reason is not None:
        return _write_insufficient(findings, reason, output_dir, "performance", "Realized performance")

    current[columns.target] = current[columns.target].astype(int)
    findings.metrics = probability_metrics(current[columns.target], current[columns.prediction], calibration_bins)
    definition = DataDefinition(
        numerical_columns=[columns.prediction],
        classification=[BinaryClassification(target=columns.target, prediction_probas=columns.prediction)],
    )
    datasets = [Dataset.from_pandas(current, data_definition=definition)]
    if reference is not None and len(reference) >= min_rows and reference[columns.target].nunique() == 2:
        reference = select_columns(reference, names, numeric, "reference", fix)
        reference[columns.target] = reference[columns.target].astype(int)
        datasets.append(Dataset.from_pandas(reference, data_definition=definition))
    snapshot = Report([ClassificationPreset()]).run(*datasets)
    findings.html_path, findings.json_path = _save_snapshot(snapshot, output_dir, "performance")
    write_json_atomic(findings.to_dict(), output_dir / "performance_summary.json")
    return findings


def _insufficient_reason(rows: dict[str, int], min_rows: int) -> str | None:
    """Return why the data is too small ({"week": rows, ...}), or None when every part has min_rows."""
    for name, count in rows.items():
        if count < min_rows:
            return f"the {name} has {count} rows, fewer than the minimum {min_rows} ([monitoring] min_window_rows)"
    return None


def _parse_drift(result: dict[str, Any], findings: DriftFindings, prediction: str) -> None:
    """Fill the drift findings from an Evidently 0.7.23 snapshot dict (DriftedColumnsCount, ValueDrift tests)."""
    scores = {
        metric["config"]["column"]: metric["value"]
        for metric in result.get("metrics", [])
        if metric.get("config", {}).get("type") == _VALUE_DRIFT_TYPE
    }
    counts = [m for m in result.get("metrics", []) if m.get("config", {}).get("type") == _DRIFTED_COLUMNS_COUNT_TYPE]
    if len(counts) != 1:
        raise ValueError(
            f"expected one {_DRIFTED_COLUMNS_COUNT_TYPE} metric in the Evidently result, found {len(counts)}. "
            "The result format of this Evidently version differs from 0.7.23."
        )
    for test in result.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type") != _VALUE_DRIFT_TYPE:
            continue
        column = params["column"]
        drift = {
            "score": float(scores.get(column, float("nan"))),
            "method": str(params.get("method")),
            "threshold": float(params.get("threshold")),
            "drifted": test.get("status") == _DRIFT_DETECTED_STATUS,
        }
        if column == prediction:
            findings.prediction_drift = drift
        else:
            findings.column_drift[column] = drift
    findings.drifted_columns = [column for column, drift in findings.column_drift.items() if drift["drifted"]]
    findings.drifted_share = float(counts[0]["value"]["share"])


def _save_snapshot(snapshot: Any, output_dir: Path, name: str) -> tuple[str, str]:
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = output_dir / f"{name}.html", output_dir / f"{name}.json"
    # Snapshot.save_html and save_json write only when given a str, and silently ignore a Path.
    snapshot.save_html(str(html_path))
    snapshot.save_json(str(json_path))
    return str(html_path), str(json_path)


def _write_insufficient(findings: Any, reason: str, output_dir: Path, name: str, title: str) -> Any:
    """Write a short page and JSON that state why the report was not computed, and return the findings."""
    findings.status, findings.reason = INSUFFICIENT_DATA, reason
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path, json_path = output_dir / f"{name}.html", output_dir / f"{name}.json"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}: insufficient data</title></head>\n<body><h1>{title}: insufficient data</h1>\n"
        f"<p>{html.escape(reason)}.</p>\n<pre>{html.escape(json.dumps(findings.to_dict(), indent=2, default=str))}</pre>"
        "\n</body></html>\n"
    )
    html_path.write_text(page, encoding="utf-8")
    findings.html_path, findings.json_path = str(html_path), str(json_path)
    write_json_atomic(findings.to_dict(), json_path)
    write_json_atomic(findings.to_dict(), output_dir / f"{name}_summary.json")
    logger.info("%s report in %s: insufficient data, %s", title, output_dir, reason)
    return findings
