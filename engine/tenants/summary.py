"""A tenant's health at a glance (the seeds' ``getStatus``): how big its database is, when
it was last backed up, snapshotted and checked for drift. Landlord facts always; database
facts when its server answers (an unreachable server is reported, not raised)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine.context import Context
from tenantops.engine.errors import TenantopsError
from tenantops.engine.landlord import models as m
from tenantops.engine.servers.adapters import Adapter, SqliteAdapter, adapter_for, short_error
from tenantops.engine.tenants.records import get_tenant_row
from tenantops.engine.timestamps import iso


def database_facts(adapter: Adapter, database: str) -> dict[str, Any]:
    """Size in bytes, base tables and rows. MariaDB/MySQL rows are the server's estimate
    (information_schema.TABLES, no table scan); SQLite counts them, which is cheap there."""
    if isinstance(adapter, SqliteAdapter):
        path = adapter.path(database)
        size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        with adapter.engine(database).connect() as conn:
            tables = [r[0] for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            rows = sum(conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{t}"').scalar_one() for t in tables)
        return {"size_bytes": size, "tables": len(tables), "rows": rows, "rows_estimated": False}
    with adapter.engine(database).connect() as conn:
        count, size, rows = conn.exec_driver_sql(
            "SELECT COUNT(*), COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0), COALESCE(SUM(TABLE_ROWS), 0) "
            "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'",
            (database,)).one()
    return {"size_bytes": int(size), "tables": int(count), "rows": int(rows), "rows_estimated": True}


def health(ctx: Context, slug: str) -> dict[str, Any]:
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        last_backup = s.scalar(sa.select(m.Backup).where(m.Backup.tenant_id == tenant.id)
                               .order_by(m.Backup.id.desc()).limit(1))
        pinned = s.scalar(sa.select(sa.func.count()).select_from(m.Backup)
                          .where(m.Backup.tenant_id == tenant.id, m.Backup.pinned)) or 0
        backups = s.scalar(sa.select(sa.func.count()).select_from(m.Backup)
                           .where(m.Backup.tenant_id == tenant.id)) or 0
        snap = s.execute(sa.select(m.Snapshot.id, m.Snapshot.created_at, m.Snapshot.source, m.Snapshot.hash)
                         .where(m.Snapshot.tenant_id == tenant.id).order_by(m.Snapshot.id.desc()).limit(1)).first()
        server = s.get(m.Server, tenant.server_id) if tenant.server_id is not None else None
        doc: dict[str, Any] = {
            # CLI.md: size_bytes, tables, rows_estimate, last_backup, pinned_backups,
            # last_snapshot, last_drift, compliance; plus backups, reachable and error
            "size_bytes": None, "tables": None, "rows_estimate": None,
            "last_backup": ({"id": last_backup.id, "at": iso(last_backup.created_at), "reason": last_backup.reason,
                             "size_bytes": last_backup.size_bytes} if last_backup else None),
            "pinned_backups": pinned, "backups": backups,
            "last_snapshot": ({"id": snap.id, "at": iso(snap.created_at), "source": snap.source,
                               "hash": snap.hash} if snap else None),
            "last_drift": ({"at": iso(tenant.last_drift_at), "severity": tenant.last_drift_severity}
                           if tenant.last_drift_at else None),
            "compliance": ({"status": tenant.compliance_status, "checked_at": iso(tenant.compliance_checked_at)}
                           if tenant.compliance_checked_at else None),
            "reachable": None, "error": None,
        }
        database, live = tenant.database, tenant.status in ("active", "suspended")
        if server is not None:
            s.expunge(server)
    if server is None or database is None or not live:
        return doc
    adapter = adapter_for(server)
    try:
        facts = database_facts(adapter, database)
        doc.update(size_bytes=facts["size_bytes"], tables=facts["tables"], rows_estimate=facts["rows"],
                   reachable=True)
    except (TenantopsError, sa.exc.DBAPIError) as exc:
        doc["reachable"] = False
        # a TenantopsError names its server already (e.g. "server db1 is unreachable: ...")
        doc["error"] = str(exc) if isinstance(exc, TenantopsError) else f"server {server.name}: {short_error(exc)}"
    finally:
        adapter.dispose()
    return doc
