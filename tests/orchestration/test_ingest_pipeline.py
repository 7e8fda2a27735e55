"""`retention ingest` and the file source of the Dagster assets, on the ingestion cases.

The end-to-end tests ingest a synthetic history of about 200 days (tests/ingestion/history.py)
together with the case file, because the features need 90 days of history before the first
snapshot and training needs about 20 weekly snapshots. The settings stay at their defaults.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from feature_repo.definitions import FEATURE_VIEW_NAME
from feature_repo.store import get_feature_store
from orchestration.ingestion_assets import raw_events, user_attributes, validated_events
from orchestration.resources import SettingsResource
from retention.cli import main
from retention.settings import load_settings
from tests.ingestion.conftest import CASES
from tests.ingestion.history import write_history

HUGE_IDS = ["18446744073709551615", "143349558619761320", "143349558619761321"]
EXTERNAL_STYLESHEET = re.compile(r"<link[^>]+href=[\"']?(https?:)?//", re.IGNORECASE)
EXTERNAL_SCRIPT = re.compile(r"<script[^>]+src=[\"']?(https?:)?//", re.IGNORECASE)


def invoke_ingest(home: Path, *arguments: str):
    return CliRunner().invoke(main, ["ingest", "--home", str(home), *arguments])


def materialize_files(home: Path, event_paths: list[Path], **config) -> dict[str, dict]:
    """Materialize the ingestion assets on files and return each asset's metadata values."""
    run_config = {
        "raw_events": {"source": "files", "event_paths": [str(path) for path in event_paths], **config},
        "validated_events": {"max_quarantine_share": 1.0},
    }
    result = dg.materialize(
        [raw_events, validated_events, user_attributes],
        resources={"settings": SettingsResource(home=str(home))},
        run_config={"ops": {name: {"config": value} for name, value in run_config.items()}},
        # A few days of events fail the suite's span rule; the counts are recorded all the same.
        raise_on_error=False,
    )
    metadata = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            key: value.value for key, value in materialization.metadata.items()
        }
    return metadata


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return tmp_path / "home"


def test_asset_metadata_counts_every_row(dagster_home: Path):
    files = [CASES / "amounts" / "events.csv", CASES / "duplicates" / "events.csv", CASES / "unknown_event_type" / "events.csv"]

    metadata = materialize_files(dagster_home, files)

    raw, validated = metadata["raw_events"], metadata["validated_events"]
    assert [entry["input_rows"] for entry in raw["files"]] == [8, 6, 4]
    assert raw["input_rows"] == 18
    assert raw["duplicate_rows"] == 3
    assert raw["unknown_event_types"] == {"wishlist": 1}
    assert validated["input_rows"] == 18
    assert validated["accepted_rows"] == 10
    assert validated["quarantined_rows"] == 5
    assert validated["duplicate_rows"] == 3
    assert validated["quarantine_by_rule"] == {
        "negative_amount": 1,
        "non_finite_amount": 2,
        "invalid_amount": 1,
        "amount_out_of_range": 1,
    }
    assert validated["unknown_event_types"] == {"wishlist": 1}
    total = validated["accepted_rows"] + validated["quarantined_rows"] + validated["duplicate_rows"]
    assert total == validated["input_rows"]
    assert metadata["user_attributes"]["rows"] == 0


def test_asset_metadata_strict_event_types(dagster_home: Path):
    metadata = materialize_files(dagster_home, [CASES / "unknown_event_type" / "events.csv"], strict_event_types=True)

    validated = metadata["validated_events"]
    assert validated["accepted_rows"] == 3
    assert validated["quarantine_by_rule"] == {"unknown_event_type": 1}
    assert validated["accepted_rows"] + validated["quarantined_rows"] + validated["duplicate_rows"] == 4


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--events", "no_such_file.csv"], "no_such_file.csv not found"),
        (["--events", str(CASES / "empty" / "zero_bytes.csv")], "is empty (0 bytes)"),
        (["--events", str(CASES / "not_a_table" / "events.csv")], "not a readable CSV or Parquet file"),
        (["--events", str(CASES / "not_a_table" / "events.parquet")], "not a readable CSV or Parquet file"),
        (["--events", str(CASES / "latin1" / "events.csv")], "Set csv.encoding"),
        (["--events", str(CASES / "missing_column" / "events.csv")], "lacks required column(s)"),
        (["--events", str(CASES / "amounts" / "events.csv"), "--mapping", "no_such_mapping.yaml"], "not found"),
    ],
    ids=["missing", "zero_bytes", "png_as_csv", "text_as_parquet", "latin1", "missing_column", "missing_mapping"],
)
def test_bad_input_one_line_error(arguments: list[str], expected: str, dagster_home: Path):
    result = invoke_ingest(dagster_home, *arguments)

    assert result.exit_code == 2
    assert expected in result.output
    assert result.output.startswith("Error: ")
    assert result.output.strip().count("\n") == 0
    assert "Traceback" not in result.output
    assert not dagster_home.exists()


