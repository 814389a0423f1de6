"""The job queue: every mutating operation on a tenant database is a row here, claimed
and executed by worker processes (jobs/worker.py); its steps are written by jobs/timeline.py.
"""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from tenantops.engine.vocab import ACTIVE_JOB_STATUSES, JobStatus
from tenantops.engine.documents import JobDoc, StepDoc
from tenantops.engine.jobs import locks
from tenantops.engine.servers import load
from tenantops.engine.context import Context
from tenantops.engine.errors import LockHeld, NotFoundError, StateError, TenantopsError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.jobs.timeline import event_json
from tenantops.engine.timestamps import iso

ACTIVE: tuple[JobStatus, ...] = ACTIVE_JOB_STATUSES
_JOBS = cast(sa.Table, m.Job.__table__)
_AUDIT = cast(sa.Table, m.AuditEntry.__table__)
_LOCKS = cast(sa.Table, m.TenantLock.__table__)
# live jobs other than one, and whether any server has a load limit: text, not a Core
# construct, since its first compile (~1.5 ms) is paid by every provisioning CLI process
_LIVE_AND_LIMITED = sa.text(
    "SELECT (SELECT count(*) FROM jobs WHERE status = 'running' AND lease_until >= :now AND id != :job),"
    " EXISTS (SELECT 1 FROM servers WHERE max_threads_running IS NOT NULL)"
).bindparams(sa.bindparam("now", type_=m.Job.__table__.c.lease_until.type), sa.bindparam("job", type_=sa.Integer()))


class JobStranded(TenantopsError):
    """A followed job has no live worker: the message says which command resumes it."""


_iso = iso  # every document's times: ISO 8601 with the UTC offset


def job_json(job: m.Job, events: list[m.JobEvent] | None = None) -> JobDoc:
    doc: JobDoc = {"id": job.id, "kind": job.kind, "tenant": job.tenant, "status": cast(JobStatus, job.status), "params": job.params,
           "attempt": job.attempt, "claimed_by": job.claimed_by, "created_by": job.created_by,
           "created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
           "finished_at": _iso(job.finished_at), "heartbeat_at": _iso(job.heartbeat_at),
           "error": job.error, "result": job.result, "not_before": _iso(job.not_before)}
    if events is not None:
        doc["steps"] = [event_json(e) for e in events]
    return doc


def enqueue(ctx: Context, kind: str, tenant: str | None, params: dict[str, Any] | None = None,
            *, lock_operation: str | None = None, not_before: datetime | None = None) -> int:
    """Insert a queued job; with ``lock_operation`` the tenant is reserved for it at once,
    in the same transaction, so a second request for the same tenant is refused now,
    naming this job. The reservation lasts ``[jobs] queued_hold``: the worker that claims
    the job takes the tenant's lock proper (every job does, see ``claim``), so a job whose
    requester died before starting a worker blocks nobody for longer than that. A job
    with ``not_before`` (UTC) is scheduled: no reservation, the lock is taken at claim."""
    with ctx.session() as s:
        return enqueue_in(s, ctx, kind, tenant, params, lock_operation=lock_operation, not_before=not_before)


# Jobs this process queued already claimed, to run here (``enqueue_in(claim_here=True)``):
# handed to ``take_claimed`` without reading the row back
_CLAIMED_HERE: dict[int, m.Job] = {}


