"""The landlord agrees with the database: after a restore (or when doctor finds that
they disagree) the tenant's modules, custom migration states and migration history are
set from the revisions actually recorded in the tenant database's ``alembic_version``.

A version table names only its minimal heads; the applied set is implied by the
catalog's revision graph (``driver.applied_from_heads``). A head the catalog no longer
knows cannot be mapped to a unit: such a database (or backup) is refused.
"""
from __future__ import annotations

import gzip
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context
from tenantops.engine.errors import TenantopsError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.migrate import driver
from tenantops.engine.migrate.history import next_batch
from tenantops.engine.migrate.units import catalog_for, custom_dir
from tenantops.engine.servers.adapters import Adapter

_VERSION_INSERT = "INSERT INTO `alembic_version` VALUES"
_VALUE = re.compile(r"'((?:[^'\\]|\\.)*)'")


def file_heads(path: Path) -> list[str]:
    """The version heads recorded in a backup file, read without loading it: a SQLite
    copy is opened read-only, a gzip SQL dump is scanned line by line."""
    if path.suffix == ".sqlite":
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" not in tables:
                return []
            return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
        finally:
            conn.close()
    heads: list[str] = []
    inside = False
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(_VERSION_INSERT):
                inside, line = True, line[len(_VERSION_INSERT):]
            if inside:   # one line, or one value per line (mariadb-dump 10.11+)
                heads += _VALUE.findall(line)
                inside = not line.rstrip().endswith(";")
    return sorted(heads)


