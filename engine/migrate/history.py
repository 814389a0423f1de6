"""Migration history: every applied or rolled-back revision, per tenant, in batches."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.documents import HistoryDoc
from tenantops.engine.context import Context
from tenantops.engine.errors import NotFoundError
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.migrate.results import RevisionResult
from tenantops.engine.timestamps import iso


def next_batch(ctx: Context, tenant_id: int) -> int:
    with ctx.session() as s:
        return next_batch_in(s, tenant_id)


def next_batch_in(s: Session, tenant_id: int) -> int:
    """``next_batch`` inside a caller's transaction."""
    current = s.scalar(sa.select(sa.func.max(m.MigrationHistory.batch)).where(m.MigrationHistory.tenant_id == tenant_id))
    return (current or 0) + 1


def record_revision(ctx: Context, tl: Timeline | None, tenant_id: int, batch: int, result: RevisionResult,
                    action: str = "apply") -> None:
    """Persist one revision outcome (history row + a timeline entry)."""
    record_revisions(ctx, tl, tenant_id, batch, [result], action)


def record_revisions(ctx: Context, tl: Timeline | None, tenant_id: int, batch: int,
                     results: list[RevisionResult], action: str = "apply") -> None:
    """Persist revision outcomes in one landlord transaction: history rows and, when a
    timeline is given, one timeline entry per revision with its SQL and error."""
    if results:
        with ctx.session() as s:
            s.add_all(revision_rows(ctx, tl, tenant_id, batch, results, action))


def revision_rows(ctx: Context, tl: Timeline | None, tenant_id: int, batch: int,
                  results: list[RevisionResult], action: str = "apply") -> list[Any]:
    """History rows (and timeline entries) for revision outcomes, not yet written."""
    now = utcnow()
    rows: list[Any] = []
    for result in results:
        started = (result.ended_at or now) - timedelta(seconds=result.duration_s)
        rows.append(m.MigrationHistory(tenant_id=tenant_id, batch=batch, layer=result.kind, unit=result.unit,
                                     revision=result.revision, action=action, checksum=result.checksum,
                                     operator=ctx.operator, started_at=started,
                                     duration_s=round(result.duration_s, 4), outcome=result.outcome,
                                     error=result.error))
        if tl is not None:
            rows.append(m.JobEvent(job_id=tl.job_id, name=f"  {action} {result.unit} · {result.revision}",
                                   status="succeeded" if result.outcome == "ok" else "failed",
                                   started_at=started, finished_at=started + timedelta(seconds=result.duration_s),
                                   duration_s=round(result.duration_s, 4),
                                   detail=";\n".join(result.statements) or None, error=result.error))
    return rows


def history_json(h: m.MigrationHistory) -> HistoryDoc:
    return {"batch": h.batch, "layer": h.layer, "unit": h.unit, "revision": h.revision, "action": h.action,
            "checksum": h.checksum, "operator": h.operator, "started_at": iso(h.started_at),
            "duration_s": h.duration_s, "outcome": h.outcome, "error": h.error}


def list_history(ctx: Context, slug: str) -> list[HistoryDoc]:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        rows = s.scalars(sa.select(m.MigrationHistory).where(m.MigrationHistory.tenant_id == tenant.id)
                         .order_by(m.MigrationHistory.id))
        return [history_json(h) for h in rows]
