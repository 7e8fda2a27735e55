"""Replay: live through the bundled data week by week, as production would have.

The ingestion and feature assets run once over the whole history. That is safe because the
features of a snapshot use only events before it, and labels are used only from the week their
horizon has passed. Then, week by week, the replay runs the Dagster jobs and the sensor of
production. The weekly monitoring job scores the week with the champion and reports drift. The
realized performance job evaluates every week whose labels have just matured. Last, an
evaluation of retraining_policy_sensor decides, and its run request launches the retraining job.
The first replayed week starts with a champion trained on the labels known at that week.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from feature_repo.features import event_time_range, snapshot_times
from feature_repo.store import apply_definitions, get_feature_store
from monitoring.index_page import REPLAY_FILE_NAME, write_index_page
from monitoring.replay_summary import summarize
from monitoring.shift import DEFAULT_AMOUNT_FACTOR, InjectedShift, inject_shift, shift_start_week
from monitoring.weeks import monitoring_dir, replay_range, weeks_of_snapshots
from orchestration.definitions import all_assets, weekly_assets
from orchestration.instance import prepare_dagster_home
from orchestration.monitoring_assets import LAUNCHED_BY_TAG, REASONS_TAG
from orchestration.replay_runs import materialize_or_raise
from orchestration.resources import SettingsResource
from orchestration.sensors import retraining_policy_sensor
from retention.errors import ConfigurationError
from retention.io import write_json_atomic
from retention.settings import Settings

logger = logging.getLogger(__name__)

INGESTION_ASSETS = ["raw_events", "validated_events", "user_attributes"]


@dataclass(frozen=True)
class ReplayOptions:
    first_week: str | None = None
    last_week: str | None = None
    inject_shift: bool = False
    # The first shifted week; None takes the middle week of the replay.
    shift_week: str | None = None
    amount_factor: float = DEFAULT_AMOUNT_FACTOR
    # None removes the category with the most events.
    removed_category: str | None = None
    # Replace an earlier replay in the same home.
    overwrite: bool = False


class Replay:
    """One replay: the Dagster instance and resources, and the sensor cursor between weeks."""

    def __init__(self, settings: Settings, instance: dg.DagsterInstance) -> None:
        self.settings = settings
        self.instance = instance
        self.resources = {"settings": SettingsResource(home=str(settings.home), sample_users=settings.sample_users)}
        self.assets = [*all_assets, *weekly_assets]
        self.cursor: str | None = None

    def materialize(self, selection: list[str], partition: str | None = None, **kwargs: Any) -> None:
        materialize_or_raise(self.assets, selection, self.instance, self.resources, partition, **kwargs)

    def run_week(self, week: str, snapshot: pd.Timestamp, matured: list[str]) -> None:
        """Score and monitor one week, evaluate the matured weeks, then let the sensor decide."""
        self.materialize(["weekly_predictions", "weekly_drift_report"], week)
        for past in matured:
            self.materialize(["weekly_performance_report"], past, as_of=snapshot)
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = retraining_policy_sensor(context)
        self.cursor = result.cursor or self.cursor
        for event in result.asset_events:
            self.instance.report_runless_asset_event(event)
        for request in result.run_requests:
            logger.info("Week %s: the sensor requests retraining (%s)", week, request.tags.get(REASONS_TAG))
            self.materialize(
                ["retrained_model"], request.partition_key, run_config=request.run_config, tags=dict(request.tags)
            )


def run_replay(settings: Settings, options: ReplayOptions, instance: dg.DagsterInstance | None = None) -> dict[str, Any]:
    """Replay the weeks of the bundled data in `settings.home` and return the summary of what happened."""
    started = time.perf_counter()
    prepare_replay_home(settings, options.overwrite)
    # Marks the home as a replay's at once, so that --overwrite can replace one that failed on a later check.
    write_json_atomic({"status": "started"}, monitoring_dir(settings) / REPLAY_FILE_NAME)
    replay = Replay(settings, instance or _profile_instance(settings))
    replay.materialize(INGESTION_ASSETS)

    weeks = _weeks_from_events(settings)
    first, last = replay_range(weeks, options.first_week, options.last_week, settings)
    replayed = [week for week in weeks if first <= week <= last]
    shift = _apply_shift(settings, options, replayed)
    replay.materialize(["user_profile_features"])
    apply_definitions(get_feature_store(settings), settings)
    write_json_atomic(
        {"first_week": first, "last_week": last, "shift": shift, "sample_users": settings.sample_users},
        monitoring_dir(settings) / REPLAY_FILE_NAME,
    )

    logger.info("Replaying %d weeks, %s to %s; training the first champion", len(replayed), first, last)
    replay.materialize(
        ["retrained_model"],
        first,
        as_of=weeks[first],
        tags={LAUNCHED_BY_TAG: "replay", REASONS_TAG: "first champion, trained on the labels known at the first week"},
    )
    horizon = pd.Timedelta(days=settings.retention.horizon_days)
    evaluated: set[str] = set()
    for week in replayed:
        matured = [past for past in replayed if past not in evaluated and weeks[past] + horizon <= weeks[week]]
        replay.run_week(week, weeks[week], matured)
        evaluated.update(matured)
    index = write_index_page(settings)
    return summarize(settings, replayed, shift, index, time.perf_counter() - started)


def prepare_replay_home(settings: Settings, overwrite: bool) -> None:
    """Reject a home that contains other data or an earlier replay (unless `overwrite`), then create it."""
    marker = monitoring_dir(settings) / REPLAY_FILE_NAME
    if marker.exists() and overwrite:
        logger.info("Removing the earlier replay in %s", settings.home)
        shutil.rmtree(settings.home)
    elif marker.exists():
        raise ConfigurationError(
            f"{settings.home} contains an earlier replay. Pass --overwrite to replace it, or --home with a new folder."
        )
    elif settings.home.exists() and any(path.is_file() for path in settings.home.rglob("*")):
        raise ConfigurationError(
            f"{settings.home} is not empty and contains no replay. A replay trains its own champions from the first week "
            "on, so it needs a folder of its own: pass --home with a new or empty folder."
        )
    settings.ensure_dirs()


def _weeks_from_events(settings: Settings) -> dict[str, pd.Timestamp]:
    first_event, last_event, _ = event_time_range(settings.events_path)
    return weeks_of_snapshots(pd.Series(snapshot_times(first_event, last_event, settings.retention)))


def _apply_shift(settings: Settings, options: ReplayOptions, replayed: list[str]) -> dict | None:
    if not options.inject_shift:
        return None
    week = shift_start_week(replayed, options.shift_week)
    shift = InjectedShift(pd.Timestamp(week, tz="UTC"), options.amount_factor, options.removed_category)
    return {"week": week, **inject_shift(settings.events_path, shift)}


def _profile_instance(settings: Settings) -> dg.DagsterInstance:
    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()
