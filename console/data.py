"""Reads the console needs that the engine does not offer as one call.

Everything here runs in Textual worker threads, never on the UI thread, and only reads
(server probes record reachability, as ``servers.check_server`` always does).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import applications, jobs
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
    from tenantops.engine import servers

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
    from tenantops.engine.migrations import render_sql

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
