"""Durable jobs: every mutating operation on a tenant database is a row here, executed
by worker processes (engine/worker.py), with a timeline of step events.
"""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.jobs import locks
from tenantops.engine.context import Context
from tenantops.engine.errors import NotFoundError, StateError, TenantopsError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow

ACTIVE = ("queued", "running")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_json(e: m.JobEvent) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "status": e.status, "started_at": _iso(e.started_at),
            "finished_at": _iso(e.finished_at), "duration_s": e.duration_s, "detail": e.detail, "error": e.error}


def job_json(job: m.Job, events: list[m.JobEvent] | None = None) -> dict[str, Any]:
    doc = {"id": job.id, "kind": job.kind, "tenant": job.tenant, "status": job.status, "params": job.params,
           "attempt": job.attempt, "claimed_by": job.claimed_by, "created_by": job.created_by,
           "created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
           "finished_at": _iso(job.finished_at), "heartbeat_at": _iso(job.heartbeat_at),
           "error": job.error, "result": job.result}
    if events is not None:
        doc["steps"] = [event_json(e) for e in events]
    return doc


def enqueue(ctx: Context, kind: str, tenant: str | None, params: dict[str, Any] | None = None,
            *, lock_operation: str | None = None) -> int:
    """Insert a queued job; with ``lock_operation`` the tenant's lock is taken at once, in
    the same transaction, so a second request for the same tenant is refused now."""
    with ctx.session() as s:
        return enqueue_in(s, ctx, kind, tenant, params, lock_operation=lock_operation)


def enqueue_in(s: Session, ctx: Context, kind: str, tenant: str | None, params: dict[str, Any] | None = None,
               *, lock_operation: str | None = None) -> int:
    """``enqueue`` inside a caller's transaction (state change + job + lock together)."""
    job = m.Job(kind=kind, tenant=tenant, params=params or {}, created_by=ctx.operator)
    s.add(job)
    s.flush()
    if lock_operation and tenant:
        locks.acquire(s, tenant, holder=f"job {job.id} ({ctx.operator})", operation=lock_operation,
                      job_id=job.id, lease_seconds=ctx.settings.lease_seconds)
    return job.id


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(ctx: Context, *, job_id: int | None = None, kinds: list[str] | None = None) -> m.Job | None:
    """Claim one queued job (or one whose lease expired) for this process.

    MariaDB/MySQL: ``FOR UPDATE SKIP LOCKED`` so workers on several machines never wait
    on or take the same row. SQLite has no row locks; its writers are serialised by the
    database lock, and the claim is a conditional UPDATE whose rowcount says who won.
    """
    me = worker_id()
    now = utcnow()
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    claimable = sa.or_(m.Job.status == "queued", sa.and_(m.Job.status == "running", m.Job.lease_until < now))
    query = sa.select(m.Job.id).where(claimable).order_by(m.Job.id).limit(1)
    busy = _busy_servers(ctx, now)
    if busy and job_id is None:
        # one busy server never gets more than its share: skip its tenants' jobs for now
        on_busy = sa.select(m.Tenant.slug).where(m.Tenant.server_id.in_(busy))
        query = query.where(sa.or_(m.Job.tenant.is_(None), m.Job.tenant.not_in(on_busy)))
    if job_id is not None:
        query = query.where(m.Job.id == job_id)
    if kinds:
        query = query.where(m.Job.kind.in_(kinds))
    mysql = ctx.engine.dialect.name in ("mysql", "mariadb")
    for _ in range(20):
        with ctx.session() as s:
            if mysql:
                candidate = s.scalar(query.with_for_update(skip_locked=True))
            else:
                candidate = s.scalar(query)
            if candidate is None:
                return None
            won = s.execute(
                sa.update(m.Job).where(m.Job.id == candidate, claimable)
                .values(status="running", claimed_by=me, attempt=m.Job.attempt + 1, heartbeat_at=now,
                        lease_until=now + lease, started_at=sa.func.coalesce(m.Job.started_at, now))
                .execution_options(synchronize_session=False)).rowcount
            if won == 1:
                return s.get(m.Job, candidate)
        if job_id is not None:
            return None
    return None


def _busy_servers(ctx: Context, now: datetime) -> list[int]:
    """Servers already running ``concurrency_per_server`` live jobs."""
    with ctx.session() as s:
        rows = s.execute(sa.select(m.Tenant.server_id, sa.func.count())
                         .join(m.Job, m.Job.tenant == m.Tenant.slug)
                         .where(m.Job.status == "running", m.Job.lease_until >= now)
                         .group_by(m.Tenant.server_id))
        return [sid for sid, n in rows if sid is not None and n >= ctx.settings.concurrency_per_server]


def heartbeat(ctx: Context, job_id: int) -> bool:
    """Extend the job's lease (and its tenant lock); False if the job was taken from us."""
    now = utcnow()
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None or job.claimed_by != worker_id() or job.status != "running":
            return False
        job.heartbeat_at, job.lease_until = now, now + timedelta(seconds=ctx.settings.lease_seconds)
        if job.tenant:
            locks.renew(s, job.tenant, job.id, ctx.settings.lease_seconds)
    return True


def finish(ctx: Context, job_id: int, status: str, *, error: str | None = None,
           result: dict[str, Any] | None = None) -> None:
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        job.status, job.error, job.finished_at = status, error, utcnow()
        if result is not None:
            job.result = result
        if job.tenant:
            locks.release(s, job.tenant, job.id)