def test_events_option_required(dagster_home: Path):
    result = invoke_ingest(dagster_home)

    assert result.exit_code == 2
    assert "Missing option '--events'" in result.output


@pytest.mark.e2e
def test_quarantine_above_limit_blocks(dagster_home: Path):
    result = invoke_ingest(dagster_home, "--events", str(CASES / "amounts" / "events.csv"))

    assert result.exit_code == 2
    assert "quarantine_share_within_limit" in result.output
    assert "5 of 8 input rows (62.50%) were quarantined" in result.output
    assert "Stack Trace" not in result.output
    assert str(dagster_home / "data" / "quarantine.parquet") in result.output
    assert str(dagster_home / "reports" / "data_docs" / "index.html") in result.output
    assert not (dagster_home / "feast" / "online_store.db").exists()
    assert not (dagster_home / "data" / "user_profile_features.parquet").exists()


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """Run `retention ingest --json` on a synthetic history plus the huge_ids case; return home and summary."""
    root = tmp_path_factory.mktemp("ingest")
    history = root / "history.csv"
    write_history(history, extra_user_ids=HUGE_IDS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(root / "dagster"))
        result = invoke_ingest(root / "home", "--json", "--events", str(history), str(CASES / "huge_ids" / "events.csv"))
    assert result.exit_code == 0, result.output[-3000:]
    return root / "home", json.loads(result.stdout)


@pytest.mark.e2e
def test_ingest_summary_counts_files(ingested):
    _, summary = ingested

    rows = summary["rows"]
    files = summary["ingestion"]["files"]
    assert [Path(entry["path"]).name for entry in files] == ["history.csv", "events.csv"]
    assert files[1]["input_rows"] == 3
    assert files[1]["converted_rows"] == 3
    assert rows["input"] == sum(entry["input_rows"] for entry in files)
    assert rows["accepted"] + rows["quarantined"] + rows["duplicates"] == rows["input"]
    assert rows["features"] > 0
    assert set(summary["models"]) >= {"mlp", "lightgbm"}
    assert summary["registered_model"]["alias"] == "champion"


@pytest.mark.e2e
def test_huge_ids_reach_prediction(ingested):
    from serving.predictor import RetentionPredictor

    home, _ = ingested
    settings = load_settings(home=home)
    features = pd.read_parquet(settings.features_path, columns=["user_id"])
    assert set(HUGE_IDS) <= set(features["user_id"])
    events = pd.read_parquet(settings.events_path, columns=["user_id"])
    assert set(HUGE_IDS) <= set(events["user_id"])

    online = get_feature_store(settings).get_online_features(
        features=[f"{FEATURE_VIEW_NAME}:recency_days"], entity_rows=[{"user_id": user_id} for user_id in HUGE_IDS]
    ).to_dict()
    assert online["user_id"] == HUGE_IDS
    assert None not in online["recency_days"]

    answers = RetentionPredictor(settings).predict(HUGE_IDS)

    assert [answer["user_id"] for answer in answers] == HUGE_IDS
    for answer in answers:
        assert answer["probability"] is not None


@pytest.mark.e2e
def test_data_docs_every_suite_offline(ingested):
    _, summary = ingested
    page_path = Path(summary["reports"]["data_docs"].removeprefix("file://"))
    page = page_path.read_text(encoding="utf-8")

    for suite in ("events", "users", "features"):
        assert f'id="suite-{suite}"' in page
    assert EXTERNAL_STYLESHEET.search(page) is None
    assert EXTERNAL_SCRIPT.search(page) is None
    assert "http://" not in page
    assert "https://" not in page


@pytest.mark.e2e
def test_header_only_keeps_published_data(ingested, tmp_path: Path):
    home, _ = ingested
    settings = load_settings(home=home)
    kept = [settings.raw_events_path, settings.events_path, settings.features_path, settings.feast_dir / "online_store.db"]
    before = {path: path.read_bytes() for path in kept}

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
        result = invoke_ingest(home, "--events", str(CASES / "empty" / "header_only.csv"))

    assert result.exit_code == 2
    assert "Error: No rows" in result.output
    assert "header_only.csv" in result.output
    assert "Traceback" not in result.output
    for path, content in before.items():
        assert path.read_bytes() == content, path
