"""Pseudonymization of user ids: the keyed hash, the key checks, and conversions that use it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from feature_repo.ingestion.ingest import convert_event_files, convert_user_files
from feature_repo.ingestion.mapping import parse_mapping
from feature_repo.ingestion.privacy import privacy_record_path, pseudonymize, read_privacy_record, read_pseudonym_key
from retention.errors import ConfigurationError
from retention.settings import Settings
from tests.ingestion.conftest import CASES, NOW

KEY = "a-test-key-of-32-bytes-0123456789"
PRIVATE = parse_mapping({"privacy": {"pseudonymize_user_ids": True, "key_env": "TEST_PSEUDONYM_KEY"}})


def test_pseudonymize_known_vector():
    # HMAC-SHA256 test vector from the Wikipedia article on HMAC.
    digest = pseudonymize("The quick brown fox jumps over the lazy dog", b"key")
    assert digest == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_pseudonymize_stable_and_distinct():
    key = KEY.encode()
    assert pseudonymize("123", key) == pseudonymize("123", key)
    assert pseudonymize("123", key) != pseudonymize("00123", key)
    assert pseudonymize("123", key) != pseudonymize("123", b"another-key-of-enough-length")
    assert len(pseudonymize("用户", key)) == 64


def test_key_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TEST_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        read_pseudonym_key("TEST_PSEUDONYM_KEY")
    assert "TEST_PSEUDONYM_KEY" in str(caught.value)
    assert "privacy.key_env" in str(caught.value)


def test_key_too_short(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEST_PSEUDONYM_KEY", "short")
    with pytest.raises(ConfigurationError, match="5 bytes"):
        read_pseudonym_key("TEST_PSEUDONYM_KEY")


def test_conversion_fails_without_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("TEST_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="TEST_PSEUDONYM_KEY"):
        convert_event_files(
            [CASES / "missing_user_id" / "events.csv"], PRIVATE, tmp_path / "e.parquet", tmp_path / "q.parquet"
        )
    assert list(tmp_path.iterdir()) == []


def test_events_and_quarantine_pseudonymized(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TEST_PSEUDONYM_KEY", KEY)
    events_path, quarantine_path = tmp_path / "e.parquet", tmp_path / "q.parquet"
    convert_event_files([CASES / "amounts" / "events.csv"], PRIVATE, events_path, quarantine_path, now=NOW)

    events = pd.read_parquet(events_path)
    quarantine = pd.read_parquet(quarantine_path)
    key = KEY.encode()
    assert events["user_id"].tolist() == [pseudonymize("a1", key), pseudonymize("a1", key), pseudonymize("a4", key)]
    originals = [json.loads(row) for row in quarantine["original_row"]]
    assert [row["user_id"] for row in originals] == [
        pseudonymize(user_id, key) for user_id in ("a2", "a2", "a3", "a3", "a4")
    ]
    quarantine_text = quarantine.astype(str).to_csv(index=False)
    for raw_id in ("a1", "a2", "a3", "a4"):
        assert f'"{raw_id}"' not in quarantine_text


def test_users_pseudonymized(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TEST_PSEUDONYM_KEY", KEY)
    source = tmp_path / "users.csv"
    source.write_text("user_id,region\nu1,north\n")
    convert_user_files([source], PRIVATE, tmp_path / "users.parquet")
    users = pd.read_parquet(tmp_path / "users.parquet")
    assert users["user_id"].tolist() == [pseudonymize("u1", KEY.encode())]


def stub_predictor(home: Path, requested: list[list[str]]):
    """Return a RetentionPredictor over `home` whose online store records the ids it is asked for."""
    from serving.predictor import RetentionPredictor

    def read(user_ids: list[str]) -> SimpleNamespace:
        requested.append(list(user_ids))
        return SimpleNamespace(columns={}, found=[True] * len(user_ids), snapshot_times=[None] * len(user_ids))

    def score(columns: dict, top_k: int | None) -> SimpleNamespace:
        return SimpleNamespace(probabilities=[0.25] * len(requested[-1]), reasons=None)

    model = SimpleNamespace(
        name="user_retention",
        version="3",
        feature_service="user_retention_v1",
        reader=SimpleNamespace(read=read),
        scorer=SimpleNamespace(score=score),
        cold_start=SimpleNamespace(probability=0.1),
    )
    return RetentionPredictor(Settings(home=home), model=model)


def write_privacy_record(home: Path, document: dict) -> None:
    (home / "data").mkdir(parents=True)
    privacy_record_path(home / "data").write_text(json.dumps(document))


def test_serving_looks_up_pseudonyms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog):
    monkeypatch.setenv("TEST_PSEUDONYM_KEY", KEY)
    write_privacy_record(tmp_path, {"pseudonymized_user_ids": True, "key_env": "TEST_PSEUDONYM_KEY"})
    requested: list[list[str]] = []
    predictor = stub_predictor(tmp_path, requested)

    with caplog.at_level(logging.DEBUG):
        answers = predictor.predict(["18446744073709551615", "00123"])

    key = KEY.encode()
    assert requested == [[pseudonymize("18446744073709551615", key), pseudonymize("00123", key)]]
    assert [answer["user_id"] for answer in answers] == ["18446744073709551615", "00123"]
    assert [answer["probability"] for answer in answers] == [0.25, 0.25]
    assert "18446744073709551615" not in caplog.text
    assert "00123" not in caplog.text


def test_serving_without_record_uses_ids(tmp_path: Path):
    requested: list[list[str]] = []
    predictor = stub_predictor(tmp_path, requested)

    answers = predictor.predict(["42", "42.0"])

    assert requested == [["42", "42.0"]]
    assert [answer["user_id"] for answer in answers] == ["42", "42.0"]


def test_serving_needs_key_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("TEST_PSEUDONYM_KEY", raising=False)
    write_privacy_record(tmp_path, {"pseudonymized_user_ids": True, "key_env": "TEST_PSEUDONYM_KEY"})

    with pytest.raises(ConfigurationError, match="TEST_PSEUDONYM_KEY"):
        stub_predictor(tmp_path, [])


def test_invalid_privacy_record(tmp_path: Path):
    write_privacy_record(tmp_path, {"pseudonymized": "yes"})

    with pytest.raises(ConfigurationError, match="privacy record"):
        read_privacy_record(privacy_record_path(tmp_path / "data"))
