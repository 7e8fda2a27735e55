"""Dagster resources: the platform settings, chosen by the environment like everything else."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from retention.settings import Settings, load_settings


class SettingsResource(dg.ConfigurableResource):
    """The platform settings; `home` and `sample_users` override the environment for one run."""

    home: str | None = None
    sample_users: int | None = None

    def get(self) -> Settings:
        overrides: dict = {}
        if self.home:
            overrides["home"] = Path(self.home).resolve()
        if self.sample_users:
            overrides["sample_users"] = self.sample_users
        settings = load_settings(**overrides)
        settings.ensure_dirs()
        return settings
