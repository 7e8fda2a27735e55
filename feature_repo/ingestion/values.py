"""Parsing of source text into contract values: missing values, numbers and timestamps.

The functions take pandas Series of Python strings, with None for a missing value, and return
the parsed values with one boolean mask per kind of failure, so that the converter can
quarantine each row with its own reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feature_repo.ingestion.mapping import TimestampRules

# A time of day followed by a zone designator: Z, UTC, GMT or a numeric offset (RE2 syntax).
_EXPLICIT_ZONE = r"(?i)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
# pandas parses these words as the current date or time, which is never what a log means.
_RELATIVE_WORDS = ("now", "today", "tomorrow", "yesterday")
# The per-value fallback parser (dateutil) reads almost anything that has a digit, such as "3" as
# the 3rd of this month. So it only gets values with at least two groups of digits.
_TWO_DIGIT_GROUPS = r"\d+\D+\d+"


def clean_text(values: pd.Series, null_markers: tuple[str, ...]) -> pd.Series:
    """Return the values stripped of surrounding whitespace, with None for empty values and null markers."""
    # Arrow's string kernels run in C++, several times faster than a Python loop over the values.
    stripped = pc.utf8_trim_whitespace(_arrow_strings(values))
    missing = pc.or_kleene(
        pc.is_null(stripped), pc.is_in(stripped, value_set=pa.array(["", *null_markers], pa.string()))
    )
    cleaned = pc.if_else(missing, pa.scalar(None, pa.string()), stripped)
    return pd.Series(cleaned.to_numpy(zero_copy_only=False), index=values.index, dtype=object)


@dataclass(frozen=True)
class ParsedNumbers:
    """Numbers parsed from text; NaN wherever a mask is set."""

    values: np.ndarray
    missing: np.ndarray
    # Text that is not a number in the configured format, such as "abc" or "1.5" with a decimal comma.
    invalid: np.ndarray
    # NaN or infinity, written as such or overflowing float64, such as "1e309".
    non_finite: np.ndarray


def parse_numbers(text: pd.Series, decimal: str = ".", thousands: str | None = None) -> ParsedNumbers:
    """Parse numbers written with the given decimal mark and optional digit-group separator."""
    missing = text.isna().to_numpy()
    normalized = text.astype(object)
    invalid = np.zeros(len(text), dtype=bool)
    if thousands is not None:
        normalized = normalized.str.replace(thousands, "", regex=False)
    if decimal == ",":
        # With a decimal comma, a point can only be a digit-group separator that the mapping does
        # not declare, and reading "1.234" as 1.234 would be off by a factor of 1000.
        invalid |= normalized.str.contains(".", regex=False, na=False).to_numpy(dtype=bool)
        normalized = normalized.str.replace(",", ".", regex=False)

    values = pd.to_numeric(normalized, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    retry = np.flatnonzero(np.isnan(values) & ~missing & ~invalid)
    # to_numeric rejects "NaN" spellings it does not know and overflowing values such as "1e309".
    # float() reads those, and also underscores, which are rejected because no number format here has them.
    for position in retry:
        candidate = normalized.iat[position]
        try:
            if "_" in candidate:
                raise ValueError(candidate)
            values[position] = float(candidate)
        except ValueError:
            invalid[position] = True

    values[invalid] = np.nan
    non_finite = ~np.isfinite(values) & ~missing & ~invalid
    values[non_finite] = np.nan
    return ParsedNumbers(values=values, missing=missing, invalid=invalid, non_finite=non_finite)


def number_from_json(values: pd.Series, decimal: str = ".", thousands: str | None = None) -> ParsedNumbers:
    """Parse values taken from JSON objects: JSON numbers as they are, strings in the source's number format."""
    is_json_number = values.map(lambda value: isinstance(value, (int, float)) and not isinstance(value, bool))
    is_json_number = is_json_number.to_numpy(dtype=bool)
    text = values.map(_json_value_as_text)
    parsed = parse_numbers(text.where(~is_json_number, None), decimal, thousands)

    numbers = values[is_json_number].astype(np.float64).to_numpy()
    result = parsed.values.copy()
    result[is_json_number] = np.where(np.isfinite(numbers), numbers, np.nan)
    non_finite = parsed.non_finite.copy()
    non_finite[is_json_number] = ~np.isfinite(numbers)
    return ParsedNumbers(
        values=result,
        missing=parsed.missing & ~is_json_number,
        invalid=parsed.invalid & ~is_json_number,
        non_finite=non_finite,
    )


def _json_value_as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    # true, false, lists and objects are never numbers; their JSON text reaches the reason.
    return str(value)


