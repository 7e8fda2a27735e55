"""Run expectation suites on pandas frames with Great Expectations, and summarize the results.

One ephemeral Data Context per process contains a pandas data source with one dataframe asset
per table. Great Expectations writes nothing to disk. The reports are built from the summaries.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from typing import Any, Iterator

import great_expectations as gx
import pandas as pd
from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from monitoring.summaries import ROW_LEVEL, SAMPLE_SIZE, ExpectationSummary, SuiteSummary, sample_text

_DATASOURCE_NAME = "retention_monitoring"
_BATCH_DEFINITION_NAME = "whole_frame"

_lock = threading.Lock()
_datasource: Any = None
_batch_definitions: dict[str, BatchDefinition] = {}


def run_suite(
    suite: gx.ExpectationSuite,
    frame: pd.DataFrame,
    asset_name: str,
    index_column: str | None = None,
) -> ExpectationSuiteValidationResult:
    """Validate the frame against the suite with result_format COMPLETE.

    With index_column, every unexpected_index_list entry of a map expectation carries that
    column's value, which identifies the failing row. Without it, the entries are index labels.
    """
    result_format: dict[str, Any] = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
    if index_column is not None:
        result_format["unexpected_index_column_names"] = [index_column]
    batch = _batch_definition(asset_name).get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, result_format=result_format)


def summarize_suite(result: ExpectationSuiteValidationResult, suite_name: str, row_count: int) -> SuiteSummary:
    """Convert a suite validation result into a SuiteSummary, one entry per expectation."""
    return SuiteSummary(
        suite=suite_name,
        success=bool(result.success),
        row_count=row_count,
        validated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        expectations=[summarize_expectation(item) for item in result.results],
    )


def summarize_expectation(result: ExpectationValidationResult) -> ExpectationSummary:
    config = configuration_of(result)
    meta = config.meta or {}
    details = result.result or {}
    observed = details.get("observed_value")
    return ExpectationSummary(
        rule=rule_of(result),
        expectation=config.type,
        column=column_of(result),
        level=meta.get("level", ROW_LEVEL),
        requirement=meta.get("requirement", ""),
        success=bool(result.success),
        element_count=_optional_int(details.get("element_count")),
        unexpected_count=_optional_int(details.get("unexpected_count")),
        observed_value=None if observed is None else str(observed),
        unexpected_sample=[sample_text(value) for value in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]],
        exception=exception_message(result.exception_info),
    )


def configuration_of(result: ExpectationValidationResult) -> ExpectationConfiguration:
    if result.expectation_config is None:
        raise ValueError("the validation result lacks its expectation configuration")
    return result.expectation_config


def rule_of(result: ExpectationValidationResult) -> str:
    """Return the rule name set in the expectation's meta, or the type plus column."""
    config = configuration_of(result)
    rule = (config.meta or {}).get("rule")
    return rule or f"{config.type}:{column_of(result)}"


def column_of(result: ExpectationValidationResult) -> str | None:
    kwargs = configuration_of(result).kwargs
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs and "column_B" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def unexpected_rows(result: ExpectationValidationResult, index_column: str) -> Iterator[tuple[int, Any]]:
    """Yield (index_column value, offending value) for each row the expectation found unexpected.

    Expects a COMPLETE result run with unexpected_index_column_names=[index_column]. For a
    column pair expectation the offending value is a dict of both columns' values.
    """
    details = result.result or {}
    domain = [key for key in ("column", "column_A", "column_B") if key in configuration_of(result).kwargs]
    domain_columns = [configuration_of(result).kwargs[key] for key in domain]
    for entry in details.get("unexpected_index_list") or []:
        if len(domain_columns) == 1:
            value = entry.get(domain_columns[0])
        else:
            value = {column: entry.get(column) for column in domain_columns}
        yield int(entry[index_column]), value


def exception_message(exception_info: Any) -> str | None:
    """Return the first exception message of a result's exception_info, or None.

    Great Expectations stores either one ExceptionInfo dict or a dict of them keyed by metric.
    """
    if not isinstance(exception_info, dict):
        return None
    if "raised_exception" in exception_info:
        if exception_info.get("raised_exception"):
            return str(exception_info.get("exception_message"))
        return None
    for value in exception_info.values():
        message = exception_message(value)
        if message is not None:
            return message
    return None


def _batch_definition(asset_name: str) -> BatchDefinition:
    global _datasource
    with _lock:
        if asset_name in _batch_definitions:
            return _batch_definitions[asset_name]
        if _datasource is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            context = gx.get_context(mode="ephemeral")
            # GE draws a progress bar per validation by default, one per chunk here.
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _datasource = context.data_sources.add_pandas(name=_DATASOURCE_NAME)
        asset = _datasource.add_dataframe_asset(name=asset_name)
        batch_definition = asset.add_batch_definition_whole_dataframe(_BATCH_DEFINITION_NAME)
        _batch_definitions[asset_name] = batch_definition
        return batch_definition


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
