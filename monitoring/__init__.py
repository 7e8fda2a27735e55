"""Data quality and drift monitoring: Great Expectations suites, quarantine, Evidently reports."""

import os

# Set before any submodule imports Great Expectations, so that no context it creates sends usage
# statistics. An explicit GX_ANALYTICS_ENABLED in the environment wins.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
