"""Reads the console needs that the engine does not offer as one call.

Everything here runs in Textual worker threads, never on the UI thread, and only reads
(server probes record reachability, as ``servers.check_server`` always does).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine.tenants import applications
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m

# Alembic keeps process-wide state and is not thread-safe (STACK-NOTES): the console's
# SQL previews and the in-process demo fill must never run Alembic at the same time.
ALEMBIC_LOCK = threading.Lock()

DRIFT_LEVELS = ("critical", "high", "medium", "low", "none", "unchecked")
TENANT_STATUSES = ("active", "provisioning", "failed", "suspended")
JOB_STATUSES = ("running", "queued", "failed", "succeeded", "cancelled")


def dashboard(ctx: Context) -> dict[str, Any]:
    """Every dashboard figure in one short transaction (grouped counts, no row loads)."""
    with ctx.session() as s:
        apps = dict(s.execute(sa.select(m.Application.status, sa.func.count()).group_by(m.Application.status)).all())
        live = m.Tenant.archived_at.is_(None)
        tenants = dict(s.execute(sa.select(m.Tenant.status, sa.func.count()).where(live)
                                 .group_by(m.Tenant.status)).all())
        severity = sa.func.coalesce(m.Tenant.last_drift_severity, "unchecked")
        drift = dict(s.execute(sa.select(severity, sa.func.count())
                               .where(live, m.Tenant.status == "active").group_by(severity)).all())
        job_counts = dict(s.execute(sa.select(m.Job.status, sa.func.count()).group_by(m.Job.status)).all())
        per_server = dict(s.execute(sa.select(m.Tenant.server_id, sa.func.count()).where(live)
                                    .group_by(m.Tenant.server_id)).all())
        servers = [{"name": sv.name, "dialect": sv.dialect, "capacity": sv.capacity,
                    "tenants": per_server.get(sv.id, 0), "reachable": sv.reachable, "draining": sv.draining}
                   for sv in s.scalars(sa.select(m.Server).order_by(m.Server.name))]
        active_jobs = [_job_brief(j) for j in s.scalars(
            sa.select(m.Job).where(m.Job.status.in_(("running", "failed"))).order_by(m.Job.id.desc()).limit(6))]
        drifted = list(s.execute(sa.select(m.Tenant.slug, m.Tenant.last_drift_severity).where(
            live, m.Tenant.status == "active", m.Tenant.last_drift_severity.in_(("critical", "high")))
            .order_by(m.Tenant.slug).limit(5)))
        failed_tenants = list(s.scalars(sa.select(m.Tenant.slug).where(live, m.Tenant.status == "failed")
                                        .order_by(m.Tenant.slug).limit(5)))
    attention: list[dict[str, Any]] = []
    if apps.get("pending"):
        attention.append({"kind": "applications", "key": "pending", "status": "pending",
                          "text": f"{apps['pending']} application(s) wait for review"})
    for job in active_jobs:
        verb = "is running" if job["status"] == "running" else "failed"
        attention.append({"kind": "job", "key": job["id"], "status": job["status"],
                          "text": f"job {job['id']} {job['kind']} {job['tenant'] or ''} {verb}", "since": job["since"]})
    for slug, severity in drifted:
        attention.append({"kind": "drift", "key": severity, "status": severity, "text": f"{slug}: {severity} drift"})
    for slug in failed_tenants:
        attention.append({"kind": "tenants", "key": "failed", "status": "failed", "text": f"tenant {slug} failed"})
    from tenantops.engine.health.drift import latest_clusters

    for cluster in latest_clusters(ctx)[:3]:
        # a fingerprint cluster: the same drift on several tenants, one repair plan for all
        if len(cluster["tenants"]) > 1:
            attention.append({"kind": "drift", "key": cluster["severity"], "status": cluster["severity"],
                              "text": f"cluster {cluster['hash'][:8]}: {cluster['summary']}"})
    for sv in servers:
        if sv["reachable"] is False:
            attention.append({"kind": "servers", "key": sv["name"], "status": "failed",
                              "text": f"server {sv['name']} is unreachable"})
    return {
        "applications": {st: apps.get(st, 0) for st in applications.STATUSES},
        "tenants": {st: tenants.get(st, 0) for st in TENANT_STATUSES},
        "drift": {lvl: drift.get(lvl, 0) for lvl in DRIFT_LEVELS},
        "jobs": {st: job_counts.get(st, 0) for st in JOB_STATUSES},
        "servers": servers,
        "attention": attention,
    }


def _job_brief(job: m.Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "tenant": job.tenant, "status": job.status,
            "since": job.started_at if job.status == "running" else job.finished_at}


def probe_servers(ctx: Context) -> None:
    """Refresh every server's reachability (the engine records it on the server row)."""
    from tenantops.engine.servers import registry as servers

    for server in servers.list_servers(ctx):
        servers.check_server(ctx, server["name"])


def application_detail(ctx: Context, key: str | int) -> dict[str, Any]:
    """The application, its slug checks read sensibly, and its latest job.

    ``slug_checks`` reports an application's own slug as taken (by itself): only a
    tenant that did not come from this application is a real clash.
    """
    app = applications.get(ctx, key)
    raw = applications.slug_checks(ctx, app["slug"])
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(sa.func.lower(m.Tenant.slug) == app["slug"].lower()))
        tenant_app, tenant_status = (tenant.application_id, tenant.status) if tenant else (None, None)
    checks: list[tuple[str, bool, str]] = [
        ("format", raw["format"] is None, raw["format"] or "valid slug"),
        ("reserved", raw["reserved"] is None, raw["reserved"] or "not reserved"),
    ]
    if tenant is None:
        checks.append(("taken", True, "only this application"))
    elif tenant_app == app["id"]:
        checks.append(("taken", True, f"its own tenant ({tenant_status})"))
    else:
        checks.append(("taken", False, "another tenant uses it"))
    latest = jobs.list_jobs(ctx, tenant=app["slug"], limit=1)
    return {"application": app, "checks": checks, "tenant_status": tenant_status,
            "job": latest[0] if latest else None}