def enqueue_in(s: Session, ctx: Context, kind: str, tenant: str | None, params: dict[str, Any] | None = None,
               *, lock_operation: str | None = None, not_before: datetime | None = None,
               claim_here: bool = False) -> int:
    """``enqueue`` inside a caller's transaction (state change + job + lock together).

    ``claim_here``: the requester runs the job itself (the CLI following its own job), so
    the job is inserted as ``claim`` would leave it (running, this process's claim and
    lease, attempt 1, the tenant's lock held under the lease) and taken with
    ``take_claimed``. Nothing differs for anyone else: if this process dies, the lease
    runs out and any worker resumes the job, as after any worker's death."""
    scheduled = not_before.astimezone(timezone.utc).replace(tzinfo=None) if not_before else None
    job = m.Job(kind=kind, tenant=tenant, params=params or {}, created_by=ctx.operator, not_before=scheduled)
    lease = ctx.settings.lease_seconds
    if claim_here and scheduled is None:
        now = utcnow()
        job.status, job.claimed_by, job.attempt = "running", worker_id(), 1
        job.heartbeat_at, job.lease_until, job.started_at = now, now + timedelta(seconds=lease), now
    s.add(job)
    s.flush()
    if job.status == "running" and not _room_for_new(s, ctx, job):
        # its server runs its share already: queued, and the requester claims it in turn
        job.status, job.claimed_by, job.attempt = "queued", None, 0
        job.heartbeat_at = job.lease_until = job.started_at = None
        s.flush()
    if lock_operation and tenant and scheduled is None:
        _expire_lapsed(s, tenant, job.id)
        hold = lease if job.status == "running" else max(lease, ctx.settings.jobs.queued_hold * 60)
        locks.acquire(s, tenant, holder=f"job {job.id} ({ctx.operator})", operation=lock_operation,
                      job_id=job.id, lease_seconds=hold)
    if job.status == "running":
        # only a committed claim: a rolled-back id may be given to another job later
        sa.event.listen(s, "after_commit", lambda _s: _CLAIMED_HERE.__setitem__(job.id, job), once=True)
    return job.id


def _room_for_new(s: Session, ctx: Context, job: m.Job) -> bool:
    """May a job its requester runs itself start claimed (it is inserted so, not yet
    committed)? Its server must have room under ``concurrency_per_server``, counted as
    ``claim`` counts: under the server row's lock (MariaDB/MySQL, with the transaction in
    ``read_committed``; SQLite holds the write lock since the insert). A server with a
    load limit is left to ``claim``, which samples it: sampling here would open a second
    landlord transaction inside this one."""
    mysql = ctx.engine.dialect.name in ("mysql", "mariadb")
    if not mysql:
        # the usual case in one statement: fewer live jobs than one server's share, and no
        # load limits (the write lock held since the insert serialises this count)
        others, limited = s.execute(_LIVE_AND_LIMITED, {"now": utcnow(), "job": job.id}).one()
        if others < ctx.settings.concurrency_per_server and not limited:
            return True
    server_id = job_server(s, job)
    if server_id is None:
        return True
    query = sa.select(m.Server.max_threads_running).where(m.Server.id == server_id)
    if mysql:
        query = query.with_for_update()
    if s.scalar(query) is not None:
        return False
    return _room_on(s, server_id, job.id, utcnow(), ctx, lock=False)


def read_committed(ctx: Context, s: Session) -> None:
    """MariaDB/MySQL: this transaction's reads see what other transactions committed
    meanwhile (a count of a server's running jobs, taken under the server row's lock, must);
    called before the transaction's first statement."""
    if ctx.engine.dialect.name in ("mysql", "mariadb"):
        s.connection(execution_options={"isolation_level": "READ COMMITTED"})


def take_claimed(job_id: int) -> m.Job | None:
    """The job this process queued already claimed (``enqueue_in(claim_here=True)``), once."""
    return _CLAIMED_HERE.pop(job_id, None)


def _expire_lapsed(s: Session, tenant: str, new_job: int) -> None:
    """A job still queued after its reservation lapsed (its requester died before starting
    a worker, and no worker came) is expired when a new request for its tenant arrives:
    the new request was previewed against a tenant without it, so neither running it
    first nor after would do what either requester saw."""
    lock = s.get(m.TenantLock, tenant, with_for_update=True)
    if lock is None or lock.job_id is None or locks._valid(s, lock):
        return
    job = s.get(m.Job, lock.job_id)
    if job is None or job.status != "queued" or job.not_before is not None:
        return
    error = (f"expired: queued by {job.created_by} at {_iso(job.created_at)} and never started by a worker; "
             f"superseded by job {new_job}")
    job.status, job.finished_at, job.error = "cancelled", utcnow(), error
    s.execute(sa.update(m.AuditEntry).where(m.AuditEntry.job_id == job.id, m.AuditEntry.outcome != "denied")
              .values(outcome="failed", error=error))


