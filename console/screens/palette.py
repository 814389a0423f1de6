"""The command palette (ctrl+p): Textual's, made safe against fast fingers.

- Textual's palette selects a command after a short delay (visual feedback) and then
  dismisses itself; an Esc pressed in between has already closed it, and the late
  ``dismiss`` would pop whatever screen is on top now (or fail on a one-screen stack).
- PgUp/PgDn on an empty list raise KeyError inside Textual's OptionList.
- A search still running when the palette closes fails to find its list.

Each of these killed the whole console (the monkey test found them); here they are no-ops.
"""
from __future__ import annotations

from typing import Any

from textual import work
from textual.await_complete import AwaitComplete
from textual.command import CommandList, CommandPalette
from textual.css.query import NoMatches


class Palette(CommandPalette):
    def dismiss(self, result: Any = None) -> AwaitComplete:
        if not self.is_current:
            return AwaitComplete.nothing()
        return super().dismiss(result)

    def _action_command_list(self, action: str) -> None:
        lists = self.query(CommandList)
        if not lists or lists.first().option_count == 0:
            return
        try:
            super()._action_command_list(action)
        except KeyError:
            pass  # PgUp/PgDn before the list's first layout: Textual has no line index yet

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP)
    async def _gather_commands(self, search_value: str) -> None:
        try:
            await CommandPalette._gather_commands.__wrapped__(self, search_value)  # type: ignore[attr-defined]
        except NoMatches:
            if self.is_attached and self.is_current:
                raise  # not the palette closing under the search: a real error
