"""Validate the converted events with Great Expectations and quarantine the rows that fail.

validate_event_file reads the converted events Parquet file chunk by chunk and runs the events
suite on each chunk. Great Expectations itself names the failing rows, because every chunk
carries a row position column that is passed as unexpected_index_column_names. Failing rows go to the quarantine with their reasons. The other rows
are written to the validated events file. Both files are written to temporary files and renamed
at the end, so a failed run leaves earlier outputs untouched.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import great_expectations as gx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from great_expectations.core import ExpectationSuiteValidationResult

from feature_repo.contract import (
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    QUARANTINE_SCHEMA,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    conform_events,
)
from monitoring.data_docs import write_data_docs
from monitoring.expectations import (
    EVENTS_SUITE_NAME,
    FEATURES_SUITE_NAME,
    USERS_SUITE_NAME,
    events_suite,
    features_suite,
    suite_with_levels,
    users_suite,
)
from monitoring.quarantine import (
    RowFailure,
    open_converted_events,
    quarantine_frame,
    read_quarantine,
    temporary_path,
)
from monitoring.suite_runner import (
    column_of,
    configuration_of,
    exception_message,
    rule_of,
    run_suite,
    summarize_suite,
    unexpected_rows,
)
from monitoring.summaries import (
    DATASET_LEVEL,
    ROW_LEVEL,
    SAMPLE_SIZE,
    SCHEMA_LEVEL,
    ExpectationSummary,
    SuiteSummary,
    sample_text,
)
from retention.settings import Settings

logger = logging.getLogger(__name__)

DATA_DOCS_DIR_NAME = "data_docs"
# Rows validated at a time. GE's working set is several times the chunk: on a 3-million-row file,
# chunks of 500,000 rows peaked at 1.25 GiB and chunks of 200,000 at 0.81 GiB, in the same CPU time.
DEFAULT_CHUNK_ROWS = 200_000
# Position of a row in the input file, added to each chunk so that GE can name failing rows.
ROW_POSITION_COLUMN = "_row_position"
_STRING_TYPES = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}


@dataclass
class ValidationReport:
    """Counts and outcome of one validation: input_rows == accepted_rows + quarantined_rows."""

    input_path: str
    events_path: str
    quarantine_path: str
    input_rows: int = 0
    accepted_rows: int = 0
    # Rows this validation quarantined. Rows the conversion had quarantined before stay in the
    # quarantine file and are counted in prior_quarantine_rows.
    quarantined_rows: int = 0
    prior_quarantine_rows: int = 0
    # Rows read from the source files before conversion, duplicates included. The quarantine share
    # is (prior_quarantine_rows + quarantined_rows) / source_rows, so that rows the conversion
    # quarantined count against the limit too.
    source_rows: int = 0
    quarantine_share: float = 0.0
    max_quarantine_share: float = 0.0
    # Quarantined rows by the first rule each row failed.
    by_rule: dict[str, int] = field(default_factory=dict)
    # Every expectation of the events suite, aggregated over the chunks.
    expectations: list[ExpectationSummary] = field(default_factory=list)
    event_time_min: str | None = None
    event_time_max: str | None = None
    chunks: int = 0
    success: bool = False
    # One sentence per reason why success is False.
    failures: list[str] = field(default_factory=list)
    data_docs_path: str | None = None
    validated_at: str = ""
    duration_seconds: float = 0.0

    def check_balance(self) -> None:
        total = self.accepted_rows + self.quarantined_rows
        if total != self.input_rows:
            raise AssertionError(
                f"row accounting is off: {self.input_rows} input rows but {self.accepted_rows} accepted "
                f"+ {self.quarantined_rows} quarantined = {total}"
            )

    def suite_summary(self) -> SuiteSummary:
        return SuiteSummary(
            suite=EVENTS_SUITE_NAME,
            success=self.success,
            row_count=self.input_rows,
            validated_at=self.validated_at,
            expectations=self.expectations,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_event_file(
    raw_events_path: Path,
    events_path: Path,
    quarantine_path: Path,
    settings: Settings,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    source_rows: int | None = None,
) -> ValidationReport:
    """Validate the converted events file, write accepted rows and append failing rows to the quarantine.

    raw_events_path contains the contract columns plus the provenance columns _source_file and
    _source_line. Accepted rows are written to events_path with the contract columns only.
    Failing rows are appended to the rows already in quarantine_path, which the conversion
    wrote. source_rows is the conversion's input row count; None takes the converted rows plus
    the prior quarantine rows, as for a source without duplicates. The Data Docs of the events
    suite are written to settings.reports_dir / "data_docs".
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    started = time.perf_counter()
    raw_events_path, events_path, quarantine_path = Path(raw_events_path), Path(events_path), Path(quarantine_path)
    parquet_file = open_converted_events(raw_events_path)
    prior_quarantine = read_quarantine(quarantine_path)

    suite = events_suite(settings)
    chunk_suite = suite_with_levels(suite, (ROW_LEVEL, SCHEMA_LEVEL), f"{EVENTS_SUITE_NAME}_chunk")
    dataset_suite = suite_with_levels(suite, (DATASET_LEVEL,), f"{EVENTS_SUITE_NAME}_dataset")
    aggregates = _ExpectationAggregates(suite)
    report = ValidationReport(
        input_path=str(raw_events_path),
        events_path=str(events_path),
        quarantine_path=str(quarantine_path),
        prior_quarantine_rows=prior_quarantine.num_rows,
        max_quarantine_share=settings.validation.max_quarantine_share,
        validated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )

    events_path.parent.mkdir(parents=True, exist_ok=True)
    quarantine_path.parent.mkdir(parents=True, exist_ok=True)
    events_temporary = temporary_path(events_path)
    quarantine_temporary = temporary_path(quarantine_path)
    time_bounds: list[pd.Timestamp] = []
    try:
        with (
            pq.ParquetWriter(events_temporary, EVENT_SCHEMA) as events_writer,
            pq.ParquetWriter(quarantine_temporary, QUARANTINE_SCHEMA) as quarantine_writer,
        ):
            if prior_quarantine.num_rows:
                quarantine_writer.write_table(prior_quarantine)
            columns = [*EVENT_COLUMNS, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN]
            for record_batch in parquet_file.iter_batches(batch_size=chunk_rows, columns=columns):
                chunk = record_batch.to_pandas(types_mapper=_STRING_TYPES.get)
                accepted, quarantine = _validate_chunk(chunk, report.input_rows, chunk_suite, aggregates)
                events_writer.write_table(pa.Table.from_pandas(accepted, schema=EVENT_SCHEMA, preserve_index=False))
                quarantine_writer.write_table(pa.Table.from_pandas(quarantine, schema=QUARANTINE_SCHEMA, preserve_index=False))

                if len(accepted):
                    time_bounds += [accepted["event_time"].min(), accepted["event_time"].max()]
                for rule in quarantine["rule"]:
                    report.by_rule[rule] = report.by_rule.get(rule, 0) + 1
                report.input_rows += len(chunk)
                report.accepted_rows += len(accepted)
                report.quarantined_rows += len(quarantine)
                report.chunks += 1
                logger.info(
                    "validated chunk %d of %s: %d rows, %d quarantined",
                    report.chunks,
                    raw_events_path,
                    len(chunk),
                    len(quarantine),
                )

        bounds = pd.DataFrame({"event_time": pd.Series(time_bounds, dtype="datetime64[ns, UTC]")})
        aggregates.add(run_suite(dataset_suite, bounds, asset_name=f"{EVENTS_SUITE_NAME}_dataset"))
        os.replace(quarantine_temporary, quarantine_path)
        os.replace(events_temporary, events_path)
    except BaseException:
        for temporary in (events_temporary, quarantine_temporary):
            temporary.unlink(missing_ok=True)
        raise

    report.check_balance()
    if time_bounds:
        report.event_time_min = min(time_bounds).isoformat()
        report.event_time_max = max(time_bounds).isoformat()
    if source_rows is None:
        source_rows = report.input_rows + report.prior_quarantine_rows
    report.source_rows = source_rows
    all_quarantined = report.prior_quarantine_rows + report.quarantined_rows
    report.quarantine_share = all_quarantined / source_rows if source_rows else 0.0
    report.expectations = aggregates.summaries()
    report.failures = _failures(report)
    report.success = not report.failures
    report.data_docs_path = str(write_data_docs([report.suite_summary()], settings.reports_dir / DATA_DOCS_DIR_NAME))
    report.duration_seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "validated %s: %d rows, %d accepted, %d quarantined, success=%s",
        raw_events_path,
        report.input_rows,
        report.accepted_rows,
        report.quarantined_rows,
        report.success,
    )
    return report


