import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from feature_repo.feature_columns import LABEL_COLUMN
from training.baselines import LightGBMCandidate, MLPCandidate, RecencyCandidate
from training.bgnbd import BetaGeoCandidate, bgnbd_inputs
from training.candidates import CANDIDATES
from training.splits import split_by_time

from .conftest import make_training_set

BASELINE_NAMES = {"recency", "logistic_regression", "lightgbm", "bg_nbd", "mlp"}


@pytest.fixture(scope="module")
def splits(make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("baselines"))
    return split_by_time(make_training_set(users=150, snapshots=20, seed=3), settings)


def _fit(candidate, splits, settings, seed=1):
    candidate.fit(splits.train, splits.validation, settings, seed)
    return candidate.predict_proba(splits.test)


def test_baselines_are_registered():
    assert BASELINE_NAMES <= set(CANDIDATES)


@pytest.mark.parametrize("name", sorted(BASELINE_NAMES - {"bg_nbd"}))
def test_candidate_beats_chance_on_test(name, splits, settings):
    probabilities = _fit(CANDIDATES[name](), splits, settings)

    assert probabilities.shape == (len(splits.test),)
    assert np.all((probabilities >= 0.0) & (probabilities <= 1.0))
    assert roc_auc_score(splits.test[LABEL_COLUMN], probabilities) > 0.65


def test_recency_ranks_like_negative_recency(splits, settings):
    probabilities = _fit(RecencyCandidate(), splits, settings)

    recency = splits.test["recency_days"].fillna(splits.train["recency_days"].max())
    assert spearmanr(probabilities, -recency).statistic == pytest.approx(1.0)


def test_lightgbm_takes_tree_parameters(splits, settings):
    candidate = LightGBMCandidate(tree_parameters={"num_leaves": 5})
    _fit(candidate, splits, settings)

    assert candidate.parameters["num_leaves"] == 5


def test_mlp_takes_training_overrides(splits, settings):
    candidate = MLPCandidate(training_overrides={"hidden_units": (8,), "max_epochs": 2})
    _fit(candidate, splits, settings)

    assert candidate.model.hidden_units == (8,)
    assert len(candidate.history.train_loss) <= 2


def test_bgnbd_inputs_follow_feature_definitions():
    frame = pd.DataFrame(
        {"frequency_90d": [4.0, 1.0, np.nan], "mean_interpurchase_days_90d": [10.0, 90.0, np.nan], "recency_days": [5.0, 30.0, np.nan]}
    )

    inputs = bgnbd_inputs(frame)

    assert inputs["frequency"].tolist() == [3.0, 0.0, 0.0]
    assert inputs["recency"].tolist() == [30.0, 0.0, 0.0]
    assert inputs["T"].tolist() == [35.0, 30.0, 90.0]
    assert inputs["customer_id"].is_unique


def test_bgnbd_scores_horizon_purchase_probability(splits, settings):
    """BG/NBD fits by MAP; the first fit on a machine compiles PyTensor code and takes up to a minute."""
    probabilities = _fit(BetaGeoCandidate(), splits, settings)

    assert np.all((probabilities > 0.0) & (probabilities < 1.0))
    assert roc_auc_score(splits.test[LABEL_COLUMN], probabilities) > 0.6
