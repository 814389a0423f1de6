"""Compiled provisioning plans: the offline SQL of a unit set, replayed for new tenants.

Every new tenant with the same units runs the same statements, so Alembic's offline
rendering is compiled once per unit set (keyed by each revision file's checksum, so an
edited file recompiles), reviewed in the preview, and replayed raw through one
connection, with the version table written exactly as Alembic writes it. Alembic's
per-revision bookkeeping costs about three times the statements themselves
(shared/STACK-NOTES.md). Existing tenants keep going through Alembic itself.

On MySQL and MariaDB a plan builds each index of a table created in the same revision
inside its CREATE TABLE (``fold_indexes``): Alembic emits one CREATE INDEX per index, and
each is an online ALTER that rewrites the table's definition, which made half the server
time of a new tenant's schema (bench/README.md §1). The tables come out the same, to the
byte of ``mariadb-dump`` (tests/test_plans.py).

Compiled plans are also kept on disk (``cache_dir``), so a new process (the CLI that
provisions one tenant) replays them without importing Alembic at all: its import and the
offline rendering cost about ten times the tenant's DDL.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import mysql_driver, private
from tenantops.engine.catalog import Unit
from tenantops.engine.context import Context
from tenantops.engine.migrate.results import MigrationFailed, PlannedRevision, RevisionResult, revision_checksum
from tenantops.engine.switching import prompt_helpers

_CACHE: dict[tuple, list[PlannedRevision]] = {}
# bumped when the file layout below, or what a plan holds, changes
CACHE_FORMAT = 3


def _key(units: Sequence[Unit], dialect: str) -> tuple:
    return (dialect, tuple((u.slug, tuple((str(u.revision_path(r)), revision_checksum(u.revision_path(r)))
                                          for r in u.revisions)) for u in units))


def _renderers() -> tuple:
    """What else decides the rendered SQL: the SQLAlchemy and Alembic installed (found
    without importing Alembic: its package file changes with any reinstall)."""
    spec = importlib.util.find_spec("alembic")
    origin = Path(spec.origin) if spec and spec.origin else None
    stat = origin.stat() if origin else None
    return (CACHE_FORMAT, sa.__version__, str(origin), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


def compiled(units: Sequence[Unit], dialect: str, cache_dir: Path | None = None) -> list[PlannedRevision]:
    """The compiled plan of ``units``: from memory, else from ``cache_dir``, else rendered
    by Alembic (and stored in both)."""
    key = _key(units, dialect)
    if key in _CACHE:
        return _CACHE[key]
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256(repr((_renderers(), key)).encode()).hexdigest()
        path = Path(cache_dir) / f"{digest}.json"
        planned = _read(path)
        if planned is not None:
            _CACHE[key] = planned
            return planned
    from tenantops.engine.migrate.offline import render_sql  # imports Alembic: only on a miss

    planned = render_sql(list(units), dialect)
    if dialect in ("mysql", "mariadb"):
        planned = [p._replace(sql=tuple(fold_indexes(p.sql))) for p in planned]
    _CACHE[key] = planned
    if path is not None:
        _write(path, planned)
    return planned


# Alembic's rendering: "CREATE TABLE name (\n    ...\n)" with no table options after it,
# and "CREATE [UNIQUE] INDEX name ON table (key parts)" with nothing after the key parts
# (a prefix length or a function call nests one level; a quote or anything else is left
# alone, as are FULLTEXT and SPATIAL indexes)
_NAME = r"(`[^`]+`|\w+)"
_CREATE_TABLE = re.compile(rf"CREATE TABLE {_NAME} \(\n.*\n\)", re.S)
_CREATE_INDEX = re.compile(rf"CREATE (UNIQUE )?INDEX {_NAME} ON {_NAME} (\((?:[^()'\"]|\([^()'\"]*\))+\))")


def fold_indexes(statements: Sequence[str]) -> list[str]:
    """MySQL/MariaDB statements with each CREATE INDEX that directly follows its table's
    CREATE TABLE (or another such index) written into that CREATE TABLE instead.

    Only adjacent statements are joined, so nothing else of the revision runs between a
    table and its indexes either way; an index that would fail still fails, now as its
    CREATE TABLE."""
    folded: list[str] = []
    table = None  # the table of folded[-1], while it is a CREATE TABLE open to indexes
    for statement in statements:
        index = _CREATE_INDEX.fullmatch(statement)
        if index is not None and table is not None and index.group(3) == table:
            kind = "UNIQUE INDEX" if index.group(1) else "INDEX"
            folded[-1] = f"{folded[-1][:-2]}, \n    {kind} {index.group(2)} {index.group(4)}\n)"
            continue
        created = _CREATE_TABLE.fullmatch(statement)
        table = created.group(1) if created is not None else None
        folded.append(statement)
    return folded


def _read(path: Path) -> list[PlannedRevision] | None:
    """A stored plan, or None when absent, unreadable or not this account's own (then it
    is rendered again)."""
    text = private.read_own_text(path)
    if text is None:
        return None
    try:
        return [PlannedRevision(unit=r["unit"], kind=r["kind"], revision=r["revision"], path=Path(r["path"]),
                                checksum=r["checksum"], message=r["message"], sql=tuple(r["sql"]),
                                version_sql=tuple(r["version_sql"])) for r in json.loads(text)]
    except (ValueError, KeyError, TypeError):
        return None


def _write(path: Path, planned: Sequence[PlannedRevision]) -> None:
    rows = [{"unit": p.unit, "kind": p.kind, "revision": p.revision, "path": str(p.path), "checksum": p.checksum,
             "message": p.message, "sql": list(p.sql), "version_sql": list(p.version_sql)} for p in planned]
    private.write_atomically(path, json.dumps(rows))


def cache_dir(ctx: Context) -> Path:
    """Where compiled plans are kept (keyed by content, like every ``ctx.cache_dir``)."""
    return ctx.cache_dir / "plans"


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
    batched = mysql and multi_statements(connection)
    for p in planned:
        started = time.perf_counter()
        try:
            if batched:
                send_batched(connection, (*p.sql, *p.version_sql))
            else:
                with connection.begin():
                    for statement in (*p.sql, *p.version_sql):
                        connection.exec_driver_sql(statement.replace("%", "%%") if mysql else statement)
        except (sa.exc.DBAPIError, DriverError) as exc:
            error = _error(exc)
            result = RevisionResult(unit=p.unit, kind=p.kind, revision=p.revision, checksum=p.checksum,
                                    duration_s=time.perf_counter() - started, outcome="failed", error=error,
                                    statements=tuple(p.sql), path=p.path, ended_at=_now())
            if on_revision:
                on_revision(result)
            raise MigrationFailed(p.unit, p.revision, error) from None
        result = RevisionResult(unit=p.unit, kind=p.kind, revision=p.revision, checksum=p.checksum,
                                duration_s=time.perf_counter() - started, outcome="ok",
                                statements=tuple(p.sql), path=p.path, ended_at=_now())
        results.append(result)
        if on_revision:
            on_revision(result)
    return results


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as the landlord stores it


class _Stopped(Exception):
    """The caller of ``replay_ahead`` left early: no further revision is sent."""


@contextmanager
def replay_ahead(engine: sa.Engine, planned: Sequence[PlannedRevision], units: Sequence[str], *,
                 threaded: bool) -> Iterator[Callable[[str, Callable[[RevisionResult], None]], None]]:
    """Replay ``planned`` unit by unit (in the order of ``units``) on a connection of
    ``engine`` ahead of the caller: yields ``unit_done(unit, on_revision)``, to be called
    for each unit in that order, which hands over the unit's results as ``replay`` would
    (``on_revision`` per revision, MigrationFailed on the failing one) once they are in.

    Threaded (a server database), one thread sends every revision back to back while the
    caller records the ones already done (history rows, timeline): the server builds the
    schema on its own core meanwhile, where one after the other it waited for the
    caller's bookkeeping and the caller for the server's DDL. Leaving the block, early or
    failed, stops the thread after its current revision and waits for it, so a cleanup
    that drops the database never runs under it. Unthreaded (SQLite, in this process),
    each unit is replayed when asked, on one connection."""
    by_unit = {u: [p for p in planned if p.unit == u] for u in units}
    if not threaded:
        with engine.connect() as conn:

            def replay_unit(unit: str, on_revision: Callable[[RevisionResult], None]) -> None:
                replay(conn, by_unit[unit], on_revision=on_revision)

            yield replay_unit
        return
    results: queue.SimpleQueue[RevisionResult | BaseException] = queue.SimpleQueue()
    stop = threading.Event()

    def send(result: RevisionResult) -> None:
        results.put(result)
        if stop.is_set():
            raise _Stopped

    def run() -> None:
        try:
            with engine.connect() as conn:
                replay(conn, [p for u in units for p in by_unit[u]], on_revision=send)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the caller, raised where it waits
            results.put(exc)

    thread = threading.Thread(target=run, name="replay-ahead", daemon=True)

    def unit_done(unit: str, on_revision: Callable[[RevisionResult], None]) -> None:
        for _ in by_unit[unit]:
            got = results.get()
            if isinstance(got, BaseException):
                raise got
            on_revision(got)
            if got.outcome == "failed":  # replay raises right after handing it over
                failed = results.get()
                raise failed if isinstance(failed, BaseException) else MigrationFailed(unit, got.revision, "")

    # the thread needs the interpreter for a moment between two revisions, while this
    # one is busy: the server would idle for up to a switch interval each time
    with prompt_helpers():
        thread.start()
        try:
            yield unit_done
        finally:
            stop.set()
            thread.join()


class DriverError(Exception):
    """A driver error raised outside SQLAlchemy (a batched revision); ``orig`` as in DBAPIError."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__(str(orig))
        self.orig = orig