def catalog_dir(ctx: Context) -> Path | None:
    return Path(ctx.settings.catalog_dir) if ctx.settings.catalog_dir else None


def load_catalog(ctx: Context) -> Any:
    from tenantops.engine.catalog import load_catalog as load

    return load(catalog_dir(ctx))


def render_plan(units: list[Any], dialect: str) -> list[Any]:
    from tenantops.engine.migrate.driver import render_sql

    with ALEMBIC_LOCK:
        return render_sql(units, dialect)


def fill_demo(ctx: Context, progress: Any = None) -> bool | None:
    """The lead's demo filler, or None when this build has none."""
    try:
        from tenantops.engine.demo import fill_demo as fill
    except ImportError:
        return None
    with ALEMBIC_LOCK:
        return fill(ctx, progress=progress)


def latest_job(ctx: Context, tenant: str) -> dict[str, Any] | None:
    found = jobs.list_jobs(ctx, tenant=tenant, limit=1)
    return found[0] if found else None


def with_alembic(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an engine call that may drive Alembic (expected schemas are built on a shadow
    database; previews render SQL offline) under the console's Alembic lock."""
    with ALEMBIC_LOCK:
        return fn(*args, **kwargs)


def unit_layers(ctx: Context) -> dict[str, str]:
    """unit slug -> layer (basic, template, module); custom units are named custom_<slug>."""
    from tenantops.engine.tenants.provision import catalog_for

    catalog = catalog_for(ctx)
    layers = {"basic": "basic"}
    layers.update({slug: "template" for slug in catalog.templates})
    layers.update({slug: "module" for slug in catalog.modules})
    return layers


def layer_of(unit: str | None, layers: dict[str, str]) -> str | None:
    if unit is None:
        return None
    if unit.startswith("custom_"):
        return "custom"
    return layers.get(unit, "module")


def batches(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Migration history grouped by batch, newest first."""
    grouped: dict[int, dict[str, Any]] = {}
    for h in history:
        b = grouped.setdefault(h["batch"], {"batch": h["batch"], "entries": [], "layers": {}, "units": [],
                                            "operator": h["operator"], "started_at": h["started_at"],
                                            "outcomes": set(), "actions": set()})
        b["entries"].append(h)
        b["layers"][h["layer"]] = b["layers"].get(h["layer"], 0) + 1
        if h["unit"] not in b["units"]:
            b["units"].append(h["unit"])
        b["outcomes"].add(h["outcome"])
        b["actions"].add(h["action"])
    out = []
    for b in sorted(grouped.values(), key=lambda b: b["batch"], reverse=True):
        b["outcome"] = "ok" if b["outcomes"] <= {"ok"} else "failed" if "failed" in b["outcomes"] else \
            "/".join(sorted(b["outcomes"]))
        b["action"] = "/".join(sorted(b["actions"]))
        del b["outcomes"], b["actions"]
        out.append(b)
    return out


def tenant_detail(ctx: Context, slug: str) -> dict[str, Any]:
    """Everything the tenant screen shows, read in one worker (a dozen short queries)."""
    from tenantops.engine.tenants import backups
    from tenantops.engine.health import drift
    from tenantops.engine.migrate import history
    from tenantops.engine.jobs import locks
    from tenantops.engine.health import repair as repairs
    from tenantops.engine.tenants import snapshots
    from tenantops.engine.tenants import records as tenants

    tenant = tenants.show(ctx, slug)
    detail: dict[str, Any] = {
        "tenant": tenant,
        "batches": batches(history.list_history(ctx, slug)),
        "snapshots": snapshots.list_snapshots(ctx, slug),
        "drift": drift.latest_report(ctx, slug),
        "locks": locks.list_locks(ctx, slug),
        "backups": backups.list_backups(ctx, slug),
        "quarantine": repairs.list_quarantine(ctx, slug),
        "jobs": jobs.list_jobs(ctx, tenant=slug, limit=6),
        "depends_on": {}, "required_by_template": [], "catalog_error": None,
    }
    try:
        from tenantops.engine.tenants.provision import catalog_for

        catalog = catalog_for(ctx)
        detail["depends_on"] = {m: list(catalog.modules[m].depends_on) for m in tenant["modules"]
                                if m in catalog.modules}
        template = catalog.templates.get(tenant["template"]["slug"])
        detail["required_by_template"] = list(template.required_modules) if template else []
    except Exception as exc:  # noqa: BLE001 - the rest of the detail is still worth showing
        from tenantops.console.screens.base import one_line

        detail["catalog_error"] = one_line(exc)
    return detail


def audit_facets(ctx: Context) -> dict[str, list[str]]:
    """Distinct operators and actions of the audit log (for the filter cycles)."""
    with ctx.session() as s:
        operators = list(s.scalars(sa.select(m.AuditEntry.operator).distinct().order_by(m.AuditEntry.operator)))
        actions = list(s.scalars(sa.select(m.AuditEntry.action).distinct().order_by(m.AuditEntry.action)))
    return {"operators": operators, "actions": actions}


def spawn_worker(ctx: Context, job_id: int) -> int:
    """Start a detached worker process for a queued job (it outlives the console)."""
    from tenantops.engine.jobs import worker

    worker.spawn(ctx, job_id=job_id)
    return job_id
