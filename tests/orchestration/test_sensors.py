from datetime import datetime, timezone

import dagster as dg
import pytest

from monitoring.policy import read_decisions
from monitoring.weeks import decision_log_path
from orchestration.resources import SettingsResource
from orchestration.schedules import realized_performance_schedule, weekly_monitoring_schedule
from orchestration.sensors import retraining_policy_sensor
from retention.settings import load_settings

WEEK = "2017-09-03"


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as test_instance:
        yield test_instance


@pytest.fixture
def resources(tmp_path):
    return {"settings": SettingsResource(home=str(tmp_path / "home"))}


def report_drift(instance, week=WEEK, **overrides):
    """Record a weekly drift report as the weekly_drift_report asset would, without running it."""
    metadata = {
        "status": "ok",
        "reason": "",
        "snapshot_time": f"{week} 00:00:00+00:00",
        "drifted_share": 0.0625,
        "drifted_columns": dg.MetadataValue.json(["tenure_days"]),
        "prediction_drift": False,
        "prediction_drift_assessed": True,
        "champion_version": "2",
        "model_age_weeks": 6.0,
        "expected_roc_auc": 0.85,
        **overrides,
    }
    instance.report_runless_asset_event(dg.AssetMaterialization("weekly_drift_report", partition=week, metadata=metadata))


def report_performance(instance, week, version, roc_auc):
    metadata = {"status": "ok", "served_model_version": version, "roc_auc": roc_auc}
    instance.report_runless_asset_event(
        dg.AssetMaterialization("weekly_performance_report", partition=week, metadata=metadata)
    )


def evaluate(instance, resources, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return retraining_policy_sensor(context)


def test_sensor_skips_without_reports(instance, resources):
    result = evaluate(instance, resources)

    assert result.run_requests == []
    assert result.skip_reason.skip_message == "No weekly drift report since the last evaluation."


def test_calm_week_skips_with_reasons(instance, resources, tmp_path):
    report_drift(instance)

    result = evaluate(instance, resources)
    event = result.asset_events[0]
    logged = read_decisions(decision_log_path(load_settings(home=tmp_path / "home")))

    assert result.run_requests == []
    assert result.skip_reason.skip_message.startswith(f"skip at week {WEEK}: no rule triggered")
    assert (event.asset_key, event.partition) == (dg.AssetKey("retraining_decision"), WEEK)
    assert event.metadata["decision"].value == "skip"
    assert [record["week"] for record in logged] == [WEEK]
    assert logged[0]["by"] == "sensor"


def test_drifted_week_requests_retraining(instance, resources):
    report_drift(instance, drifted_share=0.5, drifted_columns=dg.MetadataValue.json(["monetary_30d", "monetary_90d"]))

    result = evaluate(instance, resources)
    request = result.run_requests[0]

    assert request.partition_key == WEEK
    assert request.tags["retention/launched_by"] == "sensor"
    assert "drifted feature share 0.50 >= 0.30" in request.tags["retention/reasons"]
    assert request.run_config["ops"]["retrained_model"]["config"]["as_of"] == f"{WEEK} 00:00:00+00:00"
    assert result.asset_events[0].metadata["decision"].value == "retrain"


def test_cursor_prevents_second_evaluation(instance, resources):
    report_drift(instance, prediction_drift=True)
    first = evaluate(instance, resources)

    second = evaluate(instance, resources, cursor=first.cursor)

    assert len(first.run_requests) == 1
    assert second.run_requests == []
    assert second.skip_reason.skip_message == "No weekly drift report since the last evaluation."


def test_new_champion_waits_before_retraining(instance, resources):
    report_drift(instance, prediction_drift=True, model_age_weeks=1.0)

    result = evaluate(instance, resources)

    assert result.run_requests == []
    assert "waiting: the last retraining was 1 week(s) ago" in result.skip_reason.skip_message


def test_retraining_starts_cooldown(instance, resources):
    report_drift(instance, "2017-09-03", prediction_drift=True)
    first = evaluate(instance, resources)
    report_drift(instance, "2017-09-10", prediction_drift=True, model_age_weeks=7.0)

    second = evaluate(instance, resources, cursor=first.cursor)

    assert len(first.run_requests) == 1
    assert second.run_requests == []
    assert "waiting: the last retraining was 1 week(s) ago" in second.skip_reason.skip_message


def test_performance_drop_requests_retraining(instance, resources):
    report_performance(instance, "2017-08-20", "2", roc_auc=0.70)
    report_drift(instance)

    result = evaluate(instance, resources)

    assert len(result.run_requests) == 1
    assert "realized ROC-AUC 0.700 in week 2017-08-20 vs 0.850 at promotion" in result.run_requests[0].tags["retention/reasons"]


def test_other_versions_performance_is_ignored(instance, resources):
    report_performance(instance, "2017-08-20", "1", roc_auc=0.50)
    report_drift(instance)

    result = evaluate(instance, resources)

    assert result.run_requests == []
    assert "no realized ROC-AUC of champion version 2 yet" in result.skip_reason.skip_message


def test_insufficient_week_is_not_drift(instance, resources):
    report_drift(
        instance,
        status="insufficient data",
        reason="the week has 12 rows",
        drifted_share=float("nan"),
        prediction_drift_assessed=False,
    )

    result = evaluate(instance, resources)

    assert result.run_requests == []
    assert "feature drift not assessed: insufficient data, the week has 12 rows" in result.skip_reason.skip_message


def test_schedules_are_off_by_default():
    assert weekly_monitoring_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert realized_performance_schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_schedules_pick_their_weeks():
    monday = datetime(2017, 9, 4, 6, tzinfo=timezone.utc)

    monitoring = weekly_monitoring_schedule(dg.build_schedule_context(scheduled_execution_time=monday))
    performance = realized_performance_schedule(dg.build_schedule_context(scheduled_execution_time=monday))

    assert monitoring.partition_key == "2017-09-03"
    assert performance.partition_key == "2017-08-20"