# ``tenantops worker --name`` (several machines, or several workers on one, told apart in
# `jobs list` and `locks list`); the pid keeps two workers given one name apart anyway,
# since a heartbeat only renews a lease its own claim took
WORKER_NAME_ENV = "TENANTOPS_WORKER_NAME"


def worker_id() -> str:
    return f"{os.environ.get(WORKER_NAME_ENV) or socket.gethostname()}:{os.getpid()}"


def claim(ctx: Context, *, job_id: int | None = None, kinds: list[str] | None = None,
          held_to_limits: bool = False) -> m.Job | None:
    """Claim one queued job (or one whose lease expired) for this process, and its
    tenant's lock with it; a job whose tenant another operation holds is left queued
    (with ``job_id``: None is returned).

    Servers running ``concurrency_per_server`` jobs, or over their load limit, give no
    job; a claim of one given job (``job_id``) is held to that only with
    ``held_to_limits`` (the CLI running its own job: ``claim_in_turn``).

    MariaDB/MySQL: ``FOR UPDATE SKIP LOCKED`` so workers on several machines never wait
    on or take the same row. SQLite has no row locks; its writers are serialised by the
    database lock, and the claim is a conditional UPDATE whose rowcount says who won.
    """
    me = worker_id()
    now = utcnow()
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    due = sa.or_(m.Job.not_before.is_(None), m.Job.not_before <= now)
    claimable = sa.or_(sa.and_(m.Job.status == "queued", due),
                       sa.and_(m.Job.status == "running", m.Job.lease_until < now))
    query = sa.select(m.Job.id).where(claimable).order_by(m.Job.id).limit(1)
    # servers over their load limit (servers/load.py) take no new job, like full ones
    limited = job_id is None or held_to_limits
    busy = sorted(set(_busy_servers(ctx, now)) | load.throttled(ctx)) if limited else []
    if busy:
        # one busy server never gets more than its share: skip its tenants' jobs for now
        on_busy = sa.select(m.Tenant.slug).where(m.Tenant.server_id.in_(busy))
        query = query.where(sa.or_(m.Job.tenant.is_(None), m.Job.tenant.not_in(on_busy)))
    if job_id is not None:
        query = query.where(m.Job.id == job_id)
    if kinds:
        query = query.where(m.Job.kind.in_(kinds))
    mysql = ctx.engine.dialect.name in ("mysql", "mariadb")
    skipped: list[int] = []  # jobs whose tenant another operation holds, or whose server is full: not now
    full: set[int] = set(busy)
    for _ in range(20):
        candidates = query.where(m.Job.id.not_in(skipped)) if skipped else query
        with ctx.session() as s:
            # the count of a server's running jobs below must see the claims other
            # workers committed while this one waited for the server row
            read_committed(ctx, s)
            if mysql:
                candidate = s.scalar(candidates.with_for_update(skip_locked=True))
            else:
                candidate = s.scalar(candidates)
            if candidate is None:
                return None
            # an UPDATE's result is a CursorResult (Session.execute is typed for the general Result)
            won = cast(CursorResult[Any], s.execute(
                sa.update(m.Job).where(m.Job.id == candidate, claimable)
                .values(status="running", claimed_by=me, attempt=m.Job.attempt + 1, heartbeat_at=now,
                        lease_until=now + lease, started_at=sa.func.coalesce(m.Job.started_at, now))
                .execution_options(synchronize_session=False))).rowcount
            if won == 1:
                job = s.get_one(m.Job, candidate)
                server_id = job_server(s, job)
                if server_id is not None and limited and \
                        (server_id in full or not _room_on(s, server_id, job.id, now, ctx, lock=mysql)):
                    # the server already runs its share: this job waits for the next claim
                    s.rollback()
                    full.add(server_id)
                    skipped.append(candidate)
                    continue
                if job.tenant:
                    # every job holds its tenant's lock from its claim on (its own reservation,
                    # or a scheduled job's first lock): a job whose tenant another operation
                    # holds stays queued, and the next claim takes the next job
                    try:
                        locks.acquire(s, job.tenant, holder=f"job {job.id} ({job.created_by})", operation=job.kind,
                                      job_id=job.id, lease_seconds=ctx.settings.lease_seconds)
                    except LockHeld:
                        s.rollback()
                        if job_id is not None:
                            return None
                        skipped.append(candidate)
                        continue
                return job
        if job_id is not None:
            return None
    return None


