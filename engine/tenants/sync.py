"""`sync`: bring a tenant's units up to the catalog's newest revisions, as a guarded job.
A unit whose applied revision file was edited on disk blocks the sync until a dba
acknowledges it (`doctor --acknowledge`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util import CommandError

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, StateError, ValidationError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import offline, plans
from tenantops.engine.migrate.offline import PlannedRevision
from tenantops.engine.migrate.shadow import Shadow, schema_name
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.migrate.units import units_for
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.schema.capture import capture
from tenantops.engine.schema.diff import diff_schemas
from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.tenants.review import is_destructive
from tenantops.engine.vocab import SYNC_STRATEGIES
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


def preview_sync(ctx: Context, *, slug: str, strategy: str | None = None) -> Preview:
    """Pending catalog revisions with their SQL, what blocks the sync (edited files) and,
    for the conservative strategy, which revisions it holds back and why."""
    strategy = strategy or ctx.settings.sync_strategy
    if strategy not in SYNC_STRATEGIES:
        raise ValidationError(f"unknown sync strategy {strategy!r}; one of {', '.join(SYNC_STRATEGIES)}")
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        server = s.get(m.Server, tenant.server_id)
    if server is None:
        raise StateError(f"tenant {slug} has no server")
    units, _ = units_for(ctx, tenant)
    edited = edited_units(ctx, tenant, units)
    applied = applied_on(server, tenant_database(tenant), units)
    sql_note = None
    try:
        planned = offline.render_sql(units, dialect(server), applied)
    except CommandError as exc:
        # Alembic's offline mode cannot render some operations (SQLite batch mode): the
        # revisions are still listed, their SQL is what runs when they run
        planned = _pending_without_sql(server, tenant_database(tenant), units)
        sql_note = f"the SQL cannot be shown beforehand: {str(exc).splitlines()[0][:160]}"
    doc: dict[str, Any] = {
        "tenant": slug, "status": tenant.status, "strategy": strategy, "pending": plan_json(planned),
        "blocked": [f"unit {u}: applied revision {r} was edited on disk (acknowledge with "
                    f"`tenantops doctor --acknowledge {slug}`)" for u, r in edited.items()],
        "versions": versions_of(units, applied), "held": [], "targets": None, "sql_note": sql_note}
    if strategy == "conservative" and planned and not edited:
        held = _hold_destructive(server, units, applied, planned)
        doc["held"] = [{"revision": r, "unit": u, "reason": why} for r, (u, why) in held.items()]
        doc["targets"] = _targets(units, [p.revision for p in planned if p.revision not in held])
        pending = bool(doc["targets"])
    else:
        pending = bool(planned)
    return Preview("sync", slug, doc, pending=pending)


def _pending_without_sql(server: m.Server, database: str, units: list[catalog_mod.Unit]) -> list[PlannedRevision]:
    adapter = adapter_for(server)
    try:
        with adapter.engine(database).connect() as conn:
            return migrations.pending(conn, units)
    finally:
        adapter.dispose()


def _hold_destructive(server: m.Server, units: list[catalog_mod.Unit], applied: list[str],
                      planned: list[PlannedRevision]) -> dict[str, tuple[str, str]]:
    """Revisions the conservative strategy holds: each pending revision is run in a shadow
    of the tenant's schema, in order, and held when it drops or narrows something (the
    custom-migration review's rule) or needs a held revision."""
    adapter = adapter_for(server)
    held: dict[str, tuple[str, str]] = {}
    try:
        with Shadow(adapter, "sync") as engine, engine.connect() as conn:
            family = "sqlite" if adapter.dialect == "sqlite" else "mysql"
            plans.replay(conn, [p for p in plans.compiled(units, family) if p.revision in set(applied)])
            name = schema_name(conn)
            before = capture(conn, name)
            for p in planned:
                migrations.upgrade_to(conn, units, [p.revision])
                conn.commit()
                after = capture(conn, name)
                lost = [d for d in diff_schemas(before, after) if is_destructive(d)]
                needs = sorted(migrations.ancestors(units, p.revision) & set(held))
                if lost:
                    d = lost[0]
                    what = f"{d.object} {(d.table or '') + '.' if d.object != 'table' else ''}{d.name}"
                    held[p.revision] = (p.unit, f"{'drops' if d.change == 'removed' else 'narrows'} {what}"
                                        + (f" (+{len(lost) - 1} more)" if len(lost) > 1 else ""))
                elif needs:
                    held[p.revision] = (p.unit, f"needs held revision {needs[0]}")
                before = after
    finally:
        adapter.dispose()
    return held


def _targets(units: list[catalog_mod.Unit], safe: list[str]) -> list[str]:
    """Per unit, the newest revision to upgrade to (the safe ones form a prefix)."""
    last: dict[str, str] = {}
    owners = {rev: u.slug for u in units for rev in u.revisions}
    for rev in safe:
        last[owners[rev]] = rev
    return list(last.values())


def write_manual_plan(ctx: Context, slug: str, doc: dict[str, Any]) -> Path:
    """The manual strategy: the exact SQL per pending revision in a file for a dba."""
    directory = ctx.home / "sync-plans"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slug}-{utcnow().strftime('%Y%m%dT%H%M%S%f')}.sql"
    lines = [f"-- tenantops sync plan for {slug} (manual strategy: nothing was applied)", ""]
    for r in doc["pending"]:
        lines += [f"-- {r['layer']} {r['unit']} · {r['revision']}", *[f"{stmt};" for stmt in r["sql"]], ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def versions_of(units: list[catalog_mod.Unit], applied: list[str]) -> dict[str, str | None]:
    done = set(applied)
    return {u.slug: next((r for r in reversed(u.revisions) if r in done), None) for u in units}


@mutating("sync", "admin", target="slug")
def request_sync(ctx: Context, *, slug: str, strategy: str | None = None,
                 confirm: str | None = None) -> Queued:
    preview = preview_sync(ctx, slug=slug, strategy=strategy)
    if preview.document["blocked"]:
        raise ConflictError(f"sync of {slug} is blocked: {preview.document['blocked'][0]}")
    if preview.document["strategy"] == "manual":
        path = write_manual_plan(ctx, slug, preview.document) if preview.document["pending"] else None
        return Queued("sync", slug, None, preview, extra={"plan_file": str(path) if path else None})
    if not preview.pending:
        return Queued("sync", slug, None, preview)
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "sync", slug, {"strategy": preview.document["strategy"],
                                           "targets": preview.document["targets"]}, lock_operation="sync")
    return Queued("sync", slug, job, preview)


def run_sync(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    assert job.tenant is not None  # day-2 jobs are queued with the tenant's slug
    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        with tl.step("apply pending revisions") as info:
            with adapter.engine(tenant_database(tenant)).connect() as conn:
                targets = job.params.get("targets")
                if targets is not None:   # conservative: the revisions that passed the review, no further
                    results = migrations.upgrade_to(conn, units, targets,
                                                    on_revision=recorder(ctx, tl, tenant.id, batch, "apply"))
                else:
                    results = migrations.apply_units(conn, units,
                                                     on_revision=recorder(ctx, tl, tenant.id, batch, "apply"))
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
