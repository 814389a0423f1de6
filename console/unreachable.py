"""What the console shows when it cannot open the landlord store: the reason in one line,
where it looked, and retry / quit, instead of a traceback."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from tenantops.console.themes import DEFAULT_THEME, THEMES, stylesheets
from tenantops.engine.errors import TenantopsError


class LandlordUnreachableApp(App[Any]):
    """Returns the opened context when a retry succeeds, None when the operator quits."""

    CSS_PATH = stylesheets()
    TITLE = "tenantops"
    BINDINGS = [Binding("r", "retry", "Retry"), Binding("q", "quit", "Quit")]

    def __init__(self, error: str, where: str, opener: Callable[[], Any]) -> None:
        super().__init__()
        self.error, self.where, self.opener = error, where, opener
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = DEFAULT_THEME

    def compose(self) -> ComposeResult:
        with Vertical(id="unreachable"):
            yield Static("✗ The landlord store cannot be opened", id="unreachable-title")
            yield Static(self.error, id="unreachable-error")
            yield Static(f"landlord: {self.where}", id="unreachable-where")
            yield Static("Check that the server is up and reachable, the URL (--landlord or "
                         "TENANTOPS_LANDLORD_URL) and the password in the keyring "
                         "(`tenantops init --password-stdin`).", id="unreachable-hint")
            yield Static("r retry   q quit", id="unreachable-keys")

    def action_retry(self) -> None:
        self.query_one("#unreachable-keys", Static).update("retrying…")
        self.attempt()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def attempt(self) -> None:
        try:
            ctx = self.opener()
        except TenantopsError as exc:
            self.call_from_thread(self.failed, str(exc))
            return
        self.call_from_thread(self.exit, ctx)

    def failed(self, error: str) -> None:
        self.query_one("#unreachable-error", Static).update(error)
        self.query_one("#unreachable-keys", Static).update("still unreachable · r retry   q quit")
