"""Tenant labels: ``key=value`` pairs (region, tier ...) that filters and rollout stages
select tenants by. Keys and values are short identifiers, so a label always fits on a
command line and in a stage spec (``label:region=east``) without quoting."""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import UsageError
from tenantops.engine.landlord import models as m
from tenantops.engine.tenants.records import get_tenant_row

KEY = re.compile(r"[a-z][a-z0-9_.-]{0,62}")
VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def parse_pair(text: str, *, removal: bool = False) -> tuple[str, str | None]:
    """``key=value`` (with ``removal``, ``key=`` too: it removes the label)."""
    key, eq, value = text.partition("=")
    if not eq:
        raise UsageError(f"label {text!r}: expected key=value")
    if not KEY.fullmatch(key):
        raise UsageError(f"label key {key!r}: use a lowercase letter then letters, digits, '_', '.', '-' "
                         "(at most 63)")
    if value == "" and removal:
        return key, None
    if not VALUE.fullmatch(value):
        raise UsageError(f"label value {value!r} of {key}: use letters, digits, '_', '.', '-' (at most 63)")
    return key, value


def parse_changes(pairs: list[str]) -> dict[str, str | None]:
    if not pairs:
        raise UsageError("tenants label needs at least one KEY=VALUE (KEY= removes a label)")
    changes: dict[str, str | None] = {}
    for pair in pairs:
        key, value = parse_pair(pair, removal=True)
        if key in changes:
            raise UsageError(f"label {key} is given twice")
        changes[key] = value
    return changes


@mutating("tenants.label", "admin", target="tenant")
def set_labels(ctx: Context, *, tenant: str, changes: dict[str, str | None]) -> dict[str, str]:
    """Set (value) or remove (None) labels of a tenant; returns its labels afterwards."""
    for key, value in changes.items():  # the CLI parsed them; other callers are checked too
        parse_pair(f"{key}={value or ''}", removal=True)
    with ctx.session() as s:
        row = get_tenant_row(s, tenant)
        current = {lb.key: lb for lb in s.scalars(sa.select(m.TenantLabel).where(m.TenantLabel.tenant_id == row.id))}
        for key, value in changes.items():
            if value is None:
                if key in current:
                    s.delete(current.pop(key))
            elif key in current:
                current[key].value = value
            else:
                current[key] = m.TenantLabel(tenant_id=row.id, key=key, value=value)
                s.add(current[key])
        return {k: current[k].value for k in sorted(current)}


def labels_by_tenant(s: Session, tenant_ids: list[int] | None = None) -> dict[int, dict[str, str]]:
    query = sa.select(m.TenantLabel.tenant_id, m.TenantLabel.key, m.TenantLabel.value).order_by(m.TenantLabel.key)
    if tenant_ids is not None:
        query = query.where(m.TenantLabel.tenant_id.in_(tenant_ids))
    out: dict[int, dict[str, str]] = {}
    for tenant_id, key, value in s.execute(query):
        out.setdefault(tenant_id, {})[key] = value
    return out


def labelled(key: str, value: str) -> sa.Select[Any]:
    """The ids of tenants carrying ``key=value`` (a subquery for filters)."""
    return sa.select(m.TenantLabel.tenant_id).where(m.TenantLabel.key == key, m.TenantLabel.value == value)
