"""An option list that answers the same list keys (j/k/g/G, PgUp/PgDn, Enter) as every
list: the theme picker's."""
from __future__ import annotations

from textual.widgets import OptionList

from tenantops.console.actions import LIST, Dispatch, bindings_for


class PickList(Dispatch, OptionList):
    BINDINGS = bindings_for(LIST)

    def cmd_down(self) -> None:
        self.action_cursor_down()

    def cmd_up(self) -> None:
        self.action_cursor_up()

    def cmd_top(self) -> None:
        self.action_first()

    def cmd_bottom(self) -> None:
        self.action_last()

    def cmd_page_down(self) -> None:
        self.action_page_down()

    def cmd_page_up(self) -> None:
        self.action_page_up()

    def cmd_select(self) -> None:
        self.action_select()
