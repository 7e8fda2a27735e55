"""A synthetic event history long enough for features, labels and the time split.

The ingestion cases hold a few events over a few days, but the first snapshot needs 90 days of
history and training needs about 20 weekly snapshots. Tests write this history next to a case
file and ingest both, so that the case's rows go through every stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

HISTORY_START = pd.Timestamp("2023-09-01T00:00:00Z")
HISTORY_END = pd.Timestamp("2024-05-31T00:00:00Z")


def write_history(path: Path, users: int = 60, extra_user_ids: Sequence[str] = (), seed: int = 3) -> pd.DataFrame:
    """Write purchases and views of random users as a contract-named CSV file and return its rows.

    Each user buys at a random rate, and about 40% stop at a random day, so that both labels occur.
    The extra users stay active to the end, so that they have features at the last snapshot. Every
    timestamp carries "Z", so a mapping's time zone for naive times does not change them.
    """
    rng = np.random.default_rng(seed)
    days = (HISTORY_END - HISTORY_START).days
    rows = []
    for user_id in [f"s{number:03d}" for number in range(users)] + list(extra_user_ids):
        rate = rng.uniform(0.03, 0.35)
        stays = user_id in extra_user_ids or rng.random() < 0.6
        last_day = days if stays else rng.integers(days // 3, days)
        day = rng.exponential(1 / rate)
        while day < last_day:
            event_type = "purchase" if rng.random() < 0.7 else "view"
            amount = f"{rng.uniform(2, 80):.2f}" if event_type == "purchase" else ""
            event_time = HISTORY_START + pd.Timedelta(days=float(day))
            rows.append((user_id, event_time.strftime("%Y-%m-%dT%H:%M:%SZ"), event_type, amount))
            day += rng.exponential(1 / rate)
    frame = pd.DataFrame(rows, columns=["user_id", "event_time", "event_type", "amount"])
    frame.to_csv(path, index=False)
    return frame
