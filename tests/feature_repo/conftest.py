from pathlib import Path

import pandas as pd
import pytest

from feature_repo.contract import conform_events, conform_users


def make_events(rows: list[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    """Build contract events from (user_id, ISO time, event_type, amount) tuples."""
    return conform_events(
        pd.DataFrame(
            {
                "user_id": [row[0] for row in rows],
                "event_time": pd.to_datetime([row[1] for row in rows], utc=True),
                "event_type": [row[2] for row in rows],
                "amount": [row[3] for row in rows],
                "category": ["a" if index % 2 else "b" for index in range(len(rows))],
            }
        )
    )


@pytest.fixture()
def history_events(tmp_path: Path) -> Path:
    """Two users over 150 days: u1 buys every 10 days, u2 only at the start and once late."""
    rows = [("u1", f"2024-01-01T12:00:00Z", "purchase", 10.0)]
    start = pd.Timestamp("2024-01-01T12:00:00Z")
    rows = [("u1", (start + pd.Timedelta(days=10 * k)).isoformat(), "purchase", 10.0 + k) for k in range(15)]
    rows += [("u2", (start + pd.Timedelta(days=k)).isoformat(), "purchase", 5.0) for k in range(3)]
    rows += [("u2", "2024-04-20T08:00:00Z", "view", None), ("u2", "2024-05-10T08:00:00Z", "purchase", 7.0)]
    path = tmp_path / "events.parquet"
    make_events(rows).to_parquet(path)
    return path


@pytest.fixture()
def users() -> pd.DataFrame:
    return conform_users(pd.DataFrame({"user_id": ["u1"], "age_band": ["25-34"], "income_band": ["50-74K"]}))
