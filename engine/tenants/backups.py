"""Backups of tenant databases, taken before any change to an existing tenant's schema.

MariaDB/MySQL: ``mariadb-dump``/``mysqldump`` (single transaction, routines, triggers),
password passed through a private defaults file, never argv. SQLite: the backup API.
Each backup is recorded in the landlord with size and sha256, and is restorable.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import secrets as secrets_mod
import shutil
import sqlite3
import subprocess
import tempfile
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
from tenantops.engine.errors import NotFoundError, ServerError, StateError, TenantopsError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.tenants import reconcile
from tenantops.engine.tenants.records import tenant_database, tenant_server
from tenantops.engine.tenants.snapshots import take_snapshot
from tenantops.engine.timestamps import iso

MIN_FREE_BYTES = 16 * 1024 * 1024


def backup_dir(ctx: Context) -> Path:
    return Path(ctx.settings.backup_dir) if ctx.settings.backup_dir else ctx.home / "backups"


def backup_json(b: m.Backup, tenant: str) -> BackupDoc:
    return {"id": b.id, "tenant": tenant, "reason": b.reason, "created_at": iso(b.created_at),
            "size_bytes": b.size_bytes, "checksum": b.checksum, "path": b.path, "created_by": b.created_by,
            "pinned": bool(b.pinned)}


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


_SKIP_ON_LOAD = (b"CREATE DATABASE ", b"USE `")


def dump(adapter: Adapter, database: str, target: Path) -> None:
    """Write the backup straight to ``target`` (SQLite: backup API; MariaDB/MySQL: the dump
    tool's output streamed through gzip, never held in memory)."""
    if isinstance(adapter, SqliteAdapter):
        _sqlite_copy(adapter.path(database), target)
        return
    assert isinstance(adapter, MysqlAdapter)
    tool = _dump_tool("mariadb-dump", "mysqldump")
    try:
        with _options_pipe(adapter) as (option, fd), gzip.open(target, "wb") as out, \
                tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([tool, option, "--single-transaction", "--routines", "--triggers",
                                     "--skip-lock-tables", "--hex-blob", database],
                                    stdout=subprocess.PIPE, stderr=err, pass_fds=(fd,))
            assert proc.stdout is not None
            try:
                shutil.copyfileobj(proc.stdout, out, 1 << 20)
            finally:
                proc.stdout.close()
                code = proc.wait()
            if code != 0:
                err.seek(0)
                raise ServerError(f"backup of {database} failed: "
                                  f"{err.read(4096).decode(errors='replace').strip()[:300]}")
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _load(adapter: MysqlAdapter, database: str, path: Path) -> None:
    """Stream a gzip dump into ``database`` line by line (statements that would switch to
    or create another database are left out, so any dump loads where it is told to)."""
    tool = _dump_tool("mariadb", "mysql")
    with _options_pipe(adapter) as (option, fd), gzip.open(path, "rb") as fh, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([tool, option, database], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=err, pass_fds=(fd,))
        assert proc.stdin is not None
        try:
            for line in fh:
                if line.startswith(_SKIP_ON_LOAD):
                    continue
                proc.stdin.write(line)
        except BrokenPipeError:
            pass  # the client stopped early: its exit status and stderr say why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            code = proc.wait()
        if code != 0:
            err.seek(0)
            raise ServerError(f"restore of {database} failed: "
                              f"{err.read(4096).decode(errors='replace').strip()[:300]}")


def _objects(adapter: MysqlAdapter, database: str) -> tuple[list[str], list[str], list[str]]:
    """(base tables, views, triggers) of a database."""
    raw: list[Any] = adapter._exec(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
    rows = [(str(r[0]), str(r[1])) for r in raw]
    tables = sorted(name for name, kind in rows if kind != "VIEW")
    views = sorted(name for name, kind in rows if kind == "VIEW")
    triggers = sorted(r[0] for r in adapter._exec(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s", (database,)))
    return tables, views, triggers


def _column(adapter: MysqlAdapter, sql: str, index: int) -> str:
    row: list[Any] = list(adapter._exec(sql)[0])
    return str(row[index])


SWAP_LOCK_WAIT_SECONDS = 60


def _swap(adapter: MysqlAdapter, database: str, statement: str) -> None:
    """The one atomic swap; a session holding the tenant's tables makes it wait, but not
    for the server's default of a year."""
    try:
        with adapter.admin().connect() as conn:
            conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {SWAP_LOCK_WAIT_SECONDS}")
            conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        orig = exc.orig.args if exc.orig is not None and getattr(exc.orig, "args", None) else (str(exc),)
        raise ServerError(f"swapping the restored tables into {database} failed ({orig[-1]}); "
                          f"the database was not changed") from None


def _restore_mysql(adapter: MysqlAdapter, database: str, path: Path) -> str | None:
    """Load into a staging database, then swap every table in with one atomic
    ``RENAME TABLE``; the replaced tables move to a pre-restore database that is kept.
    A failed load leaves the tenant's database untouched. Returns the pre-restore
    database's name (None when there was nothing to keep)."""
    tag = secrets_mod.token_hex(4)
    staging, aside = f"tenantops_rs_{tag}", f"tenantops_pre_{tag}"
    q = adapter._q
    adapter.create_database(staging)
    try:
        _load(adapter, staging, path)
        new_tables, new_views, new_triggers = _objects(adapter, staging)
        # views and triggers cannot move between databases: they are re-created after the swap
        recreate = [_column(adapter, f"SHOW CREATE TRIGGER {q(staging)}.{q(t)}", 2) for t in new_triggers]
        view_sql = [_column(adapter, f"SHOW CREATE VIEW {q(staging)}.{q(v)}", 1) for v in new_views]
        for t in new_triggers:
            adapter._exec(f"DROP TRIGGER {q(staging)}.{q(t)}")
        for v in new_views:
            adapter._exec(f"DROP VIEW {q(staging)}.{q(v)}")
        exists = adapter.database_exists(database)
        renames: list[str] = []
        kept = None
        if exists:
            old_tables, old_views, old_triggers = _objects(adapter, database)
            for t in old_triggers:
                adapter._exec(f"DROP TRIGGER {q(database)}.{q(t)}")
            for v in old_views:
                adapter._exec(f"DROP VIEW {q(database)}.{q(v)}")
            if old_tables:
                adapter.create_database(aside)
                kept = aside
                renames += [f"{q(database)}.{q(t)} TO {q(aside)}.{q(t)}" for t in old_tables]
        else:
            adapter.create_database(database)
        renames += [f"{q(staging)}.{q(t)} TO {q(database)}.{q(t)}" for t in new_tables]
        if renames:
            try:
                _swap(adapter, database, "RENAME TABLE " + ", ".join(renames))
            except ServerError:
                if kept is not None and not _objects(adapter, kept)[0]:
                    adapter.drop_database(kept)   # nothing moved: no empty leftover
                raise
        with adapter.admin().connect() as conn:
            conn.exec_driver_sql(f"USE {q(database)}")
            for statement in view_sql + recreate:
                conn.exec_driver_sql(statement)
            conn.commit()
    finally:
        adapter.drop_database(staging)
    return kept


def _restore_sqlite(adapter: SqliteAdapter, database: str, path: Path) -> None:
    """Copy the backup into a new file beside the database, then ``os.replace`` it in:
    the database is the old one or the new one, never missing or half-written."""
    target = adapter.path(database)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.restoring")
    staging.unlink(missing_ok=True)
    try:
        _sqlite_copy(path, staging)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


def restore_file(adapter: Adapter, database: str, path: Path) -> str | None:
    """Replace ``database`` with the backup at ``path``; returns the name of the database
    holding the replaced tables (MariaDB/MySQL), if any."""
    adapter.dispose()
    if isinstance(adapter, SqliteAdapter):
        _restore_sqlite(adapter, database, path)
        return None
    assert isinstance(adapter, MysqlAdapter)
    return _restore_mysql(adapter, database, path)


def take_backup(ctx: Context, slug: str, reason: str, *, pinned: bool = False) -> BackupDoc:
    """Back up a tenant database now (engine-internal: callers are already authorised).
    ``pinned``: taken before a destructive change; retention never removes it."""
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
                     checksum=_sha256(target), created_by=ctx.operator, pinned=pinned)
        s.add(b)
        s.flush()
        doc = backup_json(b, slug)
    _apply_retention(ctx, tenant_id)
    return doc


def _apply_retention(ctx: Context, tenant_id: int) -> None:
    """Keep the newest ``backup_retention`` unpinned backups; pinned ones are never
    counted and never removed."""
    keep = ctx.settings.backup_retention
    with ctx.session() as s:
        old = list(s.scalars(sa.select(m.Backup).where(m.Backup.tenant_id == tenant_id, sa.not_(m.Backup.pinned))
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


def _backup_row(s: Any, slug: str, backup_id: int) -> tuple[m.Tenant, m.Backup]:
    tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
    b = s.get(m.Backup, backup_id)
    if tenant is None or b is None or b.tenant_id != tenant.id:
        raise NotFoundError(f"backup {backup_id} of tenant {slug!r} does not exist "
                            f"(see `tenantops backups list {slug}`)")
    return tenant, b


@mutating("backups.unpin", "dba", target="slug")
def unpin_backup(ctx: Context, *, slug: str, backup_id: int, confirm: str | None = None) -> BackupDoc:
    """Release a pinned backup: from now on retention counts it (and may remove it)."""
    with ctx.session() as s:
        _, b = _backup_row(s, slug, backup_id)
        if not b.pinned:
            raise StateError(f"backup {backup_id} of {slug} is not pinned")
        doc = backup_json(b, slug)
    require_confirmation(Preview("backups.unpin", slug, dict(doc), destructive=True), confirm,
                         f"unpinning backup {backup_id} lets retention delete it")
    with ctx.session() as s:
        _, b = _backup_row(s, slug, backup_id)
        b.pinned = False
        return backup_json(b, slug)


def _verified(ctx: Context, slug: str, backup_id: int) -> tuple[m.Tenant, m.Server, BackupDoc]:
    with ctx.session() as s:
        tenant, b = _backup_row(s, slug, backup_id)
        if tenant.database is None:
            raise StateError(f"tenant {slug} has no database to restore into")
        server = tenant_server(s, tenant)
        doc = backup_json(b, slug)
    path = Path(doc["path"])
    if not path.exists():
        raise NotFoundError(f"backup file {path} is missing")
    if _sha256(path) != doc["checksum"]:
        raise ValidationError(f"backup file {path} does not match its recorded checksum; refusing to restore")
    return tenant, server, doc


def restore_into(ctx: Context, slug: str, backup_id: int) -> tuple[BackupDoc, str | None]:
    """Restore without the role check; returns the backup and the database keeping the
    replaced tables (MariaDB/MySQL), if any."""
    tenant, server, doc = _verified(ctx, slug, backup_id)
    adapter = adapter_for(server)
    try:
        kept = restore_file(adapter, tenant_database(tenant), Path(doc["path"]))
    finally:
        adapter.dispose()
    return doc, kept


def restore_backup_now(ctx: Context, slug: str, backup_id: int) -> BackupDoc:
    """Restore without the role check (used by the engine after a failed change)."""
    return restore_into(ctx, slug, backup_id)[0]


def preview_restore(ctx: Context, *, slug: str, backup_id: int) -> Preview:
    """The backup that would replace the tenant's database, checked before anything runs:
    a mistyped id, a damaged file or revisions the catalog no longer knows are refused
    here and change nothing (no backup is taken or deleted)."""
    tenant, _, doc = _verified(ctx, slug, backup_id)
    state = reconcile.state_from_heads(ctx, tenant, reconcile.file_heads(Path(doc["path"])),
                                       what=f"backup {backup_id}")
    return Preview("restore", slug, {**doc, "modules": state.modules, "revisions": len(state.applied)},
                   destructive=True)


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
    tenant, server, _ = _verified(ctx, slug, backup_id)
    adapter = adapter_for(server)
    try:
        exists = adapter.database_exists(tenant_database(tenant))
    finally:
        adapter.dispose()
    before = None
    with tl.step("backup") as info:
        if exists:
            # the current state is kept too, pinned: a restore is itself a destructive change
            before = take_backup(ctx, slug, reason=f"before restoring backup {backup_id}", pinned=True)
            info["detail"] = f"backup {before['id']} of the current state (pinned)"
        else:
            info["detail"] = f"database {tenant_database(tenant)} is missing: nothing to back up"
    with tl.step(f"restore backup {backup_id}") as info:
        doc, kept = restore_into(ctx, slug, backup_id)
        info["detail"] = f"{doc['size_bytes']} bytes from {doc['created_at']}" + (
            f"; the replaced tables are kept in database {kept}" if kept else "")
    with tl.step("reconcile landlord") as info:
        adapter = adapter_for(server)
        try:
            heads = reconcile.database_heads(adapter, tenant_database(tenant))
        finally:
            adapter.dispose()
        state = reconcile.state_from_heads(ctx, tenant, heads, what=f"the restored database of {slug}")
        summary = reconcile.reconcile(ctx, tenant.id, state, why=f"restore of backup {backup_id}")
        info["detail"] = (f"modules {', '.join(summary['modules']) or '(none)'}"
                          + (f"; added {', '.join(summary['modules_added'])}" if summary["modules_added"] else "")
                          + (f"; removed {', '.join(summary['modules_removed'])}" if summary["modules_removed"] else "")
                          + (f"; history batch {summary['batch']}" if summary["batch"] else "; history agrees"))
    with tl.step("snapshot") as info:
        snap = take_snapshot(ctx, slug, source="after-restore")
        info["detail"] = f"schema {snap['hash'][:12]}"
    return {**doc, "before": before["id"] if before else None, "kept_as": kept, "reconciled": summary}


KINDS = (JobKind("restore", "dba", run_restore, destructive=True),)
