"""The audit log: who did what to which tenant, with parameters and outcome, newest
first. Filter by operator (o), action (a) and tenant (t) — the engine filters those —
and by any text (/). Export what is shown to JSON or CSV (e / E) under
``$TENANTOPS_HOME/exports``."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console import data
from tenantops.console.screens.base import BaseScreen, FilterableList
from tenantops.console.typed import AuditFilter
from tenantops.console.widgets.filterbar import FilterBar
from tenantops.console.widgets.format import parse_time, tone_markup
from tenantops.console.widgets.rowlist import Column, LazyRows, RowList

OUTCOME = {"ok": ("✓ ok", "ok"), "failed": ("✗ failed", "bad"), "denied": ("⊘ denied", "warn")}
FIELDS = {"operator": "operator", "op": "operator", "action": "action", "tenant": "target", "target": "target",
          "outcome": "outcome"}
CSV_FIELDS = ("id", "at", "operator", "action", "target", "outcome", "error", "params")


def params_text(params: dict[str, Any] | None) -> str:
    if not params:
        return ""
    return " ".join(f"{k}={v}" for k, v in params.items())


def write_export(entries: list[dict[str, Any]], folder: Path, stem: str, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.{kind}"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.{kind}"
        n += 1
    if kind == "json":
        path.write_text(json.dumps(entries, indent=2, default=str) + "\n", encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for e in entries:
                writer.writerow({**{k: e.get(k) for k in CSV_FIELDS},
                                 "params": json.dumps(e.get("params") or {}, sort_keys=True, default=str)})
    return path


# the target (a slug, usually) is as wide as its longest value: never cut, the action
# and the parameters give way (fit_column)
NARROW = [Column("when", 11), Column("operator", 10), Column("action"), Column("target"), Column("outcome", 10)]
WIDE = [Column("when", 16), Column("operator", 12), Column("action", 22), Column("target"), Column("outcome", 10),
        Column("parameters")]


class AuditScreen(FilterableList, BaseScreen):
    list_selector = "#audit-list"
    SCREEN_NAME = "audit"
    TITLE_TEXT = "Audit log"

    def __init__(self) -> None:
        super().__init__()
        self.operator: str | None = None
        self.action: str | None = None
        self.tenant: str | None = None
        self.text_filter = ""
        self.entries: list[dict[str, Any]] = []
        self.shown: list[dict[str, Any]] = []
        self.facets: dict[str, list[str]] = {"operators": [], "actions": []}
        self._wide = False
        self.loaded = False

    def on_resize(self) -> None:
        wide = self.size.width >= 100
        if wide != self._wide:
            self._wide = wide
            self.listing.set_columns(WIDE if wide else NARROW)
            self.render_entries()

    def compose_body(self) -> ComposeResult:
        yield Static("reading the audit log…", id="audit-bar", classes="bar")
        yield RowList(NARROW, empty="No entries match", id="audit-list")
        yield Static("", id="audit-detail")
        yield FilterBar(placeholder="filter: any text · operator: action: tenant: outcome: · Esc clears")

    @property
    def listing(self) -> RowList:
        return self.query_one("#audit-list", RowList)

    def on_mount(self) -> None:
        self.listing.focus()
        self.set_interval(self.tapp.poll_seconds * 2, self.cmd_refresh)
        self.cmd_refresh()

    def on_screen_resume(self) -> None:
        if self.is_mounted and self.loaded:
            self.cmd_refresh()

    def apply_filter(self, where: AuditFilter) -> None:
        self.operator, self.action, self.tenant = where.operator, where.action, where.tenant
        if self.is_mounted:
            self.cmd_refresh()

    # -- reads ---------------------------------------------------------------
    def cmd_refresh(self) -> None:
        self.load(self.operator, self.action, self.tenant)

    @work(thread=True, exclusive=True, exit_on_error=False, group="audit")
    def load(self, operator: str | None, action: str | None, tenant: str | None) -> None:
        from tenantops.engine.access import audit

        def read() -> dict[str, Any]:
            entries = audit.list_audit(self.ctx, operator=operator, action=action, target=tenant)
            entries.reverse()  # newest first
            return {"entries": entries, "facets": data.audit_facets(self.ctx),
                    "filters": (operator, action, tenant)}

        self.deliver("audit", read)

    def show_audit(self, value: dict[str, Any]) -> None:
        if value["filters"] != (self.operator, self.action, self.tenant):
            return  # the filters moved on while this was read
        self.entries, self.facets = value["entries"], value["facets"]
        self.loaded = True
        self.render_entries()

    # -- filters -------------------------------------------------------------
    def _cycle(self, current: str | None, values: list[str]) -> str | None:
        options: list[str | None] = [None, *values]
        index = options.index(current) if current in options else 0
        return options[(index + 1) % len(options)]

    def cmd_operator(self) -> None:
        self.operator = self._cycle(self.operator, self.facets["operators"])
        self.cmd_refresh()
        self._render_bar()

    def cmd_action(self) -> None:
        self.action = self._cycle(self.action, self.facets["actions"])
        self.cmd_refresh()
        self._render_bar()

    def cmd_tenant(self) -> None:
        if self.tenant is not None:
            self.tenant = None
        else:
            row = self.listing.current_row
            target = row.data.get("target") if row else None
            if not target:
                self.notify("The highlighted entry names no tenant.", severity="warning")
                return
            self.tenant = target
        self.cmd_refresh()
        self._render_bar()

    def refilter(self) -> None:
        self.render_entries()

    def _matches(self, e: dict[str, Any], tokens: list[tuple[str | None, str]]) -> bool:
        for field, value in tokens:
            if field is None:
                hay = f"{e['operator']} {e['action']} {e['target'] or ''} {e['outcome']} {e['error'] or ''} " \
                      f"{params_text(e['params'])}".lower()
            else:
                hay = str(e.get(field) or "").lower()
            if value not in hay:
                return False
        return True

    def render_entries(self) -> None:
        tokens: list[tuple[str | None, str]] = []
        for raw in self.text_filter.split():
            field, sep, value = raw.partition(":")
            if sep and field in FIELDS:
                if value:
                    tokens.append((FIELDS[field], value))
            else:
                tokens.append((None, raw))
        self.shown = [e for e in self.entries if self._matches(e, tokens)] if tokens else self.entries
        self.listing.fit_column(3, max((len(e["target"] or "—") for e in self.shown), default=6))
        self.listing.set_rows(LazyRows(self.shown, key=lambda e: e["id"], cells=self._cells))
        self._render_bar()
        self._render_detail(self.listing.current_row.data if self.listing.current_row else None)

    def _cells(self, e: dict[str, Any]) -> list[Any]:
        when = parse_time(e["at"])
        cells = [when.strftime("%Y-%m-%d %H:%M" if self._wide else "%m-%d %H:%M") if when else "—", e["operator"],
                 e["action"], e["target"] or "—", OUTCOME.get(e["outcome"], (e["outcome"], None))]
        if self._wide:
            cells.append((params_text(e["params"]), "muted"))
        return cells

    def _render_bar(self) -> None:
        parts = [f"[b]{len(self.shown):,}[/] of {len(self.entries):,} entries"]
        for name, value in (("operator", self.operator), ("action", self.action), ("tenant", self.tenant)):
            if value:
                parts.append(f"{name} [b]{escape(value)}[/]")
        if self.text_filter:
            parts.append(f"filter “{escape(self.text_filter)}”")
        parts.append("newest first")
        self.query_one("#audit-bar", Static).update(" · ".join(parts))

    @on(RowList.Highlighted, "#audit-list")
    def highlighted(self, event: RowList.Highlighted) -> None:
        self._render_detail(event.row.data if event.row else None)

    def _render_detail(self, e: dict[str, Any] | None) -> None:
        detail = self.query_one("#audit-detail", Static)
        if e is None:
            detail.update("")
            return
        text = f"[$text-muted]#{e['id']} {escape(e['at'][:19])} UTC · params[/] " \
               f"{escape(json.dumps(e['params'] or {}, sort_keys=True, default=str))}"
        if e.get("error"):
            text += "\n" + tone_markup(f"✗ {e['error']}", "bad")
        detail.update(text)

    # -- export --------------------------------------------------------------
    def _export(self, kind: str) -> None:
        if not self.shown:
            self.notify("Nothing to export: no entries are shown.", severity="warning")
            return
        entries = list(self.shown)
        stem = "audit-" + self.tapp.clock().strftime("%Y%m%dT%H%M%S")
        folder = Path(self.ctx.home) / "exports"
        self.export(entries, folder, stem, kind)

    @work(thread=True, exclusive=False, exit_on_error=False, group="audit-export")
    def export(self, entries: list[dict[str, Any]], folder: Path, stem: str, kind: str) -> None:
        self.deliver("exported", lambda: (write_export(entries, folder, stem, kind), len(entries)))

    def show_exported(self, value: tuple[Path, int]) -> None:
        path, count = value
        self.last_export = path
        self.notify(f"Exported {count} entries to {path}", title="Audit export", timeout=12)

    def cmd_export_json(self) -> None:
        self._export("json")

    def cmd_export_csv(self) -> None:
        self._export("csv")
