import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import monitoring.validation as validation
from feature_repo.contract import EVENT_COLUMNS, EVENT_SCHEMA, QUARANTINE_SCHEMA, empty_quarantine
from monitoring.data_docs import write_data_docs
from monitoring.validation import validate_event_file, validate_features, validate_users
from retention.errors import InputDataError
from retention.settings import Settings, ValidationSettings
from tests.monitoring.factories import (
    SOURCE_FILE,
    good_events,
    good_features,
    good_users,
    with_provenance,
    write_converted_events,
)

NOT_NULL_USER = "expect_column_values_to_not_be_null:user_id"
AMOUNT_RANGE = "expect_column_values_to_be_between:amount"
QUANTITY_RANGE = "expect_column_values_to_be_between:quantity"
TIME_SPAN = "expect_column_span_to_be_at_least_days:event_time"
FIRST_LINE = 2


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path / "home")


@pytest.fixture
def paths(tmp_path):
    return {
        "raw": tmp_path / "raw_events.parquet",
        "events": tmp_path / "events.parquet",
        "quarantine": tmp_path / "quarantine.parquet",
    }


def run(events: pd.DataFrame, paths, settings, chunk_rows: int = 7):
    write_converted_events(with_provenance(events, first_line=FIRST_LINE), paths["raw"])
    return validate_event_file(paths["raw"], paths["events"], paths["quarantine"], settings, chunk_rows=chunk_rows)


def events_with_two_bad_rows(rows: int = 20) -> pd.DataFrame:
    """Return 20 events where rows 5 (missing user_id) and 13 (infinite amount) are bad.

    With 7-row chunks, the bad rows fall in the first and the second chunk.
    """
    events = good_events(rows=rows)
    events.loc[5, "user_id"] = None
    events.loc[13, "amount"] = np.inf
    return events


def write_prior_quarantine(path) -> None:
    rows = empty_quarantine()
    rows.loc[0] = ["transactions.csv", 99, "unparseable_event_time", "event_time", "yesterday", "not a time", "{}"]
    pq.write_table(pa.Table.from_pandas(rows, schema=QUARANTINE_SCHEMA, preserve_index=False), path)


def test_accounting_balances(paths, settings):
    report = run(events_with_two_bad_rows(), paths, settings)

    assert report.input_rows == 20
    assert report.accepted_rows == 18
    assert report.quarantined_rows == 2
    assert report.input_rows == report.accepted_rows + report.quarantined_rows
    assert report.chunks == 3


def test_output_files_row_counts(paths, settings):
    run(events_with_two_bad_rows(), paths, settings)

    assert pq.read_metadata(paths["events"]).num_rows == 18
    assert pq.read_metadata(paths["quarantine"]).num_rows == 2


def test_quarantine_names_source_rule_and_value(paths, settings):
    run(events_with_two_bad_rows(), paths, settings)
    quarantine = pq.read_table(paths["quarantine"]).to_pandas().set_index("source_line")

    assert sorted(quarantine.index) == [FIRST_LINE + 5, FIRST_LINE + 13]
    assert set(quarantine["source_file"]) == {SOURCE_FILE}
    assert quarantine.loc[FIRST_LINE + 5, "rule"] == NOT_NULL_USER
    assert quarantine.loc[FIRST_LINE + 5, "column"] == "user_id"
    assert quarantine.loc[FIRST_LINE + 13, "rule"] == AMOUNT_RANGE
    assert quarantine.loc[FIRST_LINE + 13, "value"] == "inf"
    assert "amount is inf" in quarantine.loc[FIRST_LINE + 13, "reason"]
    assert AMOUNT_RANGE in quarantine.loc[FIRST_LINE + 13, "reason"]
    assert json.loads(quarantine.loc[FIRST_LINE + 13, "original_row"])["item_id"] == "item-13"


def test_prior_quarantine_rows_kept(paths, settings):
    write_prior_quarantine(paths["quarantine"])

    report = run(events_with_two_bad_rows(), paths, settings)
    quarantine = pq.read_table(paths["quarantine"]).to_pandas()

    assert report.prior_quarantine_rows == 1
    assert len(quarantine) == 3
    assert quarantine.loc[0, "rule"] == "unparseable_event_time"
    assert report.quarantined_rows == 2


def test_accepted_file_has_contract_columns_only(paths, settings):
    run(events_with_two_bad_rows(), paths, settings)
    schema = pq.read_schema(paths["events"])

    assert schema.names == list(EVENT_COLUMNS)
    assert [field.type for field in schema] == [field.type for field in EVENT_SCHEMA]


def test_by_rule_counts_first_rule(paths, settings):
    report = run(events_with_two_bad_rows(), paths, settings)

    assert report.by_rule == {NOT_NULL_USER: 1, AMOUNT_RANGE: 1}


def test_expectation_counts_summed_over_chunks(paths, settings):
    events = good_events(rows=20)
    events.loc[[1, 10, 18], "amount"] = 5_000_000.0

    report = run(events, paths, settings)
    amount = next(summary for summary in report.expectations if summary.rule == AMOUNT_RANGE)

    assert amount.unexpected_count == 3
    assert amount.success is False
    assert amount.unexpected_sample == ["5000000.0"] * 3


