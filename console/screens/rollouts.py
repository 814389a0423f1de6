"""Staged rollouts (`sync --all --stages`): every rollout with its status and progress;
for the highlighted one a progress bar per stage, and the outcome of each tenant of the
chosen stage (h/l or ←/→ choose it; Enter on a tenant opens its job's timeline).

The rollout is driven by another process (the `sync` or `rollouts resume` that started
it), which writes each tenant's outcome to the landlord: this screen only polls, every
second while a rollout runs. Pause and cancel are engine calls that take effect between
tenants; resume starts a detached `tenantops rollouts resume` that drives the rollout to
its end, whether or not the console is still open.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.widgets import Label, ProgressBar, Static

from tenantops.console.screens.base import BaseScreen, next_in
from tenantops.console.widgets.format import ago, tone_markup
from tenantops.console.widgets.rowlist import Cell, Column, LazyRows, Row, RowList

if TYPE_CHECKING:
    from tenantops.engine.context import Context

# a running rollout is read this often; an idle screen every poll_seconds
LIVE_SECONDS = 1.0

ROLLOUT_STATUS: dict[str, tuple[str, str | None]] = {
    "running": ("▶ running", "accent"), "paused": ("‖ paused", "warn"), "halted": ("✗ HALTED", "bad"),
    "cancelled": ("⊘ cancelled", "muted"), "completed": ("✓ completed", "ok")}
OUTCOME: dict[str, tuple[str, str | None]] = {
    "pending": ("◷ pending", "muted"), "running": ("▶ running", "accent"), "upgraded": ("✓ upgraded", "ok"),
    "up-to-date": ("= up to date", None), "failed": ("✗ FAILED", "bad"), "cancelled": ("⊘ not started", "muted")}

STATUS_CYCLE: tuple[str | None, ...] = (None, "running", "paused", "halted", "cancelled", "completed")

LIST_COLUMNS = [Column("#", 4, align="right"), Column("status", 11), Column("stages"),
                Column("progress", 9, align="right"), Column("failed", 6, align="right"), Column("by", 10),
                Column("started", 7, align="right")]
TENANT_COLUMNS = [Column("tenant"), Column("outcome", 13), Column("job", 6, align="right"), Column("error")]


def rollout_status(value: str) -> tuple[str, str | None]:
    return ROLLOUT_STATUS.get(value, (value, None))


def current_stage(rollout: dict[str, Any]) -> int | None:
    """The stage the rollout is at: the first with a tenant not finished."""
    for i, st in enumerate(rollout["stages"]):
        if st["pending"] or st["running"]:
            return i
    return None


def default_stage(rollout: dict[str, Any]) -> int | None:
    """The stage shown until the operator picks one: where the rollout is; once it has
    ended, its first stage with a failure (else its last)."""
    if not rollout["stages"]:
        return None
    at = current_stage(rollout)
    if at is None:
        at = next((i for i, st in enumerate(rollout["stages"]) if st["failed"]), len(rollout["stages"]) - 1)
    return at


def stage_state(rollout: dict[str, Any], index: int) -> tuple[str, str | None]:
    st = rollout["stages"][index]
    if not st["total"]:
        return "· no tenants", "muted"
    if st["done"] == st["total"]:
        return (f"✗ {st['failed']} failed", "bad") if st["failed"] else ("✓ done", "ok")
    if st["running"]:
        return "▶ running", "accent"
    if not st["pending"]:
        return "⊘ cancelled", "muted"  # what is left was never started
    if index == current_stage(rollout):
        if rollout["status"] == "halted":
            return ("✗ halted", "bad") if st["failed"] else ("‖ held", "warn")
        return {"paused": ("‖ paused", "warn"), "running": ("▶ running", "accent")}.get(
            rollout["status"], ("◷ waiting", "muted"))
    return "◷ waiting", "muted"


def counts_text(st: dict[str, Any]) -> str:
    text = f"{st['done']}/{st['total']}"
    if st["failed"]:
        text += " " + tone_markup(f"✗{st['failed']}", "bad", bold=True)
    if st["running"]:
        text += " " + tone_markup(f"▶{st['running']}", "accent")
    return text


def tenant_cells(t: dict[str, Any]) -> list[Cell]:
    return [t["tenant"], OUTCOME.get(t["outcome"], (t["outcome"], None)), str(t["job"]) if t["job"] else "—",
            (t["error"] or "", "bad")]


def driver_command(ctx: Context, rollout_id: int) -> list[str]:
    """`tenantops rollouts resume ID`: the CLI verb that marks the rollout running (role
    checked and audited by the engine) and drives it to its end."""
    cmd = [sys.executable, "-m", "tenantops.console", "--home", str(ctx.home), "--config", ctx.settings.source]
    if ctx.landlord_url:
        cmd += ["--landlord", ctx.landlord_url]
    return cmd + ["rollouts", "resume", str(rollout_id), "--json"]


def spawn_driver(ctx: Context, rollout_id: int) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the rollout's driver detached (it outlives the console and an SSH session);
    its one-line refusal, if any, lands in the returned log file."""
    logs = Path(ctx.home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"rollout-{rollout_id}-{int(time.time() * 1000)}.log"
    with path.open("ab") as log:
        proc = subprocess.Popen(driver_command(ctx, rollout_id), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    return proc, path


class StageRow(Horizontal):
    """One stage: its name, a progress bar over its tenants, done/total with the failures,
    and its state. Clicking it shows its tenants."""

    def __init__(self, index: int) -> None:
        super().__init__(classes="stage-row")
        self.index = index
        self._shown: tuple[dict[str, Any], bool] | None = None

    def compose(self) -> ComposeResult:
        yield Label("", classes="stage-name")
        yield ProgressBar(total=1, show_eta=False, classes="stage-bar")
        yield Label("", classes="stage-counts")
        yield Label("", classes="stage-state")

    def show(self, rollout: dict[str, Any], selected: bool) -> None:
        """Paint the stage now, or once its widgets are mounted."""
        self._shown = (rollout, selected)
        if self.is_mounted:
            self._paint()

    def on_mount(self) -> None:
        self._paint()

    def _paint(self) -> None:
        # mounted but not composed yet, or being removed: its own mount paints it
        if self._shown is None or not self.query(".stage-name"):
            return
        rollout, selected = self._shown
        st = rollout["stages"][self.index]
        self.set_class(selected, "-selected")
        self.query_one(".stage-name", Label).update(f"{'▸' if selected else ' '} {escape(st['name'])}")
        bar = self.query_one(ProgressBar)
        # an empty stage: an empty bar (its state says why), not Textual's animation for
        # an unknown total
        bar.update(total=st["total"] or 1, progress=st["done"])
        bar.set_class(bool(st["failed"]), "-failed")
        self.query_one(".stage-counts", Label).update(counts_text(st))
        text, tone = stage_state(rollout, self.index)
        self.query_one(".stage-state", Label).update(tone_markup(text, tone))

    def on_click(self, event: events.Click) -> None:
        screen = self.screen
        if isinstance(screen, RolloutsScreen):
            screen.choose_stage(self.index)


class RolloutsScreen(BaseScreen):
    SCREEN_NAME = "rollouts"
    TITLE_TEXT = "Rollouts"

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[dict[str, Any]] = []
        self.status: str | None = None
        self.loaded = False
        self.rollout_id: int | None = None
        # the stage whose tenants are shown; None follows the stage the rollout is at
        self.stage: int | None = None
        self.tenants: list[dict[str, Any]] = []
        self._tenants_of: tuple[int, int] | None = None
        # the rollout and stage whose tenants the list shows (a change of them is no news)
        self._tenants_shown: tuple[int, int] | None = None
        # the rollout whose stage rows are mounted, and those rows (not a query: rows of
        # the previous rollout may still be on their way out)
        self._stages_of: int | None = None
        self._stage_rows: list[StageRow] = []
        self._last_read = 0.0
        # rollouts whose end is announced: id -> updated_at when this screen began to watch
        self._watching: dict[int, str | None] = {}
        # drivers this console started: rollout id -> (process, its stderr log, updated_at before)
        self.drivers: dict[int, tuple[subprocess.Popen[bytes], Path, str | None]] = {}
        self._spawning: set[int] = set()
        # a rollout asked for by another screen (the dashboard): highlighted once listed
        self._wanted: int | None = None

    def show_rollout(self, rollout_id: int) -> None:
        """Open on one rollout, whatever the status filter was."""
        self.status, self.rollout_id, self.stage, self._wanted = None, rollout_id, None, rollout_id
        if self.is_mounted:
            self.cmd_refresh()

    def compose_body(self) -> ComposeResult:
        yield Static("reading rollouts…", id="rollouts-bar", classes="bar")
        yield RowList(LIST_COLUMNS, empty="No rollouts yet: tenantops sync --all --stages canary:2,rest",
                      id="rollouts-list")
        yield Static("", id="rollout-summary")
        # not a focus stop: h/l choose the stage, Tab goes from the rollouts to the tenants
        yield VerticalScroll(id="rollout-stages", can_focus=False)
        yield RowList(TENANT_COLUMNS, empty="No tenants in this stage", id="rollout-tenants")
        yield Static("", id="rollout-error")

    @property
    def listing(self) -> RowList:
        return self.query_one("#rollouts-list", RowList)

    @property
    def tenant_list(self) -> RowList:
        return self.query_one("#rollout-tenants", RowList)

    def on_mount(self) -> None:
        self.listing.focus()
        self.set_interval(LIVE_SECONDS, self._poll)
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.loaded:
            self.cmd_refresh()

    # -- reading ---------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return any(r["status"] == "running" for r in self.rollouts) or any(
            p.poll() is None for p, _log, _at in self.drivers.values())

    def _poll(self) -> None:
        if not self.is_current:
            return
        if self.live or time.monotonic() - self._last_read >= self.tapp.poll_seconds:
            self.cmd_refresh()

    def cmd_refresh(self) -> None:
        self._last_read = time.monotonic()
        # drivers that ended before this read: the read tells whether they touched their rollout
        ended = tuple(i for i, (proc, _log, _at) in self.drivers.items() if proc.poll() is not None)
        self.load(self.rollout_id, self.stage, ended)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rollouts")
    def load(self, rollout_id: int | None, stage: int | None, ended: tuple[int, ...] = ()) -> None:
        from tenantops.engine.health import rollouts

        def read() -> tuple[list[dict[str, Any]], int | None, int | None, list[dict[str, Any]], tuple[int, ...]]:
            listed = rollouts.summaries(self.ctx)
            chosen = next((r for r in listed if r["id"] == rollout_id), listed[0] if listed else None)
            if chosen is None:
                return listed, None, None, [], ended
            at = stage if stage is not None and stage < len(chosen["stages"]) else default_stage(chosen)
            tenants = rollouts.stage_tenants(self.ctx, chosen["id"], at) if at is not None else []
            return listed, chosen["id"], at, tenants, ended

        self.deliver("rollouts", read)

    def show_rollouts(self, value: tuple[list[dict[str, Any]], int | None, int | None, list[dict[str, Any]],
                                         tuple[int, ...]]) -> None:
        listed, rollout_id, at, tenants, ended = value
        self.rollouts, self.loaded = listed, True
        for r in listed:
            # the end of a rollout this screen saw running or resumed: said once, wherever
            # the cursor is (its updated_at moves when its driver ends it)
            if r["status"] == "running":
                self._watching.setdefault(r["id"], r["updated_at"])
                continue
            if r["id"] not in self._watching or r["updated_at"] == self._watching[r["id"]]:
                continue
            del self._watching[r["id"]]
            if r["status"] in ("completed", "halted"):
                failed = sum(st["failed"] for st in r["stages"])
                self.notify(f"Rollout {r['id']} {r['status']}" + (f": {r['reason']}" if r.get("reason") else "")
                            + (f" ({failed} tenant(s) failed)" if failed and r["status"] == "completed" else "."),
                            title="Rollouts", severity="error" if r["status"] == "halted" or failed else "information")
        self._check_drivers(ended)
        if rollout_id is not None and (self.rollout_id is None or rollout_id == self.rollout_id):
            self.rollout_id = rollout_id
            self.tenants, self._tenants_of = tenants, (rollout_id, at) if at is not None else None
        self.render_list()

    def tick_ages(self) -> None:
        if self.rollouts:
            self.render_list()

    # -- painting --------------------------------------------------------------------
    @property
    def rollout(self) -> dict[str, Any] | None:
        """The rollout the detail shows: the highlighted one, unless the filter hides it."""
        found = next((r for r in self.rollouts if r["id"] == self.rollout_id), None)
        return found if found is not None and self.status in (None, found["status"]) else None

    def render_list(self) -> None:
        now = self.tapp.clock()
        rows = []
        for r in self.rollouts:
            if self.status is not None and r["status"] != self.status:
                continue
            total = sum(st["total"] for st in r["stages"])
            done = sum(st["done"] for st in r["stages"])
            failed = sum(st["failed"] for st in r["stages"])
            rows.append(Row(r["id"], [str(r["id"]), rollout_status(r["status"]), r["spec"], f"{done}/{total}",
                                      (str(failed), "bad") if failed else "0", r["created_by"],
                                      ago(r["created_at"], now).removesuffix(" ago")], data=r))
        self.listing.set_rows(rows)
        if self._wanted is not None and self.listing.move_to_key(self._wanted):
            self._wanted = None
        if not self.ticking:
            current = self.listing.current_row
            if current is not None and current.key != self.rollout_id:
                self._select(current.key)
        by_status: dict[str, int] = {}
        for r in self.rollouts:
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        parts = [f"[b]{self.status or 'all'}[/] {len(rows)} shown"] if self.rollouts else ["no rollouts"]
        parts += [tone_markup(f"{n} {s}", rollout_status(s)[1], bold=s in ("running", "halted"))
                  for s, n in by_status.items()]
        if self.live:
            parts.append("[$text-muted]live[/]")
        self.query_one("#rollouts-bar", Static).update(" · ".join(parts))
        self.render_detail()

    def render_detail(self) -> None:
        rollout = self.rollout
        summary = self.query_one("#rollout-summary", Static)
        holder = self.query_one("#rollout-stages", VerticalScroll)
        if rollout is None:
            summary.update("")
            self._stages_of, self._stage_rows = None, []
            holder.remove_children()
            self.tenant_list.set_rows([])
            self.query_one("#rollout-error", Static).update("")
            return
        summary.update(self.summary_text(rollout))
        at = self.shown_stage(rollout)
        if len(self._stage_rows) != len(rollout["stages"]) or self._stages_of != rollout["id"]:
            holder.remove_children()
            self._stage_rows = [StageRow(i) for i in range(len(rollout["stages"]))]
            self._stages_of = rollout["id"]
            for row in self._stage_rows:
                row.show(rollout, row.index == at)
            holder.mount_all(self._stage_rows)
        else:
            self._paint_stages()
        self.render_tenants(rollout, at)

    def _paint_stages(self) -> None:
        rollout = self.rollout
        if rollout is None:
            return
        at = self.shown_stage(rollout)
        for row in self._stage_rows:
            row.show(rollout, row.index == at)

    def summary_text(self, r: dict[str, Any]) -> str:
        label, tone = rollout_status(r["status"])
        strategy = f" {r['strategy']}" if r["strategy"] else ""
        strategy += "".join(f" {v}" for v in (r.get("params") or {}).values())  # modules.add: the module
        first = (f"[b]rollout {r['id']}[/] · {tone_markup(label, tone, bold=True)} · {escape(r['kind'])}{strategy} · "
                 f"parallel {r['parallel']} · on-error {escape(r['on_error'])}")
        notes = []
        if r.get("reason"):
            notes.append(tone_markup(r["reason"], "bad" if r["status"] == "halted" else "muted"))
        hint = {"running": "p pauses · x cancels", "paused": "u resumes · x cancels",
                "halted": "u resumes · x cancels"}.get(r["status"])
        if r["id"] in self.drivers and self.drivers[r["id"]][0].poll() is None:
            hint = "driver started from this console"
        if hint:
            notes.append(f"[$text-muted]{hint}[/]")
        if r.get("left_out"):
            notes.append(f"[$text-muted]{len(r['left_out'])} tenant(s) in no stage[/]")
        return first + ("\n" + " · ".join(notes) if notes else "")

    def shown_stage(self, rollout: dict[str, Any]) -> int | None:
        if self.stage is not None and self.stage < len(rollout["stages"]):
            return self.stage
        return default_stage(rollout)

    def render_tenants(self, rollout: dict[str, Any], at: int | None) -> None:
        if at is None or self._tenants_of != (rollout["id"], at):
            # the chosen stage's tenants are being read
            self.tenant_list.set_rows([])
            self.query_one("#rollout-error", Static).update("")
            return
        if self._tenants_shown != self._tenants_of:
            self._tenants_shown = self._tenants_of
            self.tenant_list.forget_changes()
        # a stage can hold thousands of tenants, read every second: only the visible rows
        # are formatted, and changed outcomes are still marked
        self.tenant_list.set_rows(LazyRows(self.tenants, key=lambda t: t["tenant"], cells=tenant_cells,
                                           fingerprint=lambda t: (t["outcome"], t["job"])), compare=True)
        st = rollout["stages"][at]
        self.tenant_list.border_title = f"stage {st['name']} · {st['total']} tenant(s)"
        self._show_error(self.tenant_list.current_row)

    @on(RowList.Highlighted, "#rollouts-list")
    def rollout_highlighted(self, event: RowList.Highlighted) -> None:
        if event.row is not None and event.row.key != self.rollout_id and not self.ticking:
            self._select(event.row.key)

    def _select(self, rollout_id: int) -> None:
        self.rollout_id, self.stage = rollout_id, None
        self.render_detail()
        self.load(rollout_id, None)

    @on(RowList.Highlighted, "#rollout-tenants")
    def tenant_highlighted(self, event: RowList.Highlighted) -> None:
        self._show_error(event.row)

    def _show_error(self, row: Row | None) -> None:
        t = row.data if row else None
        text = ""
        if t and t.get("error"):
            text = tone_markup(f"✗ {t['tenant']}: {t['error']}", "bad")
            if t.get("job"):
                text += "  [$text-muted]Enter opens its job[/]"
        self.query_one("#rollout-error", Static).update(text)

    @on(RowList.Selected, "#rollout-tenants")
    def open_job(self, event: RowList.Selected) -> None:
        from tenantops.console.screens.timeline import TimelineScreen

        if event.row.data.get("job"):
            self.app.push_screen(TimelineScreen(event.row.data["job"]))
        else:
            self.notify(f"{event.row.key} has no job (its outcome: {event.row.data['outcome']}).")

    @on(RowList.Selected, "#rollouts-list")
    def open_rollout(self, event: RowList.Selected) -> None:
        self.tenant_list.focus()

    def cmd_status(self) -> None:
        self.status = next_in(STATUS_CYCLE, self.status)
        self.render_list()

    def cmd_tenant(self) -> None:
        from tenantops.console.screens.tenant import TenantScreen

        row = self.tenant_list.current_row
        if row is None:
            self.notify("No tenant highlighted.", severity="warning")
            return
        self.app.push_screen(TenantScreen(row.key))

    # -- stages ----------------------------------------------------------------------
    def choose_stage(self, index: int) -> None:
        rollout = self.rollout
        if rollout is None or not 0 <= index < len(rollout["stages"]):
            return
        self.stage = index
        self._paint_stages()
        self.render_tenants(rollout, index)
        self.load(rollout["id"], index)

    def cmd_next_stage(self) -> None:
        self._step_stage(1)

    def cmd_previous_stage(self) -> None:
        self._step_stage(-1)

    def _step_stage(self, step: int) -> None:
        rollout = self.rollout
        at = self.shown_stage(rollout) if rollout else None
        if rollout is None or at is None:
            return
        self.choose_stage(max(0, min(len(rollout["stages"]) - 1, at + step)))

    # -- pause, resume, cancel -------------------------------------------------------
    def _chosen(self, verb: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        rollout = self.rollout
        if rollout is None:
            self.notify(f"No rollout to {verb}.", severity="warning")
            return None
        if rollout["status"] not in allowed:
            self.notify(f"Rollout {rollout['id']} is {rollout['status']}; only a {' or '.join(allowed)} rollout "
                        f"can be {verb}d.", severity="warning")
            return None
        return rollout

    def cmd_pause(self) -> None:
        rollout = self._chosen("pause", ("running",))
        if rollout is not None:
            self.change(rollout["id"], "pause")

    def cmd_resume(self) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        if self.rollout is not None and self.rollout["status"] == "running":
            # a running rollout has a driver, or had one that died: only the CLI takes it over
            self.notify(f"Rollout {self.rollout['id']} is running. If its driver died (nothing moves), "
                        f"`tenantops rollouts resume {self.rollout['id']}` takes it over.", severity="warning",
                        timeout=8)
            return
        rollout = self._chosen("resume", ("paused", "halted"))
        if rollout is None:
            return
        left = sum(st["pending"] for st in rollout["stages"])
        body = (f"Resume rollout [b]{rollout['id']}[/] ({escape(rollout['spec'])}): its {left} tenant(s) not "
                f"started yet are synced stage by stage, --on-error {escape(rollout['on_error'])}.\n"
                "A driver process runs it to the end, whether or not this console stays open; "
                "failed tenants stay failed.")
        self.app.push_screen(ConfirmDialog("Resume rollout", body, target=str(rollout["id"]), confirm="Resume"),
                             lambda ok: self.start_driver(rollout) if ok else None)

    def cmd_cancel_rollout(self) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        rollout = self._chosen("cancel", ("running", "paused", "halted"))
        if rollout is None:
            return
        left = sum(st["pending"] for st in rollout["stages"])
        body = (f"Cancel rollout [b]{rollout['id']}[/] ({escape(rollout['spec'])}): its {left} tenant(s) not "
                "started yet are never started; tenants in flight finish. It cannot be resumed.")

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.change(rollout["id"], "cancel")

        self.app.push_screen(ConfirmDialog("Cancel rollout", body, target=str(rollout["id"]), confirm="End rollout"),
                             confirmed)

    @work(thread=True, exclusive=False, exit_on_error=False, group="rollouts-change")
    def change(self, rollout_id: int, verb: str) -> None:
        from tenantops.engine.health import rollouts

        call = {"pause": rollouts.pause, "cancel": rollouts.cancel}[verb]
        self.deliver("changed", lambda: (verb, call(self.ctx, rollout_id=rollout_id)))

    def show_changed(self, value: tuple[str, dict[str, Any]]) -> None:
        verb, doc = value
        self.notify(f"Rollout {doc['id']} {'pauses between tenants' if verb == 'pause' else 'is cancelled'}; "
                    "tenants in flight finish.", title="Rollouts")
        self.cmd_refresh()

    def start_driver(self, rollout: dict[str, Any]) -> None:
        driver = self.drivers.get(rollout["id"])
        if rollout["id"] in self._spawning or (driver is not None and driver[0].poll() is None):
            self.notify(f"Rollout {rollout['id']} already has a driver started from this console.",
                        severity="warning")
            return
        self._spawning.add(rollout["id"])
        self.spawn(rollout["id"], rollout["updated_at"])

    @work(thread=True, exclusive=False, exit_on_error=False, group="rollouts-driver")
    def spawn(self, rollout_id: int, updated_at: str | None) -> None:
        self.deliver("spawned", lambda: (rollout_id, updated_at, *spawn_driver(self.ctx, rollout_id)))

    def show_spawned(self, value: tuple[int, str | None, subprocess.Popen[bytes], Path]) -> None:
        rollout_id, updated_at, proc, log = value
        self._spawning.discard(rollout_id)
        self.drivers[rollout_id] = (proc, log, updated_at)
        self._watching[rollout_id] = updated_at
        self.notify(f"Rollout {rollout_id} resumes: its driver runs in the background.", title="Rollouts")
        self.cmd_refresh()

    def failed_spawned(self, error: str) -> None:
        self._spawning.clear()
        self.notify(error, title="Resume failed", severity="error", timeout=8)

    def _check_drivers(self, ended: tuple[int, ...]) -> None:
        """A driver that ended without touching its rollout was refused (a race: someone
        cancelled it, or an engine check the console does not make): its one line says why."""
        for rollout_id in ended:
            if rollout_id not in self.drivers:
                continue
            proc, log, updated_at = self.drivers.pop(rollout_id)
            rollout = next((r for r in self.rollouts if r["id"] == rollout_id), None)
            if proc.returncode and rollout is not None and rollout["updated_at"] == updated_at:
                try:
                    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
                except OSError:
                    lines = []
                why = lines[-1] if lines else f"the driver exited with status {proc.returncode}"
                self.notify(why, title="Resume failed", severity="error", timeout=8)
