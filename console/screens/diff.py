"""Side-by-side schema diff: expected (from migrations) on the left and actual on the
right, table by table; or any two snapshots of a tenant.

The engine computes everything (``drift.check_drift(keep_schemas=True)`` or
``drift.since_snapshot``) in a worker, which also lays the lines out
(``console.diffmodel``); the view renders only the visible lines. ``n``/``N`` step
through the differences, ``o``/``c`` filter by kind of object and change, ``a``
accepts the highlighted difference for a while (dba).
"""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console import data, diffmodel
from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.diffview import DiffView
from tenantops.console.widgets.format import ago, stamp, status_markup, tone_markup
from tenantops.engine.vocab import ACTIVE_JOB_STATUSES

KIND_CYCLE: tuple[str | None, ...] = (None, *diffmodel.KINDS)
CHANGE_CYCLE: tuple[str | None, ...] = (None, *diffmodel.CHANGES)
KIND_WORDS = {"foreign_key": "foreign key"}


def _short(value: Any, limit: int = 40) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, False) and k != "position")
    elif isinstance(value, (list, tuple)):
        text = "(" + ", ".join(map(str, value)) + ")"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff_key(d: dict[str, Any]) -> tuple[Any, ...]:
    return (d["object"], d["change"], d.get("table"), d["name"], d.get("attribute"))


