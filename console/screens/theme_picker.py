"""Pick one of the tenantops themes; the choice is saved in the config file."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets.option_list import Option

from tenantops.console.screens.base import BaseDialog
from tenantops.console.themes import THEMES
from tenantops.console.widgets.picklist import PickList

DESCRIPTIONS = {
    "tenantops-dark": "dark (default)",
    "tenantops-light": "light, for bright rooms",
    "tenantops-contrast": "high contrast: black, white, saturated status colours",
    "tenantops-16": "16 ANSI colours: safe on any SSH terminal",
}


class ThemePicker(BaseDialog):
    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Theme"
            yield PickList(*(Option(f"{name}  {DESCRIPTIONS.get(name, '')}", id=name) for name in THEMES),
                             id="themes")

    def on_mount(self) -> None:
        options = self.query_one("#themes", PickList)
        options.highlighted = list(THEMES).index(self.current) if self.current in THEMES else 0
        options.focus()

    @on(PickList.OptionSelected)
    def chosen(self, event: PickList.OptionSelected) -> None:
        self.dismiss(event.option.id)
