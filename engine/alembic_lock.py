"""One process-wide lock around Alembic.

Alembic's ``op`` and ``context`` are module-level proxies bound to whichever migration is
running, so two threads of one process migrating (or rendering offline SQL) at once
write into each other's databases (STACK-NOTES: 49 of 50 tenants corrupted). Worker
processes never share one, but the console runs previews in thread workers: every
public engine function that drives Alembic holds this lock, so no caller has to.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

# re-entrant: a locked entry point may call another (render_sql inside a preview ...)
ALEMBIC_LOCK = threading.RLock()

P = ParamSpec("P")
R = TypeVar("R")


def serialised(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        with ALEMBIC_LOCK:
            return fn(*args, **kwargs)
    return inner
