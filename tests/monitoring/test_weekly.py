import json

import numpy as np
import pandas as pd
import pytest

from feature_repo.feature_columns import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES
from monitoring.weekly import INSUFFICIENT_DATA, OK, drift_report, performance_report
from retention.errors import InputDataError

MIN_ROWS = 100


def weekly_frame(rows: int, seed: int) -> pd.DataFrame:
    """Return scored feature rows: gamma-distributed numbers, three categories, a prediction and a label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({column: rng.gamma(2.0, 3.0, rows) for column in NUMERIC_FEATURES})
    for column in CATEGORICAL_FEATURES:
        frame[column] = rng.choice(["a", "b", "unknown"], rows).astype(object)
    frame["prediction"] = rng.uniform(0.05, 0.95, rows)
    frame["label"] = (rng.uniform(size=rows) < frame["prediction"]).astype(int)
    return frame


@pytest.fixture(scope="module")
def edge_case_report(tmp_path_factory):
    """One drift report over a week that has every edge case of real data at once."""
    reference = weekly_frame(400, seed=1)
    current = weekly_frame(300, seed=2)
    current.loc[:9, "age_band"] = "Z"
    current["recency_days"] = np.nan
    current["frequency_30d"] = 2.0
    current["monetary_30d"] += 30.0
    current["prediction"] = np.clip(current["prediction"] + 0.3, 0.0, 1.0)
    current["surprise"] = "not in the column list"
    output = tmp_path_factory.mktemp("week")
    return drift_report(reference, current, output, MIN_ROWS), output


def test_unseen_category_reported_by_name(edge_case_report):
    findings, _ = edge_case_report
    assert findings.issues.unseen_categories == {"age_band": ["Z"]}


def test_empty_column_listed_and_untested(edge_case_report):
    findings, _ = edge_case_report
    assert findings.issues.empty == ["recency_days"]
    assert "recency_days" not in findings.tested_columns


def test_report_renders_despite_empty_column(edge_case_report):
    findings, output = edge_case_report
    assert findings.status == OK
    assert (output / "drift.html").stat().st_size > 0
    assert json.loads((output / "drift.json").read_text())["metrics"]
    assert json.loads((output / "drift_summary.json").read_text())["issues"]["empty"] == ["recency_days"]


def test_constant_column_listed_and_tested(edge_case_report):
    findings, _ = edge_case_report
    assert findings.issues.constant == ["frequency_30d"]
    assert "frequency_30d" in findings.tested_columns


def test_shifted_feature_drifts(edge_case_report):
    findings, _ = edge_case_report
    assert "monetary_30d" in findings.drifted_columns
    assert "monetary_90d" not in findings.drifted_columns


def test_shifted_prediction_drifts(edge_case_report):
    findings, _ = edge_case_report
    assert findings.prediction_drift["drifted"] is True


def test_report_reads_explicit_columns(edge_case_report):
    findings, _ = edge_case_report
    assert findings.columns == [*FEATURE_COLUMNS, "prediction"]
    assert "surprise" not in findings.column_drift


def test_missing_column_names_it(tmp_path):
    current = weekly_frame(200, seed=3).drop(columns=["household_size"])

    with pytest.raises(InputDataError, match="household_size"):
        drift_report(weekly_frame(200, seed=4), current, tmp_path, MIN_ROWS)


def test_small_week_is_insufficient_data(tmp_path):
    findings = drift_report(weekly_frame(400, seed=5), weekly_frame(20, seed=6), tmp_path, MIN_ROWS)

    assert findings.status == INSUFFICIENT_DATA
    assert findings.drifted_share is None
    assert findings.drifted_columns == []
    assert "the week has 20 rows" in findings.reason
    assert "insufficient data" in (tmp_path / "drift.html").read_text()


def test_small_reference_is_insufficient_data(tmp_path):
    findings = drift_report(weekly_frame(30, seed=7), weekly_frame(300, seed=8), tmp_path, MIN_ROWS)

    assert findings.status == INSUFFICIENT_DATA
    assert "the reference has 30 rows" in findings.reason


def test_performance_reports_realized_metrics(tmp_path):
    findings = performance_report(weekly_frame(400, seed=9), weekly_frame(300, seed=10), tmp_path, MIN_ROWS, 10)

    assert findings.status == OK
    assert findings.metrics["roc_auc"] > 0.7
    assert 0.0 <= findings.metrics["ece"] < 0.2
    assert findings.metrics["rows"] == 300
    assert (tmp_path / "performance.html").stat().st_size > 0


def test_single_class_week_is_insufficient(tmp_path):
    current = weekly_frame(300, seed=11)
    current["label"] = 1

    findings = performance_report(None, current, tmp_path, MIN_ROWS, 10)

    assert findings.status == INSUFFICIENT_DATA
    assert "all 300 realized labels are 1" in findings.reason


def test_small_labelled_week_is_insufficient(tmp_path):
    findings = performance_report(None, weekly_frame(40, seed=12), tmp_path, MIN_ROWS, 10)

    assert findings.status == INSUFFICIENT_DATA
    assert findings.metrics == {}


def test_performance_without_labels_names_fix(tmp_path):
    with pytest.raises(InputDataError, match="Join the realized labels"):
        performance_report(None, weekly_frame(300, seed=13).drop(columns=["label"]), tmp_path, MIN_ROWS, 10)
