"""A tenant's custom migrations and the review of the highlighted one: what it changes
(destructive first), the findings with their codes, the round trip and the SQL, before the
approve key. Approving an unsafe one means typing the slug (the engine's --allow-unsafe)."""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.format import tone_markup
from tenantops.console.widgets.rowlist import Column, Row, RowList
from tenantops.console.widgets.scrollpane import ScrollPane

STATUS_TONE = {"submitted": "warn", "approved": "accent", "applied": "good", "failed": "bad", "rolled_back": "muted"}


def review_markup(doc: dict[str, Any]) -> str:
    """The review as the approver reads it (same content as `tenantops custom show`)."""
    review = doc["review"]
    lines = [f"[b]{escape(doc['name'])}[/] · {escape(doc['status'])} · submitted by {escape(doc['submitted_by'])}"
             + (f" · approved by {escape(doc['approved_by'])}" if doc["approved_by"] else "")]
    changes = review["changes"]
    lines.append("")
    lines.append(f"[b]Changes[/] ({len(changes)}, run in a shadow of the tenant's schema)")
    for c in changes:
        sign = {"added": "+", "removed": "-", "modified": "~"}.get(c["change"], "?")
        where = c["name"] if c["object"] == "table" else f"{c['table']}.{c['name']}"
        text = f" {sign} {c['object']} {escape(where)}" + (f" ({escape(str(c['attribute']))})" if c["attribute"] else "")
        lines.append(tone_markup(text + "  DESTRUCTIVE", "bad") if c["destructive"] else text)
    if not changes:
        lines.append(" [$text-muted]no schema change[/]")
    lines.append("")
    lines.append("[b]Findings[/]")
    for f in review["findings"]:
        tone = "bad" if f["severity"] == "error" else "warn"
        lines.append(tone_markup(f" {f['code']} {f['severity']}", tone) + f" {escape(f['message'])}")
    if not review["findings"]:
        lines.append(tone_markup(" ✓ none", "good"))
    ok = review["round_trip"] == "ok"
    lines += ["", "[b]Round trip[/] " + tone_markup("✓ downgrade restores the schema" if ok
                                                   else f"✗ {escape(review['round_trip'])}", "good" if ok else "bad")]
    if review.get("sql"):
        lines += ["", "[b]SQL[/]"] + [f" {escape(s.rstrip(';'))};" for s in review["sql"]]
    return "\n".join(lines)


class CustomScreen(BaseScreen):
    SCREEN_NAME = "custom"
    TITLE_TEXT = "Custom migrations"

    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug
        self.migrations: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Static(f"{escape(self.slug)}: reading custom migrations…", id="custom-bar", classes="bar")
        yield RowList([Column("name", 20), Column("status", 11), Column("findings", 9), Column("by")],
                      empty="No custom migrations (tenantops custom submit SLUG FILE)", id="custom-list")
        with ScrollPane(id="custom-review"):
            yield Static("", id="custom-review-text")

    @property
    def listing(self) -> RowList:
        return self.query_one("#custom-list", RowList)

    def on_mount(self) -> None:
        self.listing.focus()
        self.load()

    def cmd_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="custom")
    def load(self) -> None:
        from tenantops.engine.tenants import custom

        def read() -> list[dict[str, Any]]:
            return [custom.show_custom(self.ctx, slug=self.slug, name=c["name"])
                    for c in custom.list_custom(self.ctx, self.slug)]

        self.deliver("migrations", read)

    def failed_migrations(self, error: str) -> None:
        self.query_one("#custom-bar", Static).update(tone_markup(f"✗ {escape(error)}", "bad"))

    def show_migrations(self, migrations: list[dict[str, Any]]) -> None:
        self.migrations = migrations
        rows = []
        for c in migrations:
            errors = sum(f["severity"] == "error" for f in c["review"]["findings"])
            findings = (f"{errors} unsafe", "bad") if errors else ("clean", "good")
            rows.append(Row(c["name"], [c["name"], (c["status"], STATUS_TONE.get(c["status"])), findings,
                                        c["approved_by"] or c["submitted_by"]], data=c))
        self.listing.set_rows(rows)
        waiting = sum(c["status"] == "submitted" for c in migrations)
        self.query_one("#custom-bar", Static).update(
            f"[b]{escape(self.slug)}[/] {len(migrations)} custom migration(s) · {waiting} waiting for approval")
        self._show_review()

    @on(RowList.Highlighted, "#custom-list")
    def highlighted(self, _: RowList.Highlighted) -> None:
        self._show_review()

    def _show_review(self) -> None:
        row = self.listing.current_row
        text = review_markup(row.data) if row is not None else ""
        self.query_one("#custom-review-text", Static).update(text)

    def cmd_approve(self) -> None:
        from tenantops.console.screens.confirm import ConfirmDialog

        row = self.listing.current_row
        doc = row.data if row is not None else None
        if doc is None or doc["status"] != "submitted":
            self.notify("Only a submitted custom migration can be approved.", severity="warning")
            return
        unsafe = [f for f in doc["review"]["findings"] if f["severity"] == "error"]
        body = f"Approve custom migration [b]{escape(doc['name'])}[/] for [b]{escape(self.slug)}[/]."
        if unsafe:
            body += (f"\nIts review found {len(unsafe)} unsafe finding(s), first: "
                     f"{escape(unsafe[0]['code'])} {escape(unsafe[0]['message'])}.\nType the slug to approve it anyway.")

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.approve(doc["name"], bool(unsafe))

        self.app.push_screen(ConfirmDialog("Approve custom migration", body, target=self.slug, confirm="Approve",
                                           typed=bool(unsafe), wide=True), confirmed)

    @work(thread=True, exclusive=True, exit_on_error=False, group="custom-approve")
    def approve(self, name: str, allow_unsafe: bool) -> None:
        from tenantops.engine.tenants import custom

        self.deliver("approved", lambda: custom.approve_custom(self.ctx, slug=self.slug, name=name,
                                                               allow_unsafe=allow_unsafe))

    def show_approved(self, doc: dict[str, Any]) -> None:
        self.notify(f"Custom migration {doc['name']} approved; apply it with `tenantops custom apply`.",
                    title=self.slug)
        self.load()
