"""Application review: the queue, one application's detail, and the decisions on it.

Every decision is an engine call in a worker (the engine checks the role and audits);
provisioning shows the plan first, asks for confirmation, then queues a job, starts a
detached worker process and opens the job's live timeline.
"""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Static

from tenantops.console import data
from tenantops.console.screens.base import BaseScreen, FilterableList, next_in
from tenantops.console.typed import ReviewFilter
from tenantops.console.widgets.filterbar import FilterBar
from tenantops.console.widgets.format import ago, stamp, status, status_markup, tone_markup
from tenantops.console.widgets.rowlist import Column, Row, RowList
from tenantops.console.widgets.scrollpane import ScrollPane
from tenantops.engine.tenants import applications

STATUS_CYCLE: tuple[str | None, ...] = (None, *applications.STATUSES)
PROVISIONABLE = ("approved", "failed")


class ReviewScreen(FilterableList, BaseScreen):
    list_selector = "#queue"
    SCREEN_NAME = "review"
    TITLE_TEXT = "Applications"

    def __init__(self) -> None:
        super().__init__()
        self.status: str | None = None
        self.newest_first = True
        self.text_filter = ""
        self.apps: list[dict[str, Any]] = []
        self.detail: dict[str, Any] | None = None
        self._detail_timer: Timer | None = None
        self._select_after_load: int | None = None
        self._last_values: dict[str, Any] | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="review-bar", classes="bar")
        with Horizontal(id="review-body"):
            yield RowList([Column("status", 14), Column("slug"), Column("age", 4, align="right")],
                          empty="No applications match", id="queue")
            with ScrollPane(id="detail"):
                yield Static("", id="detail-body")
        yield FilterBar()

    def on_mount(self) -> None:
        self.set_interval(self.tapp.poll_seconds, self.cmd_refresh)
        self.query_one("#queue", RowList).focus()
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.cmd_refresh()

    # -- filters (also used by the dashboard) ----------------------------------
    def apply_filter(self, where: ReviewFilter) -> None:
        self.status = where.status
        if self.is_mounted:
            self.render_queue()
            self.cmd_refresh()

    def cmd_status(self) -> None:
        self.status = next_in(STATUS_CYCLE, self.status)
        self.render_queue()

    def cmd_sort(self) -> None:
        self.newest_first = not self.newest_first
        self.render_queue()

    def refilter(self) -> None:
        self.render_queue()

    def tick_ages(self) -> None:
        if self.apps:
            self.render_queue()

    # -- reads ---------------------------------------------------------------
    def cmd_refresh(self) -> None:
        self.load_queue()

    @work(thread=True, exclusive=True, exit_on_error=False, group="queue")
    def load_queue(self) -> None:
        self.deliver("queue", lambda: applications.list_applications(self.ctx))

    def show_queue(self, apps: list[dict[str, Any]]) -> None:
        self.apps = apps
        self.render_queue()

    def _visible(self) -> list[dict[str, Any]]:
        rows = [a for a in self.apps if self.status is None or a["status"] == self.status]
        if self.text_filter:
            rows = [a for a in rows if self.text_filter in f"{a['slug']} {a['organization']} {a['email']}".lower()]
        rows.sort(key=lambda a: (a["submitted_at"], a["id"]), reverse=self.newest_first)
        return rows

    def render_queue(self) -> None:
        queue = self.query_one("#queue", RowList)
        now = self.tapp.clock()
        visible = self._visible()
        queue.fit_column(1, max((len(a["slug"]) for a in self.apps), default=4))
        queue.set_rows([Row(a["id"], [status(a["status"]), a["slug"], ago(a["submitted_at"], now).removesuffix(" ago")],
                            data=a)
                        for a in visible])
        if self._select_after_load and queue.move_to_key(self._select_after_load):
            self._select_after_load = None
        label = self.status or "all"
        parts = [f"[b]{label}[/] {len(visible)} of {len(self.apps)}",
                 "newest first" if self.newest_first else "oldest first"]
        if self.text_filter:
            parts.append(f"filter “{escape(self.text_filter)}”")
        self.query_one("#review-bar", Static).update(" · ".join(parts))
        if not visible:
            self.detail = None
            self.query_one("#detail-body", Static).update("[$text-muted]Nothing selected.[/]")

    @on(RowList.Highlighted, "#queue")
    def highlighted(self, event: RowList.Highlighted) -> None:
        if event.row is None:
            return
        # holding j must not start a read per row: wait until the cursor rests
        if self._detail_timer is not None:
            self._detail_timer.stop()
        key = event.row.key
        self._detail_timer = self.set_timer(0.12, lambda: self.load_detail(key))

    @on(RowList.Selected, "#queue")
    def selected(self, _: RowList.Selected) -> None:
        self.query_one("#detail", ScrollPane).focus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def load_detail(self, key: int) -> None:
        self.deliver("detail", lambda: self._read_detail(key))

    def _read_detail(self, key: int) -> dict[str, Any]:
        detail = data.application_detail(self.ctx, key)
        app = detail["application"]
        try:
            from tenantops.engine.catalog import resolve

            resolution = resolve(data.load_catalog(self.ctx), app["template"], app["modules"])
            detail["units"] = [(u.slug, u.kind, str(u.version)) for u in resolution.units]
            detail["auto_added"] = dict(resolution.auto_added)
        except Exception as exc:  # noqa: BLE001 - shown inline: the catalog may have changed since
            from tenantops.console.screens.base import one_line

            detail["catalog_error"] = one_line(exc)
        return detail

    def show_detail(self, detail: dict[str, Any]) -> None:
        current = self.query_one("#queue", RowList).current_row
        if current is None or current.key != detail["application"]["id"]:
            return  # the cursor moved on while this was read
        self.detail = detail
        self.query_one("#detail-body", Static).update(render_detail(detail, self.tapp.clock()))
        self.refresh_keys()

    # -- decisions -------------------------------------------------------------
    def _selected(self, allowed: tuple[str, ...], verb: str) -> dict[str, Any] | None:
        row = self.query_one("#queue", RowList).current_row
        if row is None:
            self.notify("No application is selected.", severity="warning")
            return None
        app = row.data
        if app["status"] not in allowed:
            self.notify(f"{app['slug']} is {app['status']}; only {' or '.join(allowed)} applications can be {verb}.",
                        severity="warning")
            return None
        return app

    def cmd_approve(self) -> None:
        from tenantops.console.screens.approve import ApproveDialog

        app = self._selected(("pending",), "approved")
        if app:
            self.app.push_screen(ApproveDialog(app), lambda notes: self._approve(app, notes))

    def _approve(self, app: dict[str, Any], notes: str | None) -> None:
        if notes is not None:
            self.decide("approved", lambda: applications.approve(self.ctx, app["id"], notes=notes or None))

    def cmd_reject(self) -> None:
        from tenantops.console.screens.reject import RejectDialog

        app = self._selected(("pending",), "rejected")
        if app:
            self.app.push_screen(RejectDialog(app), lambda reason: self._reject(app, reason))

    def _reject(self, app: dict[str, Any], reason: str | None) -> None:
        if reason:
            self.decide("rejected", lambda: applications.reject(self.ctx, app["id"], reason=reason))

    @work(thread=True, exclusive=False, exit_on_error=False, group="decide")
    def decide(self, verb: str, call: Any) -> None:
        self.deliver("decided", lambda: (verb, call()))

    def show_decided(self, result: tuple[str, dict[str, Any]]) -> None:
        verb, app = result
        self.notify(f"{app['slug']} {verb}.", title="Application")
        self._select_after_load = app["id"]
        self.cmd_refresh()
        self.load_detail(app["id"])

    def cmd_new(self) -> None:
        from tenantops.console.screens.new_application import NewApplicationFlow

        NewApplicationFlow(self).start()

    def submit_new(self, values: dict[str, Any]) -> None:
        self._last_values = values
        self._submit(values)

    @work(thread=True, exclusive=True, exit_on_error=False, group="submit")
    def _submit(self, values: dict[str, Any]) -> None:
        self.deliver("submitted", lambda: applications.submit(
            self.ctx, organization=values["organization"], slug=values["slug"], email=values["email"],
            template=values["template"], modules=values["modules"], contact=values.get("contact", "")))

    def failed_submitted(self, error: str) -> None:
        from tenantops.console.screens.new_application import NewApplicationFlow

        # back to the form with everything typed so far and the engine's reason
        self.notify(error, title="Not submitted", severity="error", timeout=8)
        NewApplicationFlow(self).start(self._last_values, error)

    def show_submitted(self, app: dict[str, Any]) -> None:
        self.notify(f"Application {app['slug']} submitted; it is pending review.", title="Application")
        self.status = None if self.status not in (None, "pending") else self.status
        self._select_after_load = app["id"]
        self.cmd_refresh()

    # -- provisioning ----------------------------------------------------------
    def cmd_provision(self) -> None:
        from tenantops.console.screens.plan import PlanScreen
        from tenantops.engine.tenants import provision as provisioner

        app = self._selected(PROVISIONABLE, "provisioned")
        if not app:
            return
        slug = app["slug"]
        screen = PlanScreen(f"Provision {slug}", lambda _dialect: _provision_plan(provisioner.preview_provision(self.ctx, slug=slug).to_json()),
                            dialect=None, confirm="Provision", danger_target=slug)

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.provision(slug)

        self.app.push_screen(screen, confirmed)

    @work(thread=True, exclusive=True, exit_on_error=False, group="provision")
    def provision(self, slug: str) -> None:
        from tenantops.engine.tenants import provision as provisioner
        from tenantops.engine.jobs import worker

        def start() -> int:
            job_id = provisioner.request_provision(self.ctx, slug=slug).job
            assert job_id is not None
            # a detached process: the job goes on if this console or its SSH session ends
            worker.spawn(self.ctx, job_id=job_id)
            return job_id

        self.deliver("provisioning", start)

    def show_provisioning(self, job_id: int) -> None:
        from tenantops.console.screens.timeline import TimelineScreen

        self.cmd_refresh()
        self.app.push_screen(TimelineScreen(job_id))

    def cmd_timeline(self) -> None:
        from tenantops.console.screens.timeline import TimelineScreen

        job = (self.detail or {}).get("job")
        if not job:
            self.notify("This application has no job yet.", severity="warning")
            return
        self.app.push_screen(TimelineScreen(job["id"]))