def claim_in_turn(ctx: Context, job_id: int, on_wait: Callable[[str], None] | None = None,
                  poll: float = 0.5) -> m.Job | None:
    """Claim the given job as soon as its server has room (``concurrency_per_server``, load
    limit) and its tenant is free, saying through ``on_wait`` (once per reason) why it
    waits. None: it is no longer waiting for a claim (another worker took it, or it ended)."""
    said = None
    while True:
        job = claim(ctx, job_id=job_id, held_to_limits=True)
        if job is not None:
            return job
        why = waiting_for(ctx, job_id)
        if why is None:
            return None
        if why and why != said and on_wait is not None:
            on_wait(f"job {job_id} waits: {why}")
            said = why
        time.sleep(poll)


def waiting_for(ctx: Context, job_id: int) -> str | None:
    """Why a claimable job is not claimed now: its server is full or over its load limit,
    or another operation holds its tenant ("" when nothing holds it: the next claim takes
    it); None when it is not claimable (running under a live lease, ended, or scheduled)."""
    now = utcnow()
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            return None
        due = job.not_before is None or job.not_before <= now
        if not ((job.status == "queued" and due) or
                (job.status == "running" and job.lease_until is not None and job.lease_until < now)):
            return None
        server_id = job_server(s, job)
        server = s.get(m.Server, server_id) if server_id is not None else None
        if server is not None and load.is_over(server):
            return (f"server {server.name} is over its load limit "
                    f"(Threads_running {server.threads_running} > {server.max_threads_running})")
        if server is not None and not _room_on(s, server.id, job.id, now, ctx, lock=False):
            limit = ctx.settings.concurrency_per_server
            return (f"server {server.name} already runs {limit} "
                    f"job{'s' if limit != 1 else ''} (concurrency_per_server = {limit})")
        lock = s.get(m.TenantLock, job.tenant) if job.tenant else None
        if lock is not None and lock.job_id != job.id and locks._valid(s, lock):
            return locks.describe(lock)
    return ""


def job_server(s: Session, job: m.Job) -> int | None:
    """The server a job works on: its tenant's, or for a provisioning not yet placed the
    server it was asked for (None: placed by the worker, outside the per-server limit)."""
    if job.tenant:
        placed = s.scalar(sa.select(m.Tenant.server_id).where(m.Tenant.slug == job.tenant))
        if placed is not None:
            return placed
    requested = (job.params or {}).get("server") if job.kind == "provision" else None
    if requested:
        return s.scalar(sa.select(m.Server.id).where(m.Server.name == requested))
    return None


def _room_on(s: Session, server_id: int, job_id: int, now: datetime, ctx: Context, *, lock: bool) -> bool:
    """Does the server take one more running job (this one, already marked running)?

    Claims of one server are serialised by a lock on its row (MariaDB/MySQL; SQLite holds
    the database's write lock since the UPDATE above), so two workers never both see the
    last free slot."""
    if lock:
        s.execute(sa.select(m.Server.id).where(m.Server.id == server_id).with_for_update())
    running = list(s.scalars(sa.select(m.Job).where(m.Job.status == "running", m.Job.lease_until >= now,
                                                    m.Job.id != job_id)))
    on_server = sum(1 for other in running if job_server(s, other) == server_id)
    return on_server < ctx.settings.concurrency_per_server


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
           result: dict[str, Any] | None = None) -> datetime:
    """End a job; returns the time recorded as its end.

    Core statements on the tables: every job ends here once per process, and loading the
    job to set four columns (plus ORM bulk statements) cost a few ms of first compiles."""
    at = utcnow()
    values: dict[str, Any] = {"status": status, "error": error, "finished_at": at}
    if result is not None:
        values["result"] = result
    with ctx.engine.begin() as conn:
        tenant = conn.execute(sa.select(_JOBS.c.tenant).where(_JOBS.c.id == job_id)).first()
        if tenant is None:
            raise NotFoundError(f"job {job_id} does not exist")
        conn.execute(_JOBS.update().where(_JOBS.c.id == job_id).values(**values))
        # the audit row of the operation that queued this job takes the job's outcome
        conn.execute(_AUDIT.update().where(_AUDIT.c.job_id == job_id, _AUDIT.c.outcome != "denied")
                     .values(outcome="ok" if status == "succeeded" else "failed",
                             error=None if status == "succeeded" else (error or f"job {job_id} {status}")))
        if tenant[0]:
            conn.execute(_LOCKS.delete().where(_LOCKS.c.tenant == tenant[0], _LOCKS.c.job_id == job_id))
    return at


