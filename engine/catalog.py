"""The catalog: basic layer, templates and modules as manifests plus Alembic branches.

``check_catalog`` finds every problem at once (one line each, naming file and field) so a
catalog author fixes them in one pass; ``load_catalog`` refuses a catalog with problems;
``resolve`` turns "template + chosen modules" into the ordered list of units to apply.

Revision files are read with ``ast`` only, never imported: validating the catalog must not
run catalog code, and Alembic imports them later anyway when it builds its revision map.
"""
from __future__ import annotations

import ast
import graphlib
import importlib.resources
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from tenantops.engine.errors import CatalogError, ConflictError, ValidationError

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
# alembic_version.version_num is VARCHAR(32): a longer id cannot be recorded.
REVISION_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# a superset of the tenant slug rule (engine.names): the label only swaps - for _
TENANT_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
COMPATIBILITY_KEYS = ("basic_version", "mariadb", "mysql", "sqlite")

Kind = Literal["basic", "template", "module", "custom"]

_COMMON_FIELDS = {"slug", "name", "version", "description", "compatibility", "seeds"}
_FIELDS: dict[str, set[str]] = {
    "basic": _COMMON_FIELDS,
    "template": _COMMON_FIELDS | {"organization_type", "required_modules", "optional_modules", "compliance"},
    "module": _COMMON_FIELDS | {"depends_on", "conflicts"},
}
_MANIFEST_NAME = {"basic": "layer.json", "template": "template.json", "module": "module.json"}


@dataclass(frozen=True)
class RevisionFile:
    """What the catalog knows about one revision file without importing it."""

    revision: str
    path: Path
    down_revision: str | None
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    tables: tuple[str, ...]
    message: str


@dataclass
class Unit:
    """One Alembic branch: the basic layer, a template, a module or a tenant's custom set."""

    slug: str
    kind: Kind
    name: str
    version: str
    description: str = ""
    organization_type: str | None = None
    required_modules: list[str] = field(default_factory=list)
    optional_modules: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    compatibility: dict[str, str] = field(default_factory=dict)
    required_tables: list[str] = field(default_factory=list)
    seeds: list[Path] = field(default_factory=list)
    manifest_path: Path | None = None
    versions_dir: Path = Path()
    revisions: list[str] = field(default_factory=list)
    head: str = ""
    tables: set[str] = field(default_factory=set)
    revision_files: dict[str, RevisionFile] = field(default_factory=dict)

    @property
    def branch_label(self) -> str:
        return self.slug

    @property
    def allowed_modules(self) -> list[str]:
        return [*self.required_modules, *(m for m in self.optional_modules if m not in self.required_modules)]

    def revision_path(self, revision: str) -> Path:
        return self.revision_files[revision].path


@dataclass
class Catalog:
    root: Path
    basic: Unit
    templates: dict[str, Unit]
    modules: dict[str, Unit]
    problems: list[str] = field(default_factory=list)

    def units(self) -> list[Unit]:
        return [self.basic, *self.templates.values(), *self.modules.values()]

    def unit(self, slug: str) -> Unit:
        for unit in self.units():
            if unit.slug == slug:
                return unit
        raise ValidationError(f"unknown unit '{slug}'", hint=f"available: {', '.join(u.slug for u in self.units())}")


@dataclass(frozen=True)
class Resolution:
    """The units to apply for one tenant, in order: basic, template, modules."""

    template: str
    modules: list[str]
    units: list[Unit]
    auto_added: dict[str, str]

    @property
    def slugs(self) -> list[str]:
        return [u.slug for u in self.units]


def shipped_catalog_root() -> Path:
    return Path(str(importlib.resources.files("tenantops.catalog")))


# ---------------------------------------------------------------------------------------
# loading and checking


def load_catalog(path: Path | None = None, *, strict: bool = True) -> Catalog:
    """Read the catalog at ``path`` (default: the one shipped with tenantops).

    With ``strict`` (the default) any problem raises ``CatalogError`` listing them all;
    ``strict=False`` returns what could be read, with ``Catalog.problems`` filled in.
    """
    catalog = _Scanner(Path(path) if path is not None else shipped_catalog_root()).scan()
    if strict and catalog.problems:
        raise CatalogError(catalog.problems)
    return catalog


