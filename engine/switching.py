"""How soon a thread that waited on a server gets the interpreter back from a busy one.

A provisioning's schema is sent by a helper thread (migrate/plans.py, replay_ahead) that
spends its time waiting on the server and needs the interpreter only for a moment between
two revisions; meanwhile the job's own thread is busy with Python work. With the interpreter's
default switch interval (5 ms) each of those moments waited up to 5 ms for the busy thread
to let go, so the server sat idle between the helper's queries: the layers took ~51 ms
where they take ~40 with it (bench/README.md §1). A shorter interval only costs switches
when a thread is actually waiting for the interpreter.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELPER_INTERVAL_S = 0.0002
_lock = threading.Lock()
_holders = 0
_default = sys.getswitchinterval()


@contextmanager
def prompt_helpers() -> Iterator[None]:
    """A short switch interval for the block (nested or in several threads at once: the
    interpreter's own is restored when the last block ends)."""
    global _holders, _default
    with _lock:
        if _holders == 0:
            _default = sys.getswitchinterval()
            sys.setswitchinterval(min(_default, HELPER_INTERVAL_S))
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                sys.setswitchinterval(_default)
