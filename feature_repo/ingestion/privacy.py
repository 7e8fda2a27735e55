"""Pseudonymization of user ids with a keyed hash, shared by ingestion and serving.

The same key always gives the same pseudonym, so events, user attributes and prediction
requests of one user still join. Without the key, a pseudonym cannot be recomputed from an id
or reversed.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import pandas as pd

from retention.errors import ConfigurationError

# HMAC-SHA256 keys shorter than this are easy to guess, and user ids themselves are guessable.
MIN_KEY_BYTES = 16


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
