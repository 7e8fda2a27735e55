"""Conversion of any shop's event log to the data contract."""

from feature_repo.ingestion.ingest import NoRowsConvertedError, convert_event_files, convert_user_files
from feature_repo.ingestion.mapping import SourceMapping, load_mapping
from feature_repo.ingestion.privacy import pseudonymize
from feature_repo.ingestion.report import ConversionReport, FileCounts

__all__ = [
    "ConversionReport",
    "FileCounts",
    "NoRowsConvertedError",
    "SourceMapping",
    "convert_event_files",
    "convert_user_files",
    "load_mapping",
    "pseudonymize",
]
