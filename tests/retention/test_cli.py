from click.testing import CliRunner

from retention.cli import main


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "dagster"):
        assert command in result.output


def test_bad_profile_is_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("RETENTION_PROFILE", "nope")
    result = CliRunner().invoke(main, ["demo", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "RETENTION_PROFILE='nope'" in result.output
    assert "Traceback" not in result.output


def test_demo_help_names_options():
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert "--json" in result.output
    assert "--sample-users" in result.output


def test_serve_without_model_fails_fast(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "champion" in result.output


def test_serve_rejects_invalid_port(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--home", str(tmp_path), "--port", "99999"])
    assert result.exit_code == 2
    assert "99999" in result.output


def test_replay_rejects_a_bad_week_before_writing(tmp_path):
    home = tmp_path / "replay"

    result = CliRunner().invoke(main, ["replay", "--home", str(home), "--from", "2017-13-40"])

    assert result.exit_code == 2
    assert "--from" in result.output
    assert "YYYY-MM-DD" in result.output
    assert not home.exists()


def test_replay_rejects_from_after_to(tmp_path):
    home = tmp_path / "replay"

    result = CliRunner().invoke(main, ["replay", "--home", str(home), "--from", "2017-10-01", "--to", "2017-09-01"])

    assert result.exit_code == 2
    assert "week of --from (2017-10-01) comes after the week of --to (2017-08-27)" in result.output
    assert not home.exists()


def test_rollback_in_an_empty_home_creates_nothing(tmp_path):
    home = tmp_path / "empty"

    result = CliRunner().invoke(main, ["rollback", "--home", str(home)])

    assert result.exit_code == 2
    assert "has no model registry" in result.output
    assert "retention demo --home" in result.output
    assert not home.exists()
