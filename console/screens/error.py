"""An unexpected error, shown instead of a dead app: what went wrong in one line, where
the full traceback was written, and the way back (the previous screen; or, when the
screen itself failed, its section opened afresh — a Textual widget stops handling
messages after an exception in one of its handlers)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from tenantops.console.screens.base import BaseDialog


class ErrorScreen(BaseDialog):
    def __init__(self, message: str, log_path: str, where: str) -> None:
        super().__init__()
        self.message, self.log_path, self.where = message, log_path, where

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger -wide", id="error-box") as box:
            box.border_title = "Something went wrong"
            yield Static(escape(self.message), classes="dialog-summary", id="error-message")
            yield Static(f"The details are in [b]{escape(self.log_path)}[/]", id="error-log")
            yield Static(f"[b]esc[/] back to {escape(self.where)} · [b]^q[/] quit",
                         classes="dialog-hint", id="error-hint")

    def on_key(self, event: object) -> None:
        # any key but the quit key goes back: nothing here needs typing
        key = getattr(event, "key", "")
        if key in ("enter", "q", "space"):
            self.dismiss(None)