def multi_statements(connection: sa.Connection) -> bool:
    """Was this MySQL connection opened with CLIENT.MULTI_STATEMENTS (a tenant's are)?"""
    return bool(getattr(connection.connection.dbapi_connection, "client_flag", 0) & mysql_driver.MULTI_STATEMENTS)


def send_batched(connection: sa.Connection, statements: Sequence[str]) -> None:
    """A revision's statements in one query: one round trip instead of one per statement
    (with the driver's and SQLAlchemy's per-statement work, ~70 us each; a provisioning
    sends 54). The server parses them (a routine's body with its own ``;`` included: see
    tests/test_plans.py), runs them in order and stops at the first that fails, as the
    one-by-one loop does. The driver's cursor is used directly: SQLAlchemy would close it
    after the first result and drop the errors of the rest."""
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None  # a checked-out connection
    cursor = dbapi.cursor()
    try:
        cursor.execute(";\n".join(statements))  # no parameters: nothing is %-formatted
        while cursor.nextset():
            pass
    except connection.dialect.loaded_dbapi.Error as exc:
        if connection.dialect.is_disconnect(exc, dbapi, cursor):
            # as SQLAlchemy does for its own statements: a connection the server dropped
            # is discarded, not rolled back on its way to the pool (that failed again and
            # logged a traceback on stderr)
            connection.invalidate(exc)
        raise DriverError(exc) from None
    finally:
        cursor.close()


def _error(exc: sa.exc.DBAPIError | DriverError) -> str:
    args: Any = getattr(exc.orig, "args", ())
    return str(args[1] if len(args) > 1 else (args[0] if args else exc))
