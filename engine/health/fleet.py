"""Fleet operations: one job per tenant, fanned out over worker processes.

A failure on one tenant is reported and the rest continue, except a sync under
``--canary``, which goes one tenant at a time and stops at the first failure.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tenantops.engine.tenants import sync as tenant_sync
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs import worker
from tenantops.engine.context import Context
from tenantops.engine.documents import JobDoc
from tenantops.engine.errors import TenantopsError, UsageError
from tenantops.engine.landlord import models as m

Progress = Callable[[str], None] | None


def active_tenants(ctx: Context) -> list[str]:
    with ctx.session() as s:
        return list(s.scalars(sa.select(m.Tenant.slug).where(m.Tenant.status == "active").order_by(m.Tenant.slug)))


def worker_count(ctx: Context, jobs_count: int) -> int:
    with ctx.session() as s:
        servers = s.scalar(sa.select(sa.func.count(sa.distinct(m.Tenant.server_id)))
                           .where(m.Tenant.status == "active")) or 1
    return max(1, min(jobs_count, servers * ctx.settings.concurrency_per_server))


def run_jobs(ctx: Context, job_ids: list[int], progress: Progress = None) -> dict[int, JobDoc]:
    """Run queued jobs with a few worker processes; wait for all; return their final docs."""
    if not job_ids:
        return {}
    procs = [worker.spawn(ctx, once=True) for _ in range(worker_count(ctx, len(job_ids)))]
    pending, done = set(job_ids), {}
    while pending:
        for job_id in sorted(pending):
            doc = jobs.get_job(ctx, job_id)
            if doc["status"] not in jobs.ACTIVE:
                done[job_id] = doc
                pending.discard(job_id)
                if progress:
                    progress(f"{doc['tenant']}: {doc['status']}" + (f" — {doc['error']}" if doc["error"] else ""))
        if pending and all(p.poll() is not None for p in procs):
            # every worker exited while jobs remain (e.g. one was claimed late): start one more
            procs.append(worker.spawn(ctx, once=True))
        time.sleep(0.1)
    for p in procs:
        p.wait(timeout=60)
    return done


def run_one(ctx: Context, job_id: int) -> JobDoc:
    proc = worker.spawn(ctx, job_id=job_id)
    doc = jobs.follow(ctx, job_id, lambda _ev: None)
    proc.wait(timeout=60)
    return doc


def sync(ctx: Context, *, slug: str | None = None, dry_run: bool = False, canary: int | None = None,
         strategy: str | None = None, progress: Progress = None, stages: str | None = None, parallel: int = 1,
         on_error: str = "halt") -> dict[str, Any]:
    """Sync one tenant or the fleet; with ``stages`` the fleet goes as a staged rollout
    (engine/health/rollouts.py), recorded so it can be paused, resumed and cancelled."""
    from tenantops.engine.health import rollouts

    say = progress or (lambda _m: None)
    if stages is not None:
        if slug is not None or canary is not None:
            raise UsageError("--stages goes with --all, and replaces --canary")
        rollouts.parse_stages(stages)
        rollouts.parse_on_error(on_error)
        if parallel < 1:
            raise UsageError(f"--parallel {parallel}: must be at least 1")
    strategy = strategy or ctx.settings.sync_strategy
    slugs = [slug] if slug else active_tenants(ctx)
    entries: dict[str, dict[str, Any]] = {}
    todo = []
    for s in slugs:
        try:
            plan = tenant_sync.preview_sync(ctx, slug=s, strategy=strategy).document
        except TenantopsError as exc:
            if slug:  # one named tenant: its error is the answer (exit 1, one line), not a table row
                raise
            entries[s] = {"tenant": s, "outcome": "failed", "error": str(exc), "pending": [], "versions": {}}
            continue
        if plan["blocked"]:
            outcome = "blocked"
        elif not plan["pending"]:
            outcome = "up-to-date"
        elif strategy == "conservative" and not plan["targets"]:
            outcome = "held"   # every pending revision waits for a dba
        else:
            outcome = "pending"
        entries[s] = {"tenant": s, "outcome": outcome, "pending": plan["pending"], "versions": plan["versions"],
                      "held": plan["held"], "error": plan["blocked"][0] if plan["blocked"] else None}
        if outcome == "pending":
            todo.append(s)
    report: dict[str, Any] = {"dry_run": dry_run, "canary": canary, "strategy": strategy, "stopped": None,
                              "tenants": [entries[s] for s in slugs]}
    if strategy == "manual" and not dry_run:
        for s in todo:
            entries[s]["outcome"] = "planned"
            entries[s]["plan_file"] = str(tenant_sync.write_manual_plan(ctx, s, {"pending": entries[s]["pending"]}))
        return report
    if stages is not None and strategy != "manual":
        return _as_rollout(ctx, report, todo, stages=stages, parallel=parallel, on_error=on_error, dry_run=dry_run,
                           say=say, strategy=strategy)
    if dry_run or not todo:
        return report
    if canary is not None:
        for i, s in enumerate(todo):
            say(f"sync {s} ({'canary' if i < canary else 'rollout'} {i + 1}/{len(todo)})")
            _sync_one_now(ctx, s, entries, strategy)
            if entries[s]["outcome"] == "failed":
                report["stopped"] = s
                for rest in todo[i + 1:]:
                    entries[rest]["outcome"] = "untouched"
                break
        return report
    job_ids = {}
    for s in todo:
        try:
            job_ids[tenant_sync.request_sync(ctx, slug=s, strategy=strategy).job] = s
        except TenantopsError as exc:
            entries[s].update(outcome="failed", error=str(exc))
    for job_id, doc in run_jobs(ctx, [j for j in job_ids if j is not None], say).items():
        _record(entries[job_ids[job_id]], doc)
    return report


def rollout_report(report: dict[str, Any], rollout: dict[str, Any]) -> dict[str, Any]:
    """The sync report of a staged rollout: each tenant's outcome from the rollout record,
    the rollout's document under ``rollout``, ``stopped`` naming the first failure of a
    halted rollout."""
    from tenantops.engine.health import rollouts

    entries = {e["tenant"]: e for e in report["tenants"]}
    for stage in rollout["stages"]:
        for t in stage["tenants"]:
            entry = entries.setdefault(t["tenant"], {"tenant": t["tenant"], "pending": [], "versions": {}})
            entry["outcome"] = rollouts.entries_outcome(t["outcome"])
            entry["stage"], entry["job"] = stage["name"], t["job"]
            if t["error"]:
                entry["error"] = t["error"]
    for slug in rollout.get("left_out", []):
        entries[slug]["outcome"] = "untouched"
    report["tenants"] = [entries[k] for k in sorted(entries)]
    report["rollout"] = {k: v for k, v in rollout.items()}
    if rollout["status"] == "halted":
        report["stopped"] = next((t["tenant"] for st in rollout["stages"] for t in st["tenants"]
                                  if t["outcome"] == "failed"), None)
    return report


def add_module(ctx: Context, *, module: str, stages: str = "rest", parallel: int = 1, on_error: str = "halt",
               label: str | None = None, template: str | None = None, dry_run: bool = False,
               progress: Progress = None) -> dict[str, Any]:
    """Add ``module`` across the fleet as a staged rollout: every active tenant (or those
    with ``label`` KEY=VALUE, or of ``template``) that does not have it yet. A tenant that
    cannot take it (its template does not allow it, it is locked ...) is reported as
    blocked and left out; the others go stage by stage like ``sync --all --stages``.
    Everything is checked before anything is recorded: bad input changes nothing."""
    from tenantops.engine.health import rollouts
    from tenantops.engine.migrate.units import catalog_for
    from tenantops.engine.tenants import labels as tenant_labels
    from tenantops.engine.tenants import modules

    say = progress or (lambda _m: None)
    rollouts.parse_stages(stages)
    rollouts.parse_on_error(on_error)
    if parallel < 1:
        raise UsageError(f"--parallel {parallel}: must be at least 1")
    if not dry_run:  # refused before a rollout is recorded (each tenant's job checks again)
        ctx.authorize("modules.add", "admin", None, {"module": module, "all": True})
    catalog = catalog_for(ctx)
    if module not in catalog.modules:
        raise UsageError(f"module {module!r} is not in the catalog (see `tenantops catalog list`)")
    if template is not None and template not in catalog.templates:
        raise UsageError(f"--template {template!r} is not in the catalog (see `tenantops catalog list`)")
    query = sa.select(m.Tenant.slug).where(m.Tenant.status == "active").order_by(m.Tenant.slug)
    if template is not None:
        query = query.where(m.Tenant.template == template)
    if label is not None:
        key, value = tenant_labels.parse_pair(label)
        assert value is not None  # parse_pair without removal always yields a value
        query = query.where(m.Tenant.id.in_(tenant_labels.labelled(key, value)))
    with ctx.session() as s:
        slugs = list(s.scalars(query))
        # one query for the fleet, not one per tenant
        have = set(s.scalars(sa.select(m.Tenant.slug).join(m.TenantModule, m.TenantModule.tenant_id == m.Tenant.id)
                             .where(m.TenantModule.module == module)))
    entries: dict[str, dict[str, Any]] = {}
    todo = []
    for slug in slugs:
        if slug in have:
            entries[slug] = {"tenant": slug, "outcome": "up-to-date", "installs": [], "error": None}
            continue
        try:
            plan = modules.preview_module_add(ctx, slug=slug, module=module).document
        except TenantopsError as exc:
            entries[slug] = {"tenant": slug, "outcome": "blocked", "installs": [], "error": str(exc)}
            continue
        entries[slug] = {"tenant": slug, "outcome": "pending", "installs": plan["installs"], "error": None}
        todo.append(slug)
    report: dict[str, Any] = {"dry_run": dry_run, "module": module, "stopped": None,
                              "tenants": [entries[s] for s in slugs]}
    return _as_rollout(ctx, report, todo, stages=stages, parallel=parallel, on_error=on_error, dry_run=dry_run,
                       say=say, kind="modules.add", params={"module": module},
                       what=f"add {module} to {len(todo)} tenant(s), ")


def _as_rollout(ctx: Context, report: dict[str, Any], todo: list[str], *, stages: str, parallel: int,
                on_error: str, dry_run: bool, say: Callable[[str], None], strategy: str | None = None,
                kind: str = "sync", params: dict[str, Any] | None = None, what: str = "") -> dict[str, Any]:
    """A fleet operation's tenants as a staged rollout: on a dry run only assigned to
    their stages, else recorded and driven to its end (or halt, pause, cancel)."""
    from tenantops.engine.health import rollouts

    if dry_run:
        planned, left_out = rollouts.assign(ctx, rollouts.parse_stages(stages), todo)
        report["stages"], report["left_out"] = planned, left_out
        return report
    if not todo:
        return report
    rollout_id = rollouts.create(ctx, spec=stages, parallel=parallel, on_error=on_error, strategy=strategy,
                                 slugs=todo, kind=kind, params=params)
    say(f"rollout {rollout_id}: {what}{stages} (--parallel {parallel}, --on-error {on_error})")
    return rollout_report(report, rollouts.drive(ctx, rollout_id, progress=say))


def _sync_one_now(ctx: Context, slug: str, entries: dict[str, dict[str, Any]], strategy: str) -> None:
    try:
        job_id = tenant_sync.request_sync(ctx, slug=slug, strategy=strategy).job
    except TenantopsError as exc:
        entries[slug].update(outcome="failed", error=str(exc))
        return
    if job_id is None:
        entries[slug]["outcome"] = "up-to-date"
        return
    _record(entries[slug], run_one(ctx, job_id))


def _record(entry: dict[str, Any], doc: JobDoc) -> None:
    entry["job"] = doc["id"]
    if doc["status"] == "succeeded":
        entry["outcome"] = "upgraded"
        entry["versions"] = (doc.get("result") or {}).get("versions", entry["versions"])
    else:
        entry["outcome"], entry["error"] = "failed", doc["error"]


def snapshot_all(ctx: Context, progress: Progress = None, source: str = "manual") -> list[dict[str, Any]]:
    """Snapshot every active tenant, capturing each server's tenants in bulk.

    ``source``: ``manual`` when someone runs it (``snapshot --all``; pinned, never pruned),
    ``scheduled`` when a schedule does."""
    from tenantops.engine.servers.adapters import adapter_for
    from tenantops.engine.health.drift import _capture_group
    from tenantops.engine.tenants.snapshots import row_counts, store_snapshot

    say = progress or (lambda _m: None)
    with ctx.session() as s:
        tenants = list(s.scalars(sa.select(m.Tenant).where(m.Tenant.status == "active").order_by(m.Tenant.slug)))
        servers = {sv.id: sv for sv in s.scalars(sa.select(m.Server))}
    out = []
    # active tenants always live on a server
    for server_id in sorted({t.server_id for t in tenants if t.server_id is not None}, key=lambda i: servers[i].name):
        group = [t for t in tenants if t.server_id == server_id]
        adapter = adapter_for(servers[server_id])
        try:
            say(f"{servers[server_id].name}: {len(group)} tenant(s)")
            try:
                captured = _capture_group(adapter, group)
            except (TenantopsError, sa.exc.DBAPIError) as exc:
                out += [{"tenant": t.slug, "error": str(exc).splitlines()[0]} for t in group]
                continue
            for t in group:
                database = t.database
                if database is None or database not in captured:
                    out.append({"tenant": t.slug, "error": f"database {database} is missing"})
                    continue
                schema = captured[database][0]
                with adapter.engine(database).connect() as conn:
                    rows = row_counts(conn, list(schema["tables"]))
                out.append(store_snapshot(ctx, t.id, schema, rows, source, t.slug))
        finally:
            adapter.dispose()
    return out


def provision_all(ctx: Context, progress: Progress = None) -> dict[str, Any]:
    """Provision every approved application, fanned out over worker processes."""
    from tenantops.engine.tenants import provision as provisioner
    from tenantops.engine.landlord import models as lm

    with ctx.session() as s:
        slugs = list(s.scalars(sa.select(lm.Application.slug).where(lm.Application.status == "approved")
                               .order_by(lm.Application.submitted_at)))
    job_ids: dict[int, str] = {}
    refused: dict[str, str] = {}
    for slug in slugs:
        try:
            queued = provisioner.request_provision(ctx, slug=slug)
            assert queued.job is not None  # provisioning always queues a job or raises
            job_ids[queued.job] = slug
        except TenantopsError as exc:
            refused[slug] = str(exc)
    done = run_jobs(ctx, list(job_ids), progress)
    results = [{"tenant": job_ids[j], "job": j, "status": d["status"], "error": d["error"]} for j, d in done.items()]
    results += [{"tenant": s, "job": None, "status": "refused", "error": e} for s, e in refused.items()]
    return {"tenants": sorted(results, key=lambda r: r["tenant"])}


def cluster_members(ctx: Context, fingerprint: str) -> list[str]:
    """Tenants whose latest drift report has this actual-schema hash (a prefix is enough)."""
    with ctx.session() as s:
        latest = (sa.select(m.DriftReport.tenant_id, sa.func.max(m.DriftReport.id).label("rid"))
                  .group_by(m.DriftReport.tenant_id).subquery())
        rows = s.execute(sa.select(m.Tenant.slug, m.DriftReport.actual_hash)
                         .join(latest, latest.c.tenant_id == m.Tenant.id)
                         .join(m.DriftReport, m.DriftReport.id == latest.c.rid)
                         .where(m.Tenant.status == "active"))
        return sorted(slug for slug, digest in rows if digest and digest.startswith(fingerprint))


def repair_cluster(ctx: Context, fingerprint: str, *, strategy: str, dry_run: bool, confirm: str | None,
                   progress: Progress = None) -> dict[str, Any]:
    """One plan reviewed for a whole cluster, then applied to each of its tenants. The
    tenants share an actual schema and an expectation, so their plans are the same; that
    is checked, not assumed."""
    from tenantops.engine.health import repair as repairs
    from tenantops.engine.errors import ConflictError, NotFoundError

    if len(fingerprint) < 8:
        raise ConflictError("give at least 8 characters of the cluster's hash")
    members = cluster_members(ctx, fingerprint)
    if not members:
        raise NotFoundError(f"no tenant's latest drift report has schema hash {fingerprint}… "
                            "(run `tenantops drift --all` first)")
    plans = {slug: repairs.preview_repair(ctx, slug=slug, strategy=strategy).document for slug in members}
    reference = [(op["sql"], op["safe"]) for op in plans[members[0]]["operations"]]
    differing = [slug for slug in members if [(op["sql"], op["safe"]) for op in plans[slug]["operations"]] != reference]
    if differing:
        raise ConflictError(f"tenants {', '.join(differing)} no longer share the cluster's plan; "
                            "run `tenantops drift --all` again")
    doc = {"cluster": fingerprint, "tenants": members, "strategy": strategy, "dry_run": dry_run,
           "operations": plans[members[0]]["operations"], "results": []}
    if dry_run:
        return doc
    if strategy == "aggressive" and any(not op["safe"] for op in doc["operations"]) and confirm != fingerprint:
        raise ConflictError(f"the cluster's plan has DESTRUCTIVE operations for {len(members)} tenant(s): "
                            f"repeat the hash with --confirm {fingerprint}")
    job_ids = {}
    for slug in members:
        requested = repairs.request_repair(ctx, slug=slug, strategy=strategy, confirm=slug)
        if requested.job is not None:
            job_ids[requested.job] = slug
    for job_id, result in run_jobs(ctx, list(job_ids), progress).items():
        doc["results"].append({"tenant": job_ids[job_id], "job": job_id, "status": result["status"],
                               "error": result["error"],
                               "severity_after": (result.get("result") or {}).get("severity_after")})
    doc["results"].sort(key=lambda r: r["tenant"])
    return doc
