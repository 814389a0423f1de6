"""One lock per tenant: a lease row in the landlord, never one global lock.

A lock is valid while its lease runs. A queued job's lock is a reservation with the
``[jobs] queued_hold`` lease (a second request is refused naming the job); a worker
takes the lock for real when it claims the job, and its heartbeat renews it. A queued
job whose requester died before starting a worker therefore never blocks its tenant for
longer than the hold. Holders are visible (``list_locks``); a stale lease can be broken
by a dba (audited).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import LockHeld, NotFoundError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.timestamps import iso


def _valid(s: Session, lock: m.TenantLock) -> bool:
    return lock.lease_until > utcnow()


def describe(lock: m.TenantLock) -> str:
    job = f", job {lock.job_id}" if lock.job_id else ""
    return (f"tenant {lock.tenant} is locked by {lock.holder} ({lock.operation}{job}) "
            f"since {lock.acquired_at.isoformat(timespec='seconds')}")


def acquire(s: Session, tenant: str, *, holder: str, operation: str, job_id: int | None,
            lease_seconds: int) -> None:
    """Take the tenant's lock inside session ``s`` or raise LockHeld naming the holder.

    The same job may re-acquire its own lock (a resumed job after a crash).
    """
    until = utcnow() + timedelta(seconds=lease_seconds)
    lock = s.get(m.TenantLock, tenant, with_for_update=True)
    if lock is not None:
        if job_id is not None and lock.job_id == job_id:
            lock.holder, lock.lease_until = holder, until
            return
        if _valid(s, lock):
            queued = s.get(m.Job, lock.job_id) if lock.job_id is not None else None
            if queued is not None and queued.status == "queued":
                raise LockHeld(describe(lock) + f"; job {queued.id} is queued and no worker has started it: "
                               f"`tenantops worker --once` runs it, `tenantops jobs cancel {queued.id}` drops it")
            raise LockHeld(describe(lock))
        s.delete(lock)
        s.flush()
    s.add(m.TenantLock(tenant=tenant, holder=holder, operation=operation, job_id=job_id, lease_until=until))
    try:
        s.flush()
    except sa.exc.IntegrityError:
        # another process inserted it between our read and our write
        s.rollback()
        raise LockHeld(f"tenant {tenant} was locked by another operation a moment ago") from None


def renew(s: Session, tenant: str, job_id: int, lease_seconds: int) -> None:
    s.execute(sa.update(m.TenantLock).where(m.TenantLock.tenant == tenant, m.TenantLock.job_id == job_id)
              .values(lease_until=utcnow() + timedelta(seconds=lease_seconds)))


def release(s: Session, tenant: str, job_id: int | None) -> None:
    query = sa.delete(m.TenantLock).where(m.TenantLock.tenant == tenant)
    if job_id is not None:
        query = query.where(m.TenantLock.job_id == job_id)
    s.execute(query)


def lock_json(lock: m.TenantLock, stale: bool) -> dict[str, Any]:
    return {"tenant": lock.tenant, "holder": lock.holder, "operation": lock.operation, "job_id": lock.job_id,
            "acquired_at": iso(lock.acquired_at), "lease_until": iso(lock.lease_until),
            "stale": stale}


def list_locks(ctx: Context, tenant: str | None = None) -> list[dict[str, Any]]:
    with ctx.session() as s:
        query = sa.select(m.TenantLock).order_by(m.TenantLock.tenant)
        if tenant:
            query = query.where(m.TenantLock.tenant == tenant)
        return [lock_json(lock, not _valid(s, lock)) for lock in s.scalars(query)]


@mutating("locks.break", "dba", target="tenant")
def break_lock(ctx: Context, *, tenant: str, force: bool = False) -> dict[str, Any]:
    """Remove a stale lock; a live one only with ``force``."""
    with ctx.session() as s:
        lock = s.get(m.TenantLock, tenant)
        if lock is None:
            raise NotFoundError(f"tenant {tenant} holds no lock")
        stale = not _valid(s, lock)
        if not stale and not force:
            raise LockHeld(describe(lock) + "; it is not stale (use --force to break a live lock)")
        doc = lock_json(lock, stale)
        s.delete(lock)
        return doc
