"""The [serving] settings: their checks and the risk tiers they define."""

import pytest

from retention.errors import ConfigurationError
from retention.settings import ServingSettings
from serving.predictor import risk_tier

SETTINGS = ServingSettings(risk_tier_cut_points=(0.3, 0.6), risk_tier_names=("high", "medium", "low"))


@pytest.mark.parametrize(
    "probability, tier",
    [(0.0, "high"), (0.29, "high"), (0.3, "medium"), (0.59, "medium"), (0.6, "low"), (1.0, "low")],
)
def test_risk_tier_cut_points(probability, tier):
    assert risk_tier(probability, SETTINGS) == tier


def test_missing_probability_has_no_tier():
    assert risk_tier(None, SETTINGS) is None


def test_unsorted_cut_points_rejected():
    with pytest.raises(ConfigurationError, match="increasing"):
        ServingSettings(risk_tier_cut_points=(0.6, 0.3))


def test_cut_point_outside_range_rejected():
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        ServingSettings(risk_tier_cut_points=(0.5, 1.5), risk_tier_names=("a", "b", "c"))


def test_tier_name_count_checked():
    with pytest.raises(ConfigurationError, match="one more name than cut points"):
        ServingSettings(risk_tier_names=("high", "low"))


def test_zero_request_limit_rejected():
    with pytest.raises(ConfigurationError, match="max_users_per_request"):
        ServingSettings(max_users_per_request=0)
