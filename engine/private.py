"""Private state: everything tenantops writes is readable by its own account only.

A process that opens a :class:`~tenantops.engine.context.Context` (the faces, workers)
runs with umask 077, so the landlord and its WAL, backups, quarantine and repair
exports, custom migration files, worker logs and a config it writes are created 0600
(folders 0700), and so is what its children (mariadb-dump) write. ``doctor`` reports
files and folders that are looser, with the chmod that fixes them.
"""
from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private() -> None:
    """Set this process's umask (inherited by the processes it starts)."""
    os.umask(UMASK)


def loose(roots: Iterable[Path]) -> Iterator[tuple[Path, int, bool]]:
    """Every path under ``roots`` (roots included) that group or others may use:
    (path, mode, is_dir). Symlinks are not followed."""
    seen: set[Path] = set()
    for root in roots:
        if root in seen or not root.exists():
            continue
        seen.add(root)
        yield from _walk(root)


def _walk(root: Path) -> Iterator[tuple[Path, int, bool]]:
    for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
        try:
            st = path.lstat()
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            yield path, mode, stat.S_ISDIR(st.st_mode)


def fix_command(path: Path, is_dir: bool) -> str:
    return f"chmod {'700' if is_dir else '600'} {shlex.quote(str(path))}"
