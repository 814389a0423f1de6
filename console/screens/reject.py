"""Reject an application. Final, so a reason is required: the applicant reads it."""
from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tenantops.console.screens.approve import check_text, summary
from tenantops.console.screens.base import BaseDialog, show_error
from tenantops.console.widgets.envbanner import EnvBanner

REASON_LIMIT = 4000


class RejectDialog(BaseDialog):
    def __init__(self, app: dict[str, Any]) -> None:
        super().__init__()
        self.application = app

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger") as box:
            box.border_title = "Reject application"
            yield EnvBanner()
            yield Static(summary(self.application), classes="dialog-summary")
            yield Label("Reason (required; the applicant reads it; rejection is final)")
            yield Input(placeholder="e.g. duplicate of an existing organisation", id="reason")
            yield Static("", id="reason-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Reject", variant="error", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        problem = "A reason is required." if not reason else check_text(reason, REASON_LIMIT)
        show_error(self.query_one("#reason-error", Static), problem or "")
        if problem is None:
            self.dismiss(reason)
        else:
            self.query_one("#reason", Input).focus()

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
