"""Reading the append-only audit log."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import cast

import sqlalchemy as sa

from tenantops.engine.documents import AuditDoc
from tenantops.engine.vocab import AuditOutcome
from tenantops.engine.context import Context
from tenantops.engine.errors import ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.timestamps import iso


def audit_json(e: m.AuditEntry) -> AuditDoc:
    return {"id": e.id, "at": iso(e.at), "operator": e.operator, "action": e.action,
            "target": e.target, "params": e.params, "outcome": cast(AuditOutcome, e.outcome), "error": e.error,
            "job": e.job_id}


def parse_since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--since {text!r} is not an ISO 8601 date or time") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def list_audit(ctx: Context, *, since: datetime | None = None, operator: str | None = None,
               action: str | None = None, target: str | None = None, limit: int | None = None) -> list[AuditDoc]:
    query = sa.select(m.AuditEntry).order_by(m.AuditEntry.id)
    if since is not None:
        query = query.where(m.AuditEntry.at >= since)
    if operator:
        query = query.where(m.AuditEntry.operator == operator)
    if action:
        query = query.where(m.AuditEntry.action.like(f"{action}%"))
    if target:
        query = query.where(m.AuditEntry.target == target)
    if limit:  # the newest entries, still returned oldest first
        query = query.order_by(None).order_by(m.AuditEntry.id.desc()).limit(limit)
    with ctx.session() as s:
        entries = [audit_json(e) for e in s.scalars(query)]
    return sorted(entries, key=lambda e: e["id"]) if limit else entries


def audit_facets(ctx: Context) -> dict[str, list[str]]:
    """Distinct operators and actions of the audit log (for the filter cycles)."""
    with ctx.session() as s:
        operators = list(s.scalars(sa.select(m.AuditEntry.operator).distinct().order_by(m.AuditEntry.operator)))
        actions = list(s.scalars(sa.select(m.AuditEntry.action).distinct().order_by(m.AuditEntry.action)))
    return {"operators": operators, "actions": actions}
