"""`retention replay`: live through the bundled year week by week, with or without an injected shift."""

from __future__ import annotations

from pathlib import Path

import click

from retention.commands.common import emit, json_option, settings_for, stdout_to_stderr
from retention.settings import load_settings


def _week_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Return the week key of a week option, rejecting a value that is not a date before the replay writes anything."""
    if value is None:
        return None
    # Imported here so that `--help` does not wait for pandas.
    from monitoring.weeks import week_of
    from retention.errors import ConfigurationError

    try:
        return week_of(value)
    except ConfigurationError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from error


@click.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the replay, new or empty (default: replay/ under $RETENTION_HOME or ./var).",
)
@click.option("--from", "first_week", default=None, metavar="WEEK", callback=_week_option,
              help="First week to score, as any date in it (YYYY-MM-DD); default: the first week with enough labelled history.")
@click.option("--to", "last_week", default=None, metavar="WEEK", callback=_week_option, help="Last week to score (default: the last week of the data).")
@click.option("--sample-users", type=click.IntRange(min=20), default=None,
              help="Keep a reproducible random sample of this many households (default: all 2,469).")
@click.option("--inject-shift", is_flag=True,
              help="From --shift-from on, multiply every amount by --shift-amount-factor and remove one product category.")
@click.option("--shift-from", "shift_week", default=None, metavar="WEEK", callback=_week_option,
              help="First shifted week (default: the middle week of the replay).")
@click.option("--shift-amount-factor", type=click.FloatRange(min=0.0, min_open=True), default=3.0, show_default=True,
              help="Factor applied to the amounts of shifted events.")
@click.option("--shift-remove-category", default=None, metavar="NAME",
              help="Product category removed from the shift on (default: the one with the most events).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier replay in the same folder.")
@json_option
def replay(
    home: Path | None,
    first_week: str | None,
    last_week: str | None,
    sample_users: int | None,
    inject_shift: bool,
    shift_week: str | None,
    shift_amount_factor: float,
    shift_remove_category: str | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Score, monitor and retrain week by week over the bundled data, as production would have.

    Every week is scored with the champion of that time. Drift, realized performance and the
    retraining sensor's decisions end up on one index page for data stewards.
    """
    # Week keys are ISO dates, so they compare as strings.
    if first_week and last_week and first_week > last_week:
        raise click.BadParameter(f"The week of --from ({first_week}) comes after the week of --to ({last_week}). Swap the two dates.", param_hint="--from")
    settings = settings_for(home or load_settings().home / "replay", sample_users=sample_users)
    # Imported here so that `--help` and setting errors do not wait for Dagster, Feast and Evidently.
    from orchestration.replay import ReplayOptions, run_replay

    options = ReplayOptions(
        first_week=first_week,
        last_week=last_week,
        inject_shift=inject_shift,
        shift_week=shift_week,
        amount_factor=shift_amount_factor,
        removed_category=shift_remove_category,
        overwrite=overwrite,
    )
    with stdout_to_stderr():
        summary = run_replay(settings, options)
    emit(summary, as_json, format_replay(summary))


def format_replay(summary: dict) -> str:
    """Render the replay summary as a few lines for a person at a terminal."""
    lines = [f"Replayed {summary['weeks']} weeks, {summary['first_week']} to {summary['last_week']}, in {summary['wall_seconds']:.0f} s"]
    shift = summary.get("shift")
    if shift:
        lines.append(
            f"Injected shift from {shift['week']}: amounts x{shift['amount_factor']:g}, "
            f"category {shift['removed_category']!r} removed"
        )
    for decision in summary["decisions"]:
        served = summary["served_versions"].get(decision["week"], "?")
        lines.append(f"  {decision['week']}  served by v{served}  {decision['summary']}")
    lines.append(f"Retraining decisions: {summary['retrains']}; promotions after the first champion: {summary['promotions']}")
    lines.append(f"Index page: {summary['index_page']}")
    return "\n".join(lines)
