"""One replay of six weeks of a slice of the bundled data, with a shift injected in the third week.

The policy is set so that only the share of drifted features can trigger a retraining, and the
gate checks ROC-AUC alone (the challenger must be at least as good). The gate's own decisions are
tested in tests/training/test_promotion.py.
"""

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_repo.feature_columns import LABEL_COLUMN
from monitoring.policy import read_decisions
from monitoring.shift import InjectedShift, inject_shift, shift_start_week
from monitoring.weeks import decision_log_path, predictions_path, replay_range, weeks_of_snapshots
from orchestration.replay import ReplayOptions, prepare_replay_home, run_replay
from retention.errors import ConfigurationError
from retention.settings import Settings, load_settings
from training.promotion_log import read_records

WEEKS = 6
SHIFT_OFFSET = 2


# Assets read their settings from the environment like in production, so the test configures
# them through a settings file.
CONFIG = """
[split]
validation_snapshots = 2
test_snapshots = 2

[training]
max_epochs = 3

[monitoring]
min_window_rows = 20
max_reference_rows = 2000

[policy]
max_drifted_feature_share = 0.25
retrain_on_prediction_drift = false
max_roc_auc_drop = 1.0
max_model_age_weeks = 100
min_weeks_between_retrains = 1

[promotion]
min_roc_auc_gain = 0.0
max_calibration_increase = 1.0
"""


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    config = tmp_path_factory.mktemp("config") / "retention.toml"
    config.write_text(CONFIG, encoding="utf-8")
    # With these splits the first champion can be trained at the snapshot of 2017-06-11.
    first = pd.Timestamp("2017-06-11", tz="UTC")
    options = ReplayOptions(
        first_week=str(first.date()),
        last_week=str((first + pd.Timedelta(weeks=WEEKS - 1)).date()),
        inject_shift=True,
        shift_week=str((first + pd.Timedelta(weeks=SHIFT_OFFSET)).date()),
    )
    with pytest.MonkeyPatch.context() as patch, dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster"))) as instance:
        patch.setenv("RETENTION_CONFIG", str(config))
        settings = load_settings(home=tmp_path_factory.mktemp("replay"), sample_users=80)
        summary = run_replay(settings, options, instance=instance)
        yield settings, summary, instance


def retrain_weeks(settings) -> list[str]:
    return [record["week"] for record in read_decisions(decision_log_path(settings)) if record["decision"] == "retrain"]


def test_replay_scores_every_week(replay):
    settings, summary, _ = replay
    weeks = list(summary["served_versions"])

    assert summary["weeks"] == WEEKS
    for week in weeks:
        predictions = pd.read_parquet(predictions_path(settings, week))
        assert len(predictions) >= 20
        assert predictions["model_version"].nunique() == 1
        assert set(predictions["feature_service"]) == {"user_retention_v1"}


def test_replay_joins_only_matured_labels(replay):
    settings, summary, _ = replay
    weeks = list(summary["served_versions"])

    labelled = [week for week in weeks if LABEL_COLUMN in pd.read_parquet(predictions_path(settings, week)).columns]

    # Labels of a week are known two weeks (the 14-day horizon) after its snapshot.
    assert labelled == weeks[:-2]


def test_every_week_has_reasoned_decision(replay):
    settings, summary, _ = replay
    decisions = read_decisions(decision_log_path(settings))

    assert [record["week"] for record in decisions] == list(summary["served_versions"])
    for record in decisions:
        assert record["reasons"]
        assert record["summary"].startswith(f"{record['decision']} at week {record['week']}: ")


def test_no_retraining_before_shift(replay):
    settings, summary, _ = replay
    shift_week = summary["shift"]["week"]

    assert all(week >= shift_week for week in retrain_weeks(settings))


def test_shift_triggers_retraining(replay):
    settings, summary, _ = replay
    decisions = [record for record in read_decisions(decision_log_path(settings)) if record["decision"] == "retrain"]

    assert summary["retrains"] >= 1
    assert any("monetary" in reason for reason in decisions[0]["reasons"])