class Timeline:
    """Writes a job's step events as they happen, so any viewer can follow live."""

    def __init__(self, ctx: Context, job_id: int) -> None:
        self.ctx, self.job_id = ctx, job_id
        self._started: dict[int, datetime] = {}

    # Core statements, not ORM sessions: a provisioning writes some forty of these, and
    # the landlord's share of the migration phase is what bench_provision measures.
    def start(self, name: str, detail: str | None = None) -> int:
        started = utcnow()
        with self.ctx.engine.begin() as conn:
            result = conn.execute(sa.insert(m.JobEvent).values(job_id=self.job_id, name=name, status="running",
                                                              started_at=started, detail=detail))
            event_id = result.inserted_primary_key[0]
        self._started[event_id] = started
        return event_id

    def end(self, event_id: int, status: str, *, detail: str | None = None, error: str | None = None,
            rows: list[Any] | None = None) -> None:
        """Close an event; ``rows`` (history, module rows ...) commit in the same transaction."""
        finished = utcnow()
        started = self._started.pop(event_id, None)
        values: dict[str, Any] = {"status": status, "finished_at": finished, "error": error}
        if started is not None:
            values["duration_s"] = round((finished - started).total_seconds(), 4)
        if detail is not None:
            values["detail"] = detail
        with self.ctx.engine.begin() as conn:
            if rows:
                with Session(bind=conn) as session:
                    session.add_all(rows)
                    session.flush()
            conn.execute(sa.update(m.JobEvent).where(m.JobEvent.id == event_id).values(**values))

    @contextmanager
    def step(self, name: str, detail: str | None = None) -> Iterator[dict[str, Any]]:
        """Run a block as a named step. The block may set ``info['detail']`` and append
        landlord rows to ``info['rows']``, written with the step's end in one transaction."""
        event_id = self.start(name, detail)
        _failpoint(name)
        info: dict[str, Any] = {"detail": detail, "rows": []}
        try:
            yield info
        except Exception as exc:
            self.end(event_id, "failed", detail=info.get("detail"), error=format_error(exc), rows=info["rows"])
            raise
        self.end(event_id, "succeeded", detail=info.get("detail"), rows=info["rows"])


def _failpoint(step: str) -> None:
    """Fault-injection for tests: TENANTOPS_FAILPOINT="pause:<step>" parks the worker
    inside that step (so a test can SIGKILL it there); off unless the variable is set."""
    point = os.environ.get("TENANTOPS_FAILPOINT", "")
    if point and point == f"pause:{step}":
        time.sleep(float(os.environ.get("TENANTOPS_FAILPOINT_SECONDS", "60")))


def list_jobs(ctx: Context, *, status: str | None = None, tenant: str | None = None,
              limit: int = 200) -> list[dict[str, Any]]:
    """The newest jobs, each with its timeline (two queries, whatever the count)."""
    query = sa.select(m.Job).order_by(m.Job.id.desc()).limit(limit)
    if status:
        query = query.where(m.Job.status == status)
    if tenant:
        query = query.where(m.Job.tenant == tenant)
    with ctx.session() as s:
        found = list(s.scalars(query))
        events: dict[int, list[m.JobEvent]] = {j.id: [] for j in found}
        if found:
            for e in s.scalars(sa.select(m.JobEvent).where(m.JobEvent.job_id.in_(list(events)))
                               .order_by(m.JobEvent.id)):
                events[e.job_id].append(e)
        return [job_json(j, events[j.id]) for j in found]


def get_job(ctx: Context, job_id: int) -> dict[str, Any]:
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist")
        events = list(s.scalars(sa.select(m.JobEvent).where(m.JobEvent.job_id == job_id).order_by(m.JobEvent.id)))
        return job_json(job, events)


def follow(ctx: Context, job_id: int, on_event: Callable[[dict[str, Any]], None], *,
           poll: float = 0.2, timeout: float | None = None) -> dict[str, Any]:
    """Call ``on_event`` for each new or changed event until the job ends; return the job."""
    seen: dict[int, str] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        doc = get_job(ctx, job_id)
        for ev in doc["steps"]:
            if seen.get(ev["id"]) != ev["status"]:
                seen[ev["id"]] = ev["status"]
                on_event(ev)
        if doc["status"] not in ACTIVE:
            return doc
        if deadline is not None and time.monotonic() > deadline:
            return doc
        time.sleep(poll)


# who may run each kind again: the role its original request needed
KIND_ROLES = {"provision": "admin", "modules.add": "admin", "modules.remove": "admin", "sync": "admin",
              "custom.apply": "dba", "rollback": "dba", "repair": "dba"}


def retry(ctx: Context, job_id: int) -> int:
    """Queue a failed job again as a new job (role-checked and audited like the original).

    A failed provisioning goes through the provisioner again, so its application moves
    from failed back to provisioning."""
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist")
        kind, tenant, params, status = job.kind, job.tenant, dict(job.params), job.status
    params_doc = {"job": job_id, "kind": kind}
    ctx.authorize("jobs.retry", KIND_ROLES.get(kind, "dba"), tenant, params_doc)
    try:
        if status != "failed":
            raise StateError(f"job {job_id} is {status}; only failed jobs can be retried")
        if kind == "provision":
            from tenantops.engine.tenants.provision import request

            new_id = request(ctx, slug=tenant, server=params.get("server"))
        else:
            new_id = enqueue(ctx, kind, tenant, params, lock_operation=kind)
    except TenantopsError as exc:
        ctx.audit("jobs.retry", tenant, params_doc, "failed", str(exc))
        raise
    ctx.audit("jobs.retry", tenant, {**params_doc, "new_job": new_id}, "ok")
    return new_id


def format_error(exc: BaseException) -> str:
    """One line for the timeline: never the SQL parameters, which may hold tenant data."""
    if isinstance(exc, TenantopsError):
        return str(exc)
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        args = getattr(exc.orig, "args", ())
        text = str(args[1] if len(args) > 1 else (args[0] if args else exc.orig))
        return f"{type(exc.orig).__name__}: {text}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first.split('[SQL:')[0].strip()}"

