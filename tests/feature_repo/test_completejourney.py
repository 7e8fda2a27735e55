import json

import pandas as pd
import pytest

from feature_repo.contract import EVENT_COLUMNS, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN
from feature_repo.sources.completejourney import TRANSACTIONS_SOURCE, load_events, load_users


@pytest.fixture(scope="module")
def sample_events() -> pd.DataFrame:
    return load_events(sample_users=30)


def test_sample_keeps_requested_households(sample_events):
    assert sample_events["user_id"].nunique() == 30


def test_events_follow_contract(sample_events):
    assert list(sample_events.columns) == [*EVENT_COLUMNS, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN]
    assert str(sample_events["event_time"].dtype) == "datetime64[ns, UTC]"
    assert set(sample_events["event_type"]) == {"purchase"}


def test_categories_come_from_products(sample_events):
    assert sample_events["category"].notna().mean() > 0.99


def test_provenance_lines_are_unique(sample_events):
    assert sample_events[SOURCE_FILE_COLUMN].eq(TRANSACTIONS_SOURCE).all()
    assert sample_events[SOURCE_LINE_COLUMN].is_unique


def test_discounts_travel_in_properties(sample_events):
    first = sample_events["properties"].iloc[:100].map(json.loads)
    assert all("discount" in document for document in first)


def test_sample_is_reproducible():
    first = load_users(sample_users=30)["user_id"].tolist()
    second = load_users(sample_users=30)["user_id"].tolist()
    assert first == second


def test_user_ids_are_strings():
    users = load_users(sample_users=200)
    assert users["user_id"].map(type).eq(str).all()
    assert users["age_band"].notna().all()
