"""Conversion of a shop's own files into the platform's raw tables, all or nothing.

The raw tables are the ones the bundled data set produces too: converted events, user
attributes, the conversion quarantine, the conversion report and the privacy record. Every table
is written to a staging folder beside them first and moved into place only after every input
converted, so bad input never leaves some tables new and others old.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from feature_repo.contract import QUARANTINE_SCHEMA, USER_SCHEMA
from feature_repo.ingestion.ingest import (
    NoRowsConvertedError,
    check_event_files,
    check_user_files,
    convert_event_files,
    convert_user_files,
    nothing_converted_error,
)
from feature_repo.ingestion.mapping import SourceMapping, load_mapping
from feature_repo.ingestion.privacy import PrivacyRecord, privacy_record_path, read_pseudonym_key
from feature_repo.ingestion.readers import SourceFile, has_rows
from feature_repo.ingestion.report import ConversionReport, FileCounts
from retention.errors import InputDataError
from retention.io import write_json_atomic
from retention.settings import Settings

logger = logging.getLogger(__name__)

PathLike = str | Path
USER_QUARANTINE_NAME = "user_conversion_quarantine.parquet"


@dataclass
class SourceIngestion:
    """Reports of one ingestion of source files: events, and user attributes when given."""

    events: ConversionReport
    users: ConversionReport | None
    privacy: PrivacyRecord

    def to_dict(self) -> dict:
        """Return the events report with the users report under "users", as the conversion report file stores it."""
        return {**self.events.to_dict(), "users": None if self.users is None else self.users.to_dict()}


def user_quarantine_path(settings: Settings) -> Path:
    return settings.data_dir / USER_QUARANTINE_NAME


def load_source_mapping(path: PathLike | None, strict_event_types: bool = False) -> SourceMapping:
    """Load the mapping file, or the default mapping when `path` is None; strict mode quarantines unknown types."""
    mapping = load_mapping(path) if path is not None else SourceMapping()
    return mapping.with_strict_event_types() if strict_event_types else mapping


def published_paths(settings: Settings) -> dict[str, Path]:
    """Return the raw tables that an ingestion replaces, by name."""
    return {
        "events": settings.raw_events_path,
        "quarantine": settings.conversion_quarantine_path,
        "users": settings.raw_users_path,
        "user_quarantine": user_quarantine_path(settings),
        "privacy": privacy_record_path(settings.data_dir),
        "report": settings.conversion_report_path,
    }


def check_source_files(
    settings: Settings, event_paths: Sequence[PathLike], user_paths: Sequence[PathLike], mapping: SourceMapping
) -> None:
    """Check the key, every file, its columns and its first row before the files are read in full.

    Raises ConfigurationError or InputDataError with the file, the column or the option to fix,
    and NoRowsConvertedError when the event files, or the user files, all contain a header only.
    """
    if mapping.privacy.pseudonymize_user_ids:
        read_pseudonym_key(mapping.privacy.key_env)
    if not event_paths:
        raise InputDataError("No event files were given. Pass at least one CSV or Parquet file of events.")
    event_sources = check_event_files(event_paths, mapping)
    user_sources = check_user_files(user_paths, mapping) if user_paths else []
    _require_rows("event", event_sources, settings)
    _require_rows("user attribute", user_sources, settings)


def _require_rows(kind: str, sources: list[SourceFile], settings: Settings) -> None:
    if not sources or any(has_rows(source) for source in sources):
        return
    report = ConversionReport(files=[FileCounts(path=str(source.path)) for source in sources])
    raise nothing_converted_error(kind, report, _main_outputs(kind, published_paths(settings)))


def ingest_source_files(
    settings: Settings,
    event_paths: Sequence[PathLike],
    user_paths: Sequence[PathLike] = (),
    mapping: SourceMapping | None = None,
    *,
    now: pd.Timestamp | None = None,
) -> SourceIngestion:
    """Convert event and user files into the raw tables of `settings`, replacing them only on success.

    Without user files the user table is replaced by an empty one, so that attributes of an earlier
    source never join the new events. Raises InputDataError (NoRowsConvertedError for inputs
    without rows) and ConfigurationError; the raw tables keep their previous contents then.
    """
    mapping = mapping or SourceMapping()
    check_source_files(settings, event_paths, user_paths, mapping)
    targets = published_paths(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=settings.data_dir))
    staged = {name: staging / target.name for name, target in targets.items()}
    try:
        events = _convert_events(settings, event_paths, mapping, staged, targets, now)
        _require_qualifying_events(events, settings.retention.qualifying_event_types)
        users = _convert_users(settings, user_paths, mapping, staged, targets, now)
        privacy = PrivacyRecord(
            pseudonymized_user_ids=mapping.privacy.pseudonymize_user_ids,
            key_env=mapping.privacy.key_env if mapping.privacy.pseudonymize_user_ids else None,
        )
        result = SourceIngestion(events=events, users=users, privacy=privacy)
        # NOTE: the record is published with the raw tables, before validation and Feast. When a
        # run that switches pseudonymization on or off stops before Feast, a restarted service
        # hashes ids differently from the ones still in the online store until a run completes.
        write_json_atomic(privacy.to_dict(), staged["privacy"])
        write_json_atomic(result.to_dict(), staged["report"])
        # The report goes last: it describes the tables moved before it.
        for name, target in targets.items():
            os.replace(staged[name], target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Ingested %d files of events into %s", len(event_paths), settings.raw_events_path)
    return result


def _main_outputs(kind: str, targets: dict[str, Path]) -> list[Path]:
    """Return the tables to name in an error about `kind` files; the other tables are kept as well."""
    if kind == "event":
        return [targets["events"], targets["quarantine"]]
    return [targets["users"], targets["user_quarantine"]]


def _convert_events(
    settings: Settings,
    event_paths: Sequence[PathLike],
    mapping: SourceMapping,
    staged: dict[str, Path],
    targets: dict[str, Path],
    now: pd.Timestamp | None,
) -> ConversionReport:
    try:
        return convert_event_files(event_paths, mapping, staged["events"], staged["quarantine"], settings, now=now)
    except NoRowsConvertedError as error:
        # The staged paths in the message would mislead: the published tables are the ones kept.
        raise nothing_converted_error("event", error.report, _main_outputs("event", targets)) from None


def _convert_users(
    settings: Settings,
    user_paths: Sequence[PathLike],
    mapping: SourceMapping,
    staged: dict[str, Path],
    targets: dict[str, Path],
    now: pd.Timestamp | None,
) -> ConversionReport | None:
    if not user_paths:
        pq.write_table(USER_SCHEMA.empty_table(), staged["users"])
        pq.write_table(QUARANTINE_SCHEMA.empty_table(), staged["user_quarantine"])
        return None
    try:
        return convert_user_files(
            user_paths, mapping, staged["users"], settings, quarantine_path=staged["user_quarantine"], now=now
        )
    except NoRowsConvertedError as error:
        outputs = _main_outputs("user attribute", targets)
        raise nothing_converted_error("user attribute", error.report, outputs) from None


def _require_qualifying_events(report: ConversionReport, qualifying: Sequence[str]) -> None:
    """Stop before publishing events among which no user can be eligible for a snapshot."""
    if any(report.event_types.get(name, 0) for name in qualifying):
        return
    found = ", ".join(f"{name} {count:,}" for name, count in report.event_types.items())
    raise InputDataError(
        f"None of the {report.converted_rows:,} converted events has a qualifying event type "
        f"({', '.join(qualifying)}), so no user would be eligible for a retention snapshot. Converted events by "
        f"type: {found}. Map the source's purchase value to one of them in the mapping's event_types.values, "
        "or change [retention] qualifying_event_types in retention.toml."
    )
