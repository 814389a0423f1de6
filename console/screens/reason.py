"""A dangerous action that needs a reason in words (rejecting an application, suspending
a tenant): the reason is required, checked, and returned; Cancel returns None."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tenantops.console.screens.approve import check_text
from tenantops.console.screens.base import BaseDialog, show_error
from tenantops.console.widgets.envbanner import EnvBanner


class ReasonDialog(BaseDialog):
    def __init__(self, title: str, summary: str, *, label: str, placeholder: str, confirm: str,
                 limit: int) -> None:
        super().__init__()
        self.title_text, self.summary, self.label, self.placeholder = title, summary, label, placeholder
        self.confirm, self.limit = confirm, limit

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger") as box:
            box.border_title = self.title_text
            yield EnvBanner()
            yield Static(self.summary, classes="dialog-summary")
            yield Label(self.label)
            yield Input(placeholder=self.placeholder, id="reason")
            yield Static("", id="reason-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm, variant="error", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        problem = "A reason is required." if not reason else check_text(reason, self.limit)
        show_error(self.query_one("#reason-error", Static), problem or "")
        if problem is None:
            self.dismiss(reason)
        else:
            self.query_one("#reason", Input).focus()

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
