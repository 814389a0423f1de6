"""Reading a catalog folder: every manifest and revision file, every problem at once."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from tenantops.engine.catalog.checks import CrossChecks
from tenantops.engine.catalog.model import (
    _FIELDS,
    _MANIFEST_NAME,
    COMPATIBILITY_KEYS,
    SLUG_RE,
    TENANT_SLUG_RE,
    Catalog,
    Kind,
    Unit,
    shipped_catalog_root,
)
from tenantops.engine.catalog.revisions import ParsedRevisions, RevisionReader
from tenantops.engine.errors import CatalogError, ValidationError


def load_catalog(path: Path | None = None, *, strict: bool = True, parsed_cache: Path | None = None) -> Catalog:
    """Read the catalog at ``path`` (default: the one shipped with tenantops).

    With ``strict`` (the default) any problem raises ``CatalogError`` listing them all;
    ``strict=False`` returns what could be read, with ``Catalog.problems`` filled in.
    ``parsed_cache``: a file keeping what clean revision files hold (``ParsedRevisions``).
    """
    scanner = _Scanner(Path(path) if path is not None else shipped_catalog_root())
    if parsed_cache is not None:
        scanner.parsed = ParsedRevisions(parsed_cache)
    catalog = scanner.scan()
    scanner.parsed.save()
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




class _Scanner(RevisionReader, CrossChecks):
    """Collects a catalog and every problem in it; never stops at the first one."""

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
        return Catalog(self.root, basic, templates, modules, self.problems, self.verdicts)

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
            if not isinstance(version, str):
                raise InvalidVersion(f"{version!r} is not a version string")
            Version(version)
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
                self.compliance_rules(unit, compliance, manifest)
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

    def compliance_rules(self, unit: Unit, compliance: dict[str, Any], manifest: Path) -> None:
        authority = compliance.get("authority", "")
        if not isinstance(authority, str):
            self.problem(manifest, "compliance.authority", "must be a string")
        else:
            unit.compliance_authority = authority
        columns = compliance.get("required_columns", {})
        if not isinstance(columns, dict):
            self.problem(manifest, "compliance.required_columns", "must be an object of table: [columns]")
        else:
            for table, names in columns.items():
                if not SLUG_RE.match(table):
                    self.problem(manifest, "compliance.required_columns", f"{table!r} is not a valid table name")
                    continue
                unit.required_columns[table] = self.slug_list(columns, table, manifest, "compliance.required_columns.")
        rows = compliance.get("required_rows", {})
        if not isinstance(rows, dict):
            self.problem(manifest, "compliance.required_rows", "must be an object of table: least row count")
        else:
            for table, least in rows.items():
                if not SLUG_RE.match(table) or isinstance(least, bool) or not isinstance(least, int) or least < 1:
                    self.problem(manifest, f"compliance.required_rows.{table}",
                                 "must be a valid table name with a whole number of rows of at least 1")
                    continue
                unit.required_rows[table] = least

    def slug_list(self, data: dict[str, Any], key: str, manifest: Path, prefix: str = "") -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(manifest, prefix + key, "must be a list of names")
            return []
        bad = [v for v in value if not SLUG_RE.match(v)]
        for v in bad:
            self.problem(manifest, prefix + key, f"{v!r} is not a valid name ({SLUG_RE.pattern})")
        return list(dict.fromkeys(v for v in value if v not in bad))
