"""The BG/NBD baseline: PyMC-Marketing's BetaGeoModel, fitted by maximum a posteriori.

BG/NBD (Fader, Hardie and Lee, 2005) describes each customer by the number of repeat
purchases x, the time t_x from the first to the last purchase and the time T from the first
purchase to the end of observation. Here they come from the feature row of a snapshot,
with the 90-day feature window as the observation period:

    x   = frequency_90d - 1                        repeat purchase visits in the window
    t_x = mean_interpurchase_days_90d * x          first to last purchase in the window
    T   = t_x + recency_days                       first purchase in the window to the snapshot

The features give these exactly within the window, but the history before it is cut off,
so a long-standing customer looks like one who started buying 90 days ago at most. The
score is the model's probability of at least one purchase in (snapshot, snapshot +
horizon], which is what the label measures, rather than the probability of being alive.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from feature_repo.feature_columns import LABEL_COLUMN, SNAPSHOT_COLUMN
from retention.errors import PipelineError
from retention.settings import Settings
from training.candidates import register_candidate

logger = logging.getLogger(__name__)

# Feature window of frequency_90d and mean_interpurchase_days_90d, in days.
OBSERVATION_DAYS = 90.0


def bgnbd_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Return customer_id (the row position), frequency, recency and T in days for BetaGeoModel."""
    visits = pd.to_numeric(frame["frequency_90d"]).astype("float64").fillna(0.0).clip(lower=0.0).to_numpy()
    interval = pd.to_numeric(frame["mean_interpurchase_days_90d"]).astype("float64").fillna(0.0).to_numpy()
    days_since_last = pd.to_numeric(frame["recency_days"]).astype("float64").fillna(OBSERVATION_DAYS).to_numpy()

    repeats = np.maximum(visits - 1.0, 0.0)
    first_to_last = np.where(repeats > 0, interval * repeats, 0.0)
    observed = first_to_last + np.clip(days_since_last, 0.0, None)
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(frame)),
            "frequency": repeats,
            "recency": first_to_last,
            # BetaGeoModel needs T > 0; a purchase in the last second before the snapshot gives T = 0.
            "T": np.maximum(observed, 1e-3),
        }
    )


@register_candidate("bg_nbd")
class BetaGeoCandidate:
    """BG/NBD probability of at least one purchase within the horizon.

    It is fitted on the rows of the last train snapshot, one per user, because the model
    treats rows as independent customers. It ignores the validation window.
    """

    name = "bg_nbd"
    # MAP from the model's default start ignores the seed, so the benchmark fits it once per origin.
    deterministic = True

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, settings: Settings, seed: int) -> None:
        # Imported here because PyMC takes seconds to import and compiles its model on first use.
        from pymc_marketing.clv import BetaGeoModel

        latest = train[train[SNAPSHOT_COLUMN] == train[SNAPSHOT_COLUMN].max()]
        self.horizon_days = settings.retention.horizon_days
        self.model = BetaGeoModel()
        with warnings.catch_warnings():
            # PyTensor warns that pip installs lack a BLAS to link; this model has no matrix products to speed up.
            warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
            self.model.fit(bgnbd_inputs(latest), method="map", progressbar=False, seed=seed)
        parameters = {name: float(self.model.fit_result[name].values.ravel()[0]) for name in ("r", "alpha", "a", "b")}
        logger.info(
            "Fitted BG/NBD on %d users of snapshot %s (positive rate %.3f): %s",
            len(latest),
            latest[SNAPSHOT_COLUMN].max(),
            latest[LABEL_COLUMN].mean(),
            ", ".join(f"{name} {value:.4g}" for name, value in parameters.items()),
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        no_purchase = self.model.expected_probability_no_purchase(t=self.horizon_days, data=bgnbd_inputs(frame))
        probabilities = 1.0 - np.asarray(no_purchase.values, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(probabilities)):
            raise PipelineError(
                f"BG/NBD returned {int(np.sum(~np.isfinite(probabilities)))} non-finite probabilities for "
                f"{len(frame)} rows. Check frequency_90d, recency_days and mean_interpurchase_days_90d for "
                "extreme values."
            )
        return np.clip(probabilities, 0.0, 1.0)
