"""A tenant's ways back, one list each: its backups (restore one: a job, the slug typed),
its quarantined data (bring it back, the slug typed) and its accepted drift (withdraw an
acceptance so the difference counts again). Opened from the tenant screen (B, Q, D).

Every change goes through the engine, which checks the dba role and audits; the lists
only read."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console import data
from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.format import ago, tone_markup
from tenantops.console.widgets.rowlist import Column, Row, RowList


def size(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


class TenantListScreen(BaseScreen):
    """One list of one tenant's records, with a detail line for the highlighted row."""

    COLUMNS: ClassVar[list[Column]] = []
    EMPTY: ClassVar[str] = ""
    NOUN: ClassVar[str] = "item(s)"

    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug
        self.items: list[dict[str, Any]] = []

    @property
    def crumb(self) -> str:
        return self.TITLE_TEXT.lower()

    def compose_body(self) -> ComposeResult:
        name = self.SCREEN_NAME
        yield Static(f"{escape(self.slug)}: reading…", id=f"{name}-bar", classes="bar")
        yield RowList(self.COLUMNS, empty=self.EMPTY, id=f"{name}-list")
        yield Static("", id=f"{name}-detail", classes="detail")

    @property
    def listing(self) -> RowList:
        return self.query_one(f"#{self.SCREEN_NAME}-list", RowList)

    def on_mount(self) -> None:
        self.listing.focus()
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.items:
            self.cmd_refresh()

    def cmd_refresh(self) -> None:
        self.load()

    def read(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    @work(thread=True, exclusive=True, exit_on_error=False, group="tenant-list")
    def load(self) -> None:
        self.deliver("items", self.read)

    def failed_items(self, error: str) -> None:
        self.query_one(f"#{self.SCREEN_NAME}-bar", Static).update(tone_markup(f"✗ {error}", "bad"))

    def show_items(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.render_items()

    def tick_ages(self) -> None:
        if self.items:
            self.render_items()

    def cells(self, item: dict[str, Any], now: Any) -> list[Any]:
        raise NotImplementedError

    def summary(self) -> str:
        return f"{len(self.items)} {self.NOUN}"

    def render_items(self) -> None:
        now = self.tapp.clock()
        self.listing.set_rows([Row(item["id"], self.cells(item, now), data=item) for item in self.items])
        self.query_one(f"#{self.SCREEN_NAME}-bar", Static).update(f"[b]{escape(self.slug)}[/] · {self.summary()}")
        self._detail(self.listing.current_row)

    @on(RowList.Highlighted)
    def _highlighted(self, event: RowList.Highlighted) -> None:
        self._detail(event.row)

    def detail(self, item: dict[str, Any]) -> str:
        return ""

    def _detail(self, row: Row | None) -> None:
        self.query_one(f"#{self.SCREEN_NAME}-detail", Static).update(self.detail(row.data) if row else "")

    def current(self) -> dict[str, Any] | None:
        row = self.listing.current_row
        return row.data if row else None

    @work(thread=True, exclusive=False, exit_on_error=False, group="tenant-list-change")
    def run_call(self, key: str, call: Callable[[], Any]) -> None:
        self.deliver(key, call)


class BackupsScreen(TenantListScreen):
    SCREEN_NAME = "backups"
    TITLE_TEXT = "Backups"
    NOUN = "backup(s)"
    EMPTY = "No backups of this tenant yet (changes take one first)"
    COLUMNS = [Column("#", 5, align="right"), Column("reason"), Column("pin", 6), Column("size", 9, align="right"),
               Column("taken", 8, align="right")]

    def read(self) -> list[dict[str, Any]]:
        from tenantops.engine.tenants import backups

        return [dict(b) for b in backups.list_backups(self.ctx, self.slug)]

    def cells(self, b: dict[str, Any], now: Any) -> list[Any]:
        return [str(b["id"]), b["reason"] or "—", ("pinned", "accent") if b.get("pinned") else "",
                size(b.get("size_bytes")), ago(b["created_at"], now).removesuffix(" ago")]

    def summary(self) -> str:
        pinned = sum(1 for b in self.items if b.get("pinned"))
        total = sum(b.get("size_bytes") or 0 for b in self.items)
        return (f"{len(self.items)} backup(s), {size(total)}" + (f" · {pinned} pinned" if pinned else "")
                + " · [$text-muted]R restores the highlighted one[/]")

    def detail(self, b: dict[str, Any]) -> str:
        return (f"[$text-muted]{escape(b['path'])} · by {escape(b.get('created_by') or '—')} · "
                f"sha256 {escape((b.get('checksum') or '')[:12])}[/]")

    def cmd_restore(self) -> None:
        backup = self.current()
        if backup is None:
            self.notify("No backup to restore.", severity="warning")
            return
        from tenantops.engine.tenants import backups

        self.run_call("restore_preview",
                      lambda: backups.preview_restore(self.ctx, slug=self.slug, backup_id=backup["id"]).to_json())

    def show_restore_preview(self, doc: dict[str, Any]) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        plan = doc.get("plan") or doc
        backup_id = plan.get("id")
        modules = ", ".join(plan.get("modules") or []) or "no modules"
        body = (f"Replace the database of [b]{escape(self.slug)}[/] with backup #{backup_id} "
                f"({escape(str(plan.get('reason') or ''))}, {escape(str(plan.get('created_at') or '')[:16])}).\n"
                f"It holds {plan.get('revisions', '?')} revision(s); modules: {escape(modules)}.\n"
                "Everything written since that backup is replaced; the job runs in a worker process.")
        self.app.push_screen(ConfirmDialog(f"Restore {self.slug}", body, target=self.slug, confirm="Restore",
                                           typed=True, wide=True),
                             lambda ok: self.restore(int(backup_id)) if ok and backup_id is not None else None)

    def restore(self, backup_id: int) -> None:
        from tenantops.engine.tenants import backups

        def start() -> int | None:
            queued = backups.request_restore(self.ctx, slug=self.slug, backup_id=backup_id, confirm=self.slug)
            return data.spawn_worker(self.ctx, queued.job) if queued.job is not None else None

        self.run_call("restore_started", start)

    def show_restore_started(self, job_id: int | None) -> None:
        from tenantops.console.screens.timeline import TimelineScreen

        self.cmd_refresh()
        if job_id is not None:
            self.app.push_screen(TimelineScreen(job_id))


class QuarantineScreen(TenantListScreen):
    SCREEN_NAME = "quarantine"
    TITLE_TEXT = "Quarantine"
    NOUN = "item(s)"
    EMPTY = "Nothing quarantined: repairs move data here instead of dropping it"
    COLUMNS = [Column("#", 4, align="right"), Column("kind", 7), Column("what"), Column("rows", 6, align="right"),
               Column("state", 10), Column("when", 6, align="right")]

    def read(self) -> list[dict[str, Any]]:
        from tenantops.engine.health import repair

        return [dict(q) for q in repair.list_quarantine(self.ctx, self.slug)]

    def cells(self, q: dict[str, Any], now: Any) -> list[Any]:
        what = q["table"] + (f".{q['column']}" if q.get("column") else "")
        state = ("restored", "muted") if q.get("restored_at") else ("● held", "warn")
        return [str(q["id"]), q["kind"], what, str(q["rows"]), state, ago(q["created_at"], now).removesuffix(" ago")]

    def summary(self) -> str:
        held = sum(1 for q in self.items if not q.get("restored_at"))
        return f"{len(self.items)} item(s), {held} held · [$text-muted]R brings the highlighted one back[/]"

    def detail(self, q: dict[str, Any]) -> str:
        text = f"[$text-muted]moved to {escape(q['quarantined_as'])} by repair {q.get('repair_id') or '—'}"
        if q.get("restored_at"):
            text += f" · restored {escape(q['restored_at'][:16])}"
        return text + "[/]"

    def cmd_restore(self) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        item = self.current()
        if item is None:
            self.notify("Nothing quarantined to restore.", severity="warning")
            return
        if item.get("restored_at"):
            self.notify(f"Item {item['id']} was already restored.", severity="warning")
            return
        what = item["table"] + (f".{item['column']}" if item.get("column") else "")
        body = (f"Bring back {item['rows']} row(s) of [b]{escape(what)}[/] into [b]{escape(self.slug)}[/] "
                f"from {escape(item['quarantined_as'])}, row for row, under the tenant's lock.")
        self.app.push_screen(ConfirmDialog(f"Restore quarantine #{item['id']}", body, target=self.slug,
                                           confirm="Restore", typed=True),
                             lambda ok: self.restore(int(item["id"])) if ok else None)

    def restore(self, item_id: int) -> None:
        from tenantops.engine.health import repair

        self.run_call("restored", lambda: repair.restore(self.ctx, slug=self.slug, item_id=item_id))

    def show_restored(self, doc: dict[str, Any]) -> None:
        where = doc["table"] + (f".{doc['column']}" if doc.get("column") else "")
        self.notify(f"Restored {doc['restored_rows']} row(s) of {where}.", title=self.slug)
        self.cmd_refresh()


class AcceptedScreen(TenantListScreen):
    SCREEN_NAME = "accepted"
    TITLE_TEXT = "Accepted drift"
    NOUN = "acceptance(s)"
    EMPTY = "No accepted drift in force (a on a diff accepts a difference)"
    COLUMNS = [Column("#", 4, align="right"), Column("change", 9), Column("object", 11), Column("where"),
               Column("until", 10), Column("by", 10)]

    @property
    def crumb(self) -> str:
        return "accepted"

    def read(self) -> list[dict[str, Any]]:
        from tenantops.engine.health import drift

        return drift.list_acceptances(self.ctx, self.slug)

    def cells(self, a: dict[str, Any], now: Any) -> list[Any]:
        mark = {"added": "+", "removed": "-", "modified": "~"}.get(a["change"], "·")
        where = a["table"] + (f".{a['name']}" if a.get("name") and a["name"] != a["table"] else "")
        if a.get("attribute"):
            where += f" {a['attribute']}"
        return [str(a["id"]), f"{mark} {a['change']}", a["object"], where, a["expires_at"][:10], a["accepted_by"]]

    def summary(self) -> str:
        return f"{len(self.items)} acceptance(s) in force · [$text-muted]w withdraws the highlighted one[/]"

    def detail(self, a: dict[str, Any]) -> str:
        return f"[$text-muted]why: {escape(a['reason'])}[/]"

    def cmd_withdraw(self) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        item = self.current()
        if item is None:
            self.notify("No accepted drift to withdraw.", severity="warning")
            return
        body = (f"Withdraw acceptance #{item['id']} of [b]{escape(self.slug)}[/]: {escape(item['change'])} "
                f"{escape(item['object'])} {escape(item['table'])}.\nThe difference counts again from the next check.")
        self.app.push_screen(ConfirmDialog("Withdraw accepted drift", body, target=self.slug, confirm="Withdraw"),
                             lambda ok: self.withdraw(int(item["id"])) if ok else None)

    def withdraw(self, acceptance_id: int) -> None:
        from tenantops.engine.health import drift

        self.run_call("withdrawn", lambda: drift.withdraw_acceptance(self.ctx, slug=self.slug,
                                                                      acceptance_id=acceptance_id))

    def show_withdrawn(self, doc: dict[str, Any]) -> None:
        self.notify(f"Acceptance #{doc['id']} withdrawn: the difference counts from the next check.", title=self.slug)
        self.cmd_refresh()
