"""A job's timeline: named steps written to the landlord as they happen, so any viewer
(the console, `jobs show`, a CLI following its job) sees progress live."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tenantops.engine.context import Context
from tenantops.engine.documents import StepDoc
from tenantops.engine.errors import TenantopsError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.timestamps import iso


def event_json(e: m.JobEvent) -> StepDoc:
    return {"id": e.id, "name": e.name, "status": e.status, "started_at": iso(e.started_at),
            "finished_at": iso(e.finished_at), "duration_s": e.duration_s, "detail": e.detail, "error": e.error}


# Built once: a statement made anew per call is traversed for its cache key every time
_INSERT = sa.insert(m.JobEvent)
_UPDATE = sa.update(m.JobEvent).where(m.JobEvent.id == sa.bindparam("event_id"))
_INSERTS: dict[tuple[sa.Table, bool], sa.Insert] = {}  # per table of the rows a step writes with its end


def _values(row: Any) -> tuple[Any, sa.Table, dict[str, Any]]:
    state = sa.inspect(row)
    values = {prop.columns[0].key: state.dict[prop.key] for prop in state.mapper.column_attrs if prop.key in state.dict}
    return state.mapper, state.mapper.local_table, values


def _statement(table: sa.Table, many: bool) -> sa.Insert:
    if (table, many) not in _INSERTS:
        stmt = sa.insert(table)
        _INSERTS[table, many] = stmt.returning(*table.primary_key.columns, sort_by_parameter_order=True) if many else stmt
    return _INSERTS[table, many]


def _set_key(mapper: Any, row: Any, key: Any) -> None:
    for column, value in zip(mapper.primary_key, key or ()):
        setattr(row, mapper.get_property_by_column(column).key, value)


def _insert(conn: sa.Connection, rows: list[Any]) -> None:
    """Insert new ORM rows with Core statements and give each its primary key.

    A unit-of-work flush costs several times these few rows in a process that flushes
    once (the CLI running one job); the values are the attributes each row was given, so
    the columns it leaves out take their defaults as a flush would give them. Rows of one
    table with the same columns go in one statement where the dialect returns their keys
    in order (SQLite, MariaDB; SQLAlchemy's "insertmanyvalues"), one by one elsewhere."""
    groups: dict[tuple[sa.Table, frozenset[str]], list[tuple[Any, Any, dict[str, Any]]]] = {}
    for row in rows:
        mapper, table, values = _values(row)
        groups.setdefault((table, frozenset(values)), []).append((row, mapper, values))
    batched = conn.dialect.insert_executemany_returning_sort_by_parameter_order
    for (table, _), group in groups.items():
        if len(group) > 1 and batched:
            keys = conn.execute(_statement(table, True), [values for _, _, values in group]).all()
            for (row, mapper, _), key in zip(group, keys):
                _set_key(mapper, row, key)
            continue
        for row, mapper, values in group:
            _set_key(mapper, row, conn.execute(_statement(table, False), values).inserted_primary_key)


class Timeline:
    """Writes a job's step events as they happen, so any viewer can follow live."""

    def __init__(self, ctx: Context, job_id: int, on_event: Callable[[StepDoc], None] | None = None) -> None:
        """``on_event`` is shown each event as it is written: the process running the job
        follows it without reading the landlord back (others follow with ``queue.follow``)."""
        self.ctx, self.job_id = ctx, job_id
        self._started: dict[int, tuple[str, datetime, str | None]] = {}
        self.on_event = on_event
        # A step that ended well and wrote no rows is recorded with the next event's write,
        # one transaction instead of two (a provisioning has ten such steps). Steps run
        # back to back, so viewers see it end at once; ``flush`` writes what is left when
        # the job ends. A process killed between two steps leaves that step "running" in
        # its attempt's timeline; nothing else is deferred (failures, history rows).
        self._deferred: dict[str, Any] | None = None

    def _write_deferred(self, conn: sa.Connection) -> None:
        if self._deferred is not None:
            conn.execute(_UPDATE, self._deferred)
            self._deferred = None

    def flush(self) -> None:
        """Write the end of a step still held back (see ``__init__``)."""
        if self._deferred is not None:
            with self.ctx.engine.begin() as conn:
                self._write_deferred(conn)

    # Core statements, not ORM sessions: a provisioning writes some forty of these, and
    # the landlord's share of the migration phase is what bench_provision measures.
    def start(self, name: str, detail: str | None = None) -> int:
        started = utcnow()
        with self.ctx.engine.begin() as conn:
            self._write_deferred(conn)
            result = conn.execute(_INSERT, {"job_id": self.job_id, "name": name, "status": "running",
                                            "started_at": started, "detail": detail})
            key = result.inserted_primary_key
            assert key is not None  # a single-row INSERT always reports its primary key
            event_id = key[0]
        self._started[event_id] = (name, started, detail)
        self._show({"id": event_id, "name": name, "status": "running", "started_at": iso(started),
                    "finished_at": None, "duration_s": None, "detail": detail, "error": None})
        return event_id

    def _show(self, event: StepDoc) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001 - a closed terminal must not fail the job: stop showing
            self.on_event = None

    def end(self, event_id: int, status: str, *, detail: str | None = None, error: str | None = None,
            rows: list[Any] | None = None) -> None:
        """Close an event; ``rows`` (history, module rows ...) commit in the same transaction."""
        finished = utcnow()
        name, started, shown = self._started.pop(event_id, (None, None, None))
        values: dict[str, Any] = {"status": status, "finished_at": finished, "error": error}
        if started is not None:
            values["duration_s"] = round((finished - started).total_seconds(), 4)
        if detail is not None or started is not None:
            # the detail given at the start is written again when none is given now: one
            # form of the statement, compiled once per process, for every end
            values["detail"] = shown if detail is None else detail
        if status == "succeeded" and not rows and self._deferred is None:
            self._deferred = {"event_id": event_id, **values}
        else:
            with self.ctx.engine.begin() as conn:
                self._write_deferred(conn)
                _insert(conn, rows or [])
                conn.execute(_UPDATE, {"event_id": event_id, **values})
        if name is not None:
            self._show({"id": event_id, "name": name, "status": status, "started_at": iso(started),
                        "finished_at": iso(finished), "duration_s": values.get("duration_s"),
                        "detail": shown if detail is None else detail, "error": error})
            for row in rows or ():
                if isinstance(row, m.JobEvent):
                    self._show(event_json(row))

    @contextmanager
    def step(self, name: str, detail: str | None = None) -> Iterator[dict[str, Any]]:
        """Run a block as a named step. The block may set ``info['detail']`` and append
        landlord rows to ``info['rows']``, written with the step's end in one transaction."""
        event_id = self.start(name, detail)
        _failpoint(name)
        info: dict[str, Any] = {"detail": detail, "rows": []}
        try:
            yield info
        except Exception as exc:
            self.end(event_id, "failed", detail=info.get("detail"), error=format_error(exc), rows=info["rows"])
            raise
        self.end(event_id, "succeeded", detail=info.get("detail"), rows=info["rows"])


def _failpoint(step: str) -> None:
    """Fault-injection for tests: TENANTOPS_FAILPOINT="pause:<step>" parks the worker
    inside that step (so a test can SIGKILL it there); off unless the variable is set."""
    point = os.environ.get("TENANTOPS_FAILPOINT", "")
    if point and point == f"pause:{step}":
        time.sleep(float(os.environ.get("TENANTOPS_FAILPOINT_SECONDS", "60")))



def format_error(exc: BaseException) -> str:
    """One line for the timeline: never the SQL parameters, which may hold tenant data."""
    if isinstance(exc, TenantopsError):
        return str(exc)
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        args: tuple[Any, ...] = getattr(exc.orig, "args", ())
        text = str(args[1] if len(args) > 1 else (args[0] if args else exc.orig))
        return f"{type(exc.orig).__name__}: {text}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first.split('[SQL:')[0].strip()}"

