"""Helpers that convert the case files under tests/data/cases and read the outputs back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from feature_repo.ingestion.ingest import convert_event_files
from feature_repo.ingestion.mapping import SourceMapping, load_mapping
from feature_repo.ingestion.report import ConversionReport
from retention.settings import ValidationSettings

CASES = Path(__file__).resolve().parent.parent / "data" / "cases"
# A fixed conversion time, so that the future bound of event times does not move with the clock.
NOW = pd.Timestamp("2025-01-01T00:00:00Z")


@dataclass
class Conversion:
    report: ConversionReport
    events: pd.DataFrame
    quarantine: pd.DataFrame


def case_mapping(case: str, name: str = "mapping.yaml") -> SourceMapping:
    """Load the case's mapping file; a case without one uses the default mapping."""
    path = CASES / case / name
    return load_mapping(path) if path.exists() else SourceMapping()


@pytest.fixture
def convert_case(tmp_path: Path):
    """Return a function that converts files of one case into tmp_path and reads the results."""

    def convert(
        case: str,
        *files: str,
        mapping: str | SourceMapping = "mapping.yaml",
        validation: ValidationSettings | None = None,
        chunk_rows: int = 200_000,
    ) -> Conversion:
        if not isinstance(mapping, SourceMapping):
            mapping = case_mapping(case, mapping)
        events_path = tmp_path / "raw_events.parquet"
        quarantine_path = tmp_path / "conversion_quarantine.parquet"
        report = convert_event_files(
            [CASES / case / name for name in files],
            mapping,
            events_path,
            quarantine_path,
            validation or ValidationSettings(),
            chunk_rows=chunk_rows,
            now=NOW,
        )
        report.check_balance()
        return Conversion(report, pd.read_parquet(events_path), pd.read_parquet(quarantine_path))

    return convert
