"""The key bar at the bottom of every screen, generated from the action registry.

Replaces Textual's Footer so that an action above the operator's role can be shown
disabled *with the role it needs*, and so that `? Help` never scrolls out of sight at
80 columns: the screen's own actions give way first.
"""
from __future__ import annotations

from textual.content import Content
from textual.markup import escape
from textual.widget import Widget

from tenantops.console.actions import GLOBAL, Action, for_scope
from tenantops.console.typed import console_app


class KeyBar(Widget):
    def __init__(self, scope: str | None) -> None:
        super().__init__(id="keybar")
        self.scope = scope

    def _items(self) -> tuple[list[Action], list[Action]]:
        own = [a for a in for_scope(self.scope) if a.footer] if self.scope else []
        common = [a for a in for_scope(GLOBAL) if a.footer]
        return own, common

    def _piece(self, action: Action) -> str:
        ctx = console_app(self).ctx
        key = escape(action.key_display)
        if ctx.can(action.role):
            return f"[b $accent] {key} [/][$foreground]{escape(action.description)}[/]"
        return f"[$text-disabled] {key} [s]{escape(action.description)}[/s]·{action.role}[/]"

    def render(self) -> Content:
        own, common = self._items()
        width = self.size.width or 80
        pieces = [self._piece(a) for a in own]
        tail = [self._piece(a) for a in common]
        while pieces:
            content = Content.from_markup(" ".join(pieces + tail))
            if content.cell_length <= width:
                return content
            pieces.pop()
        return Content.from_markup(" ".join(tail))
