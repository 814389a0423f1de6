"""Fleet operations: one job per tenant, fanned out over worker processes.

A failure on one tenant is reported and the rest continue, except a sync under
``--canary``, which goes one tenant at a time and stops at the first failure.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from . import day2, jobs, worker
from .context import Context
from .errors import TenantopsError
from .landlord import models as m

Progress = Callable[[str], None] | None


def active_tenants(ctx: Context) -> list[str]:
    with ctx.session() as s:
        return list(s.scalars(sa.select(m.Tenant.slug).where(m.Tenant.status == "active").order_by(m.Tenant.slug)))


def worker_count(ctx: Context, jobs_count: int) -> int:
    with ctx.session() as s:
        servers = s.scalar(sa.select(sa.func.count(sa.distinct(m.Tenant.server_id)))
                           .where(m.Tenant.status == "active")) or 1
    return max(1, min(jobs_count, servers * ctx.settings.concurrency_per_server))


def run_jobs(ctx: Context, job_ids: list[int], progress: Progress = None) -> dict[int, dict[str, Any]]:
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


def run_one(ctx: Context, job_id: int) -> dict[str, Any]:
    proc = worker.spawn(ctx, job_id=job_id)
    doc = jobs.follow(ctx, job_id, lambda _ev: None)
    proc.wait(timeout=60)
    return doc


def sync(ctx: Context, *, slug: str | None = None, dry_run: bool = False, canary: int | None = None,
         progress: Progress = None) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    slugs = [slug] if slug else active_tenants(ctx)
    entries: dict[str, dict[str, Any]] = {}
    todo = []
    for s in slugs:
        try:
            plan = day2.plan_sync(ctx, s)
        except TenantopsError as exc:
            entries[s] = {"tenant": s, "outcome": "failed", "error": str(exc), "pending": [], "versions": {}}
            continue
        outcome = "blocked" if plan["blocked"] else ("pending" if plan["pending"] else "up-to-date")
        entries[s] = {"tenant": s, "outcome": outcome, "pending": plan["pending"], "versions": plan["versions"],
                      "error": plan["blocked"][0] if plan["blocked"] else None}
        if outcome == "pending":
            todo.append(s)
    report = {"dry_run": dry_run, "canary": canary, "stopped": None, "tenants": [entries[s] for s in slugs]}
    if dry_run or not todo:
        return report
    if canary is not None:
        for i, s in enumerate(todo):
            say(f"sync {s} ({'canary' if i < canary else 'rollout'} {i + 1}/{len(todo)})")
            _sync_one_now(ctx, s, entries)
            if entries[s]["outcome"] == "failed":
                report["stopped"] = s
                for rest in todo[i + 1:]:
                    entries[rest]["outcome"] = "untouched"
                break
        return report
    job_ids = {}
    for s in todo:
        try:
            job_ids[day2.request_sync(ctx, slug=s)] = s
        except TenantopsError as exc:
            entries[s].update(outcome="failed", error=str(exc))
    for job_id, doc in run_jobs(ctx, [j for j in job_ids if j is not None], say).items():
        _record(entries[job_ids[job_id]], doc)
    return report


def _sync_one_now(ctx: Context, slug: str, entries: dict[str, dict[str, Any]]) -> None:
    try:
        job_id = day2.request_sync(ctx, slug=slug)
    except TenantopsError as exc:
        entries[slug].update(outcome="failed", error=str(exc))
        return
    if job_id is None:
        entries[slug]["outcome"] = "up-to-date"
        return
    _record(entries[slug], run_one(ctx, job_id))


def _record(entry: dict[str, Any], doc: dict[str, Any]) -> None:
    entry["job"] = doc["id"]
    if doc["status"] == "succeeded":
        entry["outcome"] = "upgraded"
        entry["versions"] = (doc.get("result") or {}).get("versions", entry["versions"])
    else:
        entry["outcome"], entry["error"] = "failed", doc["error"]


def snapshot_all(ctx: Context, progress: Progress = None) -> list[dict[str, Any]]:
    """Snapshot every active tenant, capturing each server's tenants in bulk."""
    from .adapters import adapter_for
    from .drift import _capture_group
    from .snapshots import row_counts, store_snapshot

    say = progress or (lambda _m: None)
    with ctx.session() as s:
        tenants = list(s.scalars(sa.select(m.Tenant).where(m.Tenant.status == "active").order_by(m.Tenant.slug)))
        servers = {sv.id: sv for sv in s.scalars(sa.select(m.Server))}
    out = []
    for server_id in sorted({t.server_id for t in tenants}, key=lambda i: servers[i].name):
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
                if t.database not in captured:
                    out.append({"tenant": t.slug, "error": f"database {t.database} is missing"})
                    continue
                schema = captured[t.database][0]
                with adapter.engine(t.database).connect() as conn:
                    rows = row_counts(conn, list(schema["tables"]))
                out.append(store_snapshot(ctx, t.id, schema, rows, "scheduled"))
        finally:
            adapter.dispose()
    return out
