"""`?`: every key of the screen it was opened from, generated from the registry, with
the role each needs; disabled ones say so."""
from __future__ import annotations

import textwrap

from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console.actions import GLOBAL, LIST, Action, for_scope, key_display
from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.scrollpane import ScrollPane

SCREEN_TITLES = {"dashboard": "Dashboard", "review": "Applications", "wizard": "Template and modules",
                 "plan": "Plan preview", "timeline": "Job timeline", "jobs": "Jobs", "tenants": "Tenants",
                 "tenant": "Tenant", "diff": "Schema diff", "repair": "Guarded repair", "snapshots": "Snapshots",
                 "audit": "Audit log", "servers": "Servers", "backups": "Backups", "quarantine": "Quarantine",
                 "accepted": "Accepted drift", "custom": "Custom migrations", "rollouts": "Rollouts"}
KEY_W, NAME_W, ROLE_W = 9, 13, 12


class HelpScreen(BaseScreen):
    SCREEN_NAME = "help"
    TITLE_TEXT = "Help"

    def __init__(self, scope: str | None) -> None:
        super().__init__()
        self.scope = scope

    def compose_body(self) -> ComposeResult:
        with ScrollPane(id="help-pane"):
            yield Static("", id="help-body")

    def on_mount(self) -> None:
        self.query_one("#help-pane", ScrollPane).focus()

    def on_resize(self) -> None:
        width = self.query_one("#help-pane", ScrollPane).scrollable_content_region.width or 76
        self.query_one("#help-body", Static).update(self.text(width))

    def _lines(self, action: Action, width: int) -> list[str]:
        ctx = self.ctx
        keys = escape(" ".join(key_display(k) for k in action.keys).ljust(KEY_W))
        name = escape(action.description.ljust(NAME_W))
        allowed = ctx.can(action.role)
        role = ("" if action.role == "viewer" else action.role) if allowed else f"needs {action.role}"
        role = (role + (" ⚠" if action.dangerous else "")).strip()
        # one cell spare: a scrollbar that appears after the first layout must not re-wrap lines
        room = max(16, width - 2 - KEY_W - NAME_W - ROLE_W - 4)
        wrapped = textwrap.wrap(action.help, room) or [""]
        indent = " " * (2 + KEY_W + NAME_W + ROLE_W + 3)
        if allowed:
            first = (f"  [b $accent]{keys}[/] {name} [$text-muted]{escape(role.ljust(ROLE_W))}[/] "
                     f"[$text-muted]{escape(wrapped[0])}[/]")
        else:
            first = (f"  [$text-disabled]{keys} [s]{escape(action.description)}[/s]"
                     f"{' ' * (NAME_W - len(action.description))}[/] "
                     f"[$text-warning]{escape(role.ljust(ROLE_W))}[/] [$text-disabled]{escape(wrapped[0])}[/]")
        return [first, *(f"{indent}[$text-muted]{escape(more)}[/]" for more in wrapped[1:])]

    def text(self, width: int) -> str:
        ctx = self.ctx
        lines = [f"You are [b]{escape(ctx.operator)}[/], role [b]{escape(ctx.role or 'none')}[/]. "
                 "Keys that need a higher role are struck out; the engine refuses them too. "
                 "⚠ asks for confirmation.", ""]
        sections = []
        if self.scope and self.scope != "help":
            sections.append((SCREEN_TITLES.get(self.scope, self.scope), for_scope(self.scope)))
        sections.append(("Lists", for_scope(LIST)))
        sections.append(("Everywhere", for_scope(GLOBAL)))
        for title, actions in sections:
            lines.append(f"[b]{escape(title)}[/]")
            for action in actions:
                lines.extend(self._lines(action, width))
            lines.append("")
        lines.append("[$text-muted]Esc closes this help · Ctrl+P finds any action by name[/]")
        return "\n".join(lines)