@dataclass(frozen=True)
class ParsedTimes:
    """Timestamps parsed from text and converted to UTC; NaT wherever a mask is set."""

    values: pd.Series
    missing: np.ndarray
    invalid: np.ndarray
    # Local times that fall into a daylight saving change and the mapping quarantines.
    invalid_local_time: np.ndarray


def parse_timestamps(text: pd.Series, rules: TimestampRules) -> ParsedTimes:
    """Parse timestamps by the mapping's rules and convert them to UTC.

    Values with Z, UTC, GMT or a numeric offset keep their own zone, so one column may mix
    zones. Values without one are wall-clock times in `rules.time_zone`.
    """
    text = text.astype(object).reset_index(drop=True)
    missing = text.isna().to_numpy()
    relative = ~missing & matches(text, _RELATIVE_WORDS, lowercase=True)
    candidates = ~missing & ~relative

    if rules.format is not None:
        explicit = np.full(len(text), "%z" in rules.format or "%Z" in rules.format)
    else:
        explicit = matches(text, _EXPLICIT_ZONE)
    aware_positions = np.flatnonzero(candidates & explicit)
    naive_positions = np.flatnonzero(candidates & ~explicit)

    aware = _parse(text.iloc[aware_positions], rules, utc=True)
    naive = _parse(text.iloc[naive_positions], rules, utc=False)
    localized = _localize(naive, rules)

    # UTC instants as tz-naive datetime64, assembled by position.
    instants = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    instants[aware_positions] = aware.dt.tz_localize(None).to_numpy()
    instants[naive_positions] = localized.dt.tz_localize(None).to_numpy()
    values = pd.Series(pd.DatetimeIndex(instants).tz_localize("UTC"))

    invalid_local_time = np.zeros(len(text), dtype=bool)
    invalid_local_time[naive_positions] = (naive.notna() & localized.isna()).to_numpy()
    invalid = values.isna().to_numpy() & ~missing & ~invalid_local_time
    return ParsedTimes(values=values, missing=missing, invalid=invalid, invalid_local_time=invalid_local_time)


def _arrow_strings(text: pd.Series) -> pa.Array:
    return pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def starts_with(text: pd.Series, prefix: str) -> np.ndarray:
    """Return which values start with `prefix`; missing values do not."""
    return pc.starts_with(_arrow_strings(text), pattern=prefix).fill_null(False).to_numpy(zero_copy_only=False)


def matches(text: pd.Series, pattern: str | tuple[str, ...], lowercase: bool = False) -> np.ndarray:
    """Return which values match a regular expression (RE2 syntax) or equal one of the given words."""
    array = _arrow_strings(text)
    if lowercase:
        array = pc.utf8_lower(array)
    if isinstance(pattern, tuple):
        found = pc.is_in(array, value_set=pa.array(pattern, pa.string()))
    else:
        found = pc.match_substring_regex(array, pattern)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _parse(values: pd.Series, rules: TimestampRules, utc: bool) -> pd.Series:
    if rules.format is not None:
        return pd.to_datetime(values, format=rules.format, errors="coerce", utc=utc)

    result = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=utc)
    failed = result.isna().to_numpy()
    if failed.any():
        failed[failed] = matches(values[failed], _TWO_DIGIT_GROUPS)
    if failed.any():
        with warnings.catch_warnings():
            # pandas warns when it cannot infer one format and falls back to parsing each value.
            warnings.simplefilter("ignore", UserWarning)
            # Without a format, pandas infers one from the first value and applies it to all.
            result[failed] = pd.to_datetime(values[failed], dayfirst=rules.day_first, errors="coerce", utc=utc)
            failed &= result.isna().to_numpy()
            if failed.any():
                result[failed] = pd.to_datetime(
                    values[failed], format="mixed", dayfirst=rules.day_first, errors="coerce", utc=utc
                )
    return result


def _localize(naive: pd.Series, rules: TimestampRules) -> pd.Series:
    if naive.empty:
        return naive.dt.tz_localize("UTC")
    if rules.ambiguous == "quarantine":
        ambiguous: Any = "NaT"
    else:
        # True selects the daylight saving reading, which is the earlier of the two instants.
        ambiguous = np.full(len(naive), rules.ambiguous == "earliest")
    nonexistent = "NaT" if rules.nonexistent == "quarantine" else "shift_forward"
    localized = naive.dt.tz_localize(rules.time_zone, ambiguous=ambiguous, nonexistent=nonexistent)
    return localized.dt.tz_convert("UTC")
