"""The cohort retention chart of the stewards' index page.

Users are grouped by the month of their first event (snapshot time minus tenure). For every
week with realized labels, the chart shows the share of each cohort's scored users who came
back within the horizon, next to the rate and the mean predicted probability of all scored users.
Cohorts of the first months also hold users whose history began before the data does.
"""

from __future__ import annotations

import base64
import io

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from feature_repo.feature_columns import LABEL_COLUMN, SNAPSHOT_COLUMN

# Cohorts with fewer labelled users in a week are left out of that week's point, because their
# rate would be mostly noise.
MIN_COHORT_USERS = 20
MAX_COHORTS = 6


def cohort_retention(scored: pd.DataFrame) -> pd.DataFrame:
    """Return the realized retention rate per (week, cohort month) of labelled predictions, in long form."""
    if LABEL_COLUMN not in scored.columns:
        return pd.DataFrame(columns=["week", "cohort", "users", "retention_rate"])
    labelled = scored.dropna(subset=[LABEL_COLUMN])
    if labelled.empty:
        return pd.DataFrame(columns=["week", "cohort", "users", "retention_rate"])
    first_seen = pd.to_datetime(labelled[SNAPSHOT_COLUMN], utc=True) - pd.to_timedelta(labelled["tenure_days"], unit="D")
    frame = pd.DataFrame(
        {
            "week": labelled["week"].astype(str),
            "cohort": first_seen.dt.strftime("%Y-%m"),
            LABEL_COLUMN: labelled[LABEL_COLUMN].astype(float),
        }
    )
    grouped = frame.groupby(["week", "cohort"])[LABEL_COLUMN].agg(users="size", retention_rate="mean").reset_index()
    return grouped[grouped["users"] >= MIN_COHORT_USERS].reset_index(drop=True)


def cohort_chart_png(scored: pd.DataFrame) -> bytes | None:
    """Draw the chart as PNG bytes, or return None when no week has realized labels yet."""
    if LABEL_COLUMN not in scored.columns or scored[LABEL_COLUMN].isna().all():
        return None
    rates = cohort_retention(scored)
    largest = rates.groupby("cohort")["users"].sum().nlargest(MAX_COHORTS).index
    figure = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for cohort in sorted(largest):
        series = rates[rates["cohort"] == cohort].sort_values("week")
        axes.plot(pd.to_datetime(series["week"]), series["retention_rate"], marker="o", label=f"first event {cohort}")

    overall = scored.dropna(subset=[LABEL_COLUMN]).groupby("week")[LABEL_COLUMN].mean().sort_index()
    axes.plot(pd.to_datetime(overall.index), overall.values, color="black", linewidth=2, label="all users")
    predicted = scored.groupby("week")["prediction"].mean().sort_index()
    axes.plot(pd.to_datetime(predicted.index), predicted.values, linestyle="--", color="black", label="mean prediction, all users")
    axes.set_ylim(0, 1)
    axes.set_xlabel("Week of the snapshot")
    axes.set_ylabel("Came back within the horizon")
    axes.set_title("Realized retention by cohort (month of the first event in the data)")
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
