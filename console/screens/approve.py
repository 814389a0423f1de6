"""Approve an application, with optional notes kept alongside the decision."""
from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, Input, Label, Static

from tenantops.console.screens.base import BaseDialog, show_error
from tenantops.console.widgets.envbanner import EnvBanner

NOTES_LIMIT = 4000


def check_text(value: str, limit: int) -> str | None:
    """The engine's own rules, checked here first so the message sits under the field."""
    if len(value) > limit:
        return f"At most {limit} characters ({len(value)} now)."
    if any(ord(c) < 32 for c in value):
        return "Control characters are not allowed."
    return None


def summary(app: dict[str, Any]) -> str:
    modules = ", ".join(app["modules"]) or "no optional modules"
    return (f"[b]{escape(app['organization'])}[/] ({escape(app['slug'])})\n"
            f"[$text-muted]{escape(app['template'])} · {escape(modules)}[/]")


class ApproveDialog(BaseDialog):
    def __init__(self, app: dict[str, Any]) -> None:
        super().__init__()
        self.application = app

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Approve application"
            yield EnvBanner()
            yield Static(summary(self.application), classes="dialog-summary")
            yield Label("Notes (optional, kept with the decision)")
            yield Input(placeholder="e.g. documents verified", id="notes")
            yield Static("", id="notes-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Approve", variant="success", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#notes", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        notes = self.query_one("#notes", Input).value.strip()
        problem = check_text(notes, NOTES_LIMIT)
        show_error(self.query_one("#notes-error", Static), problem or "")
        if problem is None:
            self.dismiss(notes)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
