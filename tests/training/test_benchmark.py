import json

import mlflow
import pytest
from click.testing import CliRunner

from retention.cli import main
from training.benchmark_page import SECTION_HEADING, write_models_section

from .conftest import make_training_set

FAST_MODELS = "recency,logistic_regression"
OTHER_SECTION = "## Serving\n\nLatency numbers of another benchmark.\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home with a synthetic training set, and an empty settings file so every setting has its default."""
    folder = tmp_path_factory.mktemp("benchmark")
    config = folder / "retention.toml"
    config.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETENTION_CONFIG", str(config))
        (folder / "home" / "data").mkdir(parents=True)
        make_training_set(users=80, snapshots=30, seed=6).to_parquet(folder / "home" / "data" / "training_set.parquet")
        yield folder / "home"


@pytest.fixture(scope="module")
def benchmarked(home):
    """One run of two fast models, 2 seeds x 2 origins, onto a page that has an old section."""
    page = home.parent / "RESULTS.md"
    page.write_text(f"# Results\n\n{SECTION_HEADING}\n\nold table\n\n{OTHER_SECTION}")
    result = _run(home, page, "--seeds", "2", "--origins", "2", "--models", FAST_MODELS, "--json")
    return {"result": result, "page": page}


def _run(home, page, *options):
    arguments = ["benchmark", "models", "--home", str(home), "--results-page", str(page), *options]
    return CliRunner().invoke(main, arguments)


def test_benchmark_reports_every_model(benchmarked):
    result = benchmarked["result"]

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["models"] == ["recency", "logistic_regression"]
    assert document["summary"]["recency"]["roc_auc"]["runs"] == 2
    assert document["summary"]["logistic_regression"]["roc_auc"]["mean"] > 0.6
    assert "--seeds 2 --origins 2" in document["command"]


def test_seedless_models_fit_once_per_origin(benchmarked):
    document = json.loads(benchmarked["result"].stdout)

    assert len(document["runs"]) == 4
    assert {run["seed"] for run in document["runs"]} == {document["seeds"][0]}


def test_page_section_is_replaced_in_place(benchmarked):
    text = benchmarked["page"].read_text()

    assert "old table" not in text
    assert text.count(SECTION_HEADING) == 1
    assert "| logistic_regression | " in text
    assert text.endswith(OTHER_SECTION)


def test_benchmark_logs_mlflow_run_per_model(benchmarked, home):
    run_ids = json.loads(benchmarked["result"].stdout)["mlflow_run_ids"]

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    assert set(run_ids) == {"recency", "logistic_regression"}
    for run_id in run_ids.values():
        artifacts = {item.path for item in client.list_artifacts(run_id)}
        assert {"roc_curves.png", "pr_curves.png", "calibration_curves.png"} <= artifacts
        assert "test_roc_auc_mean" in client.get_run(run_id).data.metrics


def test_missing_section_is_appended(tmp_path):
    page = tmp_path / "RESULTS.md"
    page.write_text(f"# Results\n\n{OTHER_SECTION}")

    write_models_section(f"{SECTION_HEADING}\n\nnew table\n", page)

    assert page.read_text() == f"# Results\n\n{OTHER_SECTION}\n{SECTION_HEADING}\n\nnew table\n"


def test_missing_training_set_names_command(tmp_path):
    result = _run(tmp_path / "empty-home", tmp_path / "RESULTS.md", "--models", "recency")

    assert result.exit_code == 2
    assert "retention demo --home" in result.output
    assert not (tmp_path / "empty-home").exists()


@pytest.mark.parametrize("models", ["", "recency,,logistic_regression", " , "])
def test_empty_model_name_is_rejected(home, tmp_path, models):
    result = _run(home, tmp_path / "RESULTS.md", "--models", models)

    assert result.exit_code == 2
    assert "contains an empty name" in result.output


def test_page_in_missing_folder_is_rejected_before_training(home, tmp_path):
    result = _run(home, tmp_path / "no-such-folder" / "RESULTS.md", "--models", "recency")

    assert result.exit_code == 2
    assert "no-such-folder does not exist" in result.output
    assert "Traceback" not in result.output


def test_single_run_shows_no_spread(home, tmp_path):
    page = tmp_path / "RESULTS.md"

    result = _run(home, page, "--seeds", "1", "--origins", "1", "--models", "recency", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["recency"]["roc_auc"]["std"] is None
    text = page.read_text()
    assert "over 1 seed (7) × 1 origin." in text
    assert "| recency | 0." in text
    assert "±" not in text.split("| recency |")[1].splitlines()[0]


def test_unknown_model_is_rejected(home, tmp_path):
    result = _run(home, tmp_path / "RESULTS.md", "--models", "recency,xgboost")

    assert result.exit_code == 2
    assert "xgboost" in result.output


def test_resume_reuses_finished_fits(home, tmp_path):
    options = ("--seeds", "1", "--origins", "2", "--models", "recency", "--json")
    first = json.loads(_run(home, tmp_path / "first.md", *options).stdout)

    again = _run(home, tmp_path / "again.md", *options, "--resume")

    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert document["runs"] == first["runs"]
    assert (first["reused_fits"], document["reused_fits"]) == (0, 2)


def test_changed_settings_refit(home, tmp_path, monkeypatch):
    options = ("--seeds", "1", "--origins", "1", "--models", "recency", "--resume", "--json")
    _run(home, tmp_path / "first.md", *options)
    assert json.loads(_run(home, tmp_path / "same.md", *options).stdout)["reused_fits"] == 1
    config = tmp_path / "retention.toml"
    # The split windows stay the same; only a training setting changes.
    config.write_text("[training]\nlearning_rate = 0.01\n", encoding="utf-8")
    monkeypatch.setenv("RETENTION_CONFIG", str(config))

    again = _run(home, tmp_path / "again.md", *options)

    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["reused_fits"] == 0
