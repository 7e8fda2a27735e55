import re

import pytest

from feature_repo.feature_columns import FEATURE_COLUMNS
from monitoring.drift import build_drift_report, parse_drift_result
from retention.errors import InputDataError
from retention.settings import MonitoringSettings, Settings
from tests.monitoring.factories import drifting_features


@pytest.fixture(scope="module")
def drift_summary(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("drift")
    settings = Settings(home=output_dir / "home")
    return build_drift_report(drifting_features(), settings, output_dir)


def test_shifted_column_reported_as_drifted(drift_summary):
    assert "monetary_30d" in drift_summary.drifted_columns


def test_unshifted_column_not_drifted(drift_summary):
    assert "frequency_30d" not in drift_summary.drifted_columns
    assert drift_summary.column_drift["frequency_30d"].drifted is False


def test_parsing_covers_every_feature_column(drift_summary):
    assert sorted(drift_summary.column_drift) == sorted(FEATURE_COLUMNS)


def test_drift_counts_match_column_tests(drift_summary):
    assert drift_summary.drifted_columns_count == len(drift_summary.drifted_columns)
    assert drift_summary.drifted_columns_share == pytest.approx(len(drift_summary.drifted_columns) / len(FEATURE_COLUMNS))


def test_one_drifted_column_is_no_dataset_drift(drift_summary):
    assert drift_summary.dataset_drift is False


def test_windows_cover_first_and_last_weeks(drift_summary):
    assert drift_summary.reference_snapshots == 8
    assert drift_summary.current_snapshots == 8
    assert drift_summary.reference_rows == 8 * 300
    assert drift_summary.current_rows == 8 * 300
    assert drift_summary.reference_start == "2024-01-01T00:00:00+00:00"
    assert drift_summary.current_end == "2024-05-13T00:00:00+00:00"
    assert drift_summary.reference_end < drift_summary.current_start


def test_report_files_written(drift_summary):
    with open(drift_summary.json_path, encoding="utf-8") as handle:
        assert '"metrics"' in handle.read()
    with open(drift_summary.html_path, encoding="utf-8") as handle:
        assert "<html" in handle.read().lower()


def test_drift_html_loads_nothing_from_network(drift_summary):
    with open(drift_summary.html_path, encoding="utf-8") as handle:
        page = handle.read()

    assert re.search(r"<script[^>]+src=", page, re.IGNORECASE) is None
    assert re.search(r"<link[^>]+href=[\"']?(https?:)?//", page, re.IGNORECASE) is None


def test_parse_rejects_result_without_drift_metrics():
    with pytest.raises(ValueError, match="DriftedColumnsCount"):
        parse_drift_result({"metrics": [], "tests": []})


def test_short_history_rejected(tmp_path):
    settings = Settings(home=tmp_path, monitoring=MonitoringSettings(reference_weeks=8, current_weeks=8))

    with pytest.raises(InputDataError, match="too short"):
        build_drift_report(drifting_features(snapshots=10, users=20), settings, tmp_path)


def test_missing_feature_column_rejected(tmp_path):
    features = drifting_features(users=20).drop(columns=["tenure_days"])

    with pytest.raises(InputDataError, match="tenure_days"):
        build_drift_report(features, Settings(home=tmp_path), tmp_path)
