"""`sync`: bring a tenant's units up to the catalog's newest revisions, as a guarded job.
A unit whose applied revision file was edited on disk blocks the sync until a dba
acknowledges it (`doctor --acknowledge`)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, StateError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import offline
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.migrate.units import units_for
from tenantops.engine.servers.adapters import Adapter
from tenantops.engine.tenants import backups
from tenantops.engine.tenants.guarded import applied_on, dialect, guarded_change, plan_json, recorder
from tenantops.engine.tenants.records import get_tenant_row, tenant_database

def edited_units(ctx: Context, tenant: m.Tenant, units: list[catalog_mod.Unit]) -> dict[str, str]:
    """Units with an applied revision whose file changed since, not acknowledged by a dba."""
    owners = {rev: u for u in units for rev in u.revisions}
    edited: dict[str, str] = {}
    with ctx.session() as s:
        rows = s.execute(sa.select(m.MigrationHistory.revision, m.MigrationHistory.checksum)
                         .where(m.MigrationHistory.tenant_id == tenant.id, m.MigrationHistory.action == "apply",
                                m.MigrationHistory.outcome == "ok", m.MigrationHistory.acknowledged_by.is_(None)))
        for revision, checksum in rows:
            unit = owners.get(revision)
            if unit is None or checksum is None:
                continue
            if migrations.revision_checksum(unit.revision_path(revision)) != checksum:
                edited[unit.slug] = revision
    return edited


def preview_sync(ctx: Context, *, slug: str) -> Preview:
    """Pending catalog revisions with their SQL, and what blocks the sync (edited files)."""
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        server = s.get(m.Server, tenant.server_id)
    if server is None:
        raise StateError(f"tenant {slug} has no server")
    units, _ = units_for(ctx, tenant)
    edited = edited_units(ctx, tenant, units)
    applied = applied_on(server, tenant_database(tenant), units)
    planned = offline.render_sql(units, dialect(server), applied)
    doc = {"tenant": slug, "status": tenant.status, "pending": plan_json(planned),
            "blocked": [f"unit {u}: applied revision {r} was edited on disk (acknowledge with "
                        f"`tenantops doctor --acknowledge {slug}`)" for u, r in edited.items()],
            "versions": versions_of(units, applied)}
    return Preview("sync", slug, doc, pending=bool(planned))


def versions_of(units: list[catalog_mod.Unit], applied: list[str]) -> dict[str, str | None]:
    done = set(applied)
    return {u.slug: next((r for r in reversed(u.revisions) if r in done), None) for u in units}


@mutating("sync", "admin", target="slug")
def request_sync(ctx: Context, *, slug: str, confirm: str | None = None) -> Queued:
    preview = preview_sync(ctx, slug=slug)
    if preview.document["blocked"]:
        raise ConflictError(f"sync of {slug} is blocked: {preview.document['blocked'][0]}")
    if not preview.pending:
        return Queued("sync", slug, None, preview)
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "sync", slug, {}, lock_operation="sync")
    return Queued("sync", slug, job, preview)


def run_sync(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    assert job.tenant is not None  # day-2 jobs are queued with the tenant's slug
    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        with tl.step("apply pending revisions") as info:
            with adapter.engine(tenant_database(tenant)).connect() as conn:
                results = migrations.apply_units(conn, units, on_revision=recorder(ctx, tl, tenant.id, batch, "apply"))
                applied = migrations.applied_revisions(conn, units)
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) applied"
        with ctx.session() as s:
            for tm in s.scalars(sa.select(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id)):
                unit = next((u for u in units if u.slug == tm.module), None)
                if unit is not None:
                    tm.version = str(unit.version)
            t = s.get_one(m.Tenant, tenant.id)
            template = next(u for u in units if u.kind == "template")
            t.template_version = str(template.version)
        return {"tenant": tenant.slug, "revisions": len(results), "versions": versions_of(units, applied)}
    return guarded_change(ctx, tl, job.tenant, "sync", body)


KINDS = (JobKind("sync", "admin", run_sync),)
