"""The full-screen console (Textual). Screens live one per file under screens/."""
from __future__ import annotations

import argparse
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

THEMES = Path(__file__).resolve().parent.parent / "themes"


class TenantopsApp(App):
    CSS_PATH = [str(Path(__file__).with_name("app.tcss"))]
    TITLE = "tenantops"

    def __init__(self, ctx) -> None:
        super().__init__()
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"landlord {self.ctx.landlord_label} · operator {self.ctx.operator} ({self.ctx.role or 'no role'})",
                     id="banner")
        yield Footer()


def run_console(args: argparse.Namespace) -> int:
    from tenantops.engine.context import Context

    ctx = Context.open(home=args.home, config=args.config, landlord_url=args.landlord)
    try:
        TenantopsApp(ctx).run()
    finally:
        ctx.close()
    return 0
