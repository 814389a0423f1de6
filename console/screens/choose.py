"""Pick one row from a short list (a module to remove, a batch to roll back to).
Enter picks; rows that cannot be picked say why and stay where they are."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tenantops.console.screens.base import BaseDialog
from tenantops.console.widgets.envbanner import EnvBanner
from tenantops.console.widgets.rowlist import Column, Row, RowList


class ChoiceDialog(BaseDialog):
    """``Row.data`` may hold ``{"refuse": "why"}``: that row is shown but not chosen."""

    def __init__(self, title: str, intro: str, columns: Sequence[Column], rows: Sequence[Row]) -> None:
        super().__init__()
        self.title_text, self.intro = title, intro
        self.columns, self.rows = list(columns), list(rows)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide") as box:
            box.border_title = self.title_text
            yield EnvBanner()
            yield Static(self.intro, classes="dialog-summary")
            yield RowList(self.columns, empty="nothing to choose", id="choices")
            yield Static("", id="choice-note", classes="field-error")
            yield Static("[$text-muted]Enter chooses · Esc cancels[/]", classes="dialog-hint")

    def on_mount(self) -> None:
        choices = self.query_one("#choices", RowList)
        choices.set_rows(self.rows)
        choices.focus()

    @on(RowList.Selected, "#choices")
    def chosen(self, event: RowList.Selected) -> None:
        refuse = (event.row.data or {}).get("refuse") if isinstance(event.row.data, dict) else None
        note = self.query_one("#choice-note", Static)
        if refuse:
            note.update(f"✗ {refuse}")
            note.add_class("-shown")
            return
        self.dismiss(event.row.key)

    def result_data(self, key: Any) -> Any:
        return next((r.data for r in self.rows if r.key == key), None)
