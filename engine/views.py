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
        attention = needs_attention(s, servers)
    for cluster in latest_clusters(ctx)[:3]:
        # a fingerprint cluster: the same drift on several tenants, one repair plan for all
        if len(cluster["tenants"]) > 1:
            attention.append({"kind": "drift", "key": cluster["severity"], "status": cluster["severity"],
                              "text": f"cluster {cluster['hash'][:8]}: {cluster['summary']}", "since": None,
                              "rank": ATTENTION_RANK.get(cluster["severity"], ATTENTION_RANK["low"])})
    attention.sort(key=lambda a: a["rank"])
    return {
        "applications": {st: apps.get(st, 0) for st in applications.STATUSES},
        "tenants": {st: tenants.get(st, 0) for st in TENANT_STATUSES},
        "drift": {lvl: drift.get(lvl, 0) for lvl in DRIFT_LEVELS},
        "jobs": {st: job_counts.get(st, 0) for st in JOB_STATUSES},
        "servers": servers,
        "attention": attention,
    }


# "Needs attention", worst first: the rank of each kind of item (lower is worse)
ATTENTION_RANK = {"critical": 0, "unreachable": 1, "failed job": 2, "halted rollout": 2, "high": 3, "compliance": 3,
                  "failed tenant": 4, "medium": 5, "draining": 6, "paused rollout": 6, "pending": 7, "low": 8,
                  "running": 9}
ATTENTION_EACH = 8  # at most this many items of one kind (the lists hold the rest)


def needs_attention(s: Any, servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an operator should look at, each item named (a tenant by its slug, a job with
    its error), worst first: drift by severity, failed jobs and jobs waiting for a
    confirmation, halted or paused rollouts, compliance violations, unreachable or
    draining servers, pending applications (oldest first), running jobs last."""
    live = m.Tenant.archived_at.is_(None)
    items: list[dict[str, Any]] = []
    severity_order = sa.case({"critical": 0, "high": 1, "medium": 2, "low": 3}, value=m.Tenant.last_drift_severity)
    for slug, severity, at in s.execute(
            sa.select(m.Tenant.slug, m.Tenant.last_drift_severity, m.Tenant.last_drift_at)
            .where(live, m.Tenant.status == "active",
                   m.Tenant.last_drift_severity.in_(("critical", "high", "medium", "low")))
            .order_by(severity_order, m.Tenant.slug).limit(4 * ATTENTION_EACH)):
        items.append({"kind": "tenant", "key": slug, "status": severity, "rank": ATTENTION_RANK[severity],
                      "text": f"{slug}: {severity} drift", "since": at})
    for job in s.scalars(sa.select(m.Job).where(m.Job.status.in_(("running", "failed", "needs_confirmation")))
                         .order_by(m.Job.id.desc()).limit(2 * ATTENTION_EACH)):
        brief = _job_brief(job)
        what = f"job {job.id} {job.kind}{' ' + job.tenant if job.tenant else ''}"
        if job.status == "failed":
            text = f"{what} failed: {(job.error or 'no error recorded').splitlines()[0]}"
        elif job.status == "needs_confirmation":
            text = f"{what} waits for a confirmation: tenantops jobs retry {job.id} --confirm {job.tenant or ''}"
        else:
            text = f"{what} is running"
        items.append({"kind": "job", "key": job.id, "status": "failed" if job.status != "running" else "running",
                      "text": text, "since": brief["since"],
                      "rank": ATTENTION_RANK["running" if job.status == "running" else "failed job"]})
    for rollout in s.scalars(sa.select(m.Rollout).where(m.Rollout.status.in_(("halted", "paused")))
                             .order_by(m.Rollout.id.desc()).limit(ATTENTION_EACH)):
        halted = rollout.status == "halted"
        why = f": {rollout.reason}" if rollout.reason else ""
        items.append({"kind": "rollout", "key": rollout.id, "status": "failed" if halted else "suspended",
                      "rank": ATTENTION_RANK["halted rollout" if halted else "paused rollout"],
                      "since": rollout.updated_at or rollout.created_at,
                      "text": f"rollout {rollout.id} ({rollout.spec}) {rollout.status}{why}; "
                              f"tenantops rollouts resume {rollout.id}"})
    for slug in s.scalars(sa.select(m.Tenant.slug).where(live, m.Tenant.status == "failed")
                          .order_by(m.Tenant.slug).limit(ATTENTION_EACH)):
        items.append({"kind": "tenant", "key": slug, "status": "failed", "rank": ATTENTION_RANK["failed tenant"],
                      "text": f"tenant {slug} failed", "since": None})
    for slug, at in s.execute(sa.select(m.Tenant.slug, m.Tenant.compliance_checked_at)
                              .where(live, m.Tenant.status.in_(("active", "suspended")),
                                     m.Tenant.compliance_status == "violation")
                              .order_by(m.Tenant.slug).limit(ATTENTION_EACH)):
        items.append({"kind": "tenant", "key": slug, "status": "high", "rank": ATTENTION_RANK["compliance"],
                      "text": f"{slug} breaks its template's compliance rules (tenantops compliance {slug})",
                      "since": at})
    for sv in servers:
        if sv["reachable"] is False:
            items.append({"kind": "servers", "key": sv["name"], "status": "failed", "rank": ATTENTION_RANK["unreachable"],
                          "text": f"server {sv['name']} is unreachable", "since": None})
        elif sv["draining"]:
            items.append({"kind": "servers", "key": sv["name"], "status": "suspended",
                          "rank": ATTENTION_RANK["draining"], "since": None,
                          "text": f"server {sv['name']} is draining: it takes no new tenants"})
    pending = list(s.execute(sa.select(m.Application.slug, m.Application.submitted_at)
                             .where(m.Application.status == "pending").order_by(m.Application.submitted_at)))
    if pending:
        names = ", ".join(slug for slug, _ in pending[:ATTENTION_EACH])
        more = "…" if len(pending) > ATTENTION_EACH else ""
        items.append({"kind": "applications", "key": "pending", "status": "pending", "rank": ATTENTION_RANK["pending"],
                      "text": f"{len(pending)} application(s) wait for review: {names}{more}",
                      "since": pending[0][1]})
    # stable sort: within one rank, the order of the queries (severity, newest job, ...)
    items.sort(key=lambda a: a["rank"])
    return items


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
