"""What a catalog is: units (basic layer, templates, modules, custom sets), their
revision files as read without importing them, and the resolution of one tenant."""
from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from tenantops.engine.errors import ValidationError

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


# A NamedTuple, not a frozen dataclass: the CLI imports this for every job it runs, and a
# frozen dataclass costs ~0.5 ms of start-up to generate its methods (bench/README.md §1).
class RevisionFile(NamedTuple):
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
    # compliance rules beyond the tables (template manifest "compliance"): columns each
    # table must have, and the least number of rows a reference table must hold
    required_columns: dict[str, list[str]] = field(default_factory=dict)
    required_rows: dict[str, int] = field(default_factory=dict)
    compliance_authority: str = ""
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
    # (specifier, version) -> satisfied, as the loader's checks found them: a catalog kept
    # from an earlier process answers its own constraints without importing packaging
    verdicts: dict[tuple[str, str], bool] = field(default_factory=dict)

    def units(self) -> list[Unit]:
        return [self.basic, *self.templates.values(), *self.modules.values()]

    def unit(self, slug: str) -> Unit:
        for unit in self.units():
            if unit.slug == slug:
                return unit
        raise ValidationError(f"unknown unit '{slug}'", hint=f"available: {', '.join(u.slug for u in self.units())}")


def satisfies(spec: str, version: str, known: dict[tuple[str, str], bool] | None = None) -> bool:
    """Does ``version`` meet the PEP 440 specifier ``spec`` (pre-releases included)?"""
    if known is not None and (spec, version) in known:
        return known[(spec, version)]
    from packaging.specifiers import SpecifierSet  # ~6 ms with what it imports: on a miss only

    ok = SpecifierSet(spec).contains(version, prereleases=True)
    if known is not None:
        known[(spec, version)] = ok
    return ok


class Resolution(NamedTuple):
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
