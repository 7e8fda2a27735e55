from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from monitoring.expectations import events_suite, features_suite, users_suite
from monitoring.suite_runner import run_suite, summarize_suite
from retention.settings import Settings
from tests.monitoring.factories import NOW, good_events, good_features, good_users

SETTINGS = Settings()
PURCHASE_RULE = "expect_column_values_to_be_between:amount where event_type == 'purchase'"


def validate_events(frame: pd.DataFrame):
    result = run_suite(events_suite(SETTINGS, now=NOW), frame, asset_name="test_events")
    return summarize_suite(result, "events", len(frame))


def failed_rules(summary) -> set[str]:
    return {expectation.rule for expectation in summary.expectations if not expectation.success}


@pytest.mark.parametrize("suite", [events_suite(SETTINGS), users_suite(), features_suite()], ids=lambda suite: suite.name)
def test_rule_names_unique(suite):
    rules = [expectation.meta["rule"] for expectation in suite.expectations]

    assert len(rules) == len(set(rules))


def test_events_suite_passes_good_rows():
    summary = validate_events(good_events())

    assert failed_rules(summary) == set()
    assert summary.success is True


# Row 3 of good_events is a "view" event. Even rows are purchases.
BAD_EVENT_CASES = [
    ("user_id", None, "expect_column_values_to_not_be_null:user_id"),
    ("event_time", pd.NaT, "expect_column_values_to_not_be_null:event_time"),
    ("event_type", None, "expect_column_values_to_not_be_null:event_type"),
    ("event_time", pd.Timestamp("1980-05-01", tz="UTC"), "expect_column_values_to_be_between:event_time"),
    ("event_time", pd.Timestamp(NOW + timedelta(days=3)), "expect_column_values_to_be_between:event_time"),
    ("amount", np.inf, "expect_column_values_to_be_between:amount"),
    ("amount", -np.inf, "expect_column_values_to_be_between:amount"),
    ("amount", 2_000_000.0, "expect_column_values_to_be_between:amount"),
    ("quantity", -1.0, "expect_column_values_to_be_between:quantity"),
]


@pytest.mark.parametrize("column,value,rule", BAD_EVENT_CASES, ids=[f"{case[0]}={case[1]}" for case in BAD_EVENT_CASES])
def test_events_rule_rejects_bad_row(column, value, rule):
    frame = good_events()
    frame.loc[3, column] = value

    summary = validate_events(frame)

    assert failed_rules(summary) == {rule}
    assert summary.expectation(rule).unexpected_count == 1


def test_negative_purchase_amount_rejected():
    frame = good_events()
    frame.loc[2, "amount"] = -5.0

    summary = validate_events(frame)

    assert failed_rules(summary) == {PURCHASE_RULE}
    assert summary.expectation(PURCHASE_RULE).unexpected_sample == ["-5.0"]


def test_negative_refund_amount_accepted():
    frame = good_events()
    frame.loc[3, "event_type"] = "refund"
    frame.loc[3, "amount"] = -5.0

    assert failed_rules(validate_events(frame)) == set()


def test_missing_amount_accepted():
    frame = good_events()
    frame.loc[2, "amount"] = np.nan

    assert failed_rules(validate_events(frame)) == set()


def test_time_span_shorter_than_horizon_rejected():
    summary = validate_events(good_events(span_days=SETTINGS.retention.horizon_days - 1))

    assert failed_rules(summary) == {"expect_column_span_to_be_at_least_days:event_time"}


def test_time_span_of_one_horizon_accepted():
    summary = validate_events(good_events(span_days=SETTINGS.retention.horizon_days))

    assert failed_rules(summary) == set()


def test_amount_of_wrong_type_rejected():
    frame = good_events()
    frame["amount"] = frame["amount"].astype(str)

    summary = validate_events(frame)

    assert "expect_column_type_to_be:amount" in failed_rules(summary)


def test_missing_column_rejected():
    summary = validate_events(good_events().drop(columns=["session_id"]))

    assert "expect_column_to_exist:session_id" in failed_rules(summary)


def validate_with(suite, frame: pd.DataFrame):
    return summarize_suite(run_suite(suite, frame, asset_name=f"test_{suite.name}"), suite.name, len(frame))


def test_users_suite_passes_good_rows():
    assert failed_rules(validate_with(users_suite(), good_users())) == set()


def test_duplicate_user_rejected():
    users = good_users()
    users.loc[1, "user_id"] = users.loc[0, "user_id"]

    assert failed_rules(validate_with(users_suite(), users)) == {"expect_column_values_to_be_unique:user_id"}


def test_missing_user_id_rejected():
    users = good_users()
    users.loc[1, "user_id"] = None

    assert failed_rules(validate_with(users_suite(), users)) == {"expect_column_values_to_not_be_null:user_id"}


def test_features_suite_passes_good_rows():
    assert failed_rules(validate_with(features_suite(), good_features())) == set()


def test_features_suite_accepts_refunds_older_than_30_days():
    features = good_features()
    # A purchase of 80 in the last 30 days and a refund of 50 in days 31 to 90.
    features.loc[2, ["monetary_30d", "monetary_90d"]] = [80.0, 30.0]

    assert failed_rules(validate_with(features_suite(), features)) == set()


BAD_FEATURE_CASES = [
    ("avg_basket_value_90d", np.nan, "expect_column_values_to_not_be_null:avg_basket_value_90d"),
    ("age_band", None, "expect_column_values_to_not_be_null:age_band"),
    ("recency_days", -1.0, "expect_column_values_to_be_between:recency_days"),
    ("active_days_90d", 95.0, "expect_column_values_to_be_between:active_days_90d"),
    ("discount_share_90d", 1.5, "expect_column_values_to_be_between:discount_share_90d"),
    ("frequency_30d", 9.0, "expect_column_pair_values_a_to_be_greater_than_b:frequency_90d,frequency_30d"),
    ("tenure_days", 1.0, "expect_column_pair_values_a_to_be_greater_than_b:tenure_days,recency_days"),
]


@pytest.mark.parametrize("column,value,rule", BAD_FEATURE_CASES, ids=[case[0] for case in BAD_FEATURE_CASES])
def test_features_rule_rejects_bad_row(column, value, rule):
    features = good_features()
    features.loc[2, column] = value

    summary = validate_with(features_suite(), features)

    assert failed_rules(summary) == {rule}
    assert summary.expectation(rule).unexpected_count == 1
