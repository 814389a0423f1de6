"""A focusable scrolling pane that answers the same list keys (j/k/g/G) as every list."""
from __future__ import annotations

from textual.containers import VerticalScroll

from tenantops.console.actions import LIST, Dispatch, bindings_for


class ScrollPane(Dispatch, VerticalScroll, can_focus=True):
    BINDINGS = bindings_for(LIST)

    def cmd_down(self) -> None:
        self.scroll_down(animate=False)

    def cmd_up(self) -> None:
        self.scroll_up(animate=False)

    def cmd_top(self) -> None:
        self.scroll_home(animate=False)

    def cmd_bottom(self) -> None:
        self.scroll_end(animate=False)

    def cmd_page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def cmd_page_up(self) -> None:
        self.scroll_page_up(animate=False)

    def cmd_select(self) -> None:
        """Nothing to open in a text pane: Enter is harmless here."""
