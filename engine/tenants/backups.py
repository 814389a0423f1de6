"""Backups of tenant databases, taken before any change to an existing tenant's schema.

MariaDB/MySQL: ``mariadb-dump``/``mysqldump`` (single transaction, routines, triggers),
password passed through a private defaults file, never argv. SQLite: the backup API.
Each backup is recorded in the landlord with size and sha256, and is restorable.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine.documents import BackupDoc
from tenantops.engine.servers.adapters import Adapter, MysqlAdapter, SqliteAdapter, adapter_for
from tenantops.engine.context import Context, mutating
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.errors import NotFoundError, ServerError, TenantopsError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.tenants.records import tenant_database, tenant_server

MIN_FREE_BYTES = 16 * 1024 * 1024


def backup_dir(ctx: Context) -> Path:
    return Path(ctx.settings.backup_dir) if ctx.settings.backup_dir else ctx.home / "backups"


def backup_json(b: m.Backup, tenant: str) -> BackupDoc:
    return {"id": b.id, "tenant": tenant, "reason": b.reason, "created_at": b.created_at.isoformat(),
            "size_bytes": b.size_bytes, "checksum": b.checksum, "path": b.path, "created_by": b.created_by}


def preflight(ctx: Context, expected_bytes: int = 0) -> Path:
    """Refuse before anything starts when the backup directory can't take a backup."""
    directory = backup_dir(ctx)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TenantopsError(f"backup directory {directory} cannot be created: {exc.strerror}; "
                             "nothing was changed") from None
    if not os.access(directory, os.W_OK):
        raise TenantopsError(f"backup directory {directory} is not writable; nothing was changed")
    free = shutil.disk_usage(directory).free
    if free < max(MIN_FREE_BYTES, expected_bytes * 2):
        raise TenantopsError(f"backup directory {directory} has only {free // 1024} KiB free; nothing was changed")
    return directory


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _client_options(adapter: MysqlAdapter) -> bytes:
    url = sa.make_url(adapter.url)
    password = (adapter.password or "").replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))
    text = f"[client]\nuser={url.username}\npassword=\"{password}\"\nhost={url.host or '127.0.0.1'}\nport={url.port or 3306}\n"
    if url.host in ("127.0.0.1", "localhost", "::1"):
        text += "skip-ssl\n" if shutil.which("mariadb-dump") else "ssl-mode=DISABLED\n"
    return text.encode()


@contextmanager
def _options_pipe(adapter: MysqlAdapter) -> Iterator[tuple[str, int]]:
    """The client options (with the password) through an inherited pipe, read by the
    tool as ``--defaults-extra-file=/dev/fd/N``: never in argv, ps or a file, so a
    killed worker leaves nothing behind. Yields (option, fd to pass)."""
    options = _client_options(adapter)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, options)  # a few hundred bytes: far below the pipe's buffer
        os.close(write_end)
        write_end = -1
        yield f"--defaults-extra-file=/dev/fd/{read_end}", read_end
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def _dump_tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise ServerError(f"{names[0]} is not installed on this machine (needed for backups)")


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's online backup API (safe while others write)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


