"""`modules add` and `modules remove` on a live tenant: dependency and conflict rules,
the exact SQL beforehand, a guarded job (backup, change, snapshot) to do it."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import offline
from tenantops.engine.migrate import seeds
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.migrate.units import catalog_for, module_slugs, units_for
from tenantops.engine.servers.adapters import Adapter
from tenantops.engine.tenants import backups
from tenantops.engine.tenants.guarded import applied_on, dialect, guarded_change, live, plan_json, recorder
from tenantops.engine.tenants.records import tenant_database
from tenantops.engine.tenants.rollback import attach_downgrade_sql

# -- add ---------------------------------------------------------------------------


def preview_module_add(ctx: Context, *, slug: str, module: str) -> Preview:
    """The module, whatever comes along with it, and only the revisions still to apply."""
    tenant, server = live(ctx, slug)
    with ctx.session() as s:
        current = module_slugs(s, tenant)
    if module in current:
        raise ConflictError(f"module {module} is already installed on {slug}")
    units, resolution = units_for(ctx, tenant, current + [module])
    planned = offline.render_sql(units, dialect(server), applied_on(server, tenant_database(tenant), units))
    new = [u.slug for u in resolution.units if u.kind == "module" and u.slug not in current]
    doc = {"tenant": slug, "module": module, "installs": new,
           "auto_added": {k: v for k, v in resolution.auto_added.items() if k in new and k != module},
           "revisions": plan_json(planned)}
    return Preview("modules.add", slug, doc)


@mutating("modules.add", "admin", target="slug")
def request_module_add(ctx: Context, *, slug: str, module: str, confirm: str | None = None) -> Queued:
    preview = preview_module_add(ctx, slug=slug, module=module)
    with ctx.session() as s:
        current = module_slugs(s, live(ctx, slug)[0])
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "modules.add", slug, {"module": module, "modules": current + [module]},
                       lock_operation="modules.add")
    return Queued("modules.add", slug, job, preview)


def run_module_add(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    assert job.tenant is not None  # day-2 jobs are queued with the tenant's slug
    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, resolution = units_for(ctx, tenant, job.params["modules"])
        with tl.step(f"module {job.params['module']}") as info:
            with adapter.engine(tenant_database(tenant)).connect() as conn:
                results = migrations.apply_units(conn, units, on_revision=recorder(ctx, tl, tenant.id, batch, "apply"))
                seeded = seeds.apply_seeds(conn, units)
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) applied" + (f", seeded {seeded}" if seeded else "")
        with ctx.session() as s:
            have = set(module_slugs(s, tenant))
            for position, unit in enumerate(resolution.units):
                if unit.kind == "module" and unit.slug not in have:
                    reason = resolution.auto_added.get(unit.slug)
                    s.add(m.TenantModule(tenant_id=tenant.id, module=unit.slug, version=str(unit.version),
                                         position=position, required=bool(reason), reason=reason))
        return {"tenant": tenant.slug, "module": job.params["module"], "revisions": len(results)}
    return guarded_change(ctx, tl, job.tenant, f"modules add {job.params['module']}", body)


# -- remove ------------------------------------------------------------------------


def _dependents_of(catalog: catalog_mod.Catalog, module: str, installed: list[str]) -> list[str]:
    out = []
    for slug in installed:
        if slug == module:
            continue
        seen: set[str] = set()
        stack = list(catalog.modules[slug].depends_on) if slug in catalog.modules else []
        while stack:
            dep = stack.pop()
            if dep in seen:
                continue
            seen.add(dep)
            stack.extend(catalog.modules[dep].depends_on if dep in catalog.modules else [])
        if module in seen:
            out.append(slug)
    return out


def preview_module_remove(ctx: Context, *, slug: str, module: str) -> Preview:
    """The tables it drops and the exact downgrade SQL, newest revision first."""
    tenant, server = live(ctx, slug)
    with ctx.session() as s:
        current = module_slugs(s, tenant)
    if module not in current:
        raise NotFoundError(f"module {module} is not installed on {slug}")
    catalog = catalog_for(ctx)
    template = catalog.templates.get(tenant.template)
    if template is not None and module in template.required_modules:
        raise ConflictError(f"module {module} is required by template {tenant.template} and cannot be removed")
    dependents = _dependents_of(catalog, module, current)
    if dependents:
        raise ConflictError(f"module {module} cannot be removed: installed module {', '.join(dependents)} "
                            f"depends on it (remove {dependents[0]} first)")
    unit = catalog.modules[module]
    revisions: list[dict[str, Any]] = [{"revision": r, "unit": module, "layer": "module"}
                                       for r in reversed(unit.revisions)]
    attach_downgrade_sql(ctx, tenant, server, revisions)
    doc = {"tenant": slug, "module": module, "drops_tables": sorted(unit.tables), "revisions": revisions}
    return Preview("modules.remove", slug, doc, destructive=True)


@mutating("modules.remove", "admin", target="slug")
def request_module_remove(ctx: Context, *, slug: str, module: str, confirm: str | None = None) -> Queued:
    preview = preview_module_remove(ctx, slug=slug, module=module)
    tables = ", ".join(preview.document["drops_tables"])
    require_confirmation(preview, confirm, f"modules remove drops the tables of {module} ({tables})")
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "modules.remove", slug, {"module": module}, lock_operation="modules.remove")
    return Queued("modules.remove", slug, job, preview)


def run_module_remove(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    module = job.params["module"]
    assert job.tenant is not None  # day-2 jobs are queued with the tenant's slug

    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        with tl.step(f"remove module {module}") as info:
            with adapter.engine(tenant_database(tenant)).connect() as conn:
                results = migrations.downgrade_unit(conn, units, module,
                                                    on_revision=recorder(ctx, tl, tenant.id, batch, "rollback"))
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) rolled back; data kept in the backup"
        with ctx.session() as s:
            s.execute(sa.delete(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id,
                                                      m.TenantModule.module == module))
        return {"tenant": tenant.slug, "module": module, "revisions": len(results)}
    return guarded_change(ctx, tl, job.tenant, f"modules remove {module}", body, pinned=True)


KINDS = (JobKind("modules.add", "admin", run_module_add),
         JobKind("modules.remove", "admin", run_module_remove, destructive=True))
