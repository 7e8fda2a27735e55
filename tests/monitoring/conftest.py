import os

# Before any test module imports Great Expectations.
os.environ["GX_ANALYTICS_ENABLED"] = "false"