def dump(adapter: Adapter, database: str, target: Path) -> None:
    if isinstance(adapter, SqliteAdapter):
        _sqlite_copy(adapter.path(database), target)
        return
    assert isinstance(adapter, MysqlAdapter)
    tool = _dump_tool("mariadb-dump", "mysqldump")
    with _options_pipe(adapter) as (option, fd), gzip.open(target, "wb") as out:
        proc = subprocess.run([tool, option, "--single-transaction", "--routines", "--triggers",
                               "--skip-lock-tables", "--hex-blob", "--databases", database],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(fd,))
        if proc.returncode != 0:
            raise ServerError(f"backup of {database} failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
        out.write(proc.stdout)


def restore_file(adapter: Adapter, database: str, path: Path) -> None:
    if isinstance(adapter, SqliteAdapter):
        adapter.dispose()
        _sqlite_copy(path, adapter.path(database))
        return
    assert isinstance(adapter, MysqlAdapter)
    tool = _dump_tool("mariadb", "mysql")
    adapter.dispose()
    adapter.drop_database(database)
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    with _options_pipe(adapter) as (option, fd):
        proc = subprocess.run([tool, option], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              pass_fds=(fd,))
    if proc.returncode != 0:
        raise ServerError(f"restore of {database} failed: {proc.stderr.decode(errors='replace').strip()[:300]}")


def take_backup(ctx: Context, slug: str, reason: str) -> BackupDoc:
    """Back up a tenant database now (engine-internal: callers are already authorised)."""
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None or tenant.database is None:
            raise NotFoundError(f"tenant {slug!r} has no database to back up")
        server = tenant_server(s, tenant)
        tenant_id, database = tenant.id, tenant.database
    directory = preflight(ctx)
    adapter = adapter_for(server)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    suffix = ".sqlite" if adapter.dialect == "sqlite" else ".sql.gz"
    target = directory / slug / f"{stamp}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        dump(adapter, database, target)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise TenantopsError(f"backup of {slug} failed: {exc.strerror or exc}; nothing was changed") from None
    finally:
        adapter.dispose()
    with ctx.session() as s:
        b = m.Backup(tenant_id=tenant_id, reason=reason, path=str(target), size_bytes=target.stat().st_size,
                     checksum=_sha256(target), created_by=ctx.operator)
        s.add(b)
        s.flush()
        doc = backup_json(b, slug)
    _apply_retention(ctx, tenant_id)
    return doc


def _apply_retention(ctx: Context, tenant_id: int) -> None:
    keep = ctx.settings.backup_retention
    with ctx.session() as s:
        old = list(s.scalars(sa.select(m.Backup).where(m.Backup.tenant_id == tenant_id)
                             .order_by(m.Backup.id.desc()).offset(keep)))
        for b in old:
            Path(b.path).unlink(missing_ok=True)
            s.delete(b)


def list_backups(ctx: Context, slug: str) -> list[BackupDoc]:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        return [backup_json(b, slug) for b in s.scalars(sa.select(m.Backup).where(m.Backup.tenant_id == tenant.id)
                                                        .order_by(m.Backup.id.desc()))]


def restore_backup_now(ctx: Context, slug: str, backup_id: int) -> BackupDoc:
    """Restore without the role check (used by the engine after a failed change)."""
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        b = s.get(m.Backup, backup_id)
        if tenant is None or b is None or b.tenant_id != tenant.id:
            raise NotFoundError(f"backup {backup_id} of tenant {slug!r} does not exist")
        server = tenant_server(s, tenant)
        path, checksum, database = Path(b.path), b.checksum, tenant_database(tenant)
        doc = backup_json(b, slug)
    if not path.exists():
        raise NotFoundError(f"backup file {path} is missing")
    if _sha256(path) != checksum:
        raise ValidationError(f"backup file {path} does not match its recorded checksum; refusing to restore")
    adapter = adapter_for(server)
    try:
        restore_file(adapter, database, path)
    finally:
        adapter.dispose()
    return doc


def preview_restore(ctx: Context, *, slug: str, backup_id: int) -> Preview:
    """The backup that would replace the tenant's database, checked before anything runs:
    a mistyped id or a damaged file is refused here and changes nothing."""
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        b = s.get(m.Backup, backup_id)
        if tenant is None or b is None or b.tenant_id != tenant.id:
            raise NotFoundError(f"backup {backup_id} of tenant {slug!r} does not exist "
                                f"(see `tenantops backups list {slug}`)")
        doc = backup_json(b, slug)
    path = Path(doc["path"])
    if not path.exists():
        raise NotFoundError(f"backup file {path} is missing")
    if _sha256(path) != doc["checksum"]:
        raise ValidationError(f"backup file {path} does not match its recorded checksum; refusing to restore")
    return Preview("restore", slug, dict(doc), destructive=True)


@mutating("backups.restore", "dba", target="slug")
def request_restore(ctx: Context, *, slug: str, backup_id: int, confirm: str | None = None) -> Queued:
    preview = preview_restore(ctx, slug=slug, backup_id=backup_id)
    require_confirmation(preview, confirm, f"restoring a backup replaces the database of {slug}")
    preflight(ctx)
    job = jobs.enqueue(ctx, "restore", slug, {"backup": backup_id}, lock_operation="restore")
    return Queued("restore", slug, job, preview)


def run_restore(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    slug, backup_id = job.tenant, job.params["backup"]
    assert slug is not None
    with tl.step("backup") as info:
        # the current state is kept too: a restore is itself a change
        before = take_backup(ctx, slug, reason=f"before restoring backup {backup_id}")
        info["detail"] = f"backup {before['id']} of the current state"
    with tl.step(f"restore backup {backup_id}") as info:
        doc = restore_backup_now(ctx, slug, backup_id)
        info["detail"] = f"{doc['size_bytes']} bytes from {doc['created_at']}"
    return dict(doc)


KINDS = (JobKind("restore", "dba", run_restore, destructive=True),)
