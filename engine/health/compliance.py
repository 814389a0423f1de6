"""Compliance: the rules a template declares in its manifest ("compliance": required
tables, required columns, least rows of reference tables such as the 7 provinces and
77 districts), checked against a tenant's live database at any time — not only at
provisioning. Read-only; the verdict is kept on the tenant for lists and the dashboard."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantops.engine.catalog import Unit
from tenantops.engine.context import Context
from tenantops.engine.errors import TenantopsError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.migrate.units import catalog_for
from tenantops.engine.servers.adapters import adapter_for, short_error
from tenantops.engine.tenants.records import get_tenant_row

LIVE = ("active", "suspended")


def rules_of(template: Unit) -> dict[str, Any]:
    return {"authority": template.compliance_authority, "required_tables": sorted(template.required_tables),
            "required_columns": {t: list(c) for t, c in sorted(template.required_columns.items())},
            "required_rows": dict(sorted(template.required_rows.items()))}


def violations(conn: sa.Connection, template: Unit) -> list[dict[str, Any]]:
    """Every broken rule, each once: a missing table is not also reported column by column."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    found: list[dict[str, Any]] = []
    for table in sorted(set(template.required_tables) | set(template.required_columns) | set(template.required_rows)):
        if table not in present:
            found.append({"rule": "required_table", "table": table, "column": None,
                          "detail": f"table {table} is missing"})
            continue
        wanted = template.required_columns.get(table, [])
        if wanted:
            have = {c["name"] for c in inspector.get_columns(table)}
            found += [{"rule": "required_column", "table": table, "column": c, "detail": f"column {table}.{c} is missing"}
                      for c in wanted if c not in have]
        least = template.required_rows.get(table)
        if least:
            q = conn.dialect.identifier_preparer.quote
            count = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {q(table)}").scalar_one()
            if count < least:
                found.append({"rule": "required_rows", "table": table, "column": None,
                              "detail": f"{table} holds {count} row(s); at least {least} required"})
    return found


def check_tenant(ctx: Context, slug: str) -> dict[str, Any]:
    """One tenant's report: status ``ok``, ``violation``, ``unreachable`` or ``no_rules``."""
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        if tenant.status not in LIVE or tenant.database is None or tenant.server_id is None:
            raise TenantopsError(f"tenant {slug} is {tenant.status}; compliance is checked on active or suspended "
                                 f"tenants")
        server = s.get_one(m.Server, tenant.server_id)
        s.expunge(server)
        template_slug, database = tenant.template, tenant.database
    template = catalog_for(ctx).templates.get(template_slug)
    doc: dict[str, Any] = {"tenant": slug, "template": template_slug, "server": server.name,
                           "status": "no_rules", "violations": [], "error": None}
    if template is None:
        doc.update(status="unreachable", error=f"template {template_slug} is not in the catalog")
        return doc
    doc["authority"] = template.compliance_authority or None
    if not (template.required_tables or template.required_columns or template.required_rows):
        return doc
    adapter = adapter_for(server)
    try:
        with adapter.engine(database).connect() as conn:
            doc["violations"] = violations(conn, template)
        doc["status"] = "violation" if doc["violations"] else "ok"
    except sa.exc.DBAPIError as exc:
        doc.update(status="unreachable", error=f"server {server.name}: {short_error(exc)}")
    except TenantopsError as exc:
        doc.update(status="unreachable", error=str(exc))
    finally:
        adapter.dispose()
    if doc["status"] in ("ok", "violation"):
        with ctx.session() as s:
            row = get_tenant_row(s, slug)
            row.compliance_status, row.compliance_checked_at = doc["status"], utcnow()
    return doc


def check_all(ctx: Context) -> list[dict[str, Any]]:
    with ctx.session() as s:
        slugs = list(s.scalars(sa.select(m.Tenant.slug).where(m.Tenant.status.in_(LIVE)).order_by(m.Tenant.slug)))
    return [check_tenant(ctx, slug) for slug in slugs]
