"""Dashboard: every count an operator starts the day with; each figure opens its list."""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.timer import Timer
from textual.widgets import Static

from tenantops.console import data
from tenantops.console.screens.base import BaseScreen
from tenantops.console.typed import JobsFilter, ReviewFilter, TenantsFilter
from tenantops.console.widgets.format import ago, clock, status
from tenantops.console.widgets.rowlist import Column, Row, RowList

# the servers' reachability is probed less often than the landlord is read: a probe
# opens a connection to every database server
PROBE_EVERY = 12


class DashboardScreen(BaseScreen):
    SCREEN_NAME = "dashboard"
    TITLE_TEXT = "Dashboard"

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None
        self._ticks = 0
        self._figures: dict[str, Any] | None = None

    def compose_body(self) -> ComposeResult:
        figures = [Column("figure"), Column("count", 6, align="right")]
        with Grid(id="dash-grid"):
            yield self._panel("Applications", "applications", figures)
            yield self._panel("Tenants", "tenants", figures)
            yield self._panel("Drift", "drift", figures)
            yield self._panel("Jobs", "jobs", figures)
            yield self._panel("Servers", "servers",
                              [Column("server"), Column("tenants", 11, align="right"), Column("state", 13)])
            yield self._panel("Needs attention", "attention", [Column("what"), Column("when", 8, align="right")])
        yield Static("loading…", id="dash-status")

    def _panel(self, title: str, kind: str, columns: list[Column]) -> RowList:
        panel = RowList(columns, show_header=False, empty="none registered", id=f"dash-{kind}", classes="panel",
                        cursor_when_blurred=False)
        panel.border_title = title
        return panel

    def on_mount(self) -> None:
        self._timer = self.set_interval(self.tapp.poll_seconds, self._tick)
        self.cmd_refresh()
        if self.tapp.probe_servers:
            self.probe()

    def on_screen_suspend(self) -> None:
        if self._timer:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer and self.is_mounted:
            self._timer.resume()
            self.cmd_refresh()

    def _tick(self) -> None:
        self._ticks += 1
        self.cmd_refresh()
        if self._ticks % PROBE_EVERY == 0 and self.tapp.probe_servers:
            self.probe()

    # -- reads ---------------------------------------------------------------
    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dashboard")
    def load(self) -> None:
        self.deliver("figures", lambda: data.dashboard(self.ctx))

    @work(thread=True, exclusive=True, exit_on_error=False, group="probe")
    def probe(self) -> None:
        self.deliver("probed", lambda: data.probe_servers(self.ctx))

    def show_probed(self, _: Any) -> None:
        self.cmd_refresh()

    def failed_probed(self, error: str) -> None:
        self.notify(f"server check: {error}", severity="warning")

    def tick_ages(self) -> None:
        if self._figures is not None:
            self.show_figures(self._figures)

    def show_figures(self, figures: dict[str, Any]) -> None:
        self._figures = figures
        for kind in ("applications", "tenants", "drift", "jobs"):
            rows = []
            for name, count in figures[kind].items():
                text, tone = status(name)
                rows.append(Row((kind, name), [(text, tone if count else "muted"),
                                               (str(count), None if count else "muted")]))
            self.query_one(f"#dash-{kind}", RowList).set_rows(rows)
        rows = []
        for sv in figures["servers"]:
            if sv["reachable"] is None:
                state = ("? unchecked", "muted")
            elif sv["reachable"]:
                state = ("✓ up", "ok")
            else:
                state = ("✗ unreachable", "bad")
            if sv["draining"] and sv["reachable"] is not False:
                state = ("‖ draining", "warn")  # up, but takes no new tenants
            rows.append(Row(("servers", sv["name"]),
                            [f"{sv['name']} ({sv['dialect']})", f"{sv['tenants']}/{sv['capacity']}", state]))
        self.query_one("#dash-servers", RowList).set_rows(rows)
        now = self.tapp.clock()
        rows = []
        for item in figures["attention"]:
            icon_word, tone = status(item["status"])
            when = ago(item["since"], now).removesuffix(" ago") if item.get("since") else ""
            rows.append(Row((item["kind"], item["key"]), [(f"{icon_word.split()[0]} {item['text']}", tone), when],
                            data=item))
        attention = self.query_one("#dash-attention", RowList)
        attention.empty = "✓ nothing needs attention"
        attention.set_rows(rows)
        seconds = self.tapp.poll_seconds
        self.query_one("#dash-status", Static).update(
            f"updated {clock(self.tapp.clock())} UTC, every {seconds:g}s · Enter opens · "
            "2 apps · 3 jobs · 4 tenants")

    # -- navigation ----------------------------------------------------------
    def _panels(self) -> list[RowList]:
        return list(self.query(".panel").results(RowList))

    def _move_panel(self, step: int) -> None:
        panels = self._panels()
        current = panels.index(self.focused) if self.focused in panels else -1
        panels[(current + step) % len(panels)].focus()

    def cmd_next_panel(self) -> None:
        self._move_panel(1)

    def cmd_previous_panel(self) -> None:
        self._move_panel(-1)

    @on(RowList.Selected)
    def open_figure(self, event: RowList.Selected) -> None:
        kind, name = event.row.key
        app = self.tapp
        if kind == "applications":
            app.show(ReviewFilter(status=name))
        elif kind == "jobs":
            app.show(JobsFilter(status=name))
        elif kind == "tenants":
            app.show(TenantsFilter(status=name))
        elif kind == "drift":
            app.show(TenantsFilter(drift=name))
        elif kind == "servers":
            app.show(TenantsFilter(server=name))
        elif kind == "job":
            from tenantops.console.screens.timeline import TimelineScreen

            app.push_screen(TimelineScreen(name))
        elif kind == "rollout":
            from tenantops.console.screens.rollouts import RolloutsScreen

            root = app.open_section("rollouts")
            if isinstance(root, RolloutsScreen):
                root.show_rollout(name)
        elif kind == "tenant":
            from tenantops.console.screens.tenant import TenantScreen

            app.push_screen(TenantScreen(name))
