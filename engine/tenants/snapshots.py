"""Schema snapshots of tenants, stored in the landlord with hash, counts and source."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa

from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import NotFoundError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.schema.canonical import schema_hash
from tenantops.engine.schema.capture import capture
from tenantops.engine.tenants.records import tenant_database, tenant_server
from tenantops.engine.timestamps import iso

SOURCES = ("provision", "manual", "after-repair", "after-migration", "after-restore", "after-move", "scheduled")
# Pinned: the provisioning baseline (what every later drift question goes back to) and
# the snapshots someone took by hand on purpose. Retention prunes only the others.
PINNED_SOURCES = ("provision", "manual")
TENANTS = cast(sa.Table, m.Tenant.__table__)
SNAPSHOTS = cast(sa.Table, m.Snapshot.__table__)


def tenant_adapter(ctx: Context, slug: str) -> tuple[m.Tenant, Adapter]:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        if tenant.server_id is None or tenant.database is None:
            raise ValidationError(f"tenant {slug} has no database yet (status {tenant.status})")
        server = tenant_server(s, tenant)
    return tenant, adapter_for(server)


def _capture_on(conn: sa.Connection, adapter: Adapter, database: str) -> dict[str, Any]:
    return capture(conn, None if adapter.dialect == "sqlite" else database)


def capture_tenant(adapter: Adapter, database: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The tenant's canonical schema, and its row counts (information only, never drift)."""
    with adapter.engine(database).connect() as conn:
        schema = _capture_on(conn, adapter, database)
        return schema, row_counts(conn, list(schema["tables"]))


def _read_definitions(adapter: Adapter, database: str) -> dict[str, Any]:
    with adapter.definitions_engine(database).connect() as conn:
        return _capture_on(conn, adapter, database)


def capture_schema(adapter: Adapter, database: str) -> dict[str, Any]:
    """The tenant's canonical schema alone, on a connection of its own."""
    with adapter.engine(database).connect() as conn:
        return _capture_on(conn, adapter, database)


@contextmanager
def schema_read_ahead(adapter: Adapter, database: str) -> Iterator[Callable[[], dict[str, Any]]]:
    """Read a finished schema on another thread while the caller only adds rows (seeds,
    users): yields the function that returns it. A server answers information_schema on
    its own core, and those reads were a quarter of a provisioning. SQLite is read when
    asked, in-process: nothing to overlap, and a reader would hold up the writer's commit."""
    if adapter.dialect == "sqlite":
        yield lambda: capture_schema(adapter, database)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schema-read")
    reading = pool.submit(_read_definitions, adapter, database)
    try:
        yield reading.result
    finally:
        # on a failed step too: the caller's cleanup may drop the database, never under a read
        pool.shutdown(wait=True)


def row_counts(conn: sa.Connection, tables: list[str]) -> dict[str, int]:
    """Exact row counts of many tables in one round trip (UNION ALL)."""
    if not tables:
        return {}
    prep = conn.dialect.identifier_preparer
    parts = [f"SELECT {i} AS n, COUNT(*) AS c FROM {prep.quote(t)}" for i, t in enumerate(tables)]
    return {tables[n]: c for n, c in conn.execute(sa.text(" UNION ALL ".join(parts)))}


def counts(schema: dict[str, Any]) -> dict[str, int]:
    tables = schema.get("tables", {})
    return {"tables": len(tables),
            "columns": sum(len(t.get("columns", {})) for t in tables.values()),
            "indexes": sum(len(t.get("indexes", {})) for t in tables.values())}


def snapshot_json(snap: m.Snapshot, *, with_schema: bool = False) -> dict[str, Any]:
    doc = {"id": snap.id, "hash": snap.hash, "source": snap.source, "tables": snap.tables,
           "columns": snap.columns, "indexes": snap.indexes, "created_at": iso(snap.created_at),
           "created_by": snap.created_by, "pinned": snap.source in PINNED_SOURCES}
    if with_schema:
        doc["schema"], doc["rows"] = snap.schema, snap.rows
    return doc


def store_snapshot(ctx: Context, tenant_id: int, schema: dict[str, Any], rows: dict[str, int] | None,
                   source: str, slug: str | None = None) -> dict[str, Any]:
    """Store a captured schema as the tenant's latest snapshot; ``slug``, when the caller
    knows it, saves looking it up for the returned document."""
    if source not in SOURCES:
        raise ValidationError(f"snapshot source {source!r} is unknown")
    digest = schema_hash(schema)
    created, sizes = utcnow(), counts(schema)
    values = {"tenant_id": tenant_id, "hash": digest, "source": source, "schema": schema, "rows": rows,
              "created_by": ctx.operator, "created_at": created, **sizes}
    with ctx.session() as s:
        # Core statements: a provisioning stores one snapshot per process, and an ORM flush
        # (and a tenant loaded to set one column) cost more than the writes themselves
        conn = s.connection()
        key = conn.execute(SNAPSHOTS.insert().values(**values)).inserted_primary_key
        assert key is not None  # a single-row INSERT always reports its primary key
        conn.execute(TENANTS.update().where(TENANTS.c.id == tenant_id).values(schema_hash=digest))
        if slug is None:
            slug = conn.execute(sa.select(TENANTS.c.slug).where(TENANTS.c.id == tenant_id)).scalar_one()
        doc = {"id": key[0], "hash": digest, "source": source, "tables": sizes["tables"],
               "columns": sizes["columns"], "indexes": sizes["indexes"], "created_at": iso(created),
               "created_by": ctx.operator, "pinned": source in PINNED_SOURCES}
        if source not in PINNED_SOURCES:  # a pinned one leaves the prunable ones as they were
            keep = ctx.settings.snapshot_retention
            old = list(s.scalars(sa.select(m.Snapshot.id).where(m.Snapshot.tenant_id == tenant_id,
                                                                m.Snapshot.source.not_in(PINNED_SOURCES))
                                 .order_by(m.Snapshot.id.desc()).offset(keep)))
            if old:
                s.execute(sa.delete(m.Snapshot).where(m.Snapshot.id.in_(old)))
    return {**doc, "tenant": slug}


def take_snapshot(ctx: Context, slug: str, *, source: str = "manual") -> dict[str, Any]:
    tenant, adapter = tenant_adapter(ctx, slug)
    try:
        schema, rows = capture_tenant(adapter, tenant_database(tenant))
    finally:
        adapter.dispose()
    return store_snapshot(ctx, tenant.id, schema, rows, source, tenant.slug)


@mutating("snapshot", "admin", target="slug")
def snapshot(ctx: Context, *, slug: str) -> dict[str, Any]:
    """A manual snapshot (reads the tenant, writes the landlord: audited)."""
    return take_snapshot(ctx, slug, source="manual")


def list_snapshots(ctx: Context, slug: str) -> list[dict[str, Any]]:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        return [snapshot_json(x) for x in s.scalars(sa.select(m.Snapshot).where(m.Snapshot.tenant_id == tenant.id)
                                                    .order_by(m.Snapshot.id.desc()))]


def get_snapshot(ctx: Context, slug: str, snapshot_id: int) -> dict[str, Any]:
    with ctx.session() as s:
        snap = s.get(m.Snapshot, snapshot_id)
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if snap is None or tenant is None or snap.tenant_id != tenant.id:
            raise NotFoundError(f"snapshot {snapshot_id} of tenant {slug!r} does not exist")
        return snapshot_json(snap, with_schema=True)
