"""Guarded repair: choose a strategy, read the plan (every operation marked ``safe`` or
``DESTRUCTIVE`` in words) and its exact SQL, copy the SQL (OSC 52, so it reaches the
operator's own clipboard over SSH), then run it as a job.

Running needs dba, a backup first (the engine takes it), and for a plan with
destructive operations the tenant's slug typed in a confirmation that repeats the
environment banner. The job's live timeline opens; when it is over the diff is checked
again and shown.
"""
from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Static

from tenantops.engine.vocab import ACTIVE_JOB_STATUSES, REPAIR_STRATEGIES
from tenantops.console import data
from tenantops.console.screens.base import BaseScreen
from tenantops.console.themes import syntax_theme
from tenantops.console.widgets.format import status_markup, tone_markup
from tenantops.console.widgets.rowlist import Column, Row, RowList
from tenantops.console.widgets.scrollpane import ScrollPane

STRATEGIES = REPAIR_STRATEGIES
STRATEGY_HELP = {
    "conservative": "safe operations only; destructive ones are left for later",
    "aggressive": "everything, data moved aside into quarantine",
    "manual": "write the plan as a script to review and run by hand",
}
MARK = {"added": "+", "removed": "-", "modified": "~"}


def sql_text(plan: dict[str, Any]) -> tuple[str, list[int]]:
    """The plan as one SQL script, a comment per operation; and where each one starts."""
    lines: list[str] = [f"-- repair of {plan['tenant']}, strategy {plan['strategy']}: "
                        f"{len(plan['operations'])} operation(s)", ""]
    starts = []
    for n, op in enumerate(plan["operations"], 1):
        starts.append(len(lines))
        lines.append(f"-- {n} · {'safe' if op['safe'] else 'DESTRUCTIVE'} · {op['description']}")
        for statement in op["sql"]:
            lines.extend(statement.rstrip().rstrip(";").splitlines())
            lines[-1] += ";"
        lines.append("")
    if plan.get("skipped"):
        lines.append(f"-- left for people ({len(plan['skipped'])}):")
        for s in plan["skipped"]:
            where = s["table"] if s["object"] == "table" else f"{s['table']}.{s['name']}"
            lines.append(f"--   {s['change']} {s['object']} {where}: {s['reason']}")
    return "\n".join(lines), starts


