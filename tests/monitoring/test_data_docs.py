import re

from monitoring.data_docs import write_data_docs
from monitoring.summaries import ExpectationSummary, SuiteSummary

EXTERNAL_STYLESHEET = re.compile(r"<link[^>]+href=[\"']?(https?:)?//", re.IGNORECASE)
EXTERNAL_SCRIPT = re.compile(r"<script[^>]+src=[\"']?(https?:)?//", re.IGNORECASE)


def make_summary(suite: str, success: bool) -> SuiteSummary:
    return SuiteSummary(
        suite=suite,
        success=success,
        row_count=10,
        validated_at="2024-06-01T00:00:00+00:00",
        expectations=[
            ExpectationSummary(
                rule="expect_column_values_to_be_between:amount",
                expectation="expect_column_values_to_be_between",
                column="amount",
                level="row",
                requirement="amount must be finite",
                success=success,
                element_count=10,
                unexpected_count=0 if success else 1,
                unexpected_sample=[] if success else ["<inf>"],
            )
        ],
    )


def test_index_lists_every_suite(tmp_path):
    index = write_data_docs([make_summary("events", False), make_summary("users", True)], tmp_path)
    page = index.read_text(encoding="utf-8")

    assert 'id="suite-events"' in page
    assert 'id="suite-users"' in page


def test_index_keeps_suites_of_earlier_calls(tmp_path):
    write_data_docs([make_summary("events", True)], tmp_path)
    index = write_data_docs([make_summary("features", True)], tmp_path)
    page = index.read_text(encoding="utf-8")

    assert 'id="suite-events"' in page
    assert 'id="suite-features"' in page


def test_index_loads_nothing_from_network(tmp_path):
    page = write_data_docs([make_summary("events", False)], tmp_path).read_text(encoding="utf-8")

    assert EXTERNAL_STYLESHEET.search(page) is None
    assert EXTERNAL_SCRIPT.search(page) is None
    assert "http://" not in page
    assert "https://" not in page
    assert "<style>" in page


def test_index_escapes_unexpected_values(tmp_path):
    page = write_data_docs([make_summary("events", False)], tmp_path).read_text(encoding="utf-8")

    assert "&lt;inf&gt;" in page
    assert "<inf>" not in page


def test_suite_name_with_path_separator_rejected(tmp_path):
    try:
        write_data_docs([make_summary("../events", True)], tmp_path)
    except ValueError as error:
        assert "invalid suite name" in str(error)
    else:
        raise AssertionError("a suite name with a path separator was accepted")
