"""How a day-2 change runs inside its job: backup, change, snapshot; on failure the
backup is restored and the job says so. Shared by modules, custom, rollback and sync."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context
from tenantops.engine.errors import StateError, TenantopsError
from tenantops.engine.jobs.timeline import Timeline, format_error
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.migrate.history import next_batch, record_revision
from tenantops.engine.migrate.driver import PlannedRevision, RevisionResult
from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.tenants import backups
from tenantops.engine.tenants.records import get_tenant_row, tenant_server
from tenantops.engine.tenants.snapshots import take_snapshot


def live(ctx: Context, slug: str) -> tuple[m.Tenant, m.Server]:
    """The tenant and its server, refusing a tenant that is not active."""
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        if tenant.status != "active":
            raise StateError(f"tenant {slug} is {tenant.status}; day-2 changes need an active tenant")
        server = s.get(m.Server, tenant.server_id)
        if server is None:
            raise StateError(f"tenant {slug} has no server")
        return tenant, server


def applied(adapter: Adapter, database: str, units: list[catalog_mod.Unit]) -> list[str]:
    with adapter.engine(database).connect() as conn:
        return migrations.applied_revisions(conn, units)


def applied_on(server: m.Server, database: str, units: list[catalog_mod.Unit]) -> list[str]:
    adapter = adapter_for(server)
    try:
        return applied(adapter, database, units)
    finally:
        adapter.dispose()


def dialect(server: m.Server) -> str:
    return "sqlite" if server.dialect == "sqlite" else "mysql"


def plan_json(planned: list[PlannedRevision]) -> list[dict[str, Any]]:
    return [{"unit": p.unit, "layer": p.kind, "revision": p.revision, "sql": list(p.sql)} for p in planned]


def guarded_change(ctx: Context, tl: Timeline, slug: str, reason: str,
                   body: Callable[[m.Tenant, Adapter, int], dict[str, Any]], *, pinned: bool = False) -> dict[str, Any]:
    """Backup → change → snapshot; on failure restore the backup and say so. ``pinned``:
    the change is destructive, so retention never removes its backup."""
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        server = tenant_server(s, tenant)
    with tl.step("backup") as info:
        backup = backups.take_backup(ctx, slug, reason, pinned=pinned)
        info["detail"] = (f"backup {backup['id']}: {backup['size_bytes']} bytes, sha256 {backup['checksum'][:12]}"
                          + (" (pinned)" if pinned else ""))
    batch = next_batch(ctx, tenant.id)
    adapter = adapter_for(server)
    try:
        result = body(tenant, adapter, batch)
    except BaseException as exc:
        adapter.dispose()
        restore_after_failure(ctx, tl, slug, reason, exc, backup["id"],
                              lambda: _mark_batch_restored(ctx, tenant.id, batch))
    finally:
        adapter.dispose()
    with tl.step("snapshot") as info:
        snap = take_snapshot(ctx, slug, source="after-migration")
        info["detail"] = f"schema {snap['hash'][:12]}"
    return {**result, "backup": backup["id"], "batch": batch}


def restore_after_failure(ctx: Context, tl: Timeline, slug: str, reason: str, exc: BaseException, backup_id: int,
                          after: Callable[[], None] | None = None,
                          not_restored: Callable[[], None] | None = None) -> NoReturn:
    """All or restore: a change that failed part-way gets its backup restored (a timeline
    step of its own), then fails with one line saying so, or, when the restore fails
    too, with the command that restores by hand."""
    error = format_error(exc)
    try:
        with tl.step("restore backup") as info:
            _, kept = backups.restore_into(ctx, slug, backup_id)
            if after is not None:
                after()
            info["detail"] = (f"restored backup {backup_id}: the tenant is exactly as before"
                              + (f"; the replaced tables are kept in database {kept}" if kept else ""))
    except Exception as restore_exc:
        if not_restored is not None:
            try:
                not_restored()
            except Exception:  # noqa: BLE001 - the message below is what the operator needs
                pass
        raise TenantopsError(
            f"{reason} failed ({error}); restoring backup {backup_id} failed too "
            f"({format_error(restore_exc)}): when the server is back, check the tenant and restore with "
            f"`tenantops backups restore {slug} {backup_id} --confirm {slug}`") from None
    raise TenantopsError(f"{reason} failed ({error}); backup {backup_id} was restored") from None


def _mark_batch_restored(ctx: Context, tenant_id: int, batch: int) -> None:
    """What a batch did is undone by the restore: revisions it applied stop counting as
    applied, and revisions it rolled back (a module removal or rollback that failed
    part-way) count as applied again."""
    with ctx.session() as s:
        rows = list(s.scalars(sa.select(m.MigrationHistory).where(
            m.MigrationHistory.tenant_id == tenant_id, m.MigrationHistory.batch == batch)))
        for h in rows:
            if h.outcome == "ok" and h.action in ("apply", "rollback"):
                s.add(m.MigrationHistory(tenant_id=tenant_id, batch=batch, layer=h.layer, unit=h.unit,
                                         revision=h.revision, action="rollback" if h.action == "apply" else "apply",
                                         checksum=h.checksum, operator=ctx.operator, duration_s=0.0,
                                         outcome="restored",
                                         error="undone by restoring the backup taken before the batch"))


def recorder(ctx: Context, tl: Timeline, tenant_id: int, batch: int, action: str) -> Callable[[RevisionResult], None]:
    """Records each revision in the landlord history as the driver applies or undoes it."""
    return lambda result: record_revision(ctx, tl, tenant_id, batch, result, action=action)
