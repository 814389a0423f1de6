"""A live tenant's units: its template, its installed modules and its custom set."""
from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine import private
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m


_CATALOGS: dict[tuple, catalog_mod.Catalog] = {}


# bumped when what a stored catalog holds changes in a way file signatures do not show
STORED_FORMAT = 1


def catalog_for(ctx: Context) -> catalog_mod.Catalog:
    """The configured catalog, parsed once until one of its files changes: kept in this
    process and, for the next one, in ``ctx.cache_dir`` (a CLI command that provisions one
    tenant would otherwise read and check the whole catalog, ~10 ms with the loader's
    imports, to use three of its units)."""
    root = Path(ctx.settings.catalog_dir) if ctx.settings.catalog_dir else catalog_mod.shipped_catalog_root()
    key = (str(root), tuple(sorted(_signatures(str(root)))))
    if key not in _CATALOGS:
        _CATALOGS.clear()
        stored = _stored_path(ctx, key)
        catalog = _read_stored(stored)
        if catalog is None:
            catalog = catalog_mod.load_catalog(root, parsed_cache=ctx.cache_dir / "revisions.json")
            private.write_atomically(stored, pickle.dumps(catalog, protocol=pickle.HIGHEST_PROTOCOL))
        _CATALOGS[key] = catalog
    return _CATALOGS[key]


def _signatures(folder: str) -> Iterator[tuple[str, int, int]]:
    """(path, change time, size) of every manifest and revision file under ``folder``
    (os.scandir: pathlib's rglob and a stat per file cost four times as much)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                if entry.name != "__pycache__":
                    yield from _signatures(entry.path)
            elif entry.name.endswith((".py", ".json")):
                st = entry.stat()
                yield entry.path, st.st_mtime_ns, st.st_size


def _stored_path(ctx: Context, key: tuple) -> Path:
    """Keyed by every catalog file's path, change time and size, as the in-process copy
    is, and by the catalog code that reads them (its files' signatures)."""
    code = Path(catalog_mod.__file__).parent
    readers = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(code.glob("*.py")))
    digest = hashlib.sha256(repr((STORED_FORMAT, readers, key)).encode()).hexdigest()
    return ctx.cache_dir / "catalogs" / f"{digest}.pickle"


def _read_stored(path: Path) -> catalog_mod.Catalog | None:
    # unpickling runs what the file says: only a file this account wrote and nobody else
    # can write is read (the cache directory may be shared: TENANTOPS_CACHE_DIR)
    data = private.read_own_bytes(path)
    if data is None:
        return None
    try:
        catalog = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a damaged or outdated file: read the catalog again
        return None
    return catalog if isinstance(catalog, catalog_mod.Catalog) and not catalog.problems else None


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
