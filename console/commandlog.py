"""What the console did, for the command log panel (``L``): every engine call its
workers made and every SQL statement sent in this process, with timing.

SQL is captured by a SQLAlchemy event listener on ``Engine`` (every engine: the landlord
and the tenant databases the console reads); the engine itself knows nothing of it.
Engine calls are the console's worker dispatch (``Deliver.deliver``), named after the
engine function the call ends in. Parameters are never recorded (they may hold data),
and anything that looks like a password in a statement is masked.
"""
from __future__ import annotations

import dis
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

MAX_ENTRIES = 2000
_SECRET = re.compile(r"(IDENTIFIED\s+BY\s+|PASSWORD\s*\(?\s*)'(?:[^'\\]|\\.)*'", re.IGNORECASE)


@dataclass
class Entry:
    """One engine call (``kind == "call"``) or one SQL statement (``"sql"``)."""

    kind: str
    text: str
    at: datetime
    seconds: float | None = None
    error: str | None = None
    call: int | None = None     # the engine call a statement ran under
    id: int = 0
    statements: int = 0         # for a call: how many statements it sent


@dataclass(eq=False)
class CommandLog:
    entries: deque[Entry] = field(default_factory=lambda: deque(maxlen=MAX_ENTRIES))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0
    # bumped on every change: the panel repaints only when it moved
    version: int = 0

    def _add(self, entry: Entry) -> Entry:
        with self._lock:
            self._next += 1
            entry.id = self._next
            self.entries.append(entry)
            self.version += 1
        return entry

    @contextmanager
    def call(self, label: str) -> Iterator[Entry]:
        entry = self._add(Entry("call", label, datetime.now(timezone.utc)))
        previous = getattr(_current, "call", None)
        _current.call = (self, entry)
        start = time.perf_counter()
        try:
            yield entry
        except BaseException as exc:
            entry.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            raise
        finally:
            entry.seconds = time.perf_counter() - start
            _current.call = previous
            self.version += 1

    def statement(self, text: str, seconds: float, error: str | None = None) -> None:
        current = getattr(_current, "call", None)
        call = current[1] if current and current[0] is self else None
        if call is not None:
            call.statements += 1
        self._add(Entry("sql", text, datetime.now(timezone.utc), seconds, error, call.id if call else None))

    def snapshot(self) -> list[Entry]:
        with self._lock:
            return list(self.entries)


# the logs of running consoles (tests run several in one process); the listener below
# costs one attribute read per statement when none is open
_LOGS: weakref.WeakSet[CommandLog] = weakref.WeakSet()
_current = threading.local()
_installed = False


def clean_statement(statement: str) -> str:
    return _SECRET.sub(r"\1'***'", " ".join(str(statement).split()))[:400]


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if _LOGS:
        conn.info.setdefault("_tenantops_started", []).append(time.perf_counter())


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    started = conn.info.get("_tenantops_started")
    if not started:
        return
    seconds = time.perf_counter() - started.pop()
    text = clean_statement(statement)
    for log in list(_LOGS):
        log.statement(text, seconds)


def _error(context: Any) -> None:
    conn = getattr(context, "connection", None)
    started = conn.info.get("_tenantops_started") if conn is not None else None
    if not started:
        return
    seconds = time.perf_counter() - started.pop()
    text = clean_statement(str(getattr(context, "statement", "") or ""))
    error = type(context.original_exception).__name__
    for log in list(_LOGS):
        log.statement(text, seconds, error)


def open_log() -> CommandLog:
    """A new log that records from now on (until it is garbage)."""
    global _installed
    if not _installed:
        event.listen(sa.engine.Engine, "before_cursor_execute", _before)
        event.listen(sa.engine.Engine, "after_cursor_execute", _after)
        event.listen(sa.engine.Engine, "handle_error", _error)
        _installed = True
    log = CommandLog()
    _LOGS.add(log)
    return log


def close_log(log: CommandLog) -> None:
    _LOGS.discard(log)


_NAMES: dict[Any, str] = {}


def call_name(fn: Callable[[], Any], fallback: str) -> str:
    """The engine function a worker's callable ends in (``jobs.list_jobs``), read from
    its bytecode once per code object: the first ``module.function`` it calls that is not
    an attribute of ``self``; nested helper functions are looked into."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return getattr(fn, "__qualname__", fallback)
    if code not in _NAMES:
        _NAMES[code] = _scan(code) or (fallback if fn.__name__ == "<lambda>" else fn.__qualname__.split(".")[-1])
    return _NAMES[code]


_SKIP = {"self", "ctx", "list", "dict", "int", "str", "len", "sorted", "tuple", "set"}
_FILLER = {"PUSH_NULL", "CACHE", "PRECALL", "KW_NAMES", "RESUME", "COPY_FREE_VARS", "MAKE_CELL", "NOP"}


def _scan(code: Any, depth: int = 0) -> str | None:
    """``module.function`` (a name then one of its attributes) or a bare module-level
    function called with arguments, whichever comes first."""
    instructions = [ins for ins in dis.get_instructions(code) if ins.opname not in _FILLER]
    for ins, nxt in zip(instructions, instructions[1:]):
        if ins.opname not in ("LOAD_GLOBAL", "LOAD_DEREF", "LOAD_FAST", "LOAD_NAME"):
            continue
        name = str(ins.argval)
        if name in _SKIP:
            continue
        if nxt.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            return f"{name}.{nxt.argval}"
        if ins.opname == "LOAD_GLOBAL" and not name[:1].isupper():
            return name.lstrip("_")
    if depth < 2:
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                found = _scan(const, depth + 1)
                if found:
                    return found
    return None
