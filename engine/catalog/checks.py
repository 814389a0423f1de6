"""Checks across units: revision dependencies, module references and cycles, conflicts,
table ownership, compliance tables, basic-layer versions and seed files."""
from __future__ import annotations

import graphlib
from pathlib import Path
from typing import Iterable

from tenantops.engine.catalog.model import Unit, satisfies
from tenantops.engine.catalog.problems import ProblemLog


def _manifest(unit: Unit) -> Path:
    """The manifest a unit was read from: every unit these checks report on has one."""
    assert unit.manifest_path is not None
    return unit.manifest_path


class CrossChecks(ProblemLog):
    def check_revision_dependencies(self, units: list[Unit]) -> None:
        labels = {u.slug for u in units}
        for unit in units:
            for info in unit.revision_files.values():
                for dep in info.depends_on:
                    if dep in self.revision_owner:
                        continue
                    if dep in labels:
                        self.problem(info.path, "depends_on",
                                     f"'{dep}' is a branch label; use the revision id of its head instead")
                    else:
                        self.problem(info.path, "depends_on", f"unknown revision '{dep}'")

    def check_revision_units(self, basic: Unit, templates: dict[str, Unit], modules: dict[str, Unit]) -> None:
        """A unit's revisions must depend exactly on the units its manifest declares.

        Otherwise Alembic's order (and what ``downgrade <unit>@base`` takes with it) would
        disagree with the order ``resolve`` computes from the manifests.
        """
        for unit in [basic, *templates.values(), *modules.values()]:
            if unit.slug in self.cycle_members or unit.slug in self.broken_manifests or not unit.revisions:
                continue
            declared = set() if unit.kind == "basic" else {"basic"} | set(unit.depends_on)
            if not declared <= {basic.slug, *modules}:
                continue  # unknown modules were reported already
            referenced: dict[str, Path] = {}
            complete = True
            for rev in unit.revisions:
                info = unit.revision_files[rev]
                for dep in info.depends_on:
                    if dep not in self.revision_owner:
                        complete = False
                        continue
                    owner = self.revision_owner[dep][0]
                    if owner == unit.slug:
                        continue
                    referenced.setdefault(owner, info.path)
                    if owner not in declared:
                        self.problem(info.path, "depends_on", f"revision '{dep}' belongs to '{owner}', which "
                                     f"{unit.kind} '{unit.slug}' does not depend on")
            if not complete:
                continue
            base = unit.revision_files[unit.revisions[0]]
            for missing in sorted(declared - set(referenced)):
                target = basic if missing == "basic" else modules[missing]
                self.problem(base.path, "depends_on",
                             f"no revision of '{missing}' (expected its head, e.g. '{target.head or '?'}')")

    def check_module_references(self, templates: dict[str, Unit], modules: dict[str, Unit]) -> None:
        available = ", ".join(sorted(modules))

        def check(unit: Unit, field_name: str, names: list[str]) -> None:
            for name in names:
                if name not in modules:
                    self.problem(_manifest(unit), field_name, f"unknown module '{name}' (available: {available})")
            names[:] = [n for n in names if n in modules]

        for unit in templates.values():
            check(unit, "required_modules", unit.required_modules)
            check(unit, "optional_modules", unit.optional_modules)
        for unit in modules.values():
            check(unit, "depends_on", unit.depends_on)
            check(unit, "conflicts", unit.conflicts)

    def check_cycles(self, modules: dict[str, Unit]) -> None:
        graph = {slug: set(unit.depends_on) for slug, unit in modules.items()}
        # TopologicalSorter reports one cycle at a time: drop a member and look again
        while True:
            try:
                graphlib.TopologicalSorter(graph).prepare()
                return
            except graphlib.CycleError as exc:
                cycle = list(exc.args[1])
                # CycleError lists the cycle backwards (each node is a dependency of the next)
                cycle.reverse()
                start = cycle.index(min(cycle[:-1]))
                cycle = cycle[start:-1] + cycle[:start + 1]
                self.problem(_manifest(modules[cycle[0]]), "depends_on",
                             f"dependency cycle {' -> '.join(cycle)}")
                self.cycle_members.update(cycle)
                graph.pop(cycle[0])

    def check_conflicts(self, templates: dict[str, Unit], modules: dict[str, Unit]) -> None:
        pairs = _conflict_pairs(modules.values())
        for slug, unit in modules.items():
            if slug in self.cycle_members:
                continue
            for dep in sorted(_closure([slug], modules) - {slug}):
                if frozenset((slug, dep)) in pairs:
                    self.problem(_manifest(unit), "conflicts", f"'{slug}' conflicts with its own dependency '{dep}'")
        for unit in templates.values():
            if set(unit.allowed_modules) & self.cycle_members:
                continue
            allowed = set(unit.allowed_modules)
            required = _closure(unit.required_modules, modules)
            reported: set[frozenset[str]] = set()
            for a in sorted(required):
                for b in sorted(required):
                    pair = frozenset((a, b))
                    if a < b and pair in pairs and pair not in reported:
                        reported.add(pair)
                        self.problem(_manifest(unit), "required_modules",
                                     f"requires '{a}' and '{b}', which conflict")
            for missing in sorted(required - allowed):
                self.problem(_manifest(unit), "required_modules",
                             f"a required module depends on '{missing}', which the template does not list")
            for slug in unit.optional_modules:
                needs = _closure([slug], modules)
                for missing in sorted(needs - allowed):
                    self.problem(_manifest(unit), "optional_modules",
                                 f"'{slug}' depends on '{missing}', which the template does not allow")
                for other in sorted(required):
                    if any(frozenset((n, other)) in pairs for n in needs):
                        self.problem(_manifest(unit), "optional_modules",
                                     f"'{slug}' conflicts with required module '{other}': it could never be chosen")

    def check_tables(self, units: list[Unit]) -> None:
        owners: dict[str, tuple[str, Path]] = {}
        for unit in units:
            for rev in unit.revisions:
                info = unit.revision_files[rev]
                for table in info.tables:
                    if table in owners and owners[table][0] != unit.slug:
                        other, other_path = owners[table]
                        self.problem(info.path, "create_table",
                                     f"table '{table}' is already created by unit '{other}' ({self.rel(other_path)})")
                    else:
                        owners.setdefault(table, (unit.slug, info.path))

    def check_compliance(self, templates: dict[str, Unit], modules: dict[str, Unit]) -> None:
        for unit in templates.values():
            if not unit.required_tables or set(unit.required_modules) & self.cycle_members:
                continue
            if any(m in self.broken_manifests for m in unit.required_modules):
                continue
            available = set(unit.tables)
            for slug in _closure(unit.required_modules, modules):
                available |= modules[slug].tables
            for table in unit.required_tables:
                if table not in available:
                    self.problem(_manifest(unit), "compliance.required_tables",
                                 f"table '{table}' is not created by the template or its required modules")

    def check_basic_version(self, basic: Unit, units: list[Unit]) -> None:
        if basic.slug in self.broken_manifests:
            return
        for unit in units:
            spec = unit.compatibility.get("basic_version")
            if spec is not None and not satisfies(spec, basic.version, self.verdicts):
                self.problem(_manifest(unit), "compatibility.basic_version",
                             f"the basic layer is {basic.version}, which does not satisfy '{spec}'")

    def check_seeds(self, basic: Unit, templates: dict[str, Unit], modules: dict[str, Unit]) -> None:
        for unit in [basic, *templates.values(), *modules.values()]:
            visible = set(unit.tables)
            if unit.kind != "basic":
                visible |= basic.tables
            if unit.kind == "module":
                for dep in _closure(unit.depends_on, modules) - {unit.slug}:
                    visible |= modules[dep].tables
            for seed in unit.seeds:
                data = self.read_json(seed)
                if data is None:
                    continue
                if not isinstance(data, dict):
                    self.problem(seed, None, 'must be an object {"table": ..., "rows": [...]}')
                    continue
                table, rows = data.get("table"), data.get("rows")
                if not isinstance(table, str):
                    self.problem(seed, "table", "missing")
                elif table not in visible:
                    self.problem(seed, "table",
                                 f"'{table}' is not created by unit '{unit.slug}' or the units it depends on")
                if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                    self.problem(seed, "rows", "must be a list of objects")
                json_columns = data.get("json_columns", [])
                if not isinstance(json_columns, list) or not all(isinstance(c, str) for c in json_columns):
                    self.problem(seed, "json_columns", "must be a list of column names")


def _closure(slugs: Iterable[str], modules: dict[str, Unit]) -> set[str]:
    """The modules plus everything they depend on (unknown names are skipped)."""
    seen: set[str] = set()
    stack = [s for s in slugs if s in modules]
    while stack:
        slug = stack.pop()
        if slug in seen:
            continue
        seen.add(slug)
        stack.extend(d for d in modules[slug].depends_on if d in modules)
    return seen


def _conflict_pairs(modules: Iterable[Unit]) -> set[frozenset[str]]:
    # declared on either side, a conflict holds both ways
    return {frozenset((m.slug, other)) for m in modules for other in m.conflicts}
