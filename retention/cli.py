"""The `retention` command line.

Logs and progress go to stderr; with `--json`, stdout carries exactly one JSON document.
Each subcommand lives in its own module under retention/commands/.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import click

from retention.commands.benchmark import benchmark
from retention.commands.common import emit, home_option, json_option, settings_for, stdout_to_stderr
from retention.commands.ingest import ingest
from retention.commands.replay import replay
from retention.commands.rollback import rollback
from retention.errors import RetentionError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Telemetry of the bundled tools is off: the platform runs where no outside host is reachable.
QUIET_ENVIRONMENT = {
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DAGSTER_DISABLE_TELEMETRY": "true",
    "FEAST_USAGE": "False",
}


# Libraries whose INFO lines describe their own internals: Great Expectations wrote 209 of the 266
# stderr lines of one failed `retention ingest`. They log warnings and errors only, unless --verbose is given.
QUIET_LIBRARIES = ("great_expectations", "feast")


def _configure(verbose: bool) -> None:
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not verbose:
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)
        # Deprecation notices of libraries are for their callers' developers, not for operators.
        # Some libraries reset the warning filters and route warnings to logging, so both are filtered.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        logging.getLogger("py.warnings").addFilter(_without_deprecations)


def _without_deprecations(record: logging.LogRecord) -> bool:
    """Drop a warning routed to logging when its category is a deprecation, such as LitestarDeprecationWarning."""
    return "DeprecationWarning:" not in record.getMessage()


def _replace_process(command: list[str], environment: dict[str, str]) -> None:
    """Become `command`, so that signals sent to this process id reach the server itself."""
    os.chdir(PROJECT_ROOT)
    os.execve(command[0], command, environment)


class RetentionGroup(click.Group):
    """Prints platform errors as one message and exit code 2 instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RetentionError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(2)


@click.group(cls=RetentionGroup)
@click.option("--verbose", is_flag=True, help="Log debug messages as well.")
def main(verbose: bool) -> None:
    """User retention platform: ingest events, build features, train, serve and monitor."""
    _configure(verbose)


@main.command()
@home_option
@click.option(
    "--sample-users",
    type=click.IntRange(min=20),
    default=None,
    help="Keep a reproducible random sample of this many households (default: all 2,469).",
)
@json_option
def demo(home: Path | None, sample_users: int | None, as_json: bool) -> None:
    """Run every stage on the bundled Complete Journey data with the active profile."""
    settings = settings_for(home, sample_users=sample_users)
    # Imported here so that `--help` and setting errors do not wait for Dagster and Feast to load.
    from orchestration.runner import run_pipeline
    from orchestration.summary import format_summary

    with stdout_to_stderr():
        summary = run_pipeline(settings)
    emit(summary, as_json, format_summary(summary))


@main.command()
@home_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True, help="Port of the HTTP API.")
def serve(home: Path | None, host: str, port: int) -> None:
    """Serve the champion model over HTTP with BentoML."""
    settings = settings_for(home)
    # Fail here with one message: a BentoML worker without a model exits while its server stays up.
    from training.registry import load_champion

    load_champion(settings)
    environment = {**os.environ, "RETENTION_HOME": str(settings.home)}
    command = [sys.executable, "-m", "bentoml", "serve", "serving.service:RetentionService", "--host", host, "--port", str(port)]
    _replace_process(command, environment)


@main.command()
@home_option
@click.option("--port", type=click.IntRange(1, 65535), default=3001, show_default=True, help="Port of the Dagster UI.")
def dagster(home: Path | None, port: int) -> None:
    """Open the Dagster UI (`dagster dev`) on 127.0.0.1 with the platform's definitions."""
    from orchestration.instance import prepare_dagster_home

    settings = settings_for(home)
    environment = {
        **os.environ,
        "RETENTION_HOME": str(settings.home),
        "DAGSTER_HOME": str(prepare_dagster_home(settings)),
    }
    command = [sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)]
    _replace_process(command, environment)


# Subcommands defined in retention/commands/; one line each.
main.add_command(benchmark)
main.add_command(ingest)
main.add_command(replay)
main.add_command(rollback)


if __name__ == "__main__":
    main()
