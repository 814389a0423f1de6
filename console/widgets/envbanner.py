"""The environment line inside confirmation dialogs: in production it is loud."""
from __future__ import annotations

from textual.widgets import Static

from tenantops.console.typed import console_app


class EnvBanner(Static):
    def __init__(self) -> None:
        super().__init__(id="env-banner")

    def on_mount(self) -> None:
        env = console_app(self).ctx.settings.environment
        self.add_class(f"env-{env}")
        if env == "production":
            self.update("⚠ PRODUCTION — this changes live tenants")
        else:
            self.update(f"environment: {env}")
