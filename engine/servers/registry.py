"""The registry of database servers where tenant databases live."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.documents import ServerDoc
from tenantops.engine import secrets
from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError, ServerError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.landlord.store import public_url
from tenantops.engine.names import check_server_name
from tenantops.engine.timestamps import iso


class ServerCheckDoc(ServerDoc):
    """``servers check``: the server document plus the probe's error (None when reachable)."""
    error: str | None


def _dialect_of(url: sa.URL) -> str:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend in ("mysql", "mariadb"):
        return "mariadb"
    raise ValidationError(f"server URL: unsupported database {backend!r} (use mysql+pymysql://user@host:port)")


def server_json(server: m.Server, tenants: int) -> ServerDoc:
    return {"name": server.name, "dialect": server.dialect, "url": server.url,
            "version": server.version, "capacity": server.capacity, "tenants": tenants,
            "reachable": server.reachable, "draining": server.draining,
            "checked_at": iso(server.checked_at),
            "load": {"threads_running": server.threads_running, "limit": server.max_threads_running,
                     "throttled": bool(server.max_threads_running is not None and server.threads_running is not None
                                       and server.threads_running > server.max_threads_running),
                     "checked_at": iso(server.load_checked_at)}}


def _tenant_counts(s: Session) -> dict[int | None, int]:
    rows = s.execute(sa.select(m.Tenant.server_id, sa.func.count())
                     .where(m.Tenant.archived_at.is_(None)).group_by(m.Tenant.server_id))
    return {sid: n for sid, n in rows}


def list_servers(ctx: Context) -> list[ServerDoc]:
    with ctx.session() as s:
        counts = _tenant_counts(s)
        return [server_json(sv, counts.get(sv.id, 0))
                for sv in s.scalars(sa.select(m.Server).order_by(m.Server.name))]


def get_server(ctx: Context, name: str) -> m.Server:
    with ctx.session() as s:
        server = s.scalar(sa.select(m.Server).where(m.Server.name == name))
    if server is None:
        raise NotFoundError(f"server {name!r} is not registered (see `tenantops servers list`)")
    return server


def adapter(ctx: Context, name: str) -> Adapter:
    return adapter_for(get_server(ctx, name))


@mutating("servers.add", "owner", target="name")
def add_server(ctx: Context, *, name: str, url: str, capacity: int = 100,
               password: str | None = None) -> ServerDoc:
    """Register a server; the password (from stdin) goes to the keyring only."""
    check_server_name(name)
    if capacity < 1:
        raise ValidationError(f"server {name}: capacity must be at least 1, got {capacity}")
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValidationError(f"server {name}: {url!r} is not a database URL") from None
    if parsed.password:
        raise ValidationError(f"server {name}: the URL must not contain a password; use --password-stdin")
    dialect = _dialect_of(parsed)
    with ctx.session() as s:
        if s.scalar(sa.select(m.Server).where(m.Server.name == name)):
            raise ConflictError(f"server {name!r} is already registered")
    probe = adapter_for(m.Server(name=name, url=public_url(parsed), dialect=dialect), password)
    try:
        version = probe.check()
    finally:
        probe.dispose()
    if password is not None:
        secrets.set_secret(secrets.server_key(name), password)
    with ctx.session() as s:
        server = m.Server(name=name, url=public_url(parsed), dialect=probe.dialect, capacity=capacity,
                          version=version, reachable=True, checked_at=utcnow())
        s.add(server)
        s.flush()
        return server_json(server, 0)


def check_server(ctx: Context, name: str) -> ServerCheckDoc:
    """Probe one server, record reachability and version; never raises for unreachable."""
    server = get_server(ctx, name)
    probe = adapter_for(server)
    error = None
    version: str | None
    try:
        version = probe.check()
        reachable = True
    except ServerError as exc:
        version, reachable, error = server.version, False, str(exc)
    finally:
        probe.dispose()
    with ctx.session() as s:
        row = s.get(m.Server, server.id)
        if row is None:  # removed while it was being probed
            raise NotFoundError(f"server {name!r} is not registered (see `tenantops servers list`)")
        row.reachable, row.version, row.checked_at = reachable, version, utcnow()
        doc = server_json(row, _tenant_counts(s).get(row.id, 0))
    return {**doc, "error": error}


@mutating("servers.remove", "owner", target="name")
def remove_server(ctx: Context, *, name: str) -> None:
    with ctx.session() as s:
        server = s.scalar(sa.select(m.Server).where(m.Server.name == name))
        if server is None:
            raise NotFoundError(f"server {name!r} is not registered")
        if name == "local":
            raise ConflictError("server 'local' is the embedded default and cannot be removed")
        count = _tenant_counts(s).get(server.id, 0)
        if count:
            raise ConflictError(f"server {name!r} still holds {count} tenant(s); move or archive them first")
        s.delete(server)
    secrets.delete_secret(secrets.server_key(name)) if server.dialect != "sqlite" else None


@mutating("servers.harden", "dba", target="name")
def harden_server(ctx: Context, *, name: str) -> dict[str, Any]:
    """Reduce every tenant user on the server that an older version left with more than
    data privileges (ALL PRIVILEGES on its database) to SELECT, INSERT, UPDATE, DELETE,
    EXECUTE on its own database. Idempotent: a second run changes nothing."""
    server = get_server(ctx, name)
    with ctx.session() as s:
        tenants = list(s.scalars(sa.select(m.Tenant).where(m.Tenant.server_id == server.id,
                                                           m.Tenant.db_user.is_not(None),
                                                           m.Tenant.database.is_not(None))
                                 .order_by(m.Tenant.slug)))
    probe = adapter_for(server)
    reduced = []
    try:
        for tenant in tenants:
            assert tenant.db_user is not None and tenant.database is not None  # filtered above
            excess = probe.excess_privileges(tenant.db_user, tenant.database)
            if excess:
                probe.reduce_privileges(tenant.db_user, tenant.database)
                reduced += [{"tenant": tenant.slug, "user": tenant.db_user, "host": host, "removed": privileges}
                            for host, privileges in sorted(excess.items())]
    finally:
        probe.dispose()
    return {"server": name, "reduced": reduced}


@mutating("servers.drain", "dba", target="name")
def set_draining(ctx: Context, *, name: str, draining: bool = True) -> None:
    with ctx.session() as s:
        server = s.scalar(sa.select(m.Server).where(m.Server.name == name))
        if server is None:
            raise NotFoundError(f"server {name!r} is not registered")
        server.draining = draining
