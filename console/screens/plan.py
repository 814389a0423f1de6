"""Plan preview: the units in order, revisions per layer and the exact SQL, shown before
anything runs. Used for a new application's selection and before provisioning."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.engine.vocab import LAYERS
from tenantops.console.screens.base import BaseScreen
from tenantops.console.themes import syntax_theme
from tenantops.console.widgets.rowlist import Column, Row, RowList
from tenantops.console.widgets.scrollpane import ScrollPane

Loader = Callable[[str | None], dict[str, Any]]
DIALECTS = ("sqlite", "mysql")
LAYER_ORDER = LAYERS


def plan_doc(resolution: Any, planned: list[Any], dialect: str) -> dict[str, Any]:
    """The engine's resolution + rendered revisions, in the shape this screen shows."""
    return {
        "server": None, "dialect": dialect, "database": None,
        "units": [{"slug": u.slug, "kind": u.kind, "version": str(u.version),
                   "auto_added": resolution.auto_added.get(u.slug)} for u in resolution.units],
        "revisions": [{"unit": r.unit, "layer": r.kind, "revision": r.revision, "message": r.message,
                       "sql": list(r.sql)} for r in planned],
    }


def sql_text(doc: dict[str, Any]) -> tuple[str, dict[str, int]]:
    """All statements, one comment header per revision; and the line where each unit starts."""
    lines: list[str] = []
    starts: dict[str, int] = {}
    for rev in doc["revisions"]:
        starts.setdefault(rev["unit"], len(lines))
        message = f": {rev['message']}" if rev.get("message") else ""
        lines.append(f"-- {rev['layer']} {rev['unit']} · {rev['revision']}{message}")
        for statement in rev["sql"]:
            lines.extend(statement.rstrip().splitlines())
            lines[-1] += ";"
        lines.append("")
    return "\n".join(lines), starts


class PlanScreen(BaseScreen):
    SCREEN_NAME = "plan"
    TITLE_TEXT = "Plan preview"
    CRUMB = "Plan"

    def __init__(self, title: str, loader: Loader, *, dialect: str | None = "sqlite", confirm: str = "Confirm",
                 danger_target: str | None = None) -> None:
        super().__init__()
        self.heading, self.loader, self.confirm_label = title, loader, confirm
        # None: the loader fixes the dialect (the target server's); otherwise switchable
        self.dialect = dialect
        self.danger_target = danger_target
        self.doc: dict[str, Any] | None = None
        self.sql = ""
        self.unit_lines: dict[str, int] = {}

    def compose_body(self) -> ComposeResult:
        yield Static("rendering the plan…", id="plan-bar", classes="bar")
        yield RowList([Column("layer", 8), Column("unit"), Column("version", 7), Column("revs", 4, align="right"),
                       Column("why")], empty="no units", id="plan-units")
        with ScrollPane(id="plan-sql"):
            yield Static("", id="plan-sql-body")

    def on_mount(self) -> None:
        self.query_one("#plan-units", RowList).focus()
        self.watch(self.app, "theme", lambda _: self._render_sql(), init=False)
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def load(self) -> None:
        self.deliver("plan", lambda: self.loader(self.dialect))

    def failed_plan(self, error: str) -> None:
        self.query_one("#plan-bar", Static).update(f"[$text-error]✗ {escape(error)}[/]")
        self.notify(error, title="No plan", severity="error", timeout=8)

    def show_plan(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        per_unit = Counter(r["unit"] for r in doc["revisions"])
        per_layer = Counter(r["layer"] for r in doc["revisions"])
        rows = [Row(u["slug"], [u["kind"], u["slug"], u["version"], str(per_unit.get(u["slug"], 0)),
                                (f"+ {u['auto_added']}" if u.get("auto_added") else "", "muted")])
                for u in doc["units"]]
        self.query_one("#plan-units", RowList).set_rows(rows)
        layers = " · ".join(f"{layer} {per_layer[layer]}" for layer in LAYER_ORDER if per_layer.get(layer))
        where = []
        if doc.get("server"):
            where.append(f"server {escape(doc['server'])}")
        if doc.get("database"):
            where.append(f"database {escape(doc['database'])}")
        dialect = doc.get("dialect") or "?"
        switch = " [$text-muted](m switches)[/]" if self.dialect is not None else ""
        head = [f"[b]{escape(self.heading)}[/]", *where, f"SQL for {escape(dialect)}{switch}",
                f"{len(doc['revisions'])} revisions: {layers}"]
        self.query_one("#plan-bar", Static).update(" · ".join(head))
        self._render_sql()

    def _render_sql(self) -> None:
        if self.doc is None:
            return
        self.sql, self.unit_lines = sql_text(self.doc)
        text = self.sql
        pane = self.query_one("#plan-sql", ScrollPane)
        # match the pane: a Pygments background would paint a block of another colour
        background = "default" if self.app.current_theme.ansi else pane.styles.background.hex
        syntax = Syntax(text, "sql", theme=syntax_theme(self.app.theme), word_wrap=True,
                        background_color=background)
        self.query_one("#plan-sql-body", Static).update(syntax)

    @on(RowList.Highlighted, "#plan-units")
    def jump(self, event: RowList.Highlighted) -> None:
        if event.row is not None and event.row.key in self.unit_lines:
            # approximate under word-wrap, which is fine for jumping to a unit's section
            self.query_one("#plan-sql", ScrollPane).scroll_to(y=self.unit_lines[event.row.key], animate=False)

    @on(RowList.Selected, "#plan-units")
    def read_sql(self, _: RowList.Selected) -> None:
        self.query_one("#plan-sql", ScrollPane).focus()

    def cmd_dialect(self) -> None:
        if self.dialect is None:
            self.notify("The SQL is for the target server's dialect; it cannot be switched here.",
                        severity="warning")
            return
        self.dialect = DIALECTS[(DIALECTS.index(self.dialect) + 1) % len(DIALECTS)]
        self.query_one("#plan-bar", Static).update(f"rendering the plan for {self.dialect}…")
        self.load()

    def cmd_confirm(self) -> None:
        if self.doc is None:
            self.notify("The plan is not ready yet.", severity="warning")
            return
        if self.danger_target is None:
            self.dismiss(True)
            return
        from tenantops.console.screens.confirm import ConfirmDialog

        units = len(self.doc["units"])
        body = (f"{escape(self.heading)}: {units} units, {len(self.doc['revisions'])} revisions"
                + (f" on server {escape(self.doc['server'])}" if self.doc.get("server") else "") + ".\n"
                "The job runs in a separate worker process and continues if the console closes.")

        async def confirmed(ok: bool | None) -> None:
            if ok:
                await self.dismiss(True)

        self.app.push_screen(ConfirmDialog(self.heading, body, target=self.danger_target, confirm=self.confirm_label),
                             confirmed)

    def cmd_cancel(self) -> None:
        self.dismiss(False)
