"""A job's live timeline: every step and revision with status, start and duration, the
running step's clock, and errors expanded inline with the failing statement.

Jobs run in worker processes and write their timeline to the landlord, so this screen
only polls: close the console, reopen it, and the same timeline continues.
"""
from __future__ import annotations

import textwrap
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Static

from tenantops.engine.vocab import ACTIVE_JOB_STATUSES
from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.format import clock, duration, elapsed, status, tone_markup
from tenantops.console.widgets.scrollpane import ScrollPane

ACTIVE = ACTIVE_JOB_STATUSES
POLL_SECONDS = 0.5

# a failed job, or a destructive one that started too late and waits for a confirmation
RETRYABLE = ("failed", "needs_confirmation")


def failing_statement(detail: str | None) -> str | None:
    """A revision entry's detail lists the statements it ran; the last one failed."""
    if not detail:
        return None
    statements = [s.strip() for s in detail.split(";\n") if s.strip()]
    return statements[-1] if statements else None


def render_steps(job: dict[str, Any], now: Any, width: int, details: bool) -> str:
    name_width = max(16, width - 11 - 9 - 9 - 4)
    heading = f"{'status':<10} {'step · revision'.ljust(name_width)} {'start':>8} {'took':>8}"
    lines = [f"[$text-muted]{escape(heading)}[/]"]
    for step in job.get("steps", []):
        revision = step["name"].startswith("  ")
        label, tone = status(step["status"])
        running = step["status"] == "running"
        took = elapsed(step["started_at"], now) if running else duration(step["duration_s"])
        name = step["name"]
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        row = (f"{tone_markup(f'{label:<10}', tone, bold=running)} {escape(name.ljust(name_width))} "
               f"{clock(step['started_at']):>8} {took:>8}")
        lines.append(f"[$text-muted]{row}[/]" if revision and not running and step["status"] != "failed" else row)
        pad = " " * (13 if revision else 11)
        room = max(20, width - len(pad) - 2)
        if step["status"] == "failed":
            error = step.get("error") or "failed without a message"
            for i, text in enumerate(textwrap.wrap(error, room) or [error]):
                lines.append(pad + tone_markup(f"{'✗' if i == 0 else ' '} {text}", "bad"))
            statement = failing_statement(step.get("detail")) if revision else None
            if statement:
                lines.append(pad + tone_markup("failing statement:", "bad", bold=True))
                lines.extend(pad + "  " + escape(part) for part in statement.splitlines())
            elif step.get("detail") and not revision:
                lines.append(pad + f"[$text-muted]{escape(step['detail'])}[/]")
        elif step.get("detail") and (running or (details and not revision)):
            first = textwrap.shorten(step["detail"].splitlines()[0], room, placeholder="…")
            lines.append(pad + f"[$text-muted]↳ {escape(first)}[/]")
    if not job.get("steps"):
        lines.append("[$text-muted]No steps yet: the job is waiting for a worker to claim it.[/]")
    return "\n".join(lines)


def retry_dialog(job: dict[str, Any], server: str | None = None) -> Any:
    """The confirmation a retry needs: typing the slug when the job's kind changes data."""
    from tenantops.console.screens.confirm import ConfirmDialog
    from tenantops.engine.kinds import KINDS

    target = job["tenant"] or str(job["id"])
    kind = KINDS.get(job["kind"])
    typed = bool(kind and kind.destructive and job["tenant"])
    where = f" on server [b]{escape(server)}[/]" if server else ""
    body = f"Queue job {job['id']} ({escape(job['kind'])} {escape(target)}) again{where} and start a worker."
    if typed:
        body += "\nIt changes the tenant's data again (a backup is taken first): type the slug."
    return ConfirmDialog("Retry job", body, target=target, confirm="Retry", typed=typed)


