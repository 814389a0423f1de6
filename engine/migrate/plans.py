"""Compiled provisioning plans: the offline SQL of a unit set, replayed for new tenants.

Every new tenant with the same units runs the same statements, so Alembic's offline
rendering is compiled once per unit set (keyed by each revision file's checksum, so an
edited file recompiles), reviewed in the preview, and replayed raw through one
connection, with the version table written exactly as Alembic writes it. Alembic's
per-revision bookkeeping costs about three times the statements themselves
(shared/STACK-NOTES.md). Existing tenants keep going through Alembic itself.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from tenantops.engine.catalog import Unit
from tenantops.engine.migrate.driver import MigrationFailed, PlannedRevision, RevisionResult, revision_checksum
from tenantops.engine.migrate.offline import render_sql

_CACHE: dict[tuple, list[PlannedRevision]] = {}


def _key(units: Sequence[Unit], dialect: str) -> tuple:
    return (dialect, tuple((u.slug, tuple(revision_checksum(u.revision_path(r)) for r in u.revisions))
                           for u in units))


def compiled(units: Sequence[Unit], dialect: str) -> list[PlannedRevision]:
    key = _key(units, dialect)
    if key not in _CACHE:
        _CACHE[key] = render_sql(list(units), dialect)
    return _CACHE[key]


def replay(connection: sa.Connection, planned: Sequence[PlannedRevision],
           on_revision: Callable[[RevisionResult], None] | None = None) -> list[RevisionResult]:
    """Run compiled revisions on a fresh database, one transaction per revision."""
    results = []
    if connection.in_transaction():  # a read before us autobegan one
        connection.commit()
    mysql = connection.dialect.name in ("mysql", "mariadb")
    if mysql and connection.get_isolation_level() != "AUTOCOMMIT":
        # MySQL DDL commits implicitly anyway: skip the BEGIN/COMMIT round trips
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    for p in planned:
        started = time.perf_counter()
        try:
            with connection.begin():
                for statement in (*p.sql, *p.version_sql):
                    connection.exec_driver_sql(statement.replace("%", "%%") if mysql else statement)
        except sa.exc.DBAPIError as exc:
            error = _error(exc)
            result = RevisionResult(unit=p.unit, kind=p.kind, revision=p.revision, checksum=p.checksum,
                                    duration_s=time.perf_counter() - started, outcome="failed", error=error,
                                    statements=tuple(p.sql), path=p.path)
            if on_revision:
                on_revision(result)
            raise MigrationFailed(p.unit, p.revision, error) from None
        result = RevisionResult(unit=p.unit, kind=p.kind, revision=p.revision, checksum=p.checksum,
                                duration_s=time.perf_counter() - started, outcome="ok",
                                statements=tuple(p.sql), path=p.path)
        results.append(result)
        if on_revision:
            on_revision(result)
    return results


def _error(exc: sa.exc.DBAPIError) -> str:
    args: Any = getattr(exc.orig, "args", ())
    return str(args[1] if len(args) > 1 else (args[0] if args else exc))