def list_jobs(ctx: Context, *, status: str | None = None, tenant: str | None = None,
              limit: int = 200) -> list[JobDoc]:
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


def get_job(ctx: Context, job_id: int) -> JobDoc:
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist")
        events = list(s.scalars(sa.select(m.JobEvent).where(m.JobEvent.job_id == job_id).order_by(m.JobEvent.id)))
        return job_json(job, events)


def show_job(ctx: Context, job_id: int) -> JobDoc:
    """``get_job`` with ``waiting``: why a queued job is not claimed yet (None: nothing
    holds it, or it is not queued)."""
    doc = get_job(ctx, job_id)
    doc["waiting"] = (waiting_for(ctx, job_id) or None) if doc["status"] == "queued" else None
    return doc


def follow(ctx: Context, job_id: int, on_event: Callable[[StepDoc], None], *,
           poll: float = 0.2, timeout: float | None = None,
           worker_alive: Callable[[], bool] | None = None) -> JobDoc:
    """Call ``on_event`` for each new or changed event until the job ends; return the job.

    Never waits on a stranded job: a running job whose lease expired (its worker died) or,
    given ``worker_alive`` (the worker started for it), a job still queued after that
    worker exited raises :class:`JobStranded` naming the command that resumes it.
    """
    seen: dict[int, str] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        alive = worker_alive() if worker_alive is not None else True
        doc = get_job(ctx, job_id)  # read after the liveness check: a worker that just finished shows
        for ev in doc["steps"]:
            if seen.get(ev["id"]) != ev["status"]:
                seen[ev["id"]] = ev["status"]
                on_event(ev)
        if doc["status"] not in ACTIVE:
            return doc
        stranded = _stranded(ctx, job_id, alive)
        if stranded:
            raise JobStranded(stranded)
        if deadline is not None and time.monotonic() > deadline:
            return doc
        time.sleep(poll)


def cancel(ctx: Context, job_id: int) -> JobDoc:
    """Cancel a job no worker has started (queued or scheduled); its lock is released."""
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist (see `tenantops jobs list`)")
        if job.status != "queued":
            raise StateError(f"job {job_id} is {job.status}; only a queued or scheduled job can be cancelled")
        job.status, job.finished_at, job.error = "cancelled", utcnow(), f"cancelled by {ctx.operator}"
        if job.tenant:
            locks.release(s, job.tenant, job.id)
        s.flush()
        return job_json(job)


def _stranded(ctx: Context, job_id: int, worker_alive: bool) -> str | None:
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            return None
        what = f"job {job.id} ({job.kind}{' of ' + job.tenant if job.tenant else ''})"
        resume = f"run `tenantops worker --once` to resume it (progress: `tenantops jobs show {job.id}`)"
        if job.status == "running" and job.lease_until is not None and job.lease_until < utcnow():
            return f"{what}: its worker {job.claimed_by} stopped (no heartbeat since {_iso(job.heartbeat_at)}); {resume}"
        if job.status == "queued" and not worker_alive:
            return f"{what} is still queued but the worker started for it has exited; {resume}"
    return None