class DiffScreen(BaseScreen):
    SCREEN_NAME = "diff"
    TITLE_TEXT = "Schema diff"
    CRUMB = "Diff"

    def __init__(self, slug: str, *, snapshots: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.slug = slug
        self.snapshots = snapshots
        self.model: diffmodel.DiffModel | None = None
        self.report: dict[str, Any] | None = None
        self.meta: dict[str, Any] = {}
        self.unit_layers: dict[str, str] = {}
        self.kind: str | None = None
        self.change: str | None = None
        self.only = False
        self._keep: tuple[Any, ...] | None = None
        self.loads = 0

    @property
    def drift_mode(self) -> bool:
        return self.snapshots is None

    def compose_body(self) -> ComposeResult:
        what = "checking drift" if self.drift_mode else "comparing snapshots"
        yield Static(f"{escape(self.slug)}: {what}…", id="diff-bar", classes="bar")
        yield DiffView(id="diff-view")
        yield Static("", id="diff-detail")

    @property
    def view(self) -> DiffView:
        return self.query_one("#diff-view", DiffView)

    def on_mount(self) -> None:
        view = self.view
        view.unit_label = self._unit_label
        if not self.drift_mode:
            view.placeholders = ("‹absent›", "‹absent›")
        view.focus()
        self.load()

    # -- reads ---------------------------------------------------------------
    def cmd_refresh(self) -> None:
        line = self.view.current_line
        if line is not None and line.diffs and self.model is not None:
            self._keep = diff_key(self.model.differences[line.diffs[0]])
        self.query_one("#diff-bar", Static).update(f"{escape(self.slug)}: checking again…")
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="diff")
    def load(self) -> None:
        self.deliver("diff", self._read)

    def _read(self) -> dict[str, Any]:
        from tenantops.engine.health import drift
        from tenantops.engine.tenants import snapshots

        # read before the schema: a job ending during the read is seen as a change later
        job = self._job_state()
        if self.snapshots is None:
            report = drift.check_drift(self.ctx, slug=self.slug, keep_schemas=True)
            left, right = report.pop("expected"), report.pop("actual")
            differences = report["differences"]
            meta: dict[str, Any] = {"left": "expected (migrations)", "right": "actual (database)"}
        else:
            a, b = self.snapshots
            first, second = snapshots.get_snapshot(self.ctx, self.slug, a), snapshots.get_snapshot(self.ctx, self.slug, b)
            left, right = first["schema"], second["schema"]
            differences = drift.since_snapshot(self.ctx, self.slug, a, b)
            report = None
            meta = {"left": f"snapshot #{a} · {stamp(first['created_at'])}",
                    "right": f"snapshot #{b} · {stamp(second['created_at'])}", "a": first, "b": second}
        try:
            layers = data.unit_layers(self.ctx)
        except Exception:  # noqa: BLE001 - owners are then shown by unit name only
            layers = {}
        meta["job"] = job
        model = diffmodel.build(left, right, differences)
        return {"model": model, "report": report, "meta": meta, "layers": layers}

    def _job_state(self) -> tuple[int, str] | None:
        """The tenant's latest job as (id, status): when it changes, the schema may have."""
        job = data.latest_job(self.ctx, self.slug)
        return (job["id"], job["status"]) if job else None

    # -- fresh data: a job that ended since the diff was read (a repair started from
    # the console, a sync) makes it read again when the operator comes back to it ----
    def on_screen_resume(self) -> None:
        if self.drift_mode and self.model is not None and self.is_mounted:
            self.check_fresh()

    @work(thread=True, exclusive=True, exit_on_error=False, group="diff-fresh")
    def check_fresh(self) -> None:
        self.deliver("fresh", self._job_state)

    def show_fresh(self, state: tuple[int, str] | None) -> None:
        if state != self.meta.get("job"):
            self.cmd_refresh()
        elif state is not None and state[1] in ACTIVE_JOB_STATUSES and self.app.screen is self:
            self.set_timer(1.0, self.check_fresh)  # still running: look again until it ends

    def failed_fresh(self, error: str) -> None:
        pass  # the diff on screen stays; r reads it again

    def failed_diff(self, error: str) -> None:
        self.query_one("#diff-bar", Static).update(tone_markup(f"✗ {self.slug}: {error}", "bad"))
        self.notify(error, title="No diff", severity="error", timeout=8)

    def show_diff(self, value: dict[str, Any]) -> None:
        self.loads += 1
        self.model, self.report, self.meta, self.unit_layers = value["model"], value["report"], value["meta"], \
            value["layers"]
        view = self.view
        view.left_title, view.right_title = self.meta["left"], self.meta["right"]
        self._apply_view(first_difference=True)

    def _apply_view(self, first_difference: bool = False) -> None:
        if self.model is None:
            return
        view = self.view
        keep = self._keep
        self._keep = None
        current = view.current_index if not first_difference else None
        view.set_model(self.model, self.model.view(self.kind, self.change, self.only), keep_line=False)
        target = None
        if keep is not None:
            target = next((self.model.diff_line[i] for i, d in enumerate(self.model.differences)
                           if diff_key(d) == keep and i in self.model.diff_line), None)
        if target is None and current is not None:
            target = current
        if target is not None and view.move_to_line(target):
            pass
        else:
            positions = view.difference_positions()
            view.cursor = positions[0] if positions else 0
        self._render_bar()
        self._render_detail(view.current_line)

    # -- the bar and the detail line -------------------------------------------
    def _unit_label(self, unit: str | None, width: int) -> str:
        """The owner's layer (basic, template, module, custom), and its name when it fits."""
        if unit is None:
            return "no owner" if self.drift_mode else ""
        layer = data.layer_of(unit, self.unit_layers)
        return f"{layer} {unit}" if width > 12 and layer != unit else layer or unit

    def _render_bar(self) -> None:
        model = self.model
        if model is None:
            return
        total = len(model.differences)
        accepted = sum(1 for d in model.differences if d.get("accepted"))
        parts = [f"[b]{escape(self.slug)}[/]"]
        if self.report is not None:
            parts.append(f"{status_markup(self.report['severity'])} {self.report['score']}")
        elif self.snapshots is not None:  # no report: two snapshots are compared
            parts.append(f"snapshots #{self.snapshots[0]} → #{self.snapshots[1]}")
        parts.append(f"{total} difference{'s' if total != 1 else ''}" + (f" ({accepted} accepted)" if accepted else ""))
        filters = []
        if self.kind:
            filters.append(KIND_WORDS.get(self.kind, self.kind))
        if self.change:
            filters.append(f"{diffmodel.MARK[self.change]} {self.change}")
        parts.append("only " + " ".join(filters) if filters else "differing tables" if self.only
                     else f"all {model.tables} tables")
        if self.report is not None:
            parts.append(f"checked {ago(self.report['checked_at'], self.tapp.clock())}")
        self.query_one("#diff-bar", Static).update(" · ".join(parts))

    def _render_detail(self, line: Any) -> None:
        detail = self.query_one("#diff-detail", Static)
        model = self.model
        if model is None:
            return
        if not model.differences:
            same = "the schema matches its migrations" if self.drift_mode else "the two snapshots are identical"
            detail.update(tone_markup(f"✓ No differences: {same}.", "ok"))
            return
        if line is None or not line.diffs:
            detail.update("[$text-muted]n / N: next / previous difference · o kind · c change · d differing only[/]")
            return
        texts = []
        for i in line.diffs[:2]:
            d = model.differences[i]
            mark = diffmodel.MARK[d["change"]]
            where = d["table"] if d["object"] == "table" else f"{d['table']}.{d['name']}" if d.get("table") \
                else d["name"]
            head = f"{mark} {KIND_WORDS.get(d['object'], d['object'])} {where} {d['change']}"
            if d.get("attribute"):
                head += f": {d['attribute']} {_short(d.get('expected'))} → {_short(d.get('actual'))}"
            facts = [f"{i + 1} of {len(model.differences)}"]
            if self.drift_mode:
                unit = d.get("unit")
                facts.append(f"owner {data.layer_of(unit, self.unit_layers)} {unit}" if unit else "no owner (not expected)")
            if d.get("destructive_to_repair"):
                facts.append("repair is DESTRUCTIVE")
            if d.get("accepted"):
                facts.append("✓ accepted")
            tone = {"added": "ok", "removed": "bad", "modified": "warn"}[d["change"]]
            texts.append(tone_markup(head, tone, bold=True) + " [$text-muted]" + escape(" · ".join(facts)) + "[/]")
        detail.update("\n".join(texts))

    @on(DiffView.Moved, "#diff-view")
    def moved(self, event: DiffView.Moved) -> None:
        self._render_detail(event.line)

    # -- actions ---------------------------------------------------------------
    def _step(self, forward: bool) -> None:
        view = self.view
        positions = view.difference_positions()
        if not positions:
            self.notify("No differences here.", severity="warning")
            return
        if forward:
            later = [p for p in positions if p > view.cursor]
            target = later[0] if later else positions[0]
            wrapped = not later
        else:
            earlier = [p for p in positions if p < view.cursor]
            target = earlier[-1] if earlier else positions[-1]
            wrapped = not earlier
        view.cursor = target
        if wrapped and len(positions) > 1:
            self.notify("Wrapped around to the " + ("first" if forward else "last") + " difference.", timeout=2)

    def cmd_next(self) -> None:
        self._step(True)

    def cmd_previous(self) -> None:
        self._step(False)

    def cmd_kind(self) -> None:
        self.kind = KIND_CYCLE[(KIND_CYCLE.index(self.kind) + 1) % len(KIND_CYCLE)]
        self._apply_view(first_difference=True)

    def cmd_change(self) -> None:
        self.change = CHANGE_CYCLE[(CHANGE_CYCLE.index(self.change) + 1) % len(CHANGE_CYCLE)]
        self._apply_view(first_difference=True)

    def cmd_only(self) -> None:
        self.only = not self.only
        self._apply_view()

    def cmd_plan(self) -> None:
        from tenantops.console.screens.repair import RepairScreen

        self.app.push_screen(RepairScreen(self.slug))

    def cmd_accept(self) -> None:
        from tenantops.console.screens.accept import AcceptDialog

        if not self.drift_mode:
            self.notify("Snapshot comparisons are history: only drift can be accepted.", severity="warning")
            return
        line = self.view.current_line
        model = self.model
        if model is None or line is None or not line.diffs:
            self.notify("Move to a difference first (n / N).", severity="warning")
            return
        open_ = [i for i in line.diffs if not model.differences[i].get("accepted")]
        if not open_:
            self.notify("This difference is accepted already.", severity="warning")
            return
        diff = model.differences[open_[0]]

        def accepted(values: dict[str, str] | None) -> None:
            if values:
                self.accept(diff, values)

        self.app.push_screen(AcceptDialog(self.slug, diff, self.tapp.clock()), accepted)

    @work(thread=True, exclusive=True, exit_on_error=False, group="accept")
    def accept(self, diff: dict[str, Any], values: dict[str, str]) -> None:
        from tenantops.engine.health import drift

        self.deliver("accepted", lambda: (diff, drift.accept_difference(
            self.ctx, slug=self.slug, object=diff["object"], change=diff["change"], table=diff["table"],
            name=diff["name"], attribute=diff.get("attribute"), reason=values["reason"], expires=values["expires"])))

    def show_accepted(self, value: tuple[dict[str, Any], dict[str, Any]]) -> None:
        diff, accepted = value
        self.notify(f"Accepted until {accepted['expires_at'][:10]}: it no longer counts towards the severity.",
                    title="Drift")
        self._keep = diff_key(diff)
        self.load()
