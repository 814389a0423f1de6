"""Database servers: dialect, version, reachability, tenants against capacity, and the
load throttle (`servers limit`: Threads_running against its limit; a server over it gets
no new tenant job). c probes the highlighted server now, C every server (in a worker: a
probe opens a connection); Enter lists the server's tenants."""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console.screens.base import BaseScreen
from tenantops.console.typed import TenantsFilter
from tenantops.console.widgets.format import ago, tone_markup
from tenantops.console.widgets.rowlist import Column, Row, RowList


def state(server: dict[str, Any]) -> tuple[str, str | None]:
    if server["reachable"] is None:
        return "? unchecked", "muted"
    if not server["reachable"]:
        return "✗ unreachable", "bad"
    if server["draining"]:
        return "‖ draining", "warn"  # up, but takes no new tenants
    if server["load"]["throttled"]:
        return "! throttled", "warn"  # up, but busier than its limit: jobs wait
    return "✓ up", "ok"


def threads(load: dict[str, Any]) -> tuple[str, str | None]:
    """Threads_running against the server's limit ("—": no limit; "?": not sampled, or
    SQLite, which has none)."""
    if load["limit"] is None:
        return "—", "muted"
    now = "?" if load["threads_running"] is None else str(load["threads_running"])
    return f"{now}/{load['limit']}", "bad" if load["throttled"] else None


def load_bar(tenants: int, capacity: int, width: int = 10) -> tuple[str, str | None]:
    share = tenants / capacity if capacity else 1.0
    filled = min(width, round(share * width))
    tone = "bad" if share >= 0.95 else "warn" if share >= 0.8 else None
    return "█" * filled + "░" * (width - filled) + f" {share:4.0%}", tone


NARROW = [Column("server"), Column("dialect", 8), Column("state", 13), Column("tenants", 9, align="right"),
          Column("load", 15), Column("threads", 7, align="right"), Column("checked", 7, align="right")]
WIDE = [Column("server"), Column("dialect", 8), Column("version", 18), Column("state", 13),
        Column("tenants", 9, align="right"), Column("load", 15), Column("threads", 7, align="right"),
        Column("checked", 7, align="right")]


