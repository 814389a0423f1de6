"""Jobs: running, queued, failed and recent, each opening its timeline; failed ones can
be queued again."""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console.screens.base import BaseScreen, FilterableList, next_in
from tenantops.console.typed import JobsFilter
from tenantops.console.screens.timeline import RETRYABLE, RetryFlow, TimelineScreen
from tenantops.console.widgets.filterbar import FilterBar
from tenantops.console.widgets.format import ago, duration, parse_time, status
from tenantops.console.widgets.rowlist import Column, Row, RowList

STATUS_CYCLE: tuple[str | None, ...] = (None, "running", "queued", "failed", "succeeded")
# what `jobs retry` accepts: a failed job, and a destructive one that came too late to run


def took(job: dict[str, Any]) -> str:
    start, end = parse_time(job["started_at"]), parse_time(job["finished_at"])
    return duration((end - start).total_seconds()) if start and end else "—"


class JobsScreen(RetryFlow, FilterableList, BaseScreen):
    list_selector = "#jobs-list"
    SCREEN_NAME = "jobs"
    TITLE_TEXT = "Jobs"

    def __init__(self) -> None:
        super().__init__()
        self.status: str | None = None
        self.text_filter = ""
        self.jobs: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="jobs-bar", classes="bar")
        yield RowList([Column("#", 5, align="right"), Column("status", 11), Column("kind", 10), Column("tenant"),
                       Column("created", 8, align="right"), Column("took", 7, align="right")],
                      empty="No jobs match", id="jobs-list")
        yield Static("", id="jobs-error")
        yield FilterBar()

    def on_mount(self) -> None:
        self.set_interval(self.tapp.poll_seconds, self.cmd_refresh)
        self.query_one("#jobs-list", RowList).focus()
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.cmd_refresh()

    def apply_filter(self, where: JobsFilter) -> None:
        self.status = where.status
        if self.is_mounted:
            self.render_jobs()

    def cmd_status(self) -> None:
        self.status = next_in(STATUS_CYCLE, self.status)
        self.render_jobs()

    def refilter(self) -> None:
        self.render_jobs()

    def tick_ages(self) -> None:
        if self.jobs:
            self.render_jobs()

    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="jobs")
    def load(self) -> None:
        from tenantops.engine.jobs import queue as jobs

        self.deliver("jobs", lambda: jobs.list_jobs(self.ctx))

    def show_jobs(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs
        self.render_jobs()

    def render_jobs(self) -> None:
        now = self.tapp.clock()
        visible = [j for j in self.jobs if self.status is None or j["status"] == self.status]
        if self.text_filter:
            visible = [j for j in visible if self.text_filter in f"{j['tenant'] or ''} {j['kind']}".lower()]
        rows = [Row(j["id"], [str(j["id"]), status(j["status"]), j["kind"], j["tenant"] or "—",
                              ago(j["created_at"], now).removesuffix(" ago"), took(j)], data=j) for j in visible]
        listing = self.query_one("#jobs-list", RowList)
        listing.set_rows(rows)
        counts = {s: sum(1 for j in self.jobs if j["status"] == s) for s in STATUS_CYCLE if s}
        summary = " · ".join(f"{s} {n}" for s, n in counts.items() if n) or "no jobs yet"
        parts = [f"[b]{self.status or 'all'}[/] {len(visible)} shown", summary]
        if self.text_filter:
            parts.append(f"filter “{escape(self.text_filter)}”")
        self.query_one("#jobs-bar", Static).update(" · ".join(parts))
        self._show_error(listing.current_row)

    @on(RowList.Highlighted, "#jobs-list")
    def highlighted(self, event: RowList.Highlighted) -> None:
        self._show_error(event.row)

    def _show_error(self, row: Row | None) -> None:
        job = row.data if row else None
        text = ""
        if job and job["status"] in RETRYABLE and job.get("error"):
            text = f"[$text-error]✗ {escape(job['error'])}[/]  [$text-muted]R retries · Enter opens[/]"
        self.query_one("#jobs-error", Static).update(text)

    @on(RowList.Selected, "#jobs-list")
    def open_job(self, event: RowList.Selected) -> None:
        self.app.push_screen(TimelineScreen(event.row.key))

    def cmd_retry(self) -> None:
        row = self.query_one("#jobs-list", RowList).current_row
        self.start_retry(row.data if row else None)

    def show_retried(self, job_id: int) -> None:
        self.cmd_refresh()
        self.app.push_screen(TimelineScreen(job_id))
