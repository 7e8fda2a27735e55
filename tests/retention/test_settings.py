from pathlib import Path

import pytest

from retention.errors import ConfigurationError
from retention.settings import load_settings


def test_defaults_match_shipped_file():
    from_file = load_settings()
    assert from_file.retention.lookback_days == 90
    assert from_file.retention.horizon_days == 14
    assert from_file.retention.qualifying_event_types == ("purchase",)
    assert from_file.training.hidden_units == (64, 32)


def test_unknown_profile_rejected(monkeypatch):
    monkeypatch.setenv("RETENTION_PROFILE", "staging")
    with pytest.raises(ConfigurationError, match="'staging'"):
        load_settings()


def test_unknown_key_rejected(tmp_path: Path):
    config = tmp_path / "retention.toml"
    config.write_text("[retention]\nhorizon = 14\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="horizon"):
        load_settings(config_path=config)


def test_invalid_toml_names_file(tmp_path: Path):
    config = tmp_path / "retention.toml"
    config.write_text("[retention\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=str(config)):
        load_settings(config_path=config)


def test_missing_config_from_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RETENTION_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigurationError, match="absent.toml"):
        load_settings()


def test_home_from_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RETENTION_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.events_path == tmp_path / "data" / "events.parquet"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"


def test_production_profile_uses_servers(monkeypatch):
    monkeypatch.setenv("RETENTION_PROFILE", "production")
    settings = load_settings()
    assert settings.mlflow_tracking_uri.startswith("postgresql://")
    assert settings.redis_url == "127.0.0.1:6379"


def test_sample_users_from_environment(monkeypatch):
    monkeypatch.setenv("RETENTION_SAMPLE_USERS", "150")
    assert load_settings().sample_users == 150


def test_bad_sample_users_rejected(monkeypatch):
    monkeypatch.setenv("RETENTION_SAMPLE_USERS", "many")
    with pytest.raises(ConfigurationError, match="'many'"):
        load_settings()


def test_wrong_type_names_key(tmp_path: Path):
    config = tmp_path / "retention.toml"
    config.write_text('[retention]\nhorizon_days = "fourteen"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="horizon_days"):
        load_settings(config_path=config)


def test_wrong_type_is_written_as_toml(tmp_path: Path):
    config = tmp_path / "retention.toml"
    config.write_text("[training]\ncalibration = true\nhidden_units = [64, 32]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match='calibration = true in .* must be like the default "platt"'):
        load_settings(config_path=config)


def test_negative_days_rejected(tmp_path: Path):
    config = tmp_path / "retention.toml"
    config.write_text("[retention]\nhorizon_days = -5\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="must not be negative"):
        load_settings(config_path=config)


def test_config_folder_rejected(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RETENTION_CONFIG", str(tmp_path))
    with pytest.raises(ConfigurationError, match="not a file"):
        load_settings()