def test_row_failing_two_rules_quarantined_once(paths, settings):
    events = good_events(rows=20)
    events.loc[4, "user_id"] = None
    events.loc[4, "quantity"] = -1.0

    report = run(events, paths, settings)
    quarantine = pq.read_table(paths["quarantine"]).to_pandas()

    assert report.quarantined_rows == 1
    assert quarantine.loc[0, "rule"] == NOT_NULL_USER
    assert NOT_NULL_USER in quarantine.loc[0, "reason"]
    assert QUANTITY_RANGE in quarantine.loc[0, "reason"]


def test_time_range_covers_accepted_rows_only(paths, settings):
    events = good_events(rows=20)
    events.loc[0, "user_id"] = None

    report = run(events, paths, settings)

    assert report.event_time_min == events.loc[1, "event_time"].isoformat()
    assert report.event_time_max == events.loc[19, "event_time"].isoformat()


def test_success_within_max_share(paths, settings):
    events = good_events(rows=40)
    events.loc[7, "quantity"] = -2.0

    report = run(events, paths, settings)

    assert report.quarantine_share == pytest.approx(0.025)
    assert report.success is True
    assert report.failures == []


def test_success_false_above_max_share(paths, tmp_path):
    settings = Settings(home=tmp_path / "home", validation=ValidationSettings(max_quarantine_share=0.05))

    report = run(events_with_two_bad_rows(), paths, settings)

    assert report.quarantine_share == pytest.approx(0.1)
    assert report.success is False
    assert any("max_quarantine_share" in failure for failure in report.failures)


def test_success_false_when_span_too_short(paths, settings):
    report = run(good_events(rows=20, span_days=3), paths, settings)

    assert report.quarantined_rows == 0
    assert report.success is False
    assert any(TIME_SPAN in failure for failure in report.failures)


def test_future_event_quarantined(paths, settings):
    events = good_events(rows=20)
    events.loc[6, "event_time"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=30)

    report = run(events, paths, settings)

    assert report.by_rule == {"expect_column_values_to_be_between:event_time": 1}


def test_empty_file_fails_validation(paths, settings):
    report = run(good_events(rows=20).iloc[0:0], paths, settings)

    assert report.input_rows == 0
    assert report.quarantine_share == 0.0
    assert report.success is False
    assert pq.read_metadata(paths["events"]).num_rows == 0


def test_no_temporary_files_left(paths, settings, tmp_path):
    run(events_with_two_bad_rows(), paths, settings)

    assert [path.name for path in tmp_path.glob(".*.tmp")] == []


def test_failed_run_keeps_earlier_outputs(paths, settings, tmp_path, monkeypatch):
    old_events = good_events(rows=3)
    pq.write_table(pa.Table.from_pandas(old_events, schema=EVENT_SCHEMA, preserve_index=False), paths["events"])
    write_prior_quarantine(paths["quarantine"])
    quarantine_before = paths["quarantine"].read_bytes()
    calls = []

    def conform_then_fail(events):
        calls.append(len(events))
        if len(calls) == 2:
            raise RuntimeError("simulated failure in the second chunk")
        return validation_conform(events)

    validation_conform = validation.conform_events
    monkeypatch.setattr(validation, "conform_events", conform_then_fail)

    with pytest.raises(RuntimeError, match="second chunk"):
        run(events_with_two_bad_rows(), paths, settings)

    assert pq.read_metadata(paths["events"]).num_rows == 3
    assert paths["quarantine"].read_bytes() == quarantine_before
    assert [path.name for path in tmp_path.glob(".*.tmp")] == []


def test_input_without_provenance_rejected(paths, settings):
    pq.write_table(pa.Table.from_pandas(good_events(), preserve_index=False), paths["raw"])

    with pytest.raises(InputDataError, match="_source_line"):
        validate_event_file(paths["raw"], paths["events"], paths["quarantine"], settings)


def test_report_serializes_to_json(paths, settings):
    report = run(events_with_two_bad_rows(), paths, settings)

    decoded = json.loads(json.dumps(report.to_dict()))

    assert decoded["quarantined_rows"] == 2


def test_events_data_docs_written(paths, settings):
    report = run(events_with_two_bad_rows(), paths, settings)

    with open(report.data_docs_path, encoding="utf-8") as handle:
        assert 'id="suite-events"' in handle.read()


def test_validate_users_reports_success():
    assert validate_users(good_users()).success is True


def test_validate_users_reports_failure():
    users = good_users()
    users.loc[0, "user_id"] = None

    assert validate_users(users).success is False


def test_validate_features_reports_success():
    assert validate_features(good_features()).success is True


def test_validate_features_reports_failure():
    features = good_features()
    features.loc[0, "recency_days"] = -4.0

    assert validate_features(features).success is False


def test_all_suites_docs_open_offline(paths, settings):
    report = run(events_with_two_bad_rows(), paths, settings)
    docs_dir = settings.reports_dir / validation.DATA_DOCS_DIR_NAME

    index = write_data_docs([validate_users(good_users()), validate_features(good_features())], docs_dir)
    page = index.read_text(encoding="utf-8")

    assert str(index) == report.data_docs_path
    for suite in ("events", "users", "features"):
        assert f'id="suite-{suite}"' in page
    assert re.search(r"<link[^>]+href=[\"']?(https?:)?//", page, re.IGNORECASE) is None
    assert re.search(r"<script[^>]+src=[\"']?(https?:)?//", page, re.IGNORECASE) is None
