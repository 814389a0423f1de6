"""The top line of every screen: where am I (a breadcrumb: section › tenant › drill-down),
on which landlord, as whom, in which environment. Production is shown in the warning
colour so nobody forgets."""
from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.markup import escape
from textual.widgets import Label

from tenantops.console.typed import console_app

from .format import shorten

SEPARATOR = " › "


def landlord_text(label: str) -> str:
    home = os.path.expanduser("~")
    if home and home != "/" and home in label:
        label = label.replace(home, "~")
    return label


def fit_crumbs(crumbs: list[str], room: int) -> list[str]:
    """The breadcrumb within ``room`` cells: the last crumb (where you are) always stays,
    leading ones give way to ``…`` first."""
    shown = list(crumbs)
    while len(shown) > 1 and len(SEPARATOR.join(shown)) > room:
        shown = ["…", *shown[2:]] if shown[0] == "…" else ["…", *shown[1:]]
        if shown[0] == "…" and len(shown) == 2 and len(SEPARATOR.join(shown)) > room:
            shown = shown[1:]
    return shown


class HeaderBar(Horizontal):
    def __init__(self, title: str) -> None:
        super().__init__(id="header")
        self.title = title
        self.crumbs: list[str] = [title]

    def compose(self) -> ComposeResult:
        ctx = console_app(self).ctx
        env = ctx.settings.environment
        yield Label(self._title_markup(self.crumbs), id="header-title", markup=True)
        yield Label(landlord_text(ctx.landlord_label), id="header-landlord", markup=False)
        yield Label(f"{ctx.operator} · {ctx.role or 'no role'}", id="header-operator", markup=False)
        yield Label(f" {env.upper() if env == 'production' else env} ", id="header-env", classes=f"env-{env}",
                    markup=False)

    @staticmethod
    def _title_markup(crumbs: list[str]) -> str:
        *before, here = crumbs
        trail = "".join(f"{escape(c)} [b]›[/] " for c in before)
        return f"tenantops [b]›[/] [not b]{trail}[/]{escape(here)}"

    def set_crumbs(self, crumbs: list[str]) -> None:
        if crumbs != self.crumbs:
            self.crumbs = crumbs
            self._layout()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        # the landlord label gives way first, then the breadcrumb's leading crumbs:
        # where you are, operator and environment must stay
        if not self.is_mounted or not self.size.width:
            return
        ctx = console_app(self).ctx
        env = ctx.settings.environment
        operator = len(f"{ctx.operator} · {ctx.role or 'no role'}") + len(env) + 6
        title_room = self.size.width - operator - len("tenantops › ") - 2
        crumbs = fit_crumbs(self.crumbs, max(8, title_room))
        title = self.query_one("#header-title", Label)
        title.update(self._title_markup(crumbs))
        room = self.size.width - operator - len("tenantops › ") - len(SEPARATOR.join(crumbs)) - 2
        label = self.query_one("#header-landlord", Label)
        label.display = room >= 12
        label.update(shorten(landlord_text(ctx.landlord_label), max(12, room)))
