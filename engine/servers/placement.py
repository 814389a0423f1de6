"""Where a new tenant database goes: an explicit server, or the least-loaded one."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.errors import ConflictError, NotFoundError
from tenantops.engine.landlord import models as m


def tenant_counts(s: Session) -> dict[int, int]:
    rows = s.execute(sa.select(m.Tenant.server_id, sa.func.count())
                     .where(m.Tenant.archived_at.is_(None), m.Tenant.server_id.is_not(None))
                     .group_by(m.Tenant.server_id))
    return {sid: n for sid, n in rows if sid is not None}  # the query already leaves None out


def choose_server(s: Session, requested: str | None = None) -> m.Server:
    """The requested server (if it can take a tenant) or the least-loaded reachable one.

    The embedded ``local`` server is used only when no real server is registered, so that
    registering MariaDB servers moves new tenants there without further configuration.
    """
    counts = tenant_counts(s)
    if requested:
        server = s.scalar(sa.select(m.Server).where(m.Server.name == requested))
        if server is None:
            raise NotFoundError(f"server {requested!r} is not registered")
        if server.draining:
            raise ConflictError(f"server {requested} is draining and takes no new tenants")
        if counts.get(server.id, 0) >= server.capacity:
            raise ConflictError(f"server {requested} is full ({server.capacity} tenants)")
        return server
    servers = list(s.scalars(sa.select(m.Server).order_by(m.Server.name)))
    real = [sv for sv in servers if sv.dialect != "sqlite"]
    pool = real or servers
    candidates = [sv for sv in pool if not sv.draining and sv.reachable is not False
                  and counts.get(sv.id, 0) < sv.capacity]
    if not candidates:
        raise ConflictError("no server can take a new tenant (all draining, unreachable or full); "
                            "add one with `tenantops servers add`")
    return min(candidates, key=lambda sv: (counts.get(sv.id, 0) / sv.capacity, counts.get(sv.id, 0), sv.name))
