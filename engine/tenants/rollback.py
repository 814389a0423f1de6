"""`rollback SLUG --batch N`: undo every revision applied after batch N, newest first, as
a guarded job; the dry run shows the exact downgrade SQL."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import offline
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.migrate.units import units_for
from tenantops.engine.servers.adapters import Adapter
from tenantops.engine.tenants import backups
from tenantops.engine.tenants.custom import retire_custom_file
from tenantops.engine.tenants.guarded import applied_on, dialect, guarded_change, live, recorder
from tenantops.engine.tenants.records import tenant_database

def _revisions_after(ctx: Context, tenant: m.Tenant, batch: int) -> list[dict[str, Any]]:
    """Revisions applied in batches after ``batch`` and still applied, newest first."""
    with ctx.session() as s:
        rows = list(s.scalars(sa.select(m.MigrationHistory).where(m.MigrationHistory.tenant_id == tenant.id)
                              .order_by(m.MigrationHistory.id)))
    applied: dict[str, m.MigrationHistory] = {}
    for h in rows:
        if h.action == "apply" and h.outcome == "ok":
            applied[h.revision] = h
        elif h.action in ("rollback", "retire") and h.outcome in ("ok", "restored"):
            applied.pop(h.revision, None)
    later = [h for h in applied.values() if h.batch > batch]
    later.sort(key=lambda h: h.id, reverse=True)
    return [{"revision": h.revision, "unit": h.unit, "layer": h.layer, "batch": h.batch} for h in later]


def attach_downgrade_sql(ctx: Context, tenant: m.Tenant, server: m.Server, revisions: list[dict[str, Any]]) -> None:
    """Add to each revision the exact SQL its rollback runs (dry runs show it)."""
    if not revisions:
        return
    units, _ = units_for(ctx, tenant)
    applied = applied_on(server, tenant_database(tenant), units)
    planned = offline.render_downgrade_sql(units, dialect(server), applied, [r["revision"] for r in revisions])
    sql = {p.revision: list(p.sql) for p in planned}
    for r in revisions:
        r["sql"] = sql.get(r["revision"], [])


def preview_rollback(ctx: Context, *, slug: str, batch: int) -> Preview:
    """Every revision applied after ``batch``, newest first, with its exact downgrade SQL."""
    tenant, server = live(ctx, slug)
    with ctx.session() as s:
        batches = set(s.scalars(sa.select(m.MigrationHistory.batch).where(m.MigrationHistory.tenant_id == tenant.id)))
    if batch not in batches:
        raise NotFoundError(f"tenant {slug} has no batch {batch} (batches: {', '.join(map(str, sorted(batches)))})")
    revisions = _revisions_after(ctx, tenant, batch)
    attach_downgrade_sql(ctx, tenant, server, revisions)
    doc = {"tenant": slug, "batch": batch, "revisions": revisions,
           "irreversible": _irreversible(ctx, tenant, [r["revision"] for r in revisions])}
    return Preview("rollback", slug, doc, destructive=True, pending=bool(revisions))


def _irreversible(ctx: Context, tenant: m.Tenant, revisions: list[str]) -> list[dict[str, Any]]:
    """Custom migrations among ``revisions`` whose review found that their downgrade does
    not restore the schema, each with the backup taken before it was applied."""
    found = []
    with ctx.session() as s:
        for c in s.scalars(sa.select(m.CustomMigration).where(m.CustomMigration.tenant_id == tenant.id,
                                                              m.CustomMigration.revision.in_(revisions))):
            round_trip = (c.review or {}).get("round_trip", "ok")
            if round_trip == "ok":
                continue
            backup = s.scalar(sa.select(m.Backup.id).where(m.Backup.tenant_id == tenant.id,
                                                           m.Backup.reason == f"custom apply {c.name}")
                              .order_by(m.Backup.id.desc()).limit(1))
            found.append({"name": c.name, "revision": c.revision, "round_trip": round_trip, "backup": backup})
    return found


@mutating("rollback", "dba", target="slug")
def request_rollback(ctx: Context, *, slug: str, batch: int, confirm: str | None = None) -> Queued:
    preview = preview_rollback(ctx, slug=slug, batch=batch)
    if not preview.pending:
        return Queued("rollback", slug, None, preview)
    for c in preview.document["irreversible"]:
        # rolling back would report success without undoing it: the backup is the way back
        where = (f"restore backup {c['backup']} taken before it was applied "
                 f"(`tenantops backups restore {slug} {c['backup']} --confirm {slug}`)" if c["backup"]
                 else "restore a backup taken before it was applied (`tenantops backups list " + slug + "`)")
        raise ConflictError(f"rollback of {slug} cannot undo custom migration {c['name']}: its downgrade does not "
                            f"restore the schema ({c['round_trip']}); {where}")
    count = len(preview.document["revisions"])
    require_confirmation(preview, confirm, f"rollback undoes {count} revision(s) of {slug}")
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "rollback", slug, {"batch": batch}, lock_operation="rollback")
    return Queued("rollback", slug, job, preview)


def run_rollback(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    batch = job.params["batch"]
    assert job.tenant is not None  # day-2 jobs are queued with the tenant's slug

    def body(tenant: m.Tenant, adapter: Adapter, new_batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        revisions = [r["revision"] for r in _revisions_after(ctx, tenant, batch)]
        with tl.step(f"rollback after batch {batch}") as info:
            with adapter.engine(tenant_database(tenant)).connect() as conn:
                results = migrations.downgrade_revisions(
                    conn, units, revisions, on_revision=recorder(ctx, tl, tenant.id, new_batch, "rollback"))
                installed = set(migrations.installed_units(conn, units))
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) rolled back"
        with ctx.session() as s:
            s.execute(sa.delete(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id,
                                                      m.TenantModule.module.not_in(installed)))
            rolled = list(s.scalars(sa.select(m.CustomMigration).where(
                m.CustomMigration.tenant_id == tenant.id, m.CustomMigration.revision.in_(revisions))))
            for c in rolled:
                c.status = "rolled_back"
        for c in rolled:
            retire_custom_file(ctx, tenant.slug, c.revision, "rolled_back")
        return {"tenant": tenant.slug, "batch": batch, "revisions": revisions}
    return guarded_change(ctx, tl, job.tenant, f"rollback after batch {batch}", body, pinned=True)


KINDS = (JobKind("rollback", "dba", run_rollback, destructive=True),)
