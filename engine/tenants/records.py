"""Tenants as the CLI and console show them."""
from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine import vocab
from tenantops.engine.documents import TenantDoc
from tenantops.engine.vocab import Severity, TenantStatus
from tenantops.engine.context import Context
from tenantops.engine.errors import NotFoundError, StateError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.timestamps import iso

LAYERS = vocab.LAYERS


def _applied_counts(s: Session, tenant: m.Tenant) -> dict[str, int]:
    """Counts from the latest successful batch history of a tenant (failed attempts of a
    cleaned-up database do not count)."""
    h = m.MigrationHistory
    rows = s.execute(sa.select(h.revision, h.layer, h.action).where(h.tenant_id == tenant.id,
                                                                    h.outcome.in_(("ok", "restored")))
                     .order_by(h.id))
    applied: dict[str, str] = {}
    for revision, layer, action in rows:
        if action == "apply":
            applied[revision] = layer
        else:
            applied.pop(revision, None)
    counts: dict[str, int] = {layer: 0 for layer in LAYERS}
    for layer in applied.values():
        counts[layer] = counts.get(layer, 0) + 1
    return counts


def tenant_json(s: Session, t: m.Tenant) -> TenantDoc:
    server = s.get(m.Server, t.server_id) if t.server_id else None
    return {
        "slug": t.slug, "organization": t.organization, "status": cast(TenantStatus, t.status),
        "server": server.name if server else None,
        "database": t.database,
        "template": {"slug": t.template, "version": t.template_version},
        "modules": [tm.module for tm in t.modules],
        "labels": {k: v for k, v in s.execute(sa.select(m.TenantLabel.key, m.TenantLabel.value)
                                              .where(m.TenantLabel.tenant_id == t.id).order_by(m.TenantLabel.key))},
        "module_details": [{"module": tm.module, "version": tm.version, "required": tm.required,
                            "reason": tm.reason} for tm in t.modules],
        "migrations": _applied_counts(s, t),
        "schema_hash": t.schema_hash,
        "last_drift": ({"severity": cast(Severity, t.last_drift_severity), "checked_at": iso(t.last_drift_at)}
                       if t.last_drift_at else None),
        "admin_user": ({"email": t.admin_email, "must_change_password": bool(t.admin_must_change_password)}
                       if t.admin_email else None),
        "error": t.error,
        "created_at": iso(t.created_at),
        "activated_at": iso(t.activated_at),
    }


def get_tenant_row(s: Session, slug: str) -> m.Tenant:
    tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
    if tenant is None:
        raise NotFoundError(f"tenant {slug!r} does not exist (see `tenantops tenants list`)")
    return tenant


def tenant_server(s: Session, tenant: m.Tenant) -> m.Server:
    """The server a placed tenant lives on."""
    server = s.get(m.Server, tenant.server_id) if tenant.server_id is not None else None
    if server is None:
        raise StateError(f"tenant {tenant.slug} has no server")
    return server


def tenant_database(tenant: m.Tenant) -> str:
    """The database of a placed tenant."""
    if tenant.database is None:
        raise StateError(f"tenant {tenant.slug} has no database yet (status {tenant.status})")
    return tenant.database


def show(ctx: Context, slug: str) -> TenantDoc:
    with ctx.session() as s:
        return tenant_json(s, get_tenant_row(s, slug))


def list_tenants(ctx: Context, status: TenantStatus | None = None,
                 label: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Every tenant (or those with ``status``, or carrying the ``label`` (key, value)) in
    one pass (four queries, plain rows rather than ORM objects): the console's list must
    stay fast with 10,000+ tenants."""
    if status is not None and status not in vocab.TENANT_STATUSES:
        raise ValidationError(f"unknown tenant status {status!r}; one of {', '.join(vocab.TENANT_STATUSES)}")
    t = m.Tenant
    with ctx.session() as s:
        servers = {sid: name for sid, name in s.execute(sa.select(m.Server.id, m.Server.name))}
        modules: dict[int, list[str]] = {}
        for tenant_id, module in s.execute(sa.select(m.TenantModule.tenant_id, m.TenantModule.module)
                                           .order_by(m.TenantModule.position)):
            modules.setdefault(tenant_id, []).append(module)
        labels: dict[int, dict[str, str]] = {}
        for tenant_id, key, value in s.execute(sa.select(m.TenantLabel.tenant_id, m.TenantLabel.key,
                                                         m.TenantLabel.value).order_by(m.TenantLabel.key)):
            labels.setdefault(tenant_id, {})[key] = value
        query = (sa.select(t.id, t.slug, t.organization, t.status, t.server_id, t.database, t.template,
                           t.template_version, t.schema_hash, t.last_drift_severity, t.last_drift_at)
                 .where(sa.true() if status is None else t.status == status)
                 .order_by(t.slug))
        if label is not None:
            query = query.where(t.id.in_(sa.select(m.TenantLabel.tenant_id).where(
                m.TenantLabel.key == label[0], m.TenantLabel.value == label[1])))
        rows = s.execute(query).all()
    return [{
        "slug": r.slug, "organization": r.organization, "status": r.status, "server": servers.get(r.server_id),
        "database": r.database, "template": {"slug": r.template, "version": r.template_version},
        "modules": modules.get(r.id, []), "labels": labels.get(r.id, {}), "schema_hash": r.schema_hash,
        "last_drift": ({"severity": r.last_drift_severity, "checked_at": iso(r.last_drift_at)}
                       if r.last_drift_at else None),
    } for r in rows]
