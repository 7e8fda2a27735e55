"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import click

from retention.settings import Settings, load_settings

home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for data, stores, models and reports (default: $RETENTION_HOME or ./var).",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")


def settings_for(home: Path | None, create_dirs: bool = True, **overrides: Any) -> Settings:
    """Load the settings with the command's overrides and, unless `create_dirs` is False, create their folders."""
    if home is not None:
        overrides["home"] = home.resolve()
    settings = load_settings(**{key: value for key, value in overrides.items() if value is not None})
    if create_dirs:
        settings.ensure_dirs()
    return settings


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything printed to stdout (Feast and MLflow print progress there) to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def emit(summary: dict, as_json: bool, human: str) -> None:
    """Print the summary: one JSON document with --json, else the human text."""
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str, ensure_ascii=False))
    else:
        click.echo(human)
