"""Weekly production schedules of scoring, drift and realized performance; both are off by default.

Turn them on in the Dagster UI (Automation) once the features are refreshed every week. The
monitoring run scores the week that started the Sunday before; the performance run evaluates
the week whose labels have just matured, [retention] horizon_days earlier.
"""

import dagster as dg
import pandas as pd

from monitoring.weeks import week_of
from orchestration.monitoring_assets import realized_performance_job, weekly_monitoring_job
from retention.settings import load_settings

# Mondays at 06:00 UTC, after Sunday's snapshot.
WEEKLY_CRON = "0 6 * * 1"


@dg.schedule(
    cron_schedule=WEEKLY_CRON,
    job=weekly_monitoring_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every Monday: score the week's active users with the champion and report drift.",
)
def weekly_monitoring_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    week = week_of(pd.Timestamp(context.scheduled_execution_time))
    return dg.RunRequest(run_key=f"monitoring-{week}", partition_key=week)


@dg.schedule(
    cron_schedule=WEEKLY_CRON,
    job=realized_performance_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every Monday: join the labels of the week whose horizon has just passed and report performance.",
)
def realized_performance_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    horizon = pd.Timedelta(days=load_settings().retention.horizon_days)
    week = week_of(pd.Timestamp(context.scheduled_execution_time) - horizon)
    return dg.RunRequest(run_key=f"performance-{week}", partition_key=week)