class RepairScreen(BaseScreen):
    SCREEN_NAME = "repair"
    TITLE_TEXT = "Guarded repair"
    CRUMB = "Repair"

    def __init__(self, slug: str, strategy: str = "conservative") -> None:
        super().__init__()
        self.slug = slug
        self.strategy = strategy
        self.plan: dict[str, Any] | None = None
        self.sql = ""
        self.starts: list[int] = []
        self.job_id: int | None = None
        self._waiting: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(f"{escape(self.slug)}: planning…", id="repair-bar", classes="bar")
        yield RowList([Column("#", 3, align="right"), Column("kind", 13), Column("Δ", 1), Column("operation")],
                      empty="nothing to repair", id="repair-ops")
        with ScrollPane(id="repair-sql"):
            yield Static("", id="repair-sql-body")

    def on_mount(self) -> None:
        self.query_one("#repair-ops", RowList).focus()
        self.watch(self.app, "theme", lambda _: self._render_sql(), init=False)
        self.load()

    @property
    def dangerous(self) -> list[dict[str, Any]]:
        return [op for op in (self.plan or {}).get("operations", []) if not op["safe"]]

    # -- the plan --------------------------------------------------------------
    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="repair-plan")
    def load(self) -> None:
        from tenantops.engine.health import repair as repairs

        strategy = self.strategy
        self.deliver("plan", lambda: repairs.preview_repair(self.ctx, slug=self.slug, strategy=strategy).to_json())

    def failed_plan(self, error: str) -> None:
        self.query_one("#repair-bar", Static).update(tone_markup(f"✗ {self.slug}: {error}", "bad"))
        self.notify(error, title="No plan", severity="error", timeout=8)

    def show_plan(self, plan: dict[str, Any]) -> None:
        if plan["strategy"] != self.strategy:
            return  # an older strategy's plan arrived late
        self.plan = plan
        rows = []
        for n, op in enumerate(plan["operations"], 1):
            kind = ("✓ safe", "ok") if op["safe"] else ("⚠ DESTRUCTIVE", "bad")
            rows.append(Row(n, [str(n), kind, MARK.get(op["change"], " "), op["description"]], data=op))
        for s in plan.get("skipped", []):
            where = s["table"] if s["object"] == "table" else f"{s['table']}.{s['name']}"
            rows.append(Row(("skipped", where, s["change"], s.get("attribute")),
                            ["", ("↷ left", "muted"), MARK.get(s["change"], " "),
                             (f"{s['object']} {where}: {s['reason']}", "muted")], data=s))
        self.query_one("#repair-ops", RowList).set_rows(rows, keep_key=False)
        self._render_bar()
        self._render_sql()

    def _render_bar(self) -> None:
        plan = self.plan
        if plan is None:
            return
        ops = plan["operations"]
        unsafe = len(self.dangerous)
        parts = [f"[b]{escape(self.slug)}[/] {status_markup(plan['severity'])}",
                 f"strategy [b]{self.strategy}[/]", f"{len(ops)} operation(s): {len(ops) - unsafe} safe"]
        if unsafe:
            parts[-1] += " · " + tone_markup(f"{unsafe} DESTRUCTIVE", "bad", bold=True)
        if plan.get("skipped"):
            parts.append(f"{len(plan['skipped'])} left for people")
        parts.append(f"[$text-muted]{STRATEGY_HELP[self.strategy]}[/]")
        self.query_one("#repair-bar", Static).update(" · ".join(parts))

    def _render_sql(self) -> None:
        if self.plan is None:
            return
        self.sql, self.starts = sql_text(self.plan)
        pane = self.query_one("#repair-sql", ScrollPane)
        background = "default" if self.app.current_theme.ansi else pane.styles.background.hex
        self.query_one("#repair-sql-body", Static).update(
            Syntax(self.sql, "sql", theme=syntax_theme(self.app.theme), word_wrap=True, background_color=background))

    @on(RowList.Highlighted, "#repair-ops")
    def jump(self, event: RowList.Highlighted) -> None:
        if event.row is not None and isinstance(event.row.key, int) and event.row.key <= len(self.starts):
            self.query_one("#repair-sql", ScrollPane).scroll_to(y=self.starts[event.row.key - 1], animate=False)

    @on(RowList.Selected, "#repair-ops")
    def read_sql(self, _: RowList.Selected) -> None:
        self.query_one("#repair-sql", ScrollPane).focus()

    # -- actions ---------------------------------------------------------------
    def cmd_strategy(self) -> None:
        self.strategy = STRATEGIES[(STRATEGIES.index(self.strategy) + 1) % len(STRATEGIES)]
        self.plan = None
        self.query_one("#repair-bar", Static).update(f"{escape(self.slug)}: planning the {self.strategy} repair…")
        self.load()

    def cmd_copy(self) -> None:
        if not self.sql:
            self.notify("The plan is not ready yet.", severity="warning")
            return
        # Textual writes OSC 52 to the terminal: the text lands in the clipboard of the
        # machine the operator sits at, also over SSH (and through tmux with set-clipboard on)
        self.app.copy_to_clipboard(self.sql)
        self.notify(f"Copied {len(self.sql.splitlines())} lines of SQL to the clipboard (OSC 52).", title="Copy")

    def cmd_diff(self) -> None:
        from tenantops.console.screens.diff import DiffScreen

        self.app.push_screen(DiffScreen(self.slug))

    def cmd_run(self) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        plan = self.plan
        if plan is None:
            self.notify("The plan is not ready yet.", severity="warning")
            return
        ops = plan["operations"]
        if not ops:
            self.notify(f"Nothing to repair with the {self.strategy} strategy.", severity="warning")
            return
        unsafe = self.dangerous
        if self.strategy == "manual":
            body = (f"Write the {len(ops)} operation(s) for [b]{escape(self.slug)}[/] to a SQL script under the "
                    "tenantops home, to review and run by hand. Nothing runs now.")
            self.app.push_screen(ConfirmDialog("Write a repair script", body, target=self.slug, confirm="Write"),
                                 self._run_if_confirmed)
            return
        if self.strategy == "aggressive" and unsafe:
            listing = "\n".join(f"  ⚠ {escape(op['description'])}" for op in unsafe[:5])
            more = f"\n  … {len(unsafe) - 5} more" if len(unsafe) > 5 else ""
            body = (f"[b]{len(unsafe)} DESTRUCTIVE operation(s)[/] on [b]{escape(self.slug)}[/]:\n{listing}{more}\n"
                    "Data they touch moves into quarantine (restorable); a backup is taken first.")
            self.app.push_screen(ConfirmDialog(f"Aggressive repair of {self.slug}", body, target=self.slug,
                                               confirm="Repair", typed=True, wide=True),
                                 self._run_if_confirmed)
            return
        skipped = f"\n{len(unsafe)} destructive operation(s) are left out (aggressive runs them)." if unsafe else ""
        body = (f"Run {len(ops) - len(unsafe)} safe operation(s) on [b]{escape(self.slug)}[/]; a backup is taken "
                f"first, then drift is checked again.{skipped}")
        self.app.push_screen(ConfirmDialog(f"Repair {self.slug}", body, target=self.slug, confirm="Repair"),
                             self._run_if_confirmed)

    def _run_if_confirmed(self, ok: bool | None) -> None:
        if ok:
            self.run_repair()

    @work(thread=True, exclusive=True, exit_on_error=False, group="repair-run")
    def run_repair(self) -> None:
        from tenantops.engine.health import repair as repairs

        strategy = self.strategy

        def start() -> dict[str, Any]:
            queued = repairs.request_repair(self.ctx, slug=self.slug, strategy=strategy, confirm=self.slug)
            if queued.job is not None:
                data.spawn_worker(self.ctx, queued.job)
            return queued.to_json()

        self.deliver("started", start)

    def show_started(self, doc: dict[str, Any]) -> None:
        from tenantops.console.screens.timeline import TimelineScreen

        if doc.get("script"):
            self.notify(f"Repair script written to {doc['script']}", title="Manual repair", timeout=12)
            return
        if not doc.get("job"):
            self.notify("Nothing to repair.", title="Repair")
            return
        self.job_id = doc["job"]
        self.app.push_screen(TimelineScreen(doc["job"]))

    # -- afterwards: check again and show the diff ------------------------------
    def on_screen_resume(self) -> None:
        if self.job_id is not None and self.is_mounted:
            self.poll_job()

    @work(thread=True, exclusive=True, exit_on_error=False, group="repair-job")
    def poll_job(self) -> None:
        from tenantops.engine.jobs import queue as jobs

        job_id = self.job_id
        if job_id is not None:
            self.deliver("job", lambda: jobs.get_job(self.ctx, job_id))

    def show_job(self, job: dict[str, Any]) -> None:
        from tenantops.console.screens.diff import DiffScreen

        if job["status"] in ACTIVE_JOB_STATUSES:
            if self._waiting is None:
                self.notify("The repair is still running; the diff opens when it is done.", timeout=4)
            self._waiting = self.set_timer(1.0, self.poll_job)
            return
        self.job_id, self._waiting = None, None
        if job["status"] == "succeeded":
            self.notify("Repair done; drift checked again.", title="Repair")
        else:
            self.notify(f"Repair job {job['id']} {job['status']}: {job.get('error') or ''}", title="Repair",
                        severity="error", timeout=10)
        if self.app.screen is self:
            self.app.switch_screen(DiffScreen(self.slug))