def _validate_chunk(
    chunk: pd.DataFrame,
    first_position: int,
    chunk_suite: gx.ExpectationSuite,
    aggregates: _ExpectationAggregates,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate one chunk and return its accepted rows (conformed to the contract) and quarantine rows."""
    chunk[ROW_POSITION_COLUMN] = np.arange(first_position, first_position + len(chunk), dtype="int64")
    result = run_suite(chunk_suite, chunk, asset_name=EVENTS_SUITE_NAME, index_column=ROW_POSITION_COLUMN)
    aggregates.add(result)

    failures = _row_failures(result, aggregates.order)
    quarantine = quarantine_frame(chunk, failures, first_position=first_position)
    accepted = chunk.loc[~chunk[ROW_POSITION_COLUMN].isin(list(failures)), list(EVENT_COLUMNS)]
    return conform_events(accepted), quarantine


def validate_users(users: pd.DataFrame) -> SuiteSummary:
    """Validate a user attributes table (after conform_users) with the users suite."""
    result = run_suite(users_suite(), users, asset_name=USERS_SUITE_NAME)
    return summarize_suite(result, USERS_SUITE_NAME, len(users))


def validate_features(features: pd.DataFrame) -> SuiteSummary:
    """Validate a user-profile feature table, after missing values were filled, with the features suite."""
    result = run_suite(features_suite(), features, asset_name=FEATURES_SUITE_NAME)
    return summarize_suite(result, FEATURES_SUITE_NAME, len(features))


class _ExpectationAggregates:
    """Per-expectation statistics of the events suite, summed over the chunks."""

    def __init__(self, suite: gx.ExpectationSuite) -> None:
        self._summaries: dict[str, ExpectationSummary] = {}
        for expectation in suite.expectations:
            configuration = expectation.configuration
            meta = configuration.meta or {}
            kwargs = configuration.kwargs
            column = kwargs.get("column") or f"{kwargs.get('column_A')},{kwargs.get('column_B')}"
            self._summaries[meta["rule"]] = ExpectationSummary(
                rule=meta["rule"],
                expectation=configuration.type,
                column=column,
                level=meta["level"],
                requirement=meta["requirement"],
                success=True,
                element_count=0 if meta["level"] == ROW_LEVEL else None,
                unexpected_count=0 if meta["level"] == ROW_LEVEL else None,
            )
        # Suite order of the rules: the first failed rule of a row is the one its quarantine row names.
        self.order = {rule: index for index, rule in enumerate(self._summaries)}

    def add(self, result: ExpectationSuiteValidationResult) -> None:
        for item in result.results:
            summary = self._summaries[rule_of(item)]
            details = item.result or {}
            summary.success = summary.success and bool(item.success)
            if details.get("element_count") is not None and summary.element_count is not None:
                summary.element_count += int(details["element_count"])
            if details.get("unexpected_count") is not None and summary.unexpected_count is not None:
                summary.unexpected_count += int(details["unexpected_count"])
            if details.get("observed_value") is not None:
                summary.observed_value = str(details["observed_value"])
            room = SAMPLE_SIZE - len(summary.unexpected_sample)
            if room > 0:
                sample = details.get("partial_unexpected_list") or []
                summary.unexpected_sample += [sample_text(value) for value in sample[:room]]
            message = exception_message(item.exception_info)
            if message is not None and summary.exception is None:
                summary.exception = message

    def summaries(self) -> list[ExpectationSummary]:
        return list(self._summaries.values())


def _row_failures(result: ExpectationSuiteValidationResult, order: dict[str, int]) -> dict[int, list[RowFailure]]:
    """Map the row position of every failing row to its failures, in suite order."""
    failures: dict[int, list[RowFailure]] = {}
    row_results = [
        item
        for item in result.results
        if (configuration_of(item).meta or {}).get("level") == ROW_LEVEL and not item.success
    ]
    for item in sorted(row_results, key=lambda item: order[rule_of(item)]):
        rule = rule_of(item)
        column = column_of(item)
        requirement = (configuration_of(item).meta or {}).get("requirement", "")
        for position, value in unexpected_rows(item, ROW_POSITION_COLUMN):
            failures.setdefault(position, []).append(RowFailure(rule, column, value, requirement))
    return failures


def _failures(report: ValidationReport) -> list[str]:
    failures: list[str] = []
    if report.quarantine_share > report.max_quarantine_share:
        quarantined = report.prior_quarantine_rows + report.quarantined_rows
        failures.append(
            f"{quarantined} of {report.source_rows} input rows ({report.quarantine_share:.2%}) were quarantined, "
            f"above the maximum share {report.max_quarantine_share:.2%} set by validation.max_quarantine_share."
        )
    for summary in report.expectations:
        if summary.exception is not None:
            failures.append(f"Rule {summary.rule} could not be evaluated: {summary.exception}")
        elif summary.level != ROW_LEVEL and not summary.success:
            failures.append(
                f"Rule {summary.rule} failed: {summary.requirement}; observed value {summary.observed_value}."
            )
    return failures
