"""Feature drift between the first and the last weeks of the feature table, with Evidently.

Evidently 0.7.23 writes drift.html as one self-contained page: Snapshot.save_html embeds the
JavaScript bundle and the icon font, and the page has no <script src> or <link> element (checked
on a generated report). The only CDN address inside it is plotly's default topojsonURL, which
plotly loads for geographic maps only, and this report draws none. So no offline mode is needed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from feature_repo.feature_columns import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES, SNAPSHOT_COLUMN
from retention.errors import InputDataError
from retention.settings import Settings

logger = logging.getLogger(__name__)

DRIFT_HTML_NAME = "drift.html"
DRIFT_JSON_NAME = "drift.json"

# Type names in the "config" of Evidently 0.7 metric results and in the metric_config of tests.
_DRIFTED_COLUMNS_COUNT_TYPE = "evidently:metric_v2:DriftedColumnsCount"
_VALUE_DRIFT_TYPE = "evidently:metric_v2:ValueDrift"
# Evidently marks a column test FAIL when drift is detected in that column.
_DRIFT_DETECTED_STATUS = "FAIL"


@dataclass
class ColumnDrift:
    score: float
    method: str
    threshold: float
    drifted: bool


@dataclass
class DriftSummary:
    """Paths and findings of one drift report: the two windows, the drifted columns, dataset drift."""

    html_path: str
    json_path: str
    reference_start: str
    reference_end: str
    reference_snapshots: int
    reference_rows: int
    current_start: str
    current_end: str
    current_snapshots: int
    current_rows: int
    columns: list[str]
    drifted_columns_count: int
    drifted_columns_share: float
    drifted_columns: list[str]
    # The data set counts as drifted when drifted_columns_share >= drift_share.
    drift_share: float
    dataset_drift: bool
    column_drift: dict[str, ColumnDrift] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_drift_report(features: pd.DataFrame, settings: Settings, output_dir: Path) -> DriftSummary:
    """Compare the latest weeks of feature snapshots with the earliest ones and save the report.

    The reference is every snapshot within settings.monitoring.reference_weeks of the first
    snapshot, the current data every snapshot within settings.monitoring.current_weeks of the
    last one. Both use FEATURE_COLUMNS. Writes drift.html and drift.json into output_dir.
    """
    missing = [column for column in (SNAPSHOT_COLUMN, *FEATURE_COLUMNS) if column not in features.columns]
    if missing:
        raise InputDataError(
            f"The feature table lacks column(s) {missing} needed for the drift report. "
            "Rebuild the features with the current feature definitions."
        )

    snapshot_times = pd.to_datetime(features[SNAPSHOT_COLUMN], utc=True)
    reference_mask, current_mask = _split_windows(snapshot_times, settings)
    reference = _feature_frame(features.loc[reference_mask])
    current = _feature_frame(features.loc[current_mask])

    data_definition = DataDefinition(
        numerical_columns=list(NUMERIC_FEATURES),
        categorical_columns=list(CATEGORICAL_FEATURES),
    )
    # include_tests adds one pass/fail test per column, the only place where Evidently 0.7
    # states per column whether drift was detected.
    report = Report([DataDriftPreset(columns=list(FEATURE_COLUMNS))], include_tests=True)
    # Evidently 0.7's Report.run takes the current data first, then the reference.
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=data_definition),
        Dataset.from_pandas(reference, data_definition=data_definition),
    )

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path = output_dir / DRIFT_HTML_NAME
    json_path = output_dir / DRIFT_JSON_NAME
    # Snapshot.save_html and save_json write only when given a str, and silently ignore a Path.
    snapshot.save_html(str(html_path))
    snapshot.save_json(str(json_path))

    parsed = parse_drift_result(snapshot.dict())
    reference_times = snapshot_times[reference_mask]
    current_times = snapshot_times[current_mask]
    return DriftSummary(
        html_path=str(html_path),
        json_path=str(json_path),
        reference_start=reference_times.min().isoformat(),
        reference_end=reference_times.max().isoformat(),
        reference_snapshots=int(reference_times.nunique()),
        reference_rows=len(reference),
        current_start=current_times.min().isoformat(),
        current_end=current_times.max().isoformat(),
        current_snapshots=int(current_times.nunique()),
        current_rows=len(current),
        columns=list(FEATURE_COLUMNS),
        **parsed,
    )


def parse_drift_result(result: dict[str, Any]) -> dict[str, Any]:
    """Extract the drift counts and the drifted columns from an Evidently 0.7 snapshot dict.

    Raises ValueError when the dict lacks the DriftedColumnsCount metric or the per-column drift
    tests, which is how a change of Evidently's result format would show.
    """
    count_metrics = [
        metric for metric in result.get("metrics", []) if metric.get("config", {}).get("type") == _DRIFTED_COLUMNS_COUNT_TYPE
    ]
    if len(count_metrics) != 1:
        raise ValueError(
            f"expected one {_DRIFTED_COLUMNS_COUNT_TYPE} metric in the Evidently result, found {len(count_metrics)}. "
            "The result format of this Evidently version differs from 0.7.23."
        )
    count_metric = count_metrics[0]
    drift_share = float(count_metric["config"]["drift_share"])
    drifted_count = int(count_metric["value"]["count"])
    drifted_share = float(count_metric["value"]["share"])

    scores = {
        metric["config"]["column"]: metric
        for metric in result.get("metrics", [])
        if metric.get("config", {}).get("type") == _VALUE_DRIFT_TYPE
    }
    column_drift: dict[str, ColumnDrift] = {}
    for test in result.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type") != _VALUE_DRIFT_TYPE:
            continue
        column = params["column"]
        score = scores[column]["value"] if column in scores else float("nan")
        column_drift[column] = ColumnDrift(
            score=float(score),
            method=str(params.get("method")),
            threshold=float(params.get("threshold")),
            drifted=test.get("status") == _DRIFT_DETECTED_STATUS,
        )
    if not column_drift:
        raise ValueError(
            "the Evidently result has no per-column ValueDrift tests. Build the Report with include_tests=True "
            "(the result format was checked with Evidently 0.7.23)."
        )

    drifted_columns = [column for column, drift in column_drift.items() if drift.drifted]
    if len(drifted_columns) != drifted_count:
        logger.warning(
            "Evidently counts %d drifted columns but its column tests mark %d (%s)",
            drifted_count,
            len(drifted_columns),
            drifted_columns,
        )
    return {
        "drifted_columns_count": drifted_count,
        "drifted_columns_share": drifted_share,
        "drifted_columns": drifted_columns,
        "drift_share": drift_share,
        # The rule of Evidently's DatasetDriftMetric: drift when the drifted share reaches drift_share.
        "dataset_drift": drifted_share >= drift_share,
        "column_drift": column_drift,
    }


def _split_windows(snapshot_times: pd.Series, settings: Settings) -> tuple[pd.Series, pd.Series]:
    """Return the masks of the reference rows (first weeks) and the current rows (last weeks)."""
    if snapshot_times.isna().any():
        raise InputDataError(
            f"The feature table has {int(snapshot_times.isna().sum())} row(s) without {SNAPSHOT_COLUMN}. "
            "Rebuild the features."
        )
    if snapshot_times.empty:
        raise InputDataError("The feature table is empty, so there is nothing to compare for drift.")

    first, last = snapshot_times.min(), snapshot_times.max()
    reference_end = first + pd.Timedelta(weeks=settings.monitoring.reference_weeks)
    current_start = last - pd.Timedelta(weeks=settings.monitoring.current_weeks)
    reference_mask = snapshot_times < reference_end
    current_mask = snapshot_times > current_start
    if (reference_mask & current_mask).any():
        raise InputDataError(
            f"The feature snapshots span {first.date()} to {last.date()}, too short for "
            f"reference_weeks={settings.monitoring.reference_weeks} plus "
            f"current_weeks={settings.monitoring.current_weeks} without overlap. "
            "Lower them in the [monitoring] section of the configuration or provide more history."
        )
    return reference_mask, current_mask


def _feature_frame(rows: pd.DataFrame) -> pd.DataFrame:
    frame = rows.loc[:, list(FEATURE_COLUMNS)].reset_index(drop=True)
    for column in NUMERIC_FEATURES:
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    for column in CATEGORICAL_FEATURES:
        frame[column] = frame[column].astype("object")
    return frame
