"""The `/` filter line under a list: filters as you type, Enter keeps it, Esc clears it."""
from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    class Filtered(Message):
        def __init__(self, text: str, done: bool) -> None:
            super().__init__()
            self.text, self.done = text, done

    def __init__(self, id: str = "filter", placeholder: str = "filter: type to narrow, Enter keeps, Esc clears") -> None:
        super().__init__(placeholder=placeholder, id=id)

    def open(self) -> None:
        self.add_class("-open")
        # focused now, not after the next refresh (Widget.focus): keys typed right after
        # the `/` belong to the filter
        self.screen.set_focus(self)

    def close(self, clear: bool) -> None:
        if clear:
            self.value = ""
        if not self.value:
            self.remove_class("-open")
        self.post_message(self.Filtered(self.value, done=True))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Filtered(event.value, done=False))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close(clear=False)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self.close(clear=True)
            return
        await super()._on_key(event)
