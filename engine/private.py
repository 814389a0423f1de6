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


def read_own_text(path: Path) -> str | None:
    """The text of a file only this account could have written (owned by it, writable by
    nobody else), else None. Caches may live in a shared TENANTOPS_CACHE_DIR and one of
    them holds SQL that runs with a server's admin account: a file planted there by
    another account is treated as absent. Checked on the open file, not its name."""
    data = read_own_bytes(path)
    try:
        return data.decode("utf-8") if data is not None else None
    except UnicodeDecodeError:
        return None


def read_own_bytes(path: Path) -> bytes | None:
    """``read_own_text`` for bytes."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return None
            return fh.read()
    except OSError:
        return None


def write_atomically(path: Path, data: str | bytes) -> bool:
    """Write a whole file or nothing (a reader never sees half of it), private to this
    account. False when it could not be written: for a cache that only means slower."""
    import tempfile

    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            os.replace(scratch, path)
        except BaseException:
            os.unlink(scratch)
            raise
    except OSError:
        return False
    return True
