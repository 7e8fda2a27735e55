"""`retention benchmark`: reproducible benchmarks, each writing its own section of benchmarks/RESULTS.md.

To add a benchmark, define a click command and attach it with `benchmark.add_command(command)`
or the `@benchmark.command()` decorator.
"""

from __future__ import annotations

from pathlib import Path

import click

from retention.commands.common import emit, home_option, json_option, settings_for, stdout_to_stderr

DEFAULT_SEEDS = 3
DEFAULT_ORIGINS = 3


@click.group()
def benchmark() -> None:
    """Run a benchmark and write its section of the benchmark page."""


@benchmark.command("models")
@home_option
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=DEFAULT_SEEDS,
    show_default=True,
    help="Seeds per model and origin, counted up from [training] seed.",
)
@click.option(
    "--origins",
    type=click.IntRange(min=1),
    default=DEFAULT_ORIGINS,
    show_default=True,
    help="Rolling origins; each moves the test window [split] test_snapshots snapshots earlier.",
)
@click.option(
    "--models",
    "model_list",
    default=None,
    help="Comma-separated candidate names, such as lightgbm,mlp (default: every registered candidate).",
)
@click.option(
    "--results-page",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Markdown page whose 'Models' section is replaced (default: benchmarks/RESULTS.md).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Reuse the fits that an earlier, interrupted run with the same settings, data and code finished.",
)
@json_option
def models(
    home: Path | None,
    seeds: int,
    origins: int,
    model_list: str | None,
    results_page: Path | None,
    resume: bool,
    as_json: bool,
) -> None:
    """Train and evaluate every retention candidate with several seeds and rolling origins.

    It reads the training set that `retention demo` writes under --home. It writes the table
    of mean ± standard deviation per test metric and the fit time to the results page. It
    also logs one MLflow run per model, with its plots, to the experiment retention_benchmark.

    All eight candidates with the defaults took 46 minutes on 2 CPU cores. The five that
    read no event sequence were done after the first 38 s of that run. Each finished fit is
    kept under <home>/benchmarks/models, so after an interruption the same command with
    --resume refits only what is missing.
    """
    # Imported here so that `--help` does not wait for torch, LightGBM and PyMC to load.
    from training.benchmark import (
        discover_candidates,
        load_training_set,
        log_benchmark_runs,
        run_benchmark,
        select_models,
    )
    from training.benchmark_cache import RunCache, cache_folder
    from training.benchmark_page import RESULTS_PAGE, machine_description, models_section, write_models_section

    page = _checked_results_page(results_page or RESULTS_PAGE)
    # Nothing is created before the training set is found; MLflow's folder is made when the runs are logged.
    settings = settings_for(home, create_dirs=False)
    requested = _model_names(model_list)
    factories = discover_candidates()
    names = select_models(requested, factories)
    seed_values = [settings.training.seed + offset for offset in range(seeds)]
    training_set = load_training_set(settings)

    with stdout_to_stderr():
        cache = RunCache(cache_folder(settings))
        result = run_benchmark(training_set, settings, names, factories, seed_values, origins, cache, resume)

    command = _command_line(home, seeds, origins, model_list)
    section = models_section(result, settings, command, machine_description())
    write_models_section(section, page)
    with stdout_to_stderr():
        run_ids = log_benchmark_runs(result, settings, command)
    document = {"command": command, "results_page": str(page), "mlflow_run_ids": run_ids, **result.to_dict()}
    emit(document, as_json, section)


def _model_names(model_list: str | None) -> list[str] | None:
    """Return the names of --models, or None without the option; reject an empty name."""
    if model_list is None:
        return None
    names = [name.strip() for name in model_list.split(",")]
    if not all(names):
        raise click.BadParameter(
            f"{model_list!r} contains an empty name. List candidates separated by single commas, such as "
            "lightgbm,mlp, or leave --models out to run every candidate.",
            param_hint="--models",
        )
    return names


def _checked_results_page(page: Path) -> Path:
    """Reject a results page whose folder is missing before any model is trained."""
    if not page.parent.is_dir():
        raise click.BadParameter(
            f"the folder {page.parent} does not exist, so {page.name} cannot be written there. Create the folder "
            "first, or name a page in an existing folder.",
            param_hint="--results-page",
        )
    return page


def _command_line(home: Path | None, seeds: int, origins: int, model_list: str | None) -> str:
    """Return the command that reproduces this run's table; --results-page and --json do not change it."""
    parts = ["retention benchmark models", f"--seeds {seeds}", f"--origins {origins}"]
    if model_list:
        parts.append(f"--models {model_list}")
    if home is not None:
        parts.append(f"--home {home}")
    return " ".join(parts)


from retention.commands.benchmark_serving import serving  # noqa: E402 - the command lives in its own module

benchmark.add_command(serving)
