"""The top line of every screen: where am I, on which landlord, as whom, in which
environment. Production is shown in the warning colour so nobody forgets."""
from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from tenantops.console.typed import console_app

from .format import shorten


def landlord_text(label: str) -> str:
    home = os.path.expanduser("~")
    if home and home != "/" and home in label:
        label = label.replace(home, "~")
    return label


class HeaderBar(Horizontal):
    def __init__(self, title: str) -> None:
        super().__init__(id="header")
        self.title = title

    def compose(self) -> ComposeResult:
        ctx = console_app(self).ctx
        env = ctx.settings.environment
        yield Label(f"tenantops [b]›[/] {self.title}", id="header-title", markup=True)
        yield Label(landlord_text(ctx.landlord_label), id="header-landlord", markup=False)
        yield Label(f"{ctx.operator} · {ctx.role or 'no role'}", id="header-operator", markup=False)
        yield Label(f" {env.upper() if env == 'production' else env} ", id="header-env", classes=f"env-{env}",
                    markup=False)

    def on_resize(self) -> None:
        # the landlord label gives way first: title, operator and environment must stay
        ctx = console_app(self).ctx
        env = ctx.settings.environment
        fixed = len(f"tenantops › {self.title}") + len(f"{ctx.operator} · {ctx.role or 'no role'}") + len(env) + 8
        room = self.size.width - fixed
        label = self.query_one("#header-landlord", Label)
        label.display = room >= 12
        label.update(shorten(landlord_text(ctx.landlord_label), max(12, room)))