def _provision_plan(plan: dict[str, Any]) -> dict[str, Any]:
    return {"server": plan["server"], "dialect": plan["dialect"], "database": plan["database"],
            "units": plan["units"], "revisions": plan["revisions"]}


def render_detail(detail: dict[str, Any], now: Any) -> str:
    app = detail["application"]
    lines = [f"[b]{escape(app['organization'])}[/]",
             f"{status_markup(app['status'])} · submitted {ago(app['submitted_at'], now)}", ""]

    def field(name: str, value: Any) -> None:
        if value:
            lines.append(f"[$text-muted]{name:<10}[/]{escape(str(value))}")

    field("Slug", app["slug"])
    field("Contact", app["contact"] or "—")
    field("E-mail", app["email"])
    field("Submitted", stamp(app["submitted_at"]))
    field("By", app["submitted_by"])
    lines += ["", "[b]Slug checks[/]"]
    for name, ok, text in detail["checks"]:
        mark = tone_markup(f"✓ {name:<9}", "ok") if ok else tone_markup(f"✗ {name:<9}", "bad", bold=True)
        lines.append(f" {mark}{escape(text)}")
    lines += ["", "[b]Template and modules[/]"]
    units = detail.get("units")
    if units:
        auto = detail.get("auto_added", {})
        for slug, kind, version in units:
            if kind == "template":
                lines.append(f" {escape(slug)} {escape(version)}")
            elif kind == "module":
                why = auto.get(slug, "")
                mark = "■" if why.startswith("required") else "+" if why else "✓"
                lines.append(f"  {mark} {escape(slug)} {escape(version)}")
                if why and not why.startswith("required"):
                    lines.append(f"    [$text-muted]{escape(why)}[/]")
        lines.append("[$text-muted]  ✓ requested · ■ required by template · + dependency[/]")
    else:
        field("Template", app["template"])
        field("Modules", ", ".join(app["modules"]) or "none requested")
        if detail.get("catalog_error"):
            lines.append(tone_markup(f" ✗ {detail['catalog_error']}", "bad"))
    if app["reviewed_by"]:
        lines += ["", "[b]Review[/]"]
        field("By", f"{app['reviewed_by']} · {stamp(app['reviewed_at'])}")
        field("Notes", app["notes"])
        field("Reason", app["reason"])
    if app.get("error"):
        lines += ["", tone_markup("✗ Provisioning failed", "bad", bold=True), escape(app["error"])]
    job = detail.get("job")
    if job:
        lines += ["", f"[b]Latest job[/] #{job['id']} {escape(job['kind'])} {status_markup(job['status'])}"
                      " [$text-muted](t: timeline)[/]"]
    return "\n".join(lines)
