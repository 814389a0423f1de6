"""Load-aware throttle: a server whose ``Threads_running`` exceeds its configured limit
(`servers limit NAME --threads-running N`) gets no new tenant job until it drops.

Workers sample a server at most every ``SAMPLE_SECONDS`` and share the sample through the
landlord, so a fleet of workers claiming jobs adds one status query per server per
interval, not one per claim.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import NotFoundError, TenantopsError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.servers.adapters import MysqlAdapter, adapter_for

SAMPLE_SECONDS = 5.0


def sample(server: m.Server) -> int | None:
    """The server's ``Threads_running`` now (None: SQLite, or unreachable)."""
    adapter = adapter_for(server)
    try:
        if not isinstance(adapter, MysqlAdapter):
            return None
        rows = adapter._exec("SHOW GLOBAL STATUS LIKE 'Threads_running'")
        return int(rows[0]._mapping["Value"]) if rows else None
    except TenantopsError:
        return None
    finally:
        adapter.dispose()


def throttled(ctx: Context) -> set[int]:
    """Servers over their load limit now (sampling those whose sample is stale)."""
    now = utcnow()
    stale_before = now - timedelta(seconds=SAMPLE_SECONDS)
    with ctx.session() as s:
        limited = list(s.scalars(sa.select(m.Server).where(m.Server.max_threads_running.is_not(None))))
    over: set[int] = set()
    for server in limited:
        if server.load_checked_at is None or server.load_checked_at < stale_before:
            value = sample(server)
            with ctx.session() as s:
                s.execute(sa.update(m.Server).where(m.Server.id == server.id)
                          .values(threads_running=value, load_checked_at=now))
            server.threads_running = value
        if is_over(server):
            over.add(server.id)
    return over


def is_over(server: m.Server) -> bool:
    return (server.max_threads_running is not None and server.threads_running is not None
            and server.threads_running > server.max_threads_running)


@mutating("servers.limit", "dba", target="name")
def set_load_limit(ctx: Context, *, name: str, threads_running: int | None) -> m.Server:
    """Set (or with None remove) the server's Threads_running limit; samples it now."""
    if threads_running is not None and threads_running < 0:
        raise ValidationError(f"server {name}: --threads-running must be 0 or more, got {threads_running}")
    with ctx.session() as s:
        server = _server(s, name)
        server.max_threads_running = threads_running
    value = sample(server)
    with ctx.session() as s:
        server = _server(s, name)
        server.threads_running, server.load_checked_at = value, utcnow()
        return server


def _server(s: Session, name: str) -> m.Server:
    server = s.scalar(sa.select(m.Server).where(m.Server.name == name))
    if server is None:
        raise NotFoundError(f"server {name!r} is not registered (see `tenantops servers list`)")
    return server
