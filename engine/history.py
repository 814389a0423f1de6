"""Migration history: every applied or rolled-back revision, per tenant, in batches."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from .context import Context
from .errors import NotFoundError
from .jobs import Timeline
from .landlord import models as m
from .landlord.models import utcnow


def next_batch(ctx: Context, tenant_id: int) -> int:
    with ctx.session() as s:
        current = s.scalar(sa.select(sa.func.max(m.MigrationHistory.batch))
                           .where(m.MigrationHistory.tenant_id == tenant_id))
    return (current or 0) + 1


def record_revision(ctx: Context, tl: Timeline | None, tenant_id: int, batch: int, result: Any,
                    action: str = "apply") -> None:
    """Persist one revision outcome (history row + a timeline entry)."""
    duration = float(getattr(result, "duration_s", 0.0) or 0.0)
    started = utcnow() - timedelta(seconds=duration)
    outcome = getattr(result, "outcome", "ok")
    error = getattr(result, "error", None)
    unit = getattr(result, "unit", None)
    layer = getattr(result, "layer", None) or getattr(result, "kind", None) or "?"
    with ctx.session() as s:
        s.add(m.MigrationHistory(tenant_id=tenant_id, batch=batch, layer=layer, unit=unit,
                                 revision=result.revision, action=action,
                                 checksum=getattr(result, "checksum", None), operator=ctx.operator,
                                 started_at=started, duration_s=round(duration, 4), outcome=outcome, error=error))
    if tl is not None:
        statements = getattr(result, "sql", None) or getattr(result, "statements", None)
        detail = None
        if statements:
            detail = ";\n".join(statements) if isinstance(statements, (list, tuple)) else str(statements)
        tl.record(f"  {action} {unit} · {result.revision}", "succeeded" if outcome == "ok" else "failed",
                  started=started, duration_s=duration, detail=detail, error=error)


def history_json(h: m.MigrationHistory) -> dict[str, Any]:
    return {"batch": h.batch, "layer": h.layer, "unit": h.unit, "revision": h.revision, "action": h.action,
            "checksum": h.checksum, "operator": h.operator, "started_at": h.started_at.isoformat(),
            "duration_s": h.duration_s, "outcome": h.outcome, "error": h.error}


def list_history(ctx: Context, slug: str) -> list[dict[str, Any]]:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        rows = s.scalars(sa.select(m.MigrationHistory).where(m.MigrationHistory.tenant_id == tenant.id)
                         .order_by(m.MigrationHistory.id))
        return [history_json(h) for h in rows]
