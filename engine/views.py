"""Read models the console shows that span several building blocks: the dashboard and
a tenant's whole detail. Each is one call from a worker thread; none of them writes."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantops.engine.context import Context
from tenantops.engine.documents import HistoryDoc
from tenantops.engine.health import drift
from tenantops.engine.health import repair as repairs
from tenantops.engine.health.drift import latest_clusters
from tenantops.engine.jobs import locks
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.timeline import format_error
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import history
from tenantops.engine.migrate.units import catalog_for
from tenantops.engine.tenants import applications, backups, snapshots
from tenantops.engine.tenants import records as tenants

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
        level = sa.func.coalesce(m.Tenant.last_drift_severity, "unchecked")
        drift = dict(s.execute(sa.select(level, sa.func.count())
                               .where(live, m.Tenant.status == "active").group_by(level)).all())
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


def unit_layers(ctx: Context) -> dict[str, str]:
    """unit slug -> layer (basic, template, module); custom units are named custom_<slug>."""
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


def batches(history: list[HistoryDoc]) -> list[dict[str, Any]]:
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
        catalog = catalog_for(ctx)
        detail["depends_on"] = {m: list(catalog.modules[m].depends_on) for m in tenant["modules"]
                                if m in catalog.modules}
        template = catalog.templates.get(tenant["template"]["slug"])
        detail["required_by_template"] = list(template.required_modules) if template else []
    except Exception as exc:  # noqa: BLE001 - the rest of the detail is still worth showing
        detail["catalog_error"] = format_error(exc)
    return detail
