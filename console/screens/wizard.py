"""Template and module wizard: pick a template, toggle its optional modules, see what the
engine adds and why, then preview the plan. Returns ``{"template", "modules"}``.

Every rule (required modules, dependencies, conflicts, allowed modules) is the engine's
``catalog.resolve``: the wizard asks it on each change instead of re-implementing it.
"""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.markup import escape
from textual.widgets import Static

from tenantops.console import data
from tenantops.console.screens.base import BaseScreen
from tenantops.console.widgets.rowlist import Column, Row, RowList
from tenantops.engine.errors import TenantopsError


class WizardScreen(BaseScreen):
    SCREEN_NAME = "wizard"
    TITLE_TEXT = "Template and modules"
    CRUMB = "Wizard"

    def __init__(self, *, template: str | None = None, modules: list[str] | None = None,
                 lock_template: bool = False, purpose: str = "", confirm: str = "Use this selection") -> None:
        super().__init__()
        self.template = template
        self.chosen: list[str] = list(modules or [])
        self.lock_template = lock_template
        self.purpose = purpose
        self.confirm = confirm
        self.catalog: Any = None
        self.resolution: Any = None
        self.message = ""

    def compose_body(self) -> ComposeResult:
        yield Static("reading the catalog…", id="wizard-bar", classes="bar")
        yield RowList([Column(" ", 2), Column("template", 26), Column("version", 7), Column("for")],
                      empty="no templates", id="templates")
        yield RowList([Column(" ", 3), Column("module", 22), Column("version", 7), Column("why")],
                      empty="choose a template first", id="modules")
        yield Static("", id="wizard-info")

    def on_mount(self) -> None:
        self.query_one("#modules" if self.lock_template else "#templates", RowList).focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="catalog")
    def load(self) -> None:
        self.deliver("catalog", lambda: data.load_catalog(self.ctx))

    def show_catalog(self, catalog: Any) -> None:
        self.catalog = catalog
        if self.template not in catalog.templates:
            self.template = None
        if self.template:
            self._resolve_or_reset(self.template)
        self.render_lists()
        if self.template:
            self.query_one("#templates", RowList).move_to_key(self.template)

    # -- state ---------------------------------------------------------------
    def _resolve(self, template: str, chosen: list[str]) -> Any:
        from tenantops.engine.catalog import resolve

        return resolve(self.catalog, template, chosen)

    def _resolve_or_reset(self, template: str) -> None:
        try:
            self.resolution = self._resolve(template, self.chosen)
        except TenantopsError as exc:
            # a selection carried over from elsewhere no longer fits: keep only what does
            allowed = set(self.catalog.templates[template].allowed_modules)
            self.chosen = [m for m in self.chosen if m in allowed]
            self.message = f"✗ {exc}"
            try:
                self.resolution = self._resolve(template, self.chosen)
            except TenantopsError:
                self.chosen, self.resolution = [], self._resolve(template, [])

    def _effective(self) -> set[str]:
        return set(self.resolution.slugs) if self.resolution else set()

    def render_lists(self) -> None:
        if self.catalog is None:
            return
        templates = [Row(t.slug, ["●" if t.slug == self.template else "○", t.slug, str(t.version),
                                  (t.organization_type or "", "muted")],
                         tone=None if not self.lock_template or t.slug == self.template else "muted")
                     for t in sorted(self.catalog.templates.values(), key=lambda t: t.slug)]
        self.query_one("#templates", RowList).set_rows(templates)
        rows: list[Row] = []
        if self.template:
            tpl = self.catalog.templates[self.template]
            effective = self._effective()
            auto = self.resolution.auto_added if self.resolution else {}
            for slug in tpl.allowed_modules:
                module = self.catalog.modules.get(slug)
                version = str(module.version) if module else "?"
                if slug in tpl.required_modules:
                    rows.append(Row(slug, ["[■]", slug, version, ("required by template (locked)", "muted")]))
                elif slug in self.chosen:
                    rows.append(Row(slug, [("[x]", "ok"), slug, version, ("selected", "ok")]))
                elif slug in auto:
                    rows.append(Row(slug, [("[+]", "accent"), slug, version, (f"added: {auto[slug]}", "accent")]))
                else:
                    clash = sorted(c for c in effective if module and self._conflicts(slug, c))
                    why = (f"✗ conflicts with {', '.join(clash)}", "bad") if clash else ("optional", "muted")
                    rows.append(Row(slug, ["[ ]", slug, version, why]))
        self.query_one("#modules", RowList).set_rows(rows)
        self._render_bar()
        self._render_info()

    def _conflicts(self, a: str, b: str) -> bool:
        mods = self.catalog.modules
        return (a in mods and b in mods[a].conflicts) or (b in mods and a in mods[b].conflicts)

    def _render_bar(self) -> None:
        if not self.template:
            text = "Choose a template (Space or Enter), then its modules"
        else:
            n = len(self.resolution.units) if self.resolution else 0
            text = f"[b]{escape(self.template)}[/] · {n} units · v: plan preview"
        if self.purpose:
            text = f"{escape(self.purpose)} · {text}"
        self.query_one("#wizard-bar", Static).update(text)

    def _render_info(self, focus_row: Row | None = None) -> None:
        lines = []
        if self.message:
            tone = "$text-error" if self.message.startswith("✗") else "$text-success"
            lines.append(f"[{tone}]{escape(self.message)}[/]")
        row = focus_row
        if row is None:
            focused = self.focused if isinstance(self.focused, RowList) else None
            row = focused.current_row if focused else None
        if row is not None and self.catalog is not None:
            unit = self.catalog.templates.get(row.key) or self.catalog.modules.get(row.key)
            if unit is not None:
                facts = [f"[b]{escape(unit.name)}[/] {escape(str(unit.version))}"]
                if unit.organization_type:
                    facts.append(f"for {escape(unit.organization_type)}")
                if unit.depends_on:
                    facts.append(f"needs {escape(', '.join(unit.depends_on))}")
                if unit.conflicts:
                    facts.append(f"conflicts with {escape(', '.join(unit.conflicts))}")
                lines.append(" · ".join(facts))
                lines.append(f"[$text-muted]{escape(unit.description)}[/]")
        self.query_one("#wizard-info", Static).update("\n".join(lines))

    @on(RowList.Highlighted)
    def highlighted(self, event: RowList.Highlighted) -> None:
        self._render_info(event.row)

    @on(RowList.Selected)
    def selected(self, event: RowList.Selected) -> None:
        self._toggle(event.rowlist, event.row)

    # -- actions -------------------------------------------------------------
    def cmd_toggle(self) -> None:
        focused = self.focused
        if isinstance(focused, RowList) and focused.current_row is not None:
            self._toggle(focused, focused.current_row)

    def _toggle(self, rowlist: RowList, row: Row) -> None:
        if self.catalog is None:
            return
        if rowlist.id == "templates":
            self.choose_template(row.key)
        else:
            self.toggle_module(row.key)

    def choose_template(self, slug: str) -> None:
        if self.lock_template and slug != self.template:
            self.message = f"✗ The template is fixed here ({self.template})."
            self._render_info()
            return
        if slug != self.template:
            self.template = slug
            self.message = ""
            self._resolve_or_reset(slug)
            self.render_lists()
        self.query_one("#modules", RowList).focus()

    def toggle_module(self, slug: str) -> None:
        template = self.template
        if template is None:  # the module list stays empty until a template is chosen
            return
        tpl = self.catalog.templates[template]
        if slug in tpl.required_modules:
            self.message = f"✗ {slug} is required by {template} and stays on."
        elif slug in self.chosen:
            self.chosen.remove(slug)
            self.resolution = self._resolve(template, self.chosen)
            self.message = f"Removed {slug}."
        else:
            try:
                self.resolution = self._resolve(template, [*self.chosen, slug])
            except TenantopsError as exc:
                self.message = f"✗ Cannot add {slug}: {exc}"
            else:
                self.chosen.append(slug)
                added = [m for m, why in self.resolution.auto_added.items() if why.startswith("dependency of")]
                self.message = f"Added {slug}" + (f"; also added {', '.join(added)} (dependency)" if added else ".")
        self.render_lists()

    def cmd_preview(self) -> None:
        from tenantops.console.screens.plan import PlanScreen, plan_doc

        if not self.template or self.resolution is None:
            self.message = "✗ Choose a template first."
            self._render_info()
            return
        resolution = self.resolution

        def loader(dialect: str | None) -> dict[str, Any]:
            return plan_doc(resolution, data.render_plan(resolution.units, dialect or "sqlite"), dialect or "sqlite")

        selection = {"template": self.template, "modules": list(self.chosen)}

        async def confirmed(ok: bool | None) -> None:
            if ok:
                await self.dismiss(selection)

        self.app.push_screen(PlanScreen(f"{self.template} + {len(resolution.units) - 2} modules", loader,
                                        dialect="sqlite", confirm=self.confirm),
                             confirmed)

    def cmd_cancel(self) -> None:
        self.dismiss(None)