def database_heads(adapter: Adapter, database: str) -> list[str]:
    with adapter.engine(database).connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return []
        return sorted(r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version")))


@dataclass
class DatabaseState:
    """What a tenant database holds, in the catalog's terms."""

    units: list[catalog_mod.Unit]
    applied: list[str]
    modules: list[str]                     # installed modules, dependency order
    layers: dict[str, tuple[str, str]] = field(default_factory=dict)   # revision -> (layer, unit)


def state_from_heads(ctx: Context, tenant: m.Tenant, heads: list[str], *, what: str) -> DatabaseState:
    """Map version heads to the tenant's units; refuse heads the catalog does not know.
    ``what`` names the source in the refusal (e.g. "backup 12")."""
    catalog = catalog_for(ctx)
    owners: dict[str, catalog_mod.Unit] = {}
    allowed = [catalog.basic, *( [catalog.templates[tenant.template]] if tenant.template in catalog.templates else []),
               *catalog.modules.values()]
    custom = custom_dir(ctx, tenant.slug)
    custom_unit = catalog_mod.custom_unit(tenant.slug, custom) if custom.is_dir() and any(custom.glob("*.py")) else None
    for unit in [*allowed, *([custom_unit] if custom_unit else [])]:
        for rev in unit.revisions:
            owners[rev] = unit
    unknown = [h for h in heads if h not in owners]
    if unknown:
        raise ValidationError(f"{what} is at revision(s) {', '.join(unknown)}, which the catalog no longer knows "
                              f"for tenant {tenant.slug} (template {tenant.template}); refusing: nothing was changed")
    modules = sorted({owners[h].slug for h in heads if owners[h].kind == "module"})
    try:
        resolution = catalog_mod.resolve(catalog, tenant.template, modules)
    except TenantopsError as exc:
        raise ValidationError(f"{what}: its modules {', '.join(modules) or '(none)'} no longer resolve "
                              f"in the catalog ({exc}); refusing: nothing was changed") from None
    units = list(resolution.units) + ([custom_unit] if custom_unit else [])
    applied = driver.applied_from_heads(units, heads)
    done = set(applied)
    installed = [u.slug for u in units if u.kind == "module" and any(r in done for r in u.revisions)]
    layers: dict[str, tuple[str, str]] = {r: (str(u.kind), u.slug) for u in units for r in u.revisions}
    return DatabaseState(units, applied, installed, layers)


def landlord_applied(s: Any, tenant_id: int) -> dict[str, tuple[str, str, str | None]]:
    """revision -> (layer, unit, checksum) applied according to the landlord's history."""
    h = m.MigrationHistory
    applied: dict[str, tuple[str, str, str | None]] = {}
    for row in s.scalars(sa.select(h).where(h.tenant_id == tenant_id, h.outcome.in_(("ok", "restored")))
                         .order_by(h.id)):
        if row.action == "apply":
            applied[row.revision] = (row.layer, row.unit, row.checksum)
        else:
            applied.pop(row.revision, None)
    return applied


def differences(ctx: Context, tenant: m.Tenant, state: DatabaseState) -> dict[str, list[str]]:
    """Where the landlord and the database disagree (empty lists: they agree)."""
    with ctx.session() as s:
        modules = [tm.module for tm in s.scalars(sa.select(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id))]
        history = landlord_applied(s, tenant.id)
        customs = list(s.scalars(sa.select(m.CustomMigration).where(m.CustomMigration.tenant_id == tenant.id)))
    done = set(state.applied)
    return {
        "modules_missing": [x for x in state.modules if x not in modules],      # in the database, not the landlord
        "modules_extra": sorted(x for x in modules if x not in state.modules),    # in the landlord, not the database
        "revisions_missing": [r for r in state.applied if r not in history],
        "revisions_extra": sorted(r for r in history if r not in done),
        "custom_wrong": sorted(c.name for c in customs if (c.revision in done) != (c.status == "applied")),
    }


def reconcile(ctx: Context, tenant_id: int, state: DatabaseState, *, why: str) -> dict[str, Any]:
    """Set the landlord's modules, custom states and history from ``state``; the history
    changes go in one new batch whose rows have outcome ``restored``."""
    catalog_units = {u.slug: u for u in state.units}
    done = set(state.applied)
    batch = next_batch(ctx, tenant_id)
    with ctx.session() as s:
        rows = {tm.module: tm for tm in s.scalars(sa.select(m.TenantModule).where(m.TenantModule.tenant_id == tenant_id))}
        removed = sorted(x for x in rows if x not in state.modules)
        added = [x for x in state.modules if x not in rows]
        for name in removed:
            s.delete(rows[name])
        s.flush()
        for position, name in enumerate(state.modules):
            if name in rows:
                rows[name].position = position
            else:
                s.add(m.TenantModule(tenant_id=tenant_id, module=name, version=str(catalog_units[name].version),
                                     position=position,
                                     reason=why))
        for c in s.scalars(sa.select(m.CustomMigration).where(m.CustomMigration.tenant_id == tenant_id)):
            if c.revision in done and c.status != "applied":
                c.status, c.applied_at, c.error = "applied", c.applied_at or utcnow(), None
            elif c.revision not in done and c.status == "applied":
                c.status, c.applied_at = "approved", None
        history = landlord_applied(s, tenant_id)
        applied_now = [r for r in state.applied if r not in history]
        undone = sorted(r for r in history if r not in done)
        for rev in applied_now:
            layer, owner = state.layers[rev]
            info = catalog_units[owner].revision_files.get(rev)
            s.add(m.MigrationHistory(tenant_id=tenant_id, batch=batch, layer=layer, unit=owner, revision=rev,
                                     action="apply", checksum=driver.revision_checksum(info.path) if info else None,
                                     operator=ctx.operator, duration_s=0.0, outcome="restored", error=why))
        for rev in undone:
            layer, owner, checksum = history[rev]
            s.add(m.MigrationHistory(tenant_id=tenant_id, batch=batch, layer=layer, unit=owner, revision=rev,
                                     action="rollback", checksum=checksum, operator=ctx.operator, duration_s=0.0,
                                     outcome="restored", error=why))
    return {"modules": state.modules, "modules_added": added, "modules_removed": removed,
            "revisions_applied": applied_now, "revisions_undone": undone,
            "batch": batch if applied_now or undone else None}
