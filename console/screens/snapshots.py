"""A tenant's schema snapshots with hash and source; pick two (Space) and compare them
side by side (d). With one picked, d compares it with the highlighted one."""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.format import ago, stamp, tone_markup
from tenantops.console.widgets.rowlist import Column, Row, RowList


class SnapshotsScreen(BaseScreen):
    SCREEN_NAME = "snapshots"
    TITLE_TEXT = "Snapshots"

    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug
        self.snapshots: list[dict[str, Any]] = []
        self.picked: list[int] = []

    def compose_body(self) -> ComposeResult:
        yield Static(f"{escape(self.slug)}: reading snapshots…", id="snapshots-bar", classes="bar")
        yield RowList([Column("", 2), Column("#", 4, align="right"), Column("taken", 20), Column("source", 15),
                       Column("hash", 12), Column("tables", 6, align="right"), Column("by")],
                      empty="No snapshots yet (s takes one)", id="snapshots-list")

    @property
    def listing(self) -> RowList:
        return self.query_one("#snapshots-list", RowList)

    def on_mount(self) -> None:
        self.listing.focus()
        self.load()

    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="snapshots")
    def load(self) -> None:
        from tenantops.engine.tenants import snapshots

        self.deliver("snapshots", lambda: snapshots.list_snapshots(self.ctx, self.slug))

    def failed_snapshots(self, error: str) -> None:
        self.query_one("#snapshots-bar", Static).update(tone_markup(f"✗ {error}", "bad"))

    def show_snapshots(self, snaps: list[dict[str, Any]]) -> None:
        self.snapshots = snaps
        self.picked = [p for p in self.picked if any(s["id"] == p for s in snaps)]
        self.render_list()

    def render_list(self) -> None:
        rows = []
        hashes = [s["hash"] for s in self.snapshots]
        for i, s in enumerate(self.snapshots):
            mark = ("●", "accent") if s["id"] in self.picked else ("○", "muted")
            # same hash as the snapshot before it: nothing changed in between
            same = i + 1 < len(hashes) and hashes[i + 1] == s["hash"]
            rows.append(Row(s["id"], [mark, str(s["id"]), stamp(s["created_at"]), s["source"],
                                      (s["hash"][:12], "muted" if same else None), str(s["tables"]),
                                      s["created_by"]], data=s))
        self.listing.set_rows(rows)
        self._render_bar()

    def _render_bar(self) -> None:
        now = self.tapp.clock()
        parts = [f"[b]{escape(self.slug)}[/] {len(self.snapshots)} snapshot(s)"]
        if self.snapshots:
            parts.append(f"last {ago(self.snapshots[0]['created_at'], now)}")
        distinct = len({s["hash"] for s in self.snapshots})
        if self.snapshots:
            parts.append(f"{distinct} distinct")
        picked = ", ".join(f"#{p}" for p in self.picked)
        parts.append(f"picked {picked}" if picked else "[$text-muted]Space picks, d compares[/]")
        self.query_one("#snapshots-bar", Static).update(" · ".join(parts))

    def cmd_pick(self) -> None:
        row = self.listing.current_row
        if row is None:
            return
        if row.key in self.picked:
            self.picked.remove(row.key)
        else:
            self.picked.append(row.key)
            self.picked = self.picked[-2:]
        self.render_list()

    @on(RowList.Selected, "#snapshots-list")
    def selected(self, _: RowList.Selected) -> None:
        self.cmd_pick()

    def cmd_diff(self) -> None:
        from tenantops.console.screens.diff import DiffScreen

        pair = list(self.picked)
        row = self.listing.current_row
        if len(pair) == 1 and row is not None and row.key != pair[0]:
            pair.append(row.key)
        if len(pair) != 2:
            self.notify("Pick two snapshots with Space (or one, then highlight the other).", severity="warning")
            return
        older, newer = sorted(pair)
        self.app.push_screen(DiffScreen(self.slug, snapshots=(older, newer)))

    def cmd_snapshot(self) -> None:
        self.take()

    @work(thread=True, exclusive=True, exit_on_error=False, group="snapshot-take")
    def take(self) -> None:
        from tenantops.engine.tenants import snapshots

        self.deliver("taken", lambda: snapshots.snapshot(self.ctx, slug=self.slug))

    def show_taken(self, snap: dict[str, Any]) -> None:
        self.notify(f"Snapshot #{snap['id']} taken, hash {snap['hash'][:12]}.", title=self.slug)
        self.load()