def test_new_champion_serves_later_weeks(replay):
    settings, summary, _ = replay
    first_retrain = retrain_weeks(settings)[0]
    served = summary["served_versions"]

    before = {version for week, version in served.items() if week <= first_retrain}
    after = {version for week, version in served.items() if week > first_retrain}

    assert after
    assert before == {"1"}
    assert "1" not in after


def test_retraining_uses_known_labels(replay):
    settings, _, _ = replay
    record = [record for record in read_records(settings) if record["by"] == "sensor"][0]

    label_known = pd.Timestamp(record["test_window"]["end"]) + pd.Timedelta(days=settings.retention.horizon_days)

    assert pd.Timestamp(record["data_as_of"]) == pd.Timestamp(record["week"], tz="UTC")
    assert label_known <= pd.Timestamp(record["data_as_of"])


def test_dagster_records_weeks_and_decisions(replay):
    _, summary, instance = replay
    weeks = set(summary["served_versions"])

    assert instance.get_materialized_partitions(dg.AssetKey("weekly_drift_report")) == weeks
    assert instance.get_materialized_partitions(dg.AssetKey("retraining_decision")) == weeks
    assert instance.get_runs(filters=dg.RunsFilter(tags={"retention/launched_by": "sensor"}))


def test_index_page_shows_replay(replay):
    _, summary, _ = replay
    page = open(summary["index_page"], encoding="utf-8").read()

    assert "Injected shift from" in page
    for week in summary["served_versions"]:
        assert f"<td>{week}</td>" in page


def test_used_home_is_refused(replay):
    settings, _, _ = replay

    with pytest.raises(ConfigurationError, match="contains an earlier replay"):
        prepare_replay_home(settings, overwrite=False)


def test_too_early_first_week_is_rejected():
    snapshots = pd.Series(pd.date_range("2017-04-02", periods=40, freq="7D", tz="UTC"))
    weeks = weeks_of_snapshots(snapshots)

    with pytest.raises(ConfigurationError, match="Use --from 2017-08-06 or later"):
        replay_range(weeks, "2017-07-01", None, Settings())


def test_week_outside_data_is_rejected():
    weeks = weeks_of_snapshots(pd.Series(pd.date_range("2017-04-02", periods=40, freq="7D", tz="UTC")))

    with pytest.raises(ConfigurationError, match="--to 2018-03-04 is not a week of the data"):
        replay_range(weeks, None, "2018-03-05", Settings())


def test_shift_needs_weeks_on_both_sides():
    replayed = ["2017-08-06", "2017-08-13", "2017-08-20"]

    with pytest.raises(ConfigurationError, match="must fall after the first replayed week"):
        shift_start_week(replayed, "2017-08-07")


def test_unknown_shift_category_is_rejected(tmp_path):
    events = tmp_path / "raw_events.parquet"
    times = pd.to_datetime(["2017-08-01", "2017-08-20", "2017-08-21"], utc=True)
    pq.write_table(pa.table({"event_time": times, "category": ["MILK", "BREAD", "MILK"], "amount": [1.0, 2.0, 3.0]}), events)
    before = events.read_bytes()

    with pytest.raises(ConfigurationError, match=r"'NOPE' has no event from 2017-08-13 on.*'BREAD', 'MILK'"):
        inject_shift(events, InjectedShift(pd.Timestamp("2017-08-13", tz="UTC"), 3.0, "NOPE"))
    assert events.read_bytes() == before


@pytest.mark.e2e
def test_failed_replay_can_be_overwritten(tmp_path):
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        settings = load_settings(home=tmp_path / "replay", sample_users=30)
        with pytest.raises(ConfigurationError, match="is not a week of the data"):
            run_replay(settings, ReplayOptions(last_week="2016-01-01"), instance=instance)

        with pytest.raises(ConfigurationError, match="contains an earlier replay. Pass --overwrite"):
            prepare_replay_home(settings, overwrite=False)
        prepare_replay_home(settings, overwrite=True)