class ServersScreen(BaseScreen):
    SCREEN_NAME = "servers"
    TITLE_TEXT = "Servers"

    def __init__(self) -> None:
        super().__init__()
        self.servers: list[dict[str, Any]] = []
        self.errors: dict[str, str] = {}
        self.checking: set[str] = set()
        self._wide = False

    def on_resize(self) -> None:
        wide = self.size.width >= 100
        if wide != self._wide:
            self._wide = wide
            self.listing.set_columns(WIDE if wide else NARROW)
            self.render_servers()

    def compose_body(self) -> ComposeResult:
        yield Static("reading servers…", id="servers-bar", classes="bar")
        yield RowList(NARROW, empty="No servers registered", id="servers-list")
        yield Static("", id="servers-detail")

    @property
    def listing(self) -> RowList:
        return self.query_one("#servers-list", RowList)

    def on_mount(self) -> None:
        self.listing.focus()
        self.set_interval(self.tapp.poll_seconds * 2, self.cmd_refresh)
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.servers:
            self.cmd_refresh()

    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="servers")
    def load(self) -> None:
        from tenantops.engine.servers import registry as servers

        self.deliver("servers", lambda: servers.list_servers(self.ctx))

    def show_servers(self, servers: list[dict[str, Any]]) -> None:
        self.servers = servers
        self.render_servers()

    def tick_ages(self) -> None:
        if self.servers:
            self.render_servers()

    def render_servers(self) -> None:
        now = self.tapp.clock()
        rows = []
        for sv in self.servers:
            shown = ("… checking", "accent") if sv["name"] in self.checking else state(sv)
            checked = ago(sv["checked_at"], now).removesuffix(" ago") if sv["checked_at"] else "never"
            cells = [sv["name"], sv["dialect"], sv["version"] or "—", shown, f"{sv['tenants']}/{sv['capacity']}",
                     load_bar(sv["tenants"], sv["capacity"]), threads(sv["load"]), checked]
            if not self._wide:
                del cells[2]
            rows.append(Row(sv["name"], cells, data=sv))
        self.listing.set_rows(rows)
        up = sum(1 for sv in self.servers if sv["reachable"])
        down = sum(1 for sv in self.servers if sv["reachable"] is False)
        tenants = sum(sv["tenants"] for sv in self.servers)
        capacity = sum(sv["capacity"] for sv in self.servers)
        parts = [f"[b]{len(self.servers)}[/] server(s)", f"{up} up"]
        if down:
            parts.append(tone_markup(f"{down} unreachable", "bad", bold=True))
        throttled = sum(1 for sv in self.servers if sv["load"]["throttled"])
        if throttled:
            parts.append(tone_markup(f"{throttled} throttled", "warn", bold=True))
        parts.append(f"{tenants:,} tenants of {capacity:,} capacity")
        self.query_one("#servers-bar", Static).update(" · ".join(parts))
        self._render_detail(self.listing.current_row)

    @on(RowList.Highlighted, "#servers-list")
    def highlighted(self, event: RowList.Highlighted) -> None:
        self._render_detail(event.row)

    def _render_detail(self, row: Row | None) -> None:
        detail = self.query_one("#servers-detail", Static)
        if row is None:
            detail.update("")
            return
        sv = row.data
        text = f"[$text-muted]{escape(sv['url'])} · version {escape(sv['version'] or 'unknown')}[/]"
        load = sv["load"]
        if load["throttled"]:
            text += "\n" + tone_markup(f"! Threads_running {load['threads_running']} > limit {load['limit']}: no new "
                                        "tenant job starts here until it drops", "warn")
        elif load["limit"] is not None and sv["dialect"] == "sqlite":
            text += f"\n[$text-muted]Threads_running limit {load['limit']}: SQLite has none, never throttled[/]"
        elif load["limit"] is not None:
            now = "unknown" if load["threads_running"] is None else f"now {load['threads_running']}"
            sampled = ago(load["checked_at"], self.tapp.clock()) if load["checked_at"] else "never"
            text += f"\n[$text-muted]Threads_running limit {load['limit']} ({now}, sampled {sampled})[/]"
        if sv["name"] in self.errors:
            text += "\n" + tone_markup(f"✗ {self.errors[sv['name']]}", "bad")
        detail.update(text)

    @on(RowList.Selected, "#servers-list")
    def open_server(self, event: RowList.Selected) -> None:
        self.tapp.show(TenantsFilter(server=event.row.key))

    def cmd_check(self) -> None:
        row = self.listing.current_row
        if row is None:
            return
        self._check([row.key])

    def cmd_check_all(self) -> None:
        self._check([sv["name"] for sv in self.servers])

    def cmd_drain(self) -> None:
        """Drain (no new tenants; those on it stay) or undrain the highlighted server,
        after a confirmation naming what changes."""
        from tenantops.console.screens.confirm import ConfirmDialog

        row = self.listing.current_row
        if row is None:
            self.notify("No server to drain.", severity="warning")
            return
        sv = row.data
        drain = not sv["draining"]
        if drain:
            body = (f"Drain [b]{escape(sv['name'])}[/]: no new tenant is placed on it, and jobs that ask for it "
                    f"fail until it is undrained.\nIts {sv['tenants']} tenant(s) stay where they are.")
        else:
            body = f"Undrain [b]{escape(sv['name'])}[/]: it takes new tenants again ({sv['tenants']}/{sv['capacity']})."
        self.app.push_screen(ConfirmDialog("Drain server" if drain else "Undrain server", body, target=sv["name"],
                                           confirm="Drain" if drain else "Undrain"),
                             lambda ok: self._drain_confirmed(ok, sv["name"], drain))

    def _drain_confirmed(self, ok: bool | None, name: str, drain: bool) -> None:
        if ok:
            self.set_draining(name, drain)

    @work(thread=True, exclusive=False, exit_on_error=False, group="servers-drain")
    def set_draining(self, name: str, drain: bool) -> None:
        from tenantops.engine.servers import registry as servers

        def change() -> tuple[str, bool]:
            servers.set_draining(self.ctx, name=name, draining=drain)
            return name, drain

        self.deliver("drained", change)

    def show_drained(self, value: tuple[str, bool]) -> None:
        name, drain = value
        self.notify(f"{name} drains: no new tenants." if drain else f"{name} takes new tenants again.",
                    title="Servers")
        self.load()

    def _check(self, names: list[str]) -> None:
        self.checking.update(names)
        self.render_servers()
        self.check(names)

    @work(thread=True, exclusive=False, exit_on_error=False, group="servers-check")
    def check(self, names: list[str]) -> None:
        from tenantops.engine.servers import registry as servers

        self.deliver("checked", lambda: [servers.check_server(self.ctx, name) for name in names])

    def show_checked(self, results: list[dict[str, Any]]) -> None:
        for result in results:
            self.checking.discard(result["name"])
            if result.get("error"):
                self.errors[result["name"]] = result["error"]
            else:
                self.errors.pop(result["name"], None)
        down = [r["name"] for r in results if not r["reachable"]]
        if down:
            self.notify(f"Unreachable: {', '.join(down)}", title="Servers", severity="error")
        else:
            self.notify(f"{len(results)} server(s) reachable.", title="Servers")
        self.load()

    def failed_checked(self, error: str) -> None:
        self.checking.clear()
        self.notify(error, title="Check failed", severity="error")
        self.load()
