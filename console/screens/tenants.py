"""Tenants: a read-only list by status, drift and server (the dashboard's tenant figures
open here). Virtual, so a fleet of thousands scrolls as fast as ten."""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console import data
from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.filterbar import FilterBar
from tenantops.console.widgets.format import ago, status
from tenantops.console.widgets.rowlist import Column, Row, RowList

STATUS_CYCLE: tuple[str | None, ...] = (None, *data.TENANT_STATUSES)
DRIFT_CYCLE: tuple[str | None, ...] = (None, *data.DRIFT_LEVELS)


def drift_of(tenant: dict[str, Any]) -> str:
    return (tenant.get("last_drift") or {}).get("severity") or "unchecked"


class TenantsScreen(BaseScreen):
    SCREEN_NAME = "tenants"
    TITLE_TEXT = "Tenants"

    def __init__(self) -> None:
        super().__init__()
        self.status: str | None = None
        self.drift: str | None = None
        self.server: str | None = None
        self.text_filter = ""
        self.tenants: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="tenants-bar", classes="bar")
        yield RowList([Column("status", 14), Column("slug"), Column("template", 22), Column("server", 10),
                       Column("drift", 11), Column("checked", 8, align="right")],
                      empty="No tenants match", id="tenants-list")
        yield FilterBar()

    def on_mount(self) -> None:
        self.set_interval(self.app.poll_seconds * 2, self.cmd_refresh)  # type: ignore[attr-defined]
        self.query_one("#tenants-list", RowList).focus()
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.cmd_refresh()

    def show_only(self, status: str | None = None, drift: str | None = None, server: str | None = None) -> None:
        self.status, self.drift, self.server = status, drift, server
        if self.is_mounted:
            self.render_tenants()

    def cmd_status(self) -> None:
        index = STATUS_CYCLE.index(self.status) if self.status in STATUS_CYCLE else 0
        self.status = STATUS_CYCLE[(index + 1) % len(STATUS_CYCLE)]
        self.render_tenants()

    def cmd_drift(self) -> None:
        index = DRIFT_CYCLE.index(self.drift) if self.drift in DRIFT_CYCLE else 0
        self.drift = DRIFT_CYCLE[(index + 1) % len(DRIFT_CYCLE)]
        self.render_tenants()

    def cmd_filter(self) -> None:
        self.query_one(FilterBar).open()

    @on(FilterBar.Filtered)
    def filter_changed(self, event: FilterBar.Filtered) -> None:
        self.text_filter = event.text.strip().lower()
        # typing a filter widens from a dashboard drill-down's server to every server
        self.server = None if self.text_filter else self.server
        self.render_tenants()
        if event.done:
            self.query_one("#tenants-list", RowList).focus()

    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="tenants")
    def load(self) -> None:
        from tenantops.engine import tenants

        self.deliver("tenants", lambda: tenants.list_tenants(self.ctx))

    def show_tenants(self, tenants: list[dict[str, Any]]) -> None:
        self.tenants = tenants
        self.render_tenants()

    def render_tenants(self) -> None:
        now = self.app.clock()  # type: ignore[attr-defined]
        visible = [t for t in self.tenants
                   if (self.status is None or t["status"] == self.status)
                   and (self.drift is None or (t["status"] == "active" and drift_of(t) == self.drift))
                   and (self.server is None or t["server"] == self.server)]
        if self.text_filter:
            visible = [t for t in visible
                       if self.text_filter in f"{t['slug']} {t['organization']} {t['server']}".lower()]
        rows = []
        for t in visible:
            checked = (t.get("last_drift") or {}).get("checked_at")
            rows.append(Row(t["slug"], [status(t["status"]), t["slug"],
                                        f"{t['template']['slug']} {t['template']['version'] or ''}".strip(),
                                        t["server"] or "—", status(drift_of(t)),
                                        ago(checked, now).removesuffix(" ago") if checked else "never"], data=t))
        self.query_one("#tenants-list", RowList).set_rows(rows)
        parts = [f"[b]{self.status or 'all'}[/] {len(visible)} of {len(self.tenants)}"]
        if self.drift:
            parts.append(f"drift {self.drift}")
        if self.server:
            parts.append(f"server {escape(self.server)}")
        if self.text_filter:
            parts.append(f"filter “{escape(self.text_filter)}”")
        self.query_one("#tenants-bar", Static).update(" · ".join(parts) + "   [$text-muted]f status · d drift[/]")