def check_catalog(path: Path | None = None) -> list[str]:
    """Every problem in the catalog, one line each naming the file and the field."""
    return load_catalog(path, strict=False).problems


def custom_unit(tenant_slug: str, directory: Path) -> Unit:
    """The unit for a tenant's approved custom migrations (branch ``custom_<slug>``).

    The directory may be missing or empty: a tenant without custom migrations has an
    empty custom unit, which the migration driver skips.
    """
    if not TENANT_SLUG_RE.match(tenant_slug):
        raise ValidationError(f"invalid tenant slug '{tenant_slug}'", hint="lowercase letters, digits, - and _")
    label = "custom_" + tenant_slug.replace("-", "_")
    directory = Path(directory)
    unit = Unit(
        slug=label, kind="custom", name=f"Custom migrations of {tenant_slug}", version="0",
        description=f"Approved custom migrations of tenant {tenant_slug}", versions_dir=directory,
    )
    scanner = _Scanner(directory)
    scanner.read_revisions(unit, allow_empty=True)
    scanner.order_revisions(unit)
    if scanner.problems:
        raise CatalogError(scanner.problems)
    return unit


class _Scanner:
    """Collects a catalog and every problem in it; never stops at the first one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        # revision id -> (unit slug, path): ids must be unique across the whole catalog
        self.revision_owner: dict[str, tuple[str, Path]] = {}
        self.broken_manifests: set[str] = set()
        self.cycle_members: set[str] = set()

    # -- helpers -------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def problem(self, path: Path, field_name: str | None, message: str) -> None:
        where = self.rel(path)
        self.problems.append(f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}")

    def read_json(self, path: Path) -> Any | None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            self.problem(path, None, f"cannot read: {exc.strerror or exc}")
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.problem(path, None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
            return None
        except RecursionError:
            self.problem(path, None, "invalid JSON: nested too deeply")
            return None

    # -- the whole catalog ---------------------------------------------------------

    def scan(self) -> Catalog:
        if not self.root.is_dir():
            self.problems.append(f"{self.root}: catalog directory not found")
            empty = Unit(slug="basic", kind="basic", name="basic", version="0", versions_dir=self.root / "basic")
            return Catalog(self.root, empty, {}, {}, self.problems)
        basic = self.read_unit("basic", "basic", self.root / "basic")
        templates = {u.slug: u for u in (self.read_unit("template", d.name, d) for d in self.subdirs("templates"))}
        modules = {u.slug: u for u in (self.read_unit("module", d.name, d) for d in self.subdirs("modules"))}
        units = [basic, *templates.values(), *modules.values()]
        for unit in units:
            self.read_revisions(unit)
        for unit in units:
            self.order_revisions(unit)
        self.check_revision_dependencies(units)
        self.check_module_references(templates, modules)
        self.check_cycles(modules)
        self.check_revision_units(basic, templates, modules)
        self.check_conflicts(templates, modules)
        self.check_tables(units)
        self.check_compliance(templates, modules)
        self.check_basic_version(basic, [*templates.values(), *modules.values()])
        self.check_seeds(basic, templates, modules)
        return Catalog(self.root, basic, templates, modules, self.problems)

    def subdirs(self, name: str) -> list[Path]:
        parent = self.root / name
        if not parent.is_dir():
            self.problems.append(f"{name}/: folder not found")
            return []
        found = []
        for child in sorted(parent.iterdir()):
            if not child.is_dir() or child.name.startswith((".", "_")):
                continue
            if not SLUG_RE.match(child.name):
                self.problem(child, None, f"folder name '{child.name}' is not a valid slug ({SLUG_RE.pattern})")
                continue
            found.append(child)
        return found

    # -- manifests -----------------------------------------------------------------

    def read_unit(self, kind: Kind, folder_slug: str, folder: Path) -> Unit:
        manifest = folder / _MANIFEST_NAME[kind]
        unit = Unit(slug=folder_slug, kind=kind, name=folder_slug, version="0", manifest_path=manifest,
                    versions_dir=folder / "versions")
        if not manifest.is_file():
            self.problem(manifest, None, "manifest not found")
            self.broken_manifests.add(folder_slug)
            return unit
        data = self.read_json(manifest)
        if data is None:
            self.broken_manifests.add(folder_slug)
            return unit
        if not isinstance(data, dict):
            self.problem(manifest, None, "must be a JSON object")
            self.broken_manifests.add(folder_slug)
            return unit
        self.read_fields(unit, data, manifest, folder_slug)
        return unit

    def read_fields(self, unit: Unit, data: dict[str, Any], manifest: Path, folder_slug: str) -> None:
        kind = unit.kind
        for key in sorted(set(data) - _FIELDS[kind]):
            self.problem(manifest, key, f"unknown field for a {kind} manifest")

        slug = data.get("slug")
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            self.problem(manifest, "slug", f"{slug!r} is not a valid slug ({SLUG_RE.pattern})")
        elif slug != folder_slug:
            self.problem(manifest, "slug", f"'{slug}' does not match its folder '{folder_slug}'")

        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem(manifest, "name", "missing or empty")
        else:
            unit.name = name

        version = data.get("version")
        try:
            Version(version if isinstance(version, str) else "")
            unit.version = version
        except InvalidVersion:
            self.problem(manifest, "version", f"{version!r} is not a valid version (e.g. '1.2.0')")

        description = data.get("description", "")
        if isinstance(description, str):
            unit.description = description
        else:
            self.problem(manifest, "description", "must be a string")

        compatibility = data.get("compatibility", {})
        if not isinstance(compatibility, dict):
            self.problem(manifest, "compatibility", "must be an object of version specifiers")
        else:
            for key, spec in compatibility.items():
                if key not in COMPATIBILITY_KEYS:
                    self.problem(manifest, f"compatibility.{key}",
                                 f"unknown key (known: {', '.join(COMPATIBILITY_KEYS)})")
                    continue
                try:
                    SpecifierSet(spec if isinstance(spec, str) else "\0")
                    unit.compatibility[key] = spec
                except InvalidSpecifier:
                    self.problem(manifest, f"compatibility.{key}", f"{spec!r} is not a valid version specifier")

        if kind == "template":
            org = data.get("organization_type")
            if not isinstance(org, str) or not org:
                self.problem(manifest, "organization_type", "missing or empty")
            else:
                unit.organization_type = org
            unit.required_modules = self.slug_list(data, "required_modules", manifest)
            unit.optional_modules = self.slug_list(data, "optional_modules", manifest)
            for dup in sorted(set(unit.required_modules) & set(unit.optional_modules)):
                self.problem(manifest, "optional_modules", f"'{dup}' is already in required_modules")
            compliance = data.get("compliance", {})
            if not isinstance(compliance, dict):
                self.problem(manifest, "compliance", "must be an object")
            else:
                unit.required_tables = self.slug_list(compliance, "required_tables", manifest, "compliance.")
        elif kind == "module":
            unit.depends_on = self.slug_list(data, "depends_on", manifest)
            unit.conflicts = self.slug_list(data, "conflicts", manifest)
            if unit.slug in unit.depends_on:
                self.problem(manifest, "depends_on", "a module cannot depend on itself")
                unit.depends_on.remove(unit.slug)
            if unit.slug in unit.conflicts:
                self.problem(manifest, "conflicts", "a module cannot conflict with itself")
                unit.conflicts.remove(unit.slug)

        seeds = data.get("seeds", [])
        if not isinstance(seeds, list) or not all(isinstance(s, str) for s in seeds):
            self.problem(manifest, "seeds", "must be a list of file paths")
        else:
            folder = manifest.parent
            for seed in seeds:
                seed_path = (folder / seed).resolve()
                if not seed_path.is_relative_to(folder.resolve()):
                    self.problem(manifest, "seeds", f"'{seed}' points outside the unit folder")
                elif not seed_path.is_file():
                    self.problem(manifest, "seeds", f"file '{seed}' not found")
                else:
                    unit.seeds.append(folder / seed)

    def slug_list(self, data: dict[str, Any], key: str, manifest: Path, prefix: str = "") -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(manifest, prefix + key, "must be a list of names")
            return []
        bad = [v for v in value if not SLUG_RE.match(v)]
        for v in bad:
            self.problem(manifest, prefix + key, f"{v!r} is not a valid name ({SLUG_RE.pattern})")
        return list(dict.fromkeys(v for v in value if v not in bad))

    # -- revision files ------------------------------------------------------------

    def read_revisions(self, unit: Unit, *, allow_empty: bool = False) -> None:
        files = sorted(p for p in unit.versions_dir.glob("*.py") if p.name != "__init__.py") \
            if unit.versions_dir.is_dir() else []
        if not files:
            if not allow_empty:
                self.problem(unit.versions_dir, None, "no revision files (a unit needs at least one revision)")
            return
        for path in files:
            info = self.parse_revision(path)
            if info is None:
                continue
            if info.revision in self.revision_owner:
                _, other_path = self.revision_owner[info.revision]
                self.problem(path, "revision",
                             f"duplicate revision id '{info.revision}' (also in {self.rel(other_path)})")
                continue
            self.revision_owner[info.revision] = (unit.slug, path)
            unit.revision_files[info.revision] = info

    def parse_revision(self, path: Path) -> RevisionFile | None:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
        except SyntaxError as exc:
            self.problem(path, None, f"does not parse: {exc.msg} (line {exc.lineno})")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, None, f"cannot read: {exc}")
            return None
        except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes (older Pythons), absurd nesting
            self.problem(path, None, f"does not parse: {type(exc).__name__}")
            return None

        values: dict[str, Any] = {}
        functions: dict[str, ast.FunctionDef] = {}
        ok = True
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = node
                continue
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            for target in targets:
                if isinstance(target, ast.Name) and target.id in {
                        "revision", "down_revision", "branch_labels", "depends_on"}:
                    try:
                        values[target.id] = ast.literal_eval(value)
                    except ValueError:
                        self.problem(path, target.id, "must be a literal (string, tuple or None)")
                        ok = False

        revision = values.get("revision")
        if not isinstance(revision, str):
            if "revision" in values or ok:
                self.problem(path, "revision", "missing (a module-level revision = '<id>' is required)")
            return None
        if not REVISION_ID_RE.match(revision):
            self.problem(path, "revision", f"'{revision}' is not a valid revision id ({REVISION_ID_RE.pattern})")
            ok = False

        down = values.get("down_revision")
        if down is not None and not isinstance(down, str):
            self.problem(path, "down_revision", "must be one revision id or None (a unit's branch is linear)")
            ok = False

        labels = _as_tuple(values.get("branch_labels"))
        depends = _as_tuple(values.get("depends_on"))
        if labels is None:
            self.problem(path, "branch_labels", "must be a string, a tuple of strings or None")
            ok = False
        if depends is None:
            self.problem(path, "depends_on", "must be a string, a tuple of strings or None")
            ok = False

        # a missing or empty function is reported but the revision still takes its place in
        # the chain, so one mistake does not cascade into "unknown revision" lines
        for required in ("upgrade", "downgrade"):
            if required not in functions:
                self.problem(path, required, f"def {required}() is missing")
        if "downgrade" in functions and _is_trivial(functions["downgrade"]):
            self.problem(path, "downgrade", "does nothing (only pass): every revision needs a working downgrade")

        tables = _created_tables(functions["upgrade"]) if "upgrade" in functions else ()
        for table in _tables_with_inline_indexes(tree):
            self.problem(path, "create_table",
                         f"indexes declared inside create_table('{table}') are created in random order "
                         "(Table.indexes is a set); use op.create_index after it")
        if not ok:
            return None
        return RevisionFile(
            revision=revision, path=path, down_revision=down, branch_labels=labels or (),
            depends_on=depends or (), tables=tables, message=_first_line(ast.get_docstring(tree)),
        )

    def order_revisions(self, unit: Unit) -> None:
        files = unit.revision_files
        if not files:
            return
        bases = sorted(r for r, info in files.items() if info.down_revision is None)
        children: dict[str, list[str]] = {}
        for rev, info in sorted(files.items()):
            if info.down_revision is not None:
                if info.down_revision not in files:
                    self.problem(info.path, "down_revision",
                                 f"'{info.down_revision}' is not a revision of unit '{unit.slug}'")
                    continue
                children.setdefault(info.down_revision, []).append(rev)
            if info.branch_labels and info.branch_labels != (unit.slug,):
                self.problem(info.path, "branch_labels",
                             f"{info.branch_labels!r} does not match unit '{unit.slug}' (expected ('{unit.slug}',))")
            elif info.down_revision is None and not info.branch_labels:
                self.problem(info.path, "branch_labels",
                             f"the first revision of a unit must carry branch_labels = ('{unit.slug}',)")
        if len(bases) != 1:
            what = "no revision with down_revision = None" if not bases else f"several: {', '.join(bases)}"
            self.problem(unit.versions_dir, "down_revision", f"a unit needs exactly one base revision ({what})")
        for parent, kids in children.items():
            if len(kids) > 1:
                self.problem(files[kids[1]].path, "down_revision",
                             f"revisions {', '.join(kids)} all revise '{parent}' (a unit's branch must be linear)")
        if not bases:
            return
        order, current = [], bases[0]
        while True:
            order.append(current)
            nxt = children.get(current, [])
            if not nxt or nxt[0] in order:
                break
            current = nxt[0]
        unit.revisions = order
        unit.head = order[-1]
        for rev in order:
            unit.tables.update(files[rev].tables)

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

    # -- references between units -----------------------------------------------

    def check_module_references(self, templates: dict[str, Unit], modules: dict[str, Unit]) -> None:
        available = ", ".join(sorted(modules))

        def check(unit: Unit, field_name: str, names: list[str]) -> None:
            for name in names:
                if name not in modules:
                    self.problem(unit.manifest_path, field_name, f"unknown module '{name}' (available: {available})")
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
                self.problem(modules[cycle[0]].manifest_path, "depends_on",
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
                    self.problem(unit.manifest_path, "conflicts", f"'{slug}' conflicts with its own dependency '{dep}'")
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
                        self.problem(unit.manifest_path, "required_modules",
                                     f"requires '{a}' and '{b}', which conflict")
            for missing in sorted(required - allowed):
                self.problem(unit.manifest_path, "required_modules",
                             f"a required module depends on '{missing}', which the template does not list")
            for slug in unit.optional_modules:
                needs = _closure([slug], modules)
                for missing in sorted(needs - allowed):
                    self.problem(unit.manifest_path, "optional_modules",
                                 f"'{slug}' depends on '{missing}', which the template does not allow")
                for other in sorted(required):
                    if any(frozenset((n, other)) in pairs for n in needs):
                        self.problem(unit.manifest_path, "optional_modules",
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
                    self.problem(unit.manifest_path, "compliance.required_tables",
                                 f"table '{table}' is not created by the template or its required modules")

    def check_basic_version(self, basic: Unit, units: list[Unit]) -> None:
        if basic.slug in self.broken_manifests:
            return
        for unit in units:
            spec = unit.compatibility.get("basic_version")
            if spec is not None and not SpecifierSet(spec).contains(basic.version, prereleases=True):
                self.problem(unit.manifest_path, "compatibility.basic_version",
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


def _as_tuple(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _is_trivial(function: ast.FunctionDef) -> bool:
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # a docstring
    return all(
        isinstance(stmt, ast.Pass)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis)
        for stmt in body
    )


def _created_tables(function: ast.FunctionDef) -> tuple[str, ...]:
    tables = []
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "create_table":
            name_node = node.args[0] if node.args else next(
                (kw.value for kw in node.keywords if kw.arg == "table_name"), None)
            if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
                tables.append(name_node.value)
    return tuple(tables)


def _tables_with_inline_indexes(tree: ast.AST) -> list[str]:
    """Tables whose create_table() carries sa.Index(...) or Column(..., index=True).

    Alembic emits those CREATE INDEX statements by iterating a set, so their order
    changes from run to run and the SQL preview could not match what runs.
    """
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create_table"):
            continue
        inline = any(
            (isinstance(inner, ast.Call) and isinstance(inner.func, (ast.Attribute, ast.Name))
             and getattr(inner.func, "attr", getattr(inner.func, "id", None)) == "Index")
            or (isinstance(inner, ast.keyword) and inner.arg == "index"
                and isinstance(inner.value, ast.Constant) and inner.value.value is True)
            for arg in [*node.args[1:], *node.keywords] for inner in ast.walk(arg)
        )
        if inline:
            first = node.args[0] if node.args else None
            found.append(first.value if isinstance(first, ast.Constant) else "?")
    return found


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


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


# ---------------------------------------------------------------------------------------
# resolution


def resolve(
    catalog: Catalog,
    template: str,
    modules: list[str],
    *,
    server_kind: str | None = None,
    server_version: str | None = None,
) -> Resolution:
    """The ordered units for ``template`` + ``modules``: [basic, template, modules...].

    Required modules and dependencies are added (``auto_added`` says why); modules come
    in dependency order, ties broken by slug so the same request always gives the same
    order. Raises ``ValidationError`` for unknown names, modules the template does not
    allow, cycles and incompatible versions, ``ConflictError`` for conflicting modules.
    """
    if template not in catalog.templates:
        raise ValidationError(f"unknown template {ascii(template)}",
                              hint=f"available templates: {', '.join(sorted(catalog.templates)) or 'none'}")
    tpl = catalog.templates[template]
    unknown = [m for m in modules if m not in catalog.modules]
    if unknown:
        raise ValidationError(f"unknown module{'s' if len(unknown) > 1 else ''} {', '.join(map(ascii, unknown))}",
                              hint=f"available modules: {', '.join(sorted(catalog.modules)) or 'none'}")

    requested = list(dict.fromkeys(modules))
    auto_added: dict[str, str] = {}
    selected: list[str] = list(requested)
    for slug in tpl.required_modules:
        if slug not in selected:
            selected.append(slug)
            auto_added[slug] = f"required by template {template}"
    queue = list(selected)
    while queue:
        slug = queue.pop(0)
        for dep in catalog.modules[slug].depends_on:
            if dep not in catalog.modules:
                raise ValidationError(f"module '{slug}' depends on unknown module '{dep}'")
            if dep not in selected:
                selected.append(dep)
                auto_added[dep] = f"dependency of {slug}"
                queue.append(dep)

    allowed = set(tpl.allowed_modules)
    for slug in selected:
        if slug not in allowed:
            why = f" ({auto_added[slug]})" if slug in auto_added else ""
            raise ValidationError(
                f"module '{slug}'{why} is not allowed for template '{template}'",
                hint=f"allowed: {', '.join(tpl.allowed_modules) or 'none'}",
            )

    pairs = _conflict_pairs(catalog.modules.values())
    for i, a in enumerate(selected):
        for b in selected[i + 1:]:
            if frozenset((a, b)) in pairs:
                detail = "".join(f"; '{m}' is {auto_added[m]}" for m in (a, b) if m in auto_added)
                raise ConflictError(f"module '{a}' conflicts with module '{b}'{detail}")

    sorter = graphlib.TopologicalSorter({s: set(catalog.modules[s].depends_on) for s in selected})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))
        raise ValidationError(f"module dependency cycle: {' -> '.join(cycle)}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)

    units = [catalog.basic, tpl, *(catalog.modules[s] for s in order)]
    _check_compatibility(catalog.basic, units, server_kind, server_version)
    return Resolution(template=template, modules=order, units=units, auto_added=auto_added)


_LEADING_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")


def _check_compatibility(basic: Unit, units: list[Unit], server_kind: str | None, server_version: str | None) -> None:
    kind = (server_kind or "").lower() or None
    server: Version | None = None
    if kind is not None and server_version:
        # servers report e.g. "10.11.6-MariaDB-0+deb12u1": only the numeric part counts
        match = _LEADING_VERSION.match(server_version)
        if not match:
            raise ValidationError(f"cannot read server version '{server_version}'")
        server = Version(match.group(1))
    for unit in units:
        spec = unit.compatibility.get("basic_version")
        if spec and unit.kind != "basic" and not SpecifierSet(spec).contains(basic.version, prereleases=True):
            raise ValidationError(
                f"{unit.kind} '{unit.slug}' needs basic_version {spec}, but the basic layer is {basic.version}")
        if server is not None and kind in unit.compatibility:
            spec = unit.compatibility[kind]
            if not SpecifierSet(spec).contains(server, prereleases=True):
                raise ValidationError(
                    f"{unit.kind} '{unit.slug}' needs {kind} {spec}, but the server runs {server_version}")
