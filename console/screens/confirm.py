"""Confirmation for dangerous actions (k9s style). In production the operator types the
target's name: a reflexive Enter must not provision or retry against live tenants.
Destructive changes (dropping a module's tables, a rollback, an aggressive repair) ask
for the typed name in every environment (``typed=True``). The environment banner is
repeated in every confirmation."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, Input, Label, Static

from tenantops.console.screens.base import BaseDialog, show_error
from tenantops.console.widgets.envbanner import EnvBanner


class ConfirmDialog(BaseDialog):
    def __init__(self, title: str, body: str, *, target: str, confirm: str = "Confirm",
                 typed: bool | None = None, wide: bool = False) -> None:
        super().__init__()
        self.title_text, self.body, self.target, self.confirm = title, body, target, confirm
        self._typed = typed
        self.wide = wide

    @property
    def typed(self) -> bool:
        """Typed in production always; elsewhere when the caller asks for it."""
        return bool(self._typed) or bool(self.ctx.settings.production)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger -wide" if self.wide else "dialog -danger") as box:
            box.border_title = self.title_text
            yield EnvBanner()
            yield Static(self.body, classes="dialog-summary", id="confirm-body")
            if self.typed:
                yield Label(f"Type [b]{escape(self.target)}[/] to confirm")
                yield Input(placeholder=self.target, id="typed")
                yield Static("", id="typed-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm, variant="warning", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        if self.typed:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#ok", Button).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        if self.typed:
            value = self.query_one("#typed", Input).value.strip()
            if value != self.target:
                show_error(self.query_one("#typed-error", Static), f"Type the name exactly: {self.target}")
                return
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(False)

    def cmd_cancel(self) -> None:
        self.dismiss(False)