def server_rows(servers: list[dict[str, Any]], asked: str | None) -> list[Any]:
    """The servers a retry may move a job to; those that cannot take a tenant are shown
    with the reason and cannot be chosen (the engine checks again)."""
    from tenantops.console.widgets.rowlist import Row

    rows = []
    for sv in servers:
        refuse = None
        if sv["draining"]:
            refuse = f"{sv['name']} is draining: it takes no new tenants"
        elif sv["reachable"] is False:
            refuse = f"{sv['name']} was unreachable at its last check"
        elif sv["tenants"] >= sv["capacity"]:
            refuse = f"{sv['name']} is full ({sv['capacity']} tenants)"
        state = ("‖ draining", "warn") if sv["draining"] else ("✗ unreachable", "bad") if sv["reachable"] is False \
            else ("full", "bad") if refuse else ("✓ can take it", "ok")
        note = " (failed here)" if sv["name"] == asked else ""
        rows.append(Row(sv["name"], [sv["name"] + note, sv["dialect"], f"{sv['tenants']}/{sv['capacity']}", state],
                        data={"refuse": refuse}))
    # the ones that can be chosen first
    return sorted(rows, key=lambda r: r.data["refuse"] is not None)


class RetryFlow:
    """Retry, shared by the jobs list and the timeline: a job that chose a database
    server (provisioning) first offers a server picker, then the confirmation; the
    engine validates the server again before anything is queued."""

    def start_retry(self: Any, job: dict[str, Any] | None) -> None:
        from tenantops.engine.kinds import takes_server

        if job is None or job["status"] not in RETRYABLE:
            self.notify("Only a failed job (or one that needs confirmation) can be retried.", severity="warning")
            return
        if takes_server(job):
            self.read_servers_for_retry(job)
        else:
            self.confirm_retry(job, None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="retry-servers")
    def read_servers_for_retry(self: Any, job: dict[str, Any]) -> None:
        from tenantops.engine.servers import registry

        self.deliver("retry_servers", lambda: (job, registry.list_servers(self.ctx)))

    def show_retry_servers(self: Any, value: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        from tenantops.console.screens.choose import ChoiceDialog
        from tenantops.console.widgets.rowlist import Column

        job, servers = value
        asked = (job.get("params") or {}).get("server")
        why = f" ✗ {escape(job['error'])}" if job.get("error") else ""
        dialog = ChoiceDialog(f"Retry job {job['id']} on which server?",
                              f"{escape(job['kind'])} {escape(job['tenant'] or '')} failed.{why}\nChoose the server "
                              "to run it on:",
                              [Column("server"), Column("dialect", 8), Column("tenants", 9, align="right"),
                               Column("state", 14)], server_rows(servers, asked))
        self.app.push_screen(dialog, lambda name: self.confirm_retry(job, name) if name else None)

    def confirm_retry(self: Any, job: dict[str, Any], server: str | None) -> None:
        def confirmed(ok: bool | None) -> None:
            if ok:
                self.retry_in_worker(job, server)

        self.app.push_screen(retry_dialog(job, server), confirmed)

    @work(thread=True, exclusive=True, exit_on_error=False, group="retry")
    def retry_in_worker(self: Any, job: dict[str, Any], server: str | None) -> None:
        self.deliver("retried", lambda: retry_job(self.ctx, job, server))


def retry_job(ctx: Any, job: dict[str, Any], server: str | None = None) -> int:
    """Queue a failed job again (the engine checks the role its kind needs, and the
    server when one is chosen, and audits it) and start a detached worker for it. Only
    called after ``retry_dialog`` was confirmed."""
    from tenantops.engine.jobs import worker
    from tenantops.engine.kinds import retry

    new_id = retry(ctx, job["id"], confirm=job["tenant"], server=server)
    worker.spawn(ctx, job_id=new_id)
    return new_id


class TimelineScreen(RetryFlow, BaseScreen):
    SCREEN_NAME = "timeline"
    TITLE_TEXT = "Job timeline"

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: dict[str, Any] | None = None
        self.details = False
        self.follow = True
        self._poll: Timer | None = None
        self._was_active = False

    @property
    def crumb(self) -> str:
        return f"job {self.job_id}"

    def compose_body(self) -> ComposeResult:
        yield Static(f"job {self.job_id}: reading…", id="tl-bar", classes="bar")
        with ScrollPane(id="tl-pane"):
            yield Static("", id="tl-body")

    def on_mount(self) -> None:
        self.query_one("#tl-pane", ScrollPane).focus()
        self._poll = self.set_interval(POLL_SECONDS, self.cmd_refresh)
        self.set_interval(1.0, self._tick)
        self.cmd_refresh()

    def on_screen_suspend(self) -> None:
        if self._poll:
            self._poll.pause()

    def on_screen_resume(self) -> None:
        if self._poll and self.is_mounted and (self.job is None or self.job["status"] in ACTIVE):
            self._poll.resume()

    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="job")
    def load(self) -> None:
        from tenantops.engine.jobs import queue as jobs

        self.deliver("job", lambda: jobs.show_job(self.ctx, self.job_id))

    def failed_job(self, error: str) -> None:
        self.query_one("#tl-bar", Static).update(tone_markup(f"✗ {error}", "bad"))
        if self._poll:
            self._poll.pause()

    def show_job(self, job: dict[str, Any]) -> None:
        self.job = job
        active = job["status"] in ACTIVE
        if active:
            self._was_active = True
        elif self._poll:
            self._poll.pause()
            if self._was_active:
                self._was_active = False
                word = "succeeded" if job["status"] == "succeeded" else job["status"]
                self.notify(f"Job {job['id']} ({job['kind']} {job['tenant'] or ''}) {word}.",
                            title="Job", severity="information" if job["status"] == "succeeded" else "error")
        self._paint()

    def _tick(self) -> None:
        # the running step's clock moves without reading the landlord again
        if self.job is not None and self.job["status"] in ACTIVE:
            self._paint()

    def _paint(self) -> None:
        job = self.job
        if job is None:
            return
        now = self.tapp.clock()
        label, tone = status(job["status"])
        parts = [f"[b]job {job['id']}[/] {escape(job['kind'])} {escape(job['tenant'] or '')}",
                 tone_markup(label, tone, bold=True)]
        if job.get("waiting"):
            parts.append(tone_markup(f"waits: {job['waiting']}", "warn"))
        if job["attempt"] and job["attempt"] > 1:
            parts.append(f"attempt {job['attempt']}")
        if job["started_at"]:
            end = job["finished_at"]
            parts.append(f"{clock(job['started_at'])}–{clock(end)} UTC" if end else
                         f"since {clock(job['started_at'])} UTC, {elapsed(job['started_at'], now)}")
        parts.append(escape(job["created_by"]))
        self.query_one("#tl-bar", Static).update(" · ".join(parts))
        pane = self.query_one("#tl-pane", ScrollPane)
        width = pane.scrollable_content_region.width or 78
        body = render_steps(job, now, width, self.details)
        if job.get("error") and job["status"] == "failed":
            body += "\n\n" + tone_markup(f"✗ job failed: {job['error']}", "bad", bold=True) + \
                "\n[$text-muted]R queues it again; 3 lists every job[/]"
        self.query_one("#tl-body", Static).update(body)
        if self.follow and job["status"] in ACTIVE:
            pane.scroll_end(animate=False)

    def on_resize(self) -> None:
        self._paint()

    def cmd_details(self) -> None:
        self.details = not self.details
        self.notify("Showing every step's detail." if self.details else "Showing details of failures only.")
        self._paint()

    def cmd_follow(self) -> None:
        self.follow = not self.follow
        self.notify("Following the running step." if self.follow else "Not following; scroll freely.")

    def cmd_retry(self) -> None:
        self.start_retry(self.job)

    def show_retried(self, job_id: int) -> None:
        self.app.switch_screen(TimelineScreen(job_id))
