"""catalog list | check."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING
from pathlib import Path


from .. import output
from ..lazy import lazy
from .verbs import group, verb

if TYPE_CHECKING:
    from tenantops.engine import catalog
    from tenantops.engine.context import Context
else:
    catalog = lazy("tenantops.engine.catalog")


def catalog_json(cat: catalog.Catalog) -> dict:
    def unit(u: catalog.Unit) -> dict:
        return {"slug": u.slug, "kind": u.kind, "name": u.name, "version": str(u.version),
                "description": u.description, "organization_type": u.organization_type,
                "required_modules": list(u.required_modules), "optional_modules": list(u.optional_modules),
                "depends_on": list(u.depends_on), "conflicts": list(u.conflicts),
                "compatibility": dict(u.compatibility), "revisions": list(u.revisions),
                "tables": sorted(u.tables)}
    return {"basic": unit(cat.basic), "templates": [unit(t) for t in cat.templates.values()],
            "modules": [unit(mod) for mod in cat.modules.values()]}


def _directory(ctx: Context, args: argparse.Namespace) -> Path | None:
    return Path(args.dir) if args.dir else (Path(ctx.settings.catalog_dir) if ctx.settings.catalog_dir else None)


def cmd_catalog_check(ctx: Context, args: argparse.Namespace) -> int:
    problems = catalog.check_catalog(_directory(ctx, args))
    if args.json:
        output.emit_json({"ok": not problems, "problems": problems})
    for problem in problems:
        output.err.print(problem, highlight=False, markup=False)
    if not problems and not args.json:
        output.note("catalog ok")
    return 1 if problems else 0


def cmd_catalog_list(ctx: Context, args: argparse.Namespace) -> int:
    doc = catalog_json(catalog.load_catalog(_directory(ctx, args)))

    def render(d: dict) -> None:
        output.table("Templates", ["slug", "version", "organisation type", "required modules", "optional modules"],
                     [(t["slug"], t["version"], t["organization_type"], ", ".join(t["required_modules"]),
                       ", ".join(t["optional_modules"])) for t in d["templates"]])
        output.table("Modules", ["slug", "version", "depends on", "conflicts", "tables"],
                     [(mod["slug"], mod["version"], ", ".join(mod["depends_on"]), ", ".join(mod["conflicts"]),
                       len(mod["tables"])) for mod in d["modules"]])
    output.show(args, doc, render)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    verbs = group(sub, "catalog", help="templates and modules")
    p = verb(verbs, "list", common, help="templates and modules with versions and dependencies",
             handler=cmd_catalog_list, example="tenantops catalog list --json")
    p.add_argument("dir", nargs="?", metavar="DIR", help="a catalog directory (default: [catalog] dir, else bundled)")
    p = verb(verbs, "check", common, help="validate manifests and revision files; exit 1 listing every problem",
             handler=cmd_catalog_check, example="tenantops catalog check ./catalog")
    p.add_argument("dir", nargs="?", metavar="DIR", help="a catalog directory (default: [catalog] dir, else bundled)")
