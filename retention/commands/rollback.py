"""`retention rollback`: give the champion alias back to the previous champion."""

from __future__ import annotations

from pathlib import Path

import click

from retention.commands.common import emit, home_option, json_option, settings_for


@click.command()
@home_option
@json_option
def rollback(home: Path | None, as_json: bool) -> None:
    """Move the champion alias back to the version that held it before the current champion's promotion."""
    # A rollback only reads and updates an existing registry, so it creates no folder.
    settings = settings_for(home, create_dirs=False)
    # Imported here so that `--help` does not wait for MLflow to load.
    from training.promotion_log import rollback as rollback_champion

    record = rollback_champion(settings)
    human = (
        f"Moved @{settings.registry.champion_alias} of {record['model_name']} from version "
        f"{record['from_version']} back to version {record['to_version']}."
    )
    emit(record, as_json, human)
