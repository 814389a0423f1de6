"""`tenants change-template SLUG TEMPLATE` (seed 001's "Template Change"): the new
template's branch and its required modules are applied; installed modules the new
template does not allow refuse the change up front. The old template's tables are kept
(recorded as accepted drift, so they stay visible and can be withdrawn) unless
``--drop-old`` moves them into quarantine, from where `quarantine restore` brings them
back. A guarded job: pinned backup first, restored automatically if anything fails."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError, ValidationError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.migrate import offline, seeds
from tenantops.engine.migrate.units import catalog_for, module_slugs, units_for
from tenantops.engine.schema.names import quarantine_name
from tenantops.engine.schema.quarantine import QuarantineRecord
from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.tenants import backups
from tenantops.engine.tenants.guarded import applied_on, dialect, guarded_change, live, plan_json, recorder
from tenantops.engine.tenants.records import tenant_database

# kept tables of the old template are accepted drift for this long; when it runs out
# they show as drift again, a reminder to decide about them
KEPT_FOR = timedelta(days=365)


def _plan(ctx: Context, slug: str, template: str) -> dict[str, Any]:
    tenant, server = live(ctx, slug)
    catalog = catalog_for(ctx)
    if template == tenant.template:
        raise ValidationError(f"tenant {slug} already uses template {template}")
    new = catalog.templates.get(template)
    if new is None:
        raise NotFoundError(f"template {template!r} is not in the catalog (known: {', '.join(sorted(catalog.templates))})")
    with ctx.session() as s:
        current = module_slugs(s, tenant)
    allowed = set(new.required_modules) | set(new.optional_modules)
    refused = [x for x in current if x not in allowed]
    if refused:
        raise ConflictError(f"template {template} does not allow module(s) {', '.join(refused)} installed on {slug}; "
                            f"remove them first (`tenantops modules remove {slug} {refused[0]}`)")
    old_units, _ = units_for(ctx, tenant, current, catalog)
    old = next(u for u in old_units if u.kind == "template")
    new_units, resolution = units_for(ctx, tenant, current, catalog, template=template)
    applied = applied_on(server, tenant_database(tenant), old_units)
    kept = [r for r in applied if r not in old.revisions]
    return {"tenant": tenant, "server": server, "old": old, "new": new, "current": current,
            "old_units": old_units, "new_units": new_units, "resolution": resolution,
            "applied": applied, "kept": kept}


def _present_tables(ctx: Context, plan: dict[str, Any]) -> set[str]:
    adapter = adapter_for(plan["server"])
    try:
        with adapter.engine(tenant_database(plan["tenant"])).connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        adapter.dispose()


def preview_change_template(ctx: Context, *, slug: str, template: str, drop_old: bool = False) -> Preview:
    """Every statement the change runs, what it adds and what becomes of the old tables."""
    plan = _plan(ctx, slug, template)
    old, new = plan["old"], plan["new"]
    present = _present_tables(ctx, plan)
    old_tables = sorted(old.tables & present)
    clash = sorted((new.tables & present) - (set(old_tables) if drop_old else set()))
    if clash:
        raise ConflictError(f"template {template} creates table(s) {', '.join(clash)} that {slug} already has"
                            + (" (from template " + old.slug + "): use --drop-old to quarantine them first"
                               if set(clash) <= old.tables else ""))
    planned = offline.render_sql(plan["new_units"], dialect(plan["server"]), plan["kept"])
    added_modules = [u.slug for u in plan["resolution"].units if u.kind == "module" and u.slug not in plan["current"]]
    doc = {"tenant": slug, "from": old.slug, "to": template, "modules_added": added_modules,
           "old_tables": old_tables, "old_tables_become": "quarantine" if drop_old else "kept (accepted drift)",
           "revisions": plan_json(planned)}
    return Preview("change-template", slug, doc, destructive=drop_old)


@mutating("tenants.change-template", "dba", target="slug")
def request_change_template(ctx: Context, *, slug: str, template: str, drop_old: bool = False,
                            confirm: str | None = None) -> Queued:
    preview = preview_change_template(ctx, slug=slug, template=template, drop_old=drop_old)
    # the whole tenant is reshaped: its slug is repeated even when nothing is dropped
    require_confirmation(Preview(preview.operation, slug, preview.document, destructive=True), confirm,
                         f"changing the template of {slug} to {template} reshapes its database")
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "change-template", slug, {"template": template, "drop_old": drop_old},
                       lock_operation="change-template")
    return Queued("change-template", slug, job, preview)


def _forget_branch(conn: sa.Connection, revisions: list[str]) -> None:
    """Take a retired template's revisions out of the version table without running its
    downgrade (its tables stay, or went to quarantine). Alembic has no operation for
    forgetting a branch the script directory no longer holds, hence plain SQL."""
    table = sa.table("alembic_version", sa.column("version_num"))
    conn.execute(sa.delete(table).where(table.c.version_num.in_(revisions)))


def run_change_template(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    slug, template, drop_old = job.tenant, job.params["template"], bool(job.params.get("drop_old"))
    assert slug is not None

    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        plan = _plan(ctx, slug, template)
        old: catalog_mod.Unit = plan["old"]
        retired = [r for r in plan["applied"] if r in old.revisions]
        with adapter.engine(tenant_database(tenant)).connect() as conn:
            with tl.step(f"retire template {old.slug}") as info:
                present = set(sa.inspect(conn).get_table_names())
                old_tables = sorted(old.tables & present)
                moved: list[tuple[str, str, int]] = []
                if drop_old:
                    q = conn.dialect.identifier_preparer.quote
                    for table in old_tables:
                        target = quarantine_name(f"t{job.id}", table)
                        rows = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {q(table)}").scalar_one()
                        conn.exec_driver_sql(f"ALTER TABLE {q(table)} RENAME TO {q(target)}")
                        moved.append((table, target, rows))
                _forget_branch(conn, retired)
                conn.commit()
                info["detail"] = (f"{len(old_tables)} table(s) "
                                  + ("moved to quarantine" if drop_old else "kept as accepted drift"))
            with tl.step(f"template {template}") as info:
                results = migrations.apply_units(conn, plan["new_units"],
                                                 on_revision=recorder(ctx, tl, tenant.id, batch, "apply"))
                seeded = seeds.apply_seeds(conn, plan["new_units"])
                conn.commit()
                info["detail"] = f"{len(results)} revision(s) applied" + (f", seeded {seeded}" if seeded else "")
        new: catalog_mod.Unit = plan["new"]
        with ctx.session() as s:
            row = s.get_one(m.Tenant, tenant.id)
            row.template, row.template_version = template, str(new.version)
            for rev in retired:
                s.add(m.MigrationHistory(tenant_id=tenant.id, batch=batch, layer="template", unit=old.slug,
                                         revision=rev, action="retire", operator=ctx.operator, duration_s=0.0,
                                         outcome="ok", error=f"template changed to {template}"))
            have = set(module_slugs(s, tenant))
            for position, unit in enumerate(plan["resolution"].units):
                if unit.kind == "module" and unit.slug not in have:
                    reason = plan["resolution"].auto_added.get(unit.slug)
                    s.add(m.TenantModule(tenant_id=tenant.id, module=unit.slug, version=str(unit.version),
                                         position=position, required=bool(reason), reason=reason))
            for table, target, rows in moved:
                s.add(m.QuarantineItem(tenant_id=tenant.id, kind="table", table=table, column=None, rows=rows,
                                       quarantined_as=target, repair_id=job.id,
                                       detail=QuarantineRecord("table", table, None, rows, target).to_json()))
            if not drop_old:
                for table in old_tables:
                    s.add(m.DriftAcceptance(tenant_id=tenant.id, object="table", change="added", table=table,
                                            name=table, reason=f"kept from template {old.slug} when the template "
                                                               f"changed to {template}",
                                            expires_at=utcnow() + KEPT_FOR, accepted_by=ctx.operator))
        return {"tenant": slug, "from": old.slug, "to": template, "revisions": len(results),
                "old_tables": old_tables, "quarantined": [t for t, _, _ in moved]}

    return guarded_change(ctx, tl, slug, f"change template to {template}", body, pinned=True)


KINDS = (JobKind("change-template", "dba", run_change_template, destructive=True),)
