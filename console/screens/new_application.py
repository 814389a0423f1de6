"""A new application on someone's behalf: details (checked as typed) → template and
modules (the wizard) → plan preview → ``applications.submit``."""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Static

from tenantops.console.screens.approve import check_text
from tenantops.console.screens.base import BaseDialog, show_error
from tenantops.console.widgets.envbanner import EnvBanner
from tenantops.console.widgets.format import tone_markup
from tenantops.engine.tenants.applications import EMAIL_RE
from tenantops.engine.errors import ValidationError
from tenantops.engine.names import check_slug_format

FIELDS = (("organization", "Organisation", "e.g. Nepali Congress — Kathmandu"),
          ("contact", "Contact person (optional)", "e.g. Sita Sharma"),
          ("email", "E-mail of the tenant's first admin", "admin@example.org"),
          ("slug", "Slug (the tenant's name in URLs and its database)", "e.g. nc-kathmandu"))


def field_problem(name: str, value: str) -> str | None:
    """The same rules ``applications.submit`` applies, checked while typing."""
    if name == "organization":
        return "Required." if not value else check_text(value, 255)
    if name == "contact":
        return check_text(value, 255)
    if name == "email":
        if not value:
            return "Required."
        return None if EMAIL_RE.fullmatch(value) and len(value) <= 254 else "Not a valid e-mail address."
    if name == "slug":
        if not value:
            return "Required."
        try:
            check_slug_format(value)
        except ValidationError as exc:
            return str(exc)
    return None


class NewApplicationForm(BaseDialog):
    def __init__(self, values: dict[str, Any] | None = None, error: str | None = None) -> None:
        super().__init__()
        self.values = dict(values or {})
        self.error = error
        self._slug_timer: Timer | None = None
        self.slug_taken: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide") as box:
            box.border_title = "New application · 1 of 3: details"
            yield EnvBanner()
            for name, label, hint in FIELDS:
                yield Label(label)
                yield Input(self.values.get(name, ""), placeholder=hint, id=name)
                yield Static("", id=f"{name}-error", classes="field-error")
            yield Static("", id="form-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Next: template", variant="primary", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#organization", Input).focus()
        if self.error:
            show_error(self.query_one("#form-error", Static), f"✗ not submitted: {escape(self.error)}")
        if self.values.get("slug"):
            self.check_slug(self.values["slug"])

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        name = event.input.id or ""
        value = event.value.strip()
        problem = field_problem(name, value) if value or name == "slug" else None
        if name == "slug":
            self.slug_taken = None
            if self._slug_timer is not None:
                self._slug_timer.stop()
            if problem is None:
                self._slug_timer = self.set_timer(0.25, lambda: self.check_slug(value))
                self._show(name, tone_markup("checking whether it is free…", "muted"))
                return
        self._show(name, tone_markup(problem, "bad") if problem else "")

    def _show(self, name: str, text: str) -> None:
        show_error(self.query_one(f"#{name}-error", Static), text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="slug")
    def check_slug(self, slug: str) -> None:
        from tenantops.engine.tenants.applications import slug_checks

        self.deliver("slug", lambda: (slug, slug_checks(self.ctx, slug)))

    def show_slug(self, result: tuple[str, dict[str, str | None]]) -> None:
        slug, checks = result
        if slug != self.query_one("#slug", Input).value.strip():
            return
        problems = [p for p in checks.values() if p]
        self.slug_taken = problems[0] if problems else None
        self._show("slug", tone_markup(f"✗ {problems[0]}", "bad") if problems
                   else tone_markup("✓ valid, not reserved, free", "ok"))

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        names = [n for n, _, _ in FIELDS]
        index = names.index(event.input.id) if event.input.id in names else len(names) - 1
        if index + 1 < len(names):
            self.query_one(f"#{names[index + 1]}", Input).focus()
        else:
            self.submit()

    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        values = {name: self.query_one(f"#{name}", Input).value.strip() for name, _, _ in FIELDS}
        first_bad = None
        for name, _, _ in FIELDS:
            problem = field_problem(name, values[name])
            if name == "slug" and problem is None and self.slug_taken:
                problem = self.slug_taken
            self._show(name, tone_markup(problem, "bad") if problem else "")
            if problem and first_bad is None:
                first_bad = name
        if first_bad:
            self.query_one(f"#{first_bad}", Input).focus()
            return
        self.dismiss(values)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class NewApplicationFlow:
    """Chains form → wizard → plan; the review screen submits and reports back."""

    def __init__(self, review: Any) -> None:
        self.review = review
        self.app = review.app

    def start(self, values: dict[str, Any] | None = None, error: str | None = None) -> None:
        self.app.push_screen(NewApplicationForm(values, error), self._details)

    def _details(self, values: dict[str, Any] | None) -> None:
        if values is None:
            return
        from tenantops.console.screens.wizard import WizardScreen

        wizard = WizardScreen(template=values.get("template"), modules=values.get("modules"),
                              purpose=f"New application {values['slug']} · 2 of 3", confirm="Submit")
        self.app.push_screen(wizard, lambda selection: self._chosen(values, selection))

    def _chosen(self, values: dict[str, Any], selection: dict[str, Any] | None) -> None:
        if selection is None:
            return
        self.review.submit_new({**values, **selection})
