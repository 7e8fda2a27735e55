"""`retention ingest`: a shop's own event log through every stage, up to a served prediction."""

from __future__ import annotations

from pathlib import Path

import click

from retention.commands.common import emit, home_option, json_option, settings_for, stdout_to_stderr

_FILE = click.Path(dir_okay=True, path_type=Path)


@click.command()
@click.option(
    "--events",
    "event_paths",
    multiple=True,
    type=_FILE,
    help="Event file: CSV, gzipped CSV or Parquet. Repeat the option, or list more files after it.",
)
@click.argument("more_event_paths", nargs=-1, type=_FILE, metavar="[PATH]...")
@click.option("--users", "user_paths", multiple=True, type=_FILE, help="File of user attributes; repeatable.")
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Mapping file from the source's columns and values to the data contract (docs/mapping.md).",
)
@home_option
@click.option(
    "--max-quarantine-share",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Block publication to Feast above this share of quarantined input rows, from 0 to 1 "
    "(default: validation.max_quarantine_share in retention.toml).",
)
@click.option(
    "--strict-event-types",
    is_flag=True,
    help="Quarantine rows whose event type the mapping does not name, instead of keeping them as 'other'.",
)
@json_option
def ingest(
    event_paths: tuple[Path, ...],
    more_event_paths: tuple[Path, ...],
    user_paths: tuple[Path, ...],
    mapping_path: Path | None,
    home: Path | None,
    max_quarantine_share: float | None,
    strict_event_types: bool,
    as_json: bool,
) -> None:
    """Ingest your own event files and run every stage on them, as `retention demo` does on the bundled data.

    A file that cannot be read, lacks a column or has no rows stops the command before any
    earlier data is replaced. Above the quarantine limit, nothing is published to Feast.
    """
    event_files = [path.resolve() for path in (*event_paths, *more_event_paths)]
    if not event_files:
        raise click.UsageError("Missing option '--events'. Pass at least one event file: --events PATH.")
    user_files = [path.resolve() for path in user_paths]
    settings = settings_for(home, create_dirs=False)
    # Imported here so that `--help` does not wait for pandas, Dagster and Feast to load.
    from feature_repo.ingestion.source_files import check_source_files, load_source_mapping

    # Every file is checked before Dagster starts, so that bad input fails at once, replaces nothing
    # and creates no folder.
    mapping = load_source_mapping(mapping_path, strict_event_types)
    check_source_files(settings, event_files, user_files, mapping)
    settings.ensure_dirs()

    from orchestration.runner import run_pipeline
    from orchestration.summary import format_summary

    asset_config = {
        "raw_events": {
            "source": "files",
            "event_paths": [str(path) for path in event_files],
            "user_paths": [str(path) for path in user_files],
            "mapping_path": None if mapping_path is None else str(mapping_path.resolve()),
            "strict_event_types": strict_event_types,
        },
        "validated_events": {"max_quarantine_share": max_quarantine_share},
    }
    with stdout_to_stderr():
        summary = run_pipeline(settings, asset_config, launched_by="retention ingest")
    emit(summary, as_json, format_summary(summary))
