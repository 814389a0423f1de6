"""Accept one drift difference for a while: a reason (kept in the audit log) and an
expiry date; the engine refuses dates in the past or more than a year ahead."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, Input, Label, Static

from tenantops.console.screens.approve import check_text
from tenantops.console.screens.base import BaseDialog, show_error
from tenantops.console.widgets.envbanner import EnvBanner

DEFAULT_DAYS = 30
REASON_LIMIT = 500


def describe(diff: dict[str, Any]) -> str:
    where = diff["table"] if diff["object"] == "table" else f"{diff['table']}.{diff['name']}" if diff["table"] \
        else diff["name"]
    attribute = f" {diff['attribute']}" if diff.get("attribute") else ""
    return f"{diff['change']} {diff['object']} {where}{attribute}"


class AcceptDialog(BaseDialog):
    def __init__(self, slug: str, diff: dict[str, Any], today: datetime) -> None:
        super().__init__()
        self.slug, self.diff = slug, diff
        self.default_expiry = (today.date() + timedelta(days=DEFAULT_DAYS)).isoformat()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Accept a difference"
            yield EnvBanner()
            unit = self.diff.get("unit") or "no owner"
            yield Static(f"[b]{escape(self.slug)}[/]: {escape(describe(self.diff))}\n"
                         f"[$text-muted]owner {escape(unit)} · it stops counting towards the severity until the "
                         "expiry; it stays visible[/]", classes="dialog-summary")
            yield Label("Reason (kept in the audit log)")
            yield Input(placeholder="e.g. hot fix for slow search, ticket 42", id="reason")
            yield Static("", id="reason-error", classes="field-error")
            yield Label("Expires on (YYYY-MM-DD, at most a year ahead)")
            yield Input(value=self.default_expiry, id="expires")
            yield Static("", id="expires-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Accept", variant="warning", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        expires = self.query_one("#expires", Input).value.strip()
        reason_problem = "A reason is required." if not reason else check_text(reason, REASON_LIMIT)
        expires_problem = None
        try:
            date.fromisoformat(expires)
        except ValueError:
            expires_problem = "A date like 2025-12-31."
        show_error(self.query_one("#reason-error", Static), reason_problem)
        show_error(self.query_one("#expires-error", Static), expires_problem)
        if reason_problem is None and expires_problem is None:
            self.dismiss({"reason": reason, "expires": expires})

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)
