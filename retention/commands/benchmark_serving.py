"""`retention benchmark serving`: latency, throughput and memory of the prediction service."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from retention.commands.common import emit, home_option, json_option, settings_for, stdout_to_stderr

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@click.command("serving")
@home_option
@click.option(
    "--cell-seconds",
    type=click.FloatRange(min=0.5),
    default=4.0,
    show_default=True,
    help="Measured seconds per request size and client count, after a warm-up of 0.5 s.",
)
@click.option(
    "--load-seconds",
    type=click.FloatRange(min=1.0),
    default=120.0,
    show_default=True,
    help="Seconds of the sustained load that measures errors and memory growth.",
)
@click.option(
    "--load-clients", type=click.IntRange(min=1), default=32, show_default=True, help="Clients of the sustained load."
)
@click.option(
    "--results-page",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Markdown page whose 'Serving' section is replaced (default: benchmarks/RESULTS.md).",
)
@json_option
def serving(
    home: Path | None, cell_seconds: float, load_seconds: float, load_clients: int, results_page: Path | None, as_json: bool
) -> None:
    """Measure the BentoML service next to `feast serve` and an in-process floor, on 127.0.0.1.

    It needs the online store and champion that `retention demo` leaves under --home. It measures
    p50, p99 and throughput for 1 and 100 users per request with 1, 8 and 32 clients, then a
    sustained load with its errors and resident-memory growth, and writes the results page.
    """
    # benchmarks/ is a folder of the repository, not an installed package.
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from benchmarks.results_page import RESULTS_PATH, describe_machine, replace_section
    from benchmarks.serving_benchmark import BenchmarkOptions, run_serving_benchmark
    from benchmarks.serving_report import SECTION_TITLE, aim_verdicts, serving_section

    settings = settings_for(home)
    options = BenchmarkOptions(cell_seconds=cell_seconds, load_seconds=load_seconds, load_clients=load_clients)
    with stdout_to_stderr():
        result = run_serving_benchmark(settings, options)

    command = _command_line(home, cell_seconds, load_seconds, load_clients)
    section = serving_section(result, command, describe_machine())
    page = replace_section(SECTION_TITLE, section, results_page or RESULTS_PATH)
    emit({"command": command, "results_page": str(page), "aims": aim_verdicts(result), **result}, as_json, section)


def _command_line(home: Path | None, cell_seconds: float, load_seconds: float, load_clients: int) -> str:
    """Return the command that reproduces the section; --results-page and --json do not change the numbers."""
    parts = ["retention benchmark serving"]
    if cell_seconds != 4.0:
        parts.append(f"--cell-seconds {cell_seconds:g}")
    if load_seconds != 120.0:
        parts.append(f"--load-seconds {load_seconds:g}")
    if load_clients != 32:
        parts.append(f"--load-clients {load_clients}")
    if home is not None:
        parts.append(f"--home {home}")
    return " ".join(parts)
