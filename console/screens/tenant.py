"""One tenant: status, server and database, template and modules (required ones and
what depends on what), migrations per layer with the latest batch, last snapshot and
drift, locks, backups, quarantine and recent jobs; and what can be done to it.

Reads run in a worker (``data.tenant_detail``). Every change goes through the engine,
which checks the role and audits; changes to the tenant database are jobs run by a
detached worker process, whose live timeline opens here.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Container
from textual.markup import escape
from textual.widgets import Static

from tenantops.engine.vocab import LAYERS
from tenantops.console import data
from tenantops.console.screens.base import BaseScreen
from tenantops.console.typed import AuditFilter
from tenantops.console.widgets.format import ago, duration, parse_time, status_markup, tone_markup
from tenantops.console.widgets.rowlist import Column, Row
from tenantops.console.widgets.scrollpane import ScrollPane



def _size(n: int | None) -> str:
    if n is None:
        return "—"
    size: float = n
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _took(job: dict[str, Any]) -> str:
    start, end = parse_time(job["started_at"]), parse_time(job["finished_at"])
    return duration((end - start).total_seconds()) if start and end else "—"


def _field(name: str, value: str) -> str:
    return f"[$text-muted]{name:<10}[/]{value}"


def render_main(detail: dict[str, Any], now: Any) -> str:
    t = detail["tenant"]
    lines = [f"[b]{escape(t['organization'])}[/]"]
    lines.append(_field("Server", f"{escape(t['server'] or '—')} · database {escape(t['database'] or '—')}"))
    lines.append(_field("Template", f"{escape(t['template']['slug'])} {escape(t['template']['version'] or '')}"))
    if t.get("admin_user"):
        admin = t["admin_user"]
        lines.append(_field("Admin", escape(admin["email"]) + (" [$text-muted](must change password)[/]"
                                                                if admin["must_change_password"] else "")))
    created = ago(t["created_at"], now)
    if t.get("activated_at"):
        created += f" · activated {ago(t['activated_at'], now)}"
    lines.append(_field("Created", created))
    if t.get("error"):
        lines.append(tone_markup(f"✗ {t['error']}", "bad"))

    lines += ["", f"[b]Modules[/] ({len(t['module_details'])})"]
    depends = detail.get("depends_on", {})
    installed = set(t["modules"])
    needed_by: dict[str, list[str]] = {}
    for module, deps in depends.items():
        for dep in deps:
            needed_by.setdefault(dep, []).append(module)
    for m in t["module_details"]:
        reason = m.get("reason") or ""
        if m["module"] in detail.get("required_by_template", []) or reason.startswith("required"):
            mark, why = "■", "required by the template"
        elif m.get("required") or reason.startswith("dependency"):
            mark, why = "+", reason or "dependency"
        else:
            mark, why = "✓", "chosen"
        lines.append(f" {mark} [b]{escape(m['module'])}[/] {escape(m['version'] or '')} [$text-muted]{escape(why)}[/]")
        deps = [d for d in depends.get(m["module"], [])]
        if deps:
            missing = [d for d in deps if d not in installed]
            text = "needs " + ", ".join(deps) + (f" (missing: {', '.join(missing)})" if missing else "")
            lines.append(f"     [$text-muted]↳ {escape(text)}[/]")
        if needed_by.get(m["module"]):
            lines.append(f"     [$text-muted]↳ needed by {escape(', '.join(sorted(needed_by[m['module']])))}[/]")
    if not t["module_details"]:
        lines.append(" [$text-muted]no modules[/]")
    lines.append("[$text-muted] ■ required by template · + dependency · ✓ chosen[/]")
    if detail.get("catalog_error"):
        lines.append(tone_markup(f" ✗ catalog: {detail['catalog_error']}", "bad"))

    counts = t.get("migrations") or {}
    lines += ["", "[b]Migrations[/] " + " · ".join(f"{layer} {counts.get(layer, 0)}" for layer in LAYERS)]
    batches = detail.get("batches") or []
    if batches:
        b = batches[0]
        outcome = tone_markup("✓ ok", "ok") if b["outcome"] == "ok" else tone_markup(f"✗ {b['outcome']}", "bad")
        lines.append(f" latest batch [b]{b['batch']}[/]: {b['action']} {len(b['entries'])} revision(s) {outcome} "
                     f"[$text-muted]{escape(b['operator'])} · {ago(b['started_at'], now)}[/]")
        for h in b["entries"][-4:]:
            mark = "↶" if h["action"] == "rollback" else "✓" if h["outcome"] == "ok" else "✗"
            lines.append(f"   {mark} {escape(h['revision'])} [$text-muted]{escape(h['unit'])}[/]")
        if len(b["entries"]) > 4:
            lines.append(f"   [$text-muted]… {len(b['entries']) - 4} more in this batch[/]")
        lines.append(f" [$text-muted]{len(batches)} batch(es) in all · b rolls back to one[/]")
    else:
        lines.append(" [$text-muted]no migration history[/]")
    return "\n".join(lines)


def render_side(detail: dict[str, Any], now: Any) -> str:
    lines: list[str] = []
    report = detail.get("drift")
    lines.append("[b]Drift[/]")
    last = detail["tenant"].get("last_drift")
    if report is None and last:
        lines.append(f" {status_markup(last['severity'])} · [$text-muted]checked {ago(last['checked_at'], now)}, "
                     "no report kept · c checks now[/]")
    elif report is None:
        lines.append(" [$text-muted]never checked · c checks now[/]")
    else:
        open_ = [d for d in report["differences"] if not d.get("accepted")]
        accepted = len(report["differences"]) - len(open_)
        lines.append(f" {status_markup(report['severity'])} score {report['score']} · "
                     f"{len(report['differences'])} difference(s)" + (f", {accepted} accepted" if accepted else "")
                     + f" · [$text-muted]{ago(report['checked_at'], now)}[/]"
                     + (" [$text-muted]· D lists accepted[/]" if accepted else ""))
        for d in report["differences"][:5]:
            mark = {"added": "+", "removed": "-", "modified": "~"}[d["change"]]
            where = d["table"] if d["object"] == "table" else f"{d['table']}.{d['name']}"
            attr = f" {d['attribute']}" if d.get("attribute") else ""
            tag = " ✓ accepted" if d.get("accepted") else ""
            lines.append(f"  {mark} {escape(d['object'])} {escape(where)}{escape(attr)}"
                         f" [$text-muted]{escape(d.get('unit') or 'no owner')}{tag}[/]")
        if len(report["differences"]) > 5:
            lines.append(f"  [$text-muted]… {len(report['differences']) - 5} more · d shows them side by side[/]")

    snaps = detail.get("snapshots") or []
    lines += ["", f"[b]Snapshots[/] ({len(snaps)})"]
    if snaps:
        s = snaps[0]
        lines.append(f" last #{s['id']} {escape(s['source'])} · {ago(s['created_at'], now)} · "
                     f"[$text-muted]{s['hash'][:12]}[/]")
        lines.append(f"   [$text-muted]{s['tables']} tables · {s['columns']} columns · {s['indexes']} indexes[/]")
    else:
        lines.append(" [$text-muted]none · s takes one[/]")

    lines += ["", "[b]Locks[/]"]
    locks = detail.get("locks") or []
    if not locks:
        lines.append(" [$text-muted]none held[/]")
    for lock in locks:
        state = tone_markup("STALE", "bad", bold=True) if lock["stale"] else tone_markup("held", "warn")
        job = f" job {lock['job_id']}" if lock.get("job_id") else ""
        lines.append(f" {state} {escape(lock['operation'])}{job} by {escape(lock['holder'])} "
                     f"[$text-muted]since {ago(lock['acquired_at'], now)}[/]")

    backups = detail.get("backups") or []
    lines += ["", f"[b]Backups[/] ({len(backups)}) [$text-muted]B lists them[/]"]
    for b in backups[:3]:
        pin = " [b]pinned[/]" if b.get("pinned") else ""
        lines.append(f" #{b['id']} {escape(b['reason'] or '')}{pin} [$text-muted]{_size(b.get('size_bytes'))} · "
                     f"{ago(b['created_at'], now)}[/]")
    if not backups:
        lines.append(" [$text-muted]none[/]")

    quarantine = detail.get("quarantine") or []
    lines += ["", f"[b]Quarantine[/] ({len(quarantine)}) [$text-muted]Q lists it[/]"]
    for q in quarantine[:4]:
        what = q["table"] + (f".{q['column']}" if q.get("column") else "")
        state = "[$text-muted]restored[/]" if q.get("restored_at") else tone_markup("held", "warn")
        lines.append(f" #{q['id']} {escape(q['kind'])} {escape(what)} → {escape(q['quarantined_as'])} "
                     f"{q['rows']} row(s) {state}")
    if not quarantine:
        lines.append(" [$text-muted]none[/]")

    jobs = detail.get("jobs") or []
    lines += ["", "[b]Recent jobs[/]"]
    for j in jobs:
        lines.append(f" #{j['id']} {status_markup(j['status'])} {escape(j['kind'])} "
                     f"[$text-muted]{ago(j['created_at'], now)} · {_took(j)}[/]")
    if not jobs:
        lines.append(" [$text-muted]none[/]")
    else:
        lines.append(" [$text-muted]t opens the latest job's timeline[/]")
    return "\n".join(lines)


class TenantScreen(BaseScreen):
    SCREEN_NAME = "tenant"
    TITLE_TEXT = "Tenant"

    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug
        self.detail: dict[str, Any] | None = None

    @property
    def crumb(self) -> str:
        return self.slug

    def compose_body(self) -> ComposeResult:
        yield Static(f"{escape(self.slug)}: reading…", id="tenant-bar", classes="bar")
        with ScrollPane(id="tenant-pane"):
            with Container(id="tenant-cols"):
                yield Static("", id="tenant-main")
                yield Static("", id="tenant-side")

    def on_mount(self) -> None:
        self.query_one("#tenant-pane", ScrollPane).focus()
        self.set_interval(self.tapp.poll_seconds * 2, self.cmd_refresh)
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.detail is not None:
            self.cmd_refresh()

    # -- reads ---------------------------------------------------------------
    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="tenant")
    def load(self) -> None:
        self.deliver("detail", lambda: data.tenant_detail(self.ctx, self.slug))

    def failed_detail(self, error: str) -> None:
        self.query_one("#tenant-bar", Static).update(tone_markup(f"✗ {error}", "bad"))

    def tick_ages(self) -> None:
        if self.detail is not None:
            self.show_detail(self.detail)

    def show_detail(self, detail: dict[str, Any]) -> None:
        self.detail = detail
        now = self.tapp.clock()
        t = detail["tenant"]
        drift = (t.get("last_drift") or {}).get("severity") or (detail.get("drift") or {}).get("severity") \
            or "unchecked"
        where = f"{t['server'] or '—'} / {t['database'] or '—'}"
        self.query_one("#tenant-bar", Static).update(
            f"[b]{escape(t['slug'])}[/] · {status_markup(t['status'])} · drift {status_markup(drift)} · "
            f"{escape(where)}")
        self.query_one("#tenant-main", Static).update(render_main(detail, now))
        self.query_one("#tenant-side", Static).update(render_side(detail, now))

    # -- read-only actions -----------------------------------------------------
    def cmd_diff(self) -> None:
        from tenantops.console.screens.diff import DiffScreen

        self.app.push_screen(DiffScreen(self.slug))

    def cmd_check(self) -> None:
        self.notify(f"Checking {self.slug} for drift…", timeout=2)
        self.run_call("checked", lambda: _check(self.ctx, self.slug))

    def show_checked(self, report: dict[str, Any]) -> None:
        n = len(report["differences"])
        self.notify(f"{self.slug}: {report['severity']} (score {report['score']}, {n} difference(s)).", title="Drift",
                    severity="information" if report["severity"] in ("none", "low") else "warning")
        self.cmd_refresh()

    def cmd_custom(self) -> None:
        from tenantops.console.screens.custom import CustomScreen

        self.app.push_screen(CustomScreen(self.slug))

    def cmd_snapshots(self) -> None:
        from tenantops.console.screens.snapshots import SnapshotsScreen

        self.app.push_screen(SnapshotsScreen(self.slug))

    def cmd_timeline(self) -> None:
        from tenantops.console.screens.timeline import TimelineScreen

        jobs = (self.detail or {}).get("jobs") or []
        if not jobs:
            self.notify(f"{self.slug} has no jobs yet.", severity="warning")
            return
        self.app.push_screen(TimelineScreen(jobs[0]["id"]))

    def cmd_audit(self) -> None:
        self.tapp.show(AuditFilter(tenant=self.slug))

    def cmd_backups(self) -> None:
        from tenantops.console.screens.recovery import BackupsScreen

        self.app.push_screen(BackupsScreen(self.slug))

    def cmd_quarantine(self) -> None:
        from tenantops.console.screens.recovery import QuarantineScreen

        self.app.push_screen(QuarantineScreen(self.slug))

    def cmd_accepted(self) -> None:
        from tenantops.console.screens.recovery import AcceptedScreen

        self.app.push_screen(AcceptedScreen(self.slug))

    # -- changes -------------------------------------------------------------
    @work(thread=True, exclusive=False, exit_on_error=False, group="tenant-change")
    def run_call(self, key: str, call: Callable[[], Any]) -> None:
        self.deliver(key, call)

    def _started(self, job_id: int | None, what: str) -> None:
        from tenantops.console.screens.timeline import TimelineScreen

        if job_id is None:
            self.notify(f"{what}: nothing to do.", title=self.slug)
            self.cmd_refresh()
            return
        self.cmd_refresh()
        self.app.push_screen(TimelineScreen(job_id))

    def cmd_snapshot(self) -> None:
        from tenantops.engine.tenants import snapshots

        self.run_call("snapshotted", lambda: snapshots.snapshot(self.ctx, slug=self.slug))

    def show_snapshotted(self, snap: dict[str, Any]) -> None:
        self.notify(f"Snapshot #{snap['id']} taken: {snap['tables']} tables, hash {snap['hash'][:12]}.",
                    title=self.slug)
        self.cmd_refresh()

    def cmd_repair(self) -> None:
        from tenantops.console.screens.repair import RepairScreen

        self.app.push_screen(RepairScreen(self.slug))

    # add a module: part 1's wizard, preselected with what the tenant has
    def _loaded(self) -> dict[str, Any] | None:
        """The tenant's detail once read; None, with a note, while it is still being read."""
        if self.detail is None:
            self.notify(f"Still reading {self.slug}…", severity="warning", timeout=2)
        return self.detail

    def cmd_add_module(self) -> None:
        from tenantops.console.screens.wizard import WizardScreen

        detail = self._loaded()
        if detail is None:
            return
        t = detail["tenant"]
        chosen = [m["module"] for m in t["module_details"] if not m.get("required")]
        self.app.push_screen(WizardScreen(template=t["template"]["slug"], modules=chosen, lock_template=True,
                                          purpose=f"Add a module to {self.slug}", confirm="Add module"),
                             lambda selection: self._add_chosen(selection, t["modules"]))

    def _add_chosen(self, selection: dict[str, Any] | None, installed: list[str]) -> None:
        if not selection:
            return
        new = [m for m in selection["modules"] if m not in installed]
        if not new:
            self.notify("No new module was chosen.", severity="warning")
            return
        if len(new) > 1:
            self.notify(f"Add one module at a time: adding {new[0]} now (its dependencies come with it).",
                        severity="warning")
        self.add_module(new[0])

    def add_module(self, module: str) -> None:
        from tenantops.engine.tenants import modules

        def start() -> int | None:
            queued = modules.request_module_add(self.ctx, slug=self.slug, module=module)
            return data.spawn_worker(self.ctx, queued.job) if queued.job is not None else None

        self.run_call("job_started", start)

    def show_job_started(self, job_id: int | None) -> None:
        self._started(job_id, "Sync")  # only a sync can have nothing to do

    def cmd_remove_module(self) -> None:
        from tenantops.console.screens.choose import ChoiceDialog

        detail = self._loaded()
        if detail is None:
            return
        t = detail["tenant"]
        required = set(detail.get("required_by_template") or [])
        depends = detail.get("depends_on") or {}
        rows = []
        for m in t["module_details"]:
            name = m["module"]
            dependents = sorted(other for other, deps in depends.items() if name in deps)
            refuse = None
            if name in required:
                refuse = f"{name} is required by template {t['template']['slug']}"
            elif dependents:
                refuse = f"{', '.join(dependents)} depend(s) on {name}: remove that first"
            why = ("■ required", "muted") if name in required else \
                (f"needed by {', '.join(dependents)}", "muted") if dependents else ("can be removed", None)
            rows.append(Row(name, [name, m["version"] or "", why], data={"refuse": refuse}))
        if not rows:
            self.notify(f"{self.slug} has no modules.", severity="warning")
            return
        dialog = ChoiceDialog(f"Remove a module from {self.slug}",
                              "Its tables are dropped after a backup. Choose the module:",
                              [Column("module", 24), Column("version", 8), Column("")], rows)
        self.app.push_screen(dialog, lambda module: self.preview_remove(module) if module else None)

    def preview_remove(self, module: str) -> None:
        from tenantops.engine.tenants import modules

        self.run_call("remove_preview",
                      lambda: modules.preview_module_remove(self.ctx, slug=self.slug, module=module).to_json())

    def show_remove_preview(self, doc: dict[str, Any]) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        tables = ", ".join(doc["drops_tables"]) or "no tables"
        body = (f"Remove module [b]{escape(doc['module'])}[/] from [b]{escape(self.slug)}[/].\n"
                f"Rolls back {len(doc['revisions'])} revision(s) and DROPS: {escape(tables)}.\n"
                "A backup is taken first; the job runs in a worker process.")
        self.app.push_screen(ConfirmDialog(f"Remove {doc['module']}", body, target=self.slug, confirm="Remove",
                                           typed=True),
                             lambda ok: self.remove_module(doc["module"]) if ok else None)

    def remove_module(self, module: str) -> None:
        from tenantops.engine.tenants import modules

        def start() -> int | None:
            queued = modules.request_module_remove(self.ctx, slug=self.slug, module=module, confirm=self.slug)
            return data.spawn_worker(self.ctx, queued.job) if queued.job is not None else None

        self.run_call("job_started", start)

    # sync: pending revisions of the tenant's units
    def cmd_sync(self) -> None:
        from tenantops.engine.tenants import sync

        self.run_call("sync_preview", lambda: sync.preview_sync(self.ctx, slug=self.slug).to_json())

    def show_sync_preview(self, plan: dict[str, Any]) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        if plan["blocked"]:
            self.notify(plan["blocked"][0], title="Sync blocked", severity="error", timeout=10)
            return
        if not plan["pending"]:
            self.notify(f"{self.slug} is up to date: no pending revisions.", title="Sync")
            return
        units = sorted({r["unit"] for r in plan["pending"]})
        body = (f"Apply {len(plan['pending'])} pending revision(s) of {escape(', '.join(units))} to "
                f"[b]{escape(self.slug)}[/].\nA backup is taken first; the job runs in a worker process.")
        self.app.push_screen(ConfirmDialog(f"Sync {self.slug}", body, target=self.slug, confirm="Sync"),
                             lambda ok: self.sync() if ok else None)

    def sync(self) -> None:
        from tenantops.engine.tenants import sync

        def start() -> int | None:
            job_id = sync.request_sync(self.ctx, slug=self.slug).job
            return data.spawn_worker(self.ctx, job_id) if job_id is not None else None

        self.run_call("job_started", start)

    # rollback: choose a batch, preview what it undoes, type the slug
    def cmd_rollback(self) -> None:
        from tenantops.console.screens.choose import ChoiceDialog

        detail = self._loaded()
        if detail is None:
            return
        batches = detail.get("batches") or []
        if not batches:
            self.notify(f"{self.slug} has no migration batches.", severity="warning")
            return
        now = self.tapp.clock()
        rows = []
        for i, b in enumerate(batches):
            refuse = "this is the latest batch: nothing comes after it" if i == 0 else None
            rows.append(Row(b["batch"], [str(b["batch"]), f"{b['action']} {len(b['entries'])}",
                                         ", ".join(b["units"]), ago(b["started_at"], now).removesuffix(" ago")],
                            data={"refuse": refuse}))
        dialog = ChoiceDialog(f"Roll back {self.slug}",
                              "Undo every batch AFTER the one you choose (the chosen batch stays):",
                              [Column("batch", 5, align="right"), Column("revisions", 10), Column("units"),
                               Column("when", 5, align="right")], rows)
        self.app.push_screen(dialog, lambda batch: self.preview_rollback(batch) if batch is not None else None)

    def preview_rollback(self, batch: int) -> None:
        from tenantops.engine.tenants import rollback

        self.run_call("rollback_preview",
                      lambda: rollback.preview_rollback(self.ctx, slug=self.slug, batch=batch).to_json())

    def show_rollback_preview(self, doc: dict[str, Any]) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        if not doc["revisions"]:
            self.notify(f"Nothing to roll back after batch {doc['batch']}.", title="Rollback")
            return
        shown = doc["revisions"][:8]
        listing = "\n".join(f"  ↶ {escape(r['revision'])} [$text-muted]{escape(r['unit'])} · batch {r['batch']}[/]"
                            for r in shown)
        more = f"\n  … {len(doc['revisions']) - len(shown)} more" if len(doc["revisions"]) > len(shown) else ""
        body = (f"Roll [b]{escape(self.slug)}[/] back to batch {doc['batch']}: undo "
                f"{len(doc['revisions'])} revision(s), newest first:\n{listing}{more}\n"
                "A backup is taken first; the job runs in a worker process.")
        self.app.push_screen(ConfirmDialog(f"Roll back {self.slug}", body, target=self.slug, confirm="Roll back",
                                           typed=True, wide=True),
                             lambda ok: self.rollback(doc["batch"]) if ok else None)

    def rollback(self, batch: int) -> None:
        from tenantops.engine.tenants import rollback

        def start() -> int | None:
            queued = rollback.request_rollback(self.ctx, slug=self.slug, batch=batch, confirm=self.slug)
            return data.spawn_worker(self.ctx, queued.job) if queued.job is not None else None

        self.run_call("job_started", start)

    # lifecycle: suspend/resume, move, archive
    def _start(self, request: Callable[[], Any]) -> None:
        def start() -> int | None:
            job_id = request().job
            return data.spawn_worker(self.ctx, job_id) if job_id is not None else None

        self.run_call("job_started", start)

    def cmd_suspend(self) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog
        from tenantops.console.screens.reason import ReasonDialog
        from tenantops.engine.tenants import lifecycle

        detail = self._loaded()
        if detail is None:
            return
        status = detail["tenant"]["status"]
        if status == "suspended":
            body = (f"Let the application of [b]{escape(self.slug)}[/] log in again: its database account "
                    "is unlocked and the tenant is active.")
            self.app.push_screen(ConfirmDialog(f"Resume {self.slug}", body, target=self.slug, confirm="Resume"),
                                 lambda ok: self._start(lambda: lifecycle.request_resume(self.ctx, slug=self.slug))
                                 if ok else None)
        elif status == "active":
            summary = (f"Suspend [b]{escape(self.slug)}[/]: its application's database account is locked and "
                       "its open sessions ended; the data stays, day-2 changes wait until it is resumed.")
            self.app.push_screen(
                ReasonDialog(f"Suspend {self.slug}", summary, label="Reason (required; shown wherever the tenant is)",
                             placeholder="e.g. invoice overdue", confirm="Suspend", limit=lifecycle.MAX_REASON),
                lambda reason: self._start(lambda: lifecycle.request_suspend(self.ctx, slug=self.slug, reason=reason))
                if reason else None)
        else:
            self.notify(f"{self.slug} is {status}: only an active tenant is suspended, a suspended one resumed.",
                        severity="warning")

    def cmd_move(self) -> None:
        from tenantops.engine.servers import registry

        self.run_call("move_servers", lambda: registry.list_servers(self.ctx))

    def show_move_servers(self, servers: list[dict[str, Any]]) -> None:
        from tenantops.console.screens.choose import ChoiceDialog

        detail = self._loaded()
        if detail is None:
            return
        here = detail["tenant"]["server"]
        dialect = next((sv["dialect"] for sv in servers if sv["name"] == here), None)
        rows = []
        for sv in servers:
            refuse = ("the tenant is here" if sv["name"] == here else
                      f"{sv['dialect']}, not {dialect}" if sv["dialect"] != dialect else
                      "draining" if sv["draining"] else
                      "unreachable at its last check" if sv["reachable"] is False else
                      "full" if sv["tenants"] >= sv["capacity"] else None)
            rows.append(Row(sv["name"], [sv["name"], sv["dialect"], f"{sv['tenants']}/{sv['capacity']}",
                                         (refuse, "muted") if refuse else ("can take it", None)],
                            data={"refuse": refuse}))
        dialog = ChoiceDialog(f"Move {self.slug}", f"From {here} to which server?",
                              [Column("server", 16), Column("kind", 8), Column("load", 7), Column("")], rows)
        self.app.push_screen(dialog, lambda target: self.preview_move(target) if target else None)

    def preview_move(self, target: str) -> None:
        from tenantops.engine.tenants import move

        self.run_call("move_preview", lambda: move.preview_move(self.ctx, slug=self.slug, to=target).to_json())

    def show_move_preview(self, doc: dict[str, Any]) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog
        from tenantops.engine.tenants import move

        steps = "\n".join(f"  {i}. {escape(step)}" for i, step in enumerate(doc["steps"], 1))
        body = (f"Move [b]{escape(self.slug)}[/] from {escape(doc['from'])} to [b]{escape(doc['to'])}[/]:\n{steps}\n"
                "The application is locked out while it is copied; any failure leaves it on "
                f"{escape(doc['from'])}. The source database is kept until `tenants cleanup-source`.")
        self.app.push_screen(ConfirmDialog(f"Move {self.slug}", body, target=self.slug, confirm="Move", wide=True),
                             lambda ok: self._start(lambda: move.request_move(self.ctx, slug=self.slug, to=doc["to"]))
                             if ok else None)

    def cmd_archive(self) -> None:
        from tenantops.engine.tenants import lifecycle

        self.run_call("archive_preview", lambda: lifecycle.preview_archive(self.ctx, slug=self.slug).to_json())

    def show_archive_preview(self, doc: dict[str, Any]) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog
        from tenantops.engine.tenants import lifecycle

        body = (f"Archive [b]{escape(self.slug)}[/]: {escape(doc['backup'])}, then DROPS "
                f"{escape(', '.join(doc['drops']))}.\nThe slug stays reserved; `{escape(doc['restore'])}` brings "
                "the tenant back from that backup.")
        self.app.push_screen(ConfirmDialog(f"Archive {self.slug}", body, target=self.slug, confirm="Archive",
                                           typed=True),
                             lambda ok: self._start(lambda: lifecycle.request_archive(self.ctx, slug=self.slug,
                                                                                      confirm=self.slug))
                             if ok else None)


def _check(ctx: Any, slug: str) -> dict[str, Any]:
    from tenantops.engine.health import drift

    return drift.check_drift(ctx, slug=slug)
