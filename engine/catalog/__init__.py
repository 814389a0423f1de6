"""The catalog: basic layer, templates and modules as manifests plus Alembic branches.

``check_catalog`` finds every problem at once (one line each, naming file and field) so a
catalog author fixes them in one pass; ``load_catalog`` refuses a catalog with problems;
``resolve`` turns "template + chosen modules" into the ordered list of units to apply.

Revision files are read with ``ast`` only, never imported: validating the catalog must not
run catalog code, and Alembic imports them later anyway when it builds its revision map.
"""
from typing import TYPE_CHECKING, Any

from tenantops.engine.catalog.model import (
    COMPATIBILITY_KEYS,
    REVISION_ID_RE,
    SLUG_RE,
    TENANT_SLUG_RE,
    Catalog,
    Kind,
    Resolution,
    RevisionFile,
    Unit,
    shipped_catalog_root,
)
from tenantops.engine.catalog.resolve import resolve

if TYPE_CHECKING:
    from tenantops.engine.catalog.loader import check_catalog, custom_unit, load_catalog

_LOADER = ("check_catalog", "custom_unit", "load_catalog")


def __getattr__(name: str) -> Any:
    # the loader and its checks are imported when a catalog is read, not to use one that
    # was read before (migrate/units.py keeps it): a provisioning CLI needs only resolve
    if name in _LOADER:
        from tenantops.engine.catalog import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["COMPATIBILITY_KEYS", "REVISION_ID_RE", "SLUG_RE", "TENANT_SLUG_RE", "Catalog", "Kind", "Resolution",
           "RevisionFile", "Unit", "check_catalog", "custom_unit", "load_catalog", "resolve", "shipped_catalog_root"]
