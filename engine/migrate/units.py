"""A live tenant's units: its template, its installed modules and its custom set."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m


_CATALOGS: dict[tuple, catalog_mod.Catalog] = {}


def catalog_for(ctx: Context) -> catalog_mod.Catalog:
    """The configured catalog, parsed once per process until one of its files changes."""
    root = Path(ctx.settings.catalog_dir) if ctx.settings.catalog_dir else catalog_mod.shipped_catalog_root()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts)
    key = (str(root), tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    if key not in _CATALOGS:
        _CATALOGS.clear()
        _CATALOGS[key] = catalog_mod.load_catalog(root, parsed_cache=ctx.cache_dir / "revisions.json")
    return _CATALOGS[key]


def custom_dir(ctx: Context, slug: str) -> Path:
    return ctx.home / "custom" / slug / "versions"


def module_slugs(s, tenant: m.Tenant) -> list[str]:
    return [tm.module for tm in s.scalars(sa.select(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id)
                                          .order_by(m.TenantModule.position))]


def units_for(ctx: Context, tenant: m.Tenant, modules: list[str] | None = None,
              catalog: catalog_mod.Catalog | None = None,
              template: str | None = None) -> tuple[list[catalog_mod.Unit], catalog_mod.Resolution]:
    """basic → template → modules (dependency order) → custom, for this tenant (or as it
    would be with ``template`` instead of its own)."""
    catalog = catalog or catalog_for(ctx)
    if modules is None:
        with ctx.session() as s:
            modules = module_slugs(s, tenant)
    resolution = catalog_mod.resolve(catalog, template or tenant.template, modules)
    units = list(resolution.units)
    custom = custom_dir(ctx, tenant.slug)
    if custom.is_dir() and any(custom.glob("*.py")):
        units.append(catalog_mod.custom_unit(tenant.slug, custom))
    return units, resolution
