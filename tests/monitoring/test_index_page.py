import re

import numpy as np
import pandas as pd
import pytest

from monitoring.data_docs import write_data_docs
from monitoring.index_page import write_index_page
from monitoring.policy import append_decision
from monitoring.summaries import ExpectationSummary, SuiteSummary
from monitoring.weekly import INSUFFICIENT_DATA, OK, ColumnIssues, DriftFindings, PerformanceFindings
from monitoring.weeks import decision_log_path, predictions_path, week_report_dir
from retention.io import write_json_atomic
from retention.settings import Settings
from training.promotion_log import append_record

FIRST, SECOND = "2017-09-03", "2017-09-10"


def write_predictions(settings: Settings, week: str, version: str, labelled: bool) -> None:
    rng = np.random.default_rng(0)
    rows = 60
    frame = pd.DataFrame(
        {
            "user_id": [str(index) for index in range(rows)],
            "snapshot_time": pd.Timestamp(week, tz="UTC"),
            "week": week,
            "prediction": rng.uniform(size=rows),
            "tenure_days": rng.uniform(10, 200, rows),
            "model_version": version,
            "model_type": "lightgbm",
        }
    )
    if labelled:
        frame["label"] = rng.integers(0, 2, rows)
    path = predictions_path(settings, week)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)


def write_week_reports(settings: Settings) -> None:
    first, second = week_report_dir(settings, FIRST), week_report_dir(settings, SECOND)
    issues = ColumnIssues(empty=["recency_days"], constant=["frequency_30d"], unseen_categories={"age_band": ["Z"]})
    drift = DriftFindings(OK, "", 400, 60, [], issues, drifted_columns=["monetary_30d"], drifted_share=0.25,
                          prediction_drift={"score": 0.2, "method": "K-S p_value", "threshold": 0.05, "drifted": True},
                          html_path=str(first / "drift.html"), json_path=str(first / "drift.json"))
    write_json_atomic(drift.to_dict(), first / "drift_summary.json")
    small = DriftFindings(INSUFFICIENT_DATA, "the week has 12 rows", 400, 12, [], ColumnIssues(),
                          html_path=str(second / "drift.html"), json_path=str(second / "drift.json"))
    write_json_atomic(small.to_dict(), second / "drift_summary.json")
    metrics = {"roc_auc": 0.8123, "ece": 0.05, "brier": 0.15, "rows": 60, "positive_rate": 0.7}
    performance = PerformanceFindings(OK, "", 60, metrics, str(first / "performance.html"), str(first / "performance.json"))
    write_json_atomic(performance.to_dict(), first / "performance_summary.json")

    check = ExpectationSummary("no_null_recency", "expect_column_values_to_not_be_null", "recency_days", "row", "", False)
    write_data_docs([SuiteSummary("features", False, 12, "2017-09-10T00:00:00", [check])], second / "data_docs")


def write_logs(settings: Settings) -> None:
    append_decision(decision_log_path(settings), {"week": FIRST, "decision": "retrain", "reasons": ["prediction drift detected"]})
    append_record(
        settings,
        {
            "event": "promotion",
            "week": FIRST,
            "decision": "promoted",
            "reasons": ["ROC-AUC 0.85 vs 0.83: gain +0.02 >= required +0.00"],
            "challenger": {"version": "4", "model_type": "mlp"},
            "champion_after": "4",
        },
    )


@pytest.fixture
def page(tmp_path) -> str:
    settings = Settings(home=tmp_path)
    write_predictions(settings, FIRST, "3", labelled=True)
    write_predictions(settings, SECOND, "4", labelled=False)
    write_week_reports(settings)
    write_logs(settings)
    return write_index_page(settings).read_text(encoding="utf-8")


def test_page_opens_offline(page):
    assert "<script" not in page
    assert "<link" not in page
    assert re.search(r'(?:src|href)="https?:', page) is None


def test_page_lists_every_week(page):
    assert f"<td>{FIRST}</td>" in page
    assert f"<td>{SECOND}</td>" in page


def test_page_names_serving_model(page):
    assert "v3 (lightgbm)" in page
    assert "v4 (lightgbm)" in page


def test_page_links_data_quality(page):
    assert f'failed (<a href="../weeks/{SECOND}/data_docs/index.html">Data Docs</a>)' in page


def test_page_shows_drift_findings(page):
    assert "25% of features drifted" in page
    assert "new in age_band: Z" in page
    assert "empty: recency_days" in page
    assert "constant: frequency_30d" in page
    assert f'<a href="../weeks/{FIRST}/drift.html">report</a>' in page


def test_page_shows_insufficient_week(page):
    assert "insufficient data: the week has 12 rows" in page


def test_page_shows_realized_performance(page):
    assert "ROC-AUC 0.812, ECE 0.050, Brier 0.150" in page
    assert "labels not known yet" in page


def test_page_shows_decision_and_gate(page):
    assert "<strong>retrain</strong>" in page
    assert "prediction drift detected" in page
    assert "<strong>promoted</strong> v4 (mlp); champion now v4" in page


def test_page_embeds_cohort_chart(page):
    assert 'src="data:image/png;base64,' in page


def test_chart_waits_for_labels(tmp_path):
    settings = Settings(home=tmp_path)
    write_predictions(settings, SECOND, "4", labelled=False)

    page = write_index_page(settings).read_text(encoding="utf-8")

    assert "No week has realized labels yet." in page
    assert "data:image/png" not in page
