"""Pseudonymization of user ids with a keyed hash, shared by ingestion and serving.

The same key always gives the same pseudonym, so events, user attributes and prediction
requests of one user still join. Without the key, a pseudonym cannot be recomputed from an id
or reversed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from retention.errors import ConfigurationError

# HMAC-SHA256 keys shorter than this are easy to guess, and user ids themselves are guessable.
MIN_KEY_BYTES = 16
# Written next to the conversion report, so that serving reads how the stored ids were written.
PRIVACY_RECORD_NAME = "privacy.json"


@dataclass(frozen=True)
class PrivacyRecord:
    """Storage form of the ingested user ids: as written, or pseudonymized under a key.

    The record names the environment variable of the key, never the key itself.
    """

    pseudonymized_user_ids: bool = False
    key_env: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def pseudonymize(user_id: str, key: bytes) -> str:
    """Return the HMAC-SHA256 of the UTF-8 user id under `key`, as 64 lowercase hex digits."""
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymize_series(user_ids: pd.Series, key: bytes) -> pd.Series:
    """Return the pseudonym of every id; missing ids stay missing."""
    return user_ids.map(lambda user_id: None if user_id is None else pseudonymize(user_id, key))


def read_pseudonym_key(variable: str) -> bytes:
    """Return the key stored in environment variable `variable` as UTF-8 bytes.

    Raises ConfigurationError when the variable is unset, empty or shorter than MIN_KEY_BYTES.
    """
    value = os.environ.get(variable)
    if not value:
        raise ConfigurationError(
            f"The mapping sets privacy.pseudonymize_user_ids, but the environment variable {variable} "
            f"(privacy.key_env) is unset or empty. Set it to a secret of at least {MIN_KEY_BYTES} bytes, "
            "for example the output of `python -c 'import secrets; print(secrets.token_hex(32))'`, and keep "
            "it: another key gives every user a different pseudonym."
        )
    key = value.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"The environment variable {variable} (privacy.key_env) contains a key of {len(key)} bytes, but "
            f"pseudonymization needs at least {MIN_KEY_BYTES}. Set a longer random secret."
        )
    return key


def privacy_record_path(data_dir: Path) -> Path:
    return Path(data_dir) / PRIVACY_RECORD_NAME


def read_privacy_record(path: Path) -> PrivacyRecord:
    """Read the record written by the ingestion; no file means ids were stored as written."""
    path = Path(path)
    if not path.exists():
        return PrivacyRecord()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        record = PrivacyRecord(**document)
    except (json.JSONDecodeError, TypeError) as error:
        raise ConfigurationError(
            f"The privacy record {path} is invalid ({error}). Run `retention ingest` or `retention demo` again "
            "to rewrite it."
        ) from error
    if record.pseudonymized_user_ids and not record.key_env:
        raise ConfigurationError(f"The privacy record {path} sets pseudonymized_user_ids but names no key_env.")
    return record


def stored_id_function(record: PrivacyRecord) -> Callable[[str], str]:
    """Return the function that turns a requested user id into the id stored in the feature store.

    Raises ConfigurationError when the ids were pseudonymized and the key variable is unset.
    """
    if not record.pseudonymized_user_ids or record.key_env is None:
        return str
    key = read_pseudonym_key(record.key_env)
    return lambda user_id: pseudonymize(user_id, key)
