"""Backups of tenant databases, taken before any change to an existing tenant's schema.

MariaDB/MySQL: ``mariadb-dump``/``mysqldump`` (single transaction, routines, triggers),
password passed through a private defaults file, never argv. SQLite: the backup API.
Each backup is recorded in the landlord with size and sha256, and is restorable.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import secrets as secrets_mod
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
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
# gzip's default (9) made the Python side the bottleneck of a dump (bench_backup: 11 MiB/s);
# 6 is zlib's own default: nearly the same size, much less CPU
COMPRESSLEVEL = 6


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
        with _options_pipe(adapter) as (option, fd), gzip.open(target, "wb", compresslevel=COMPRESSLEVEL) as out, \
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


# A step of a restore: ``step(name)`` is a context manager (the job's timeline step, or
# nothing when the restore runs inside another step); each one is a point a crash may hit.
Step = Callable[[str], AbstractContextManager[dict[str, Any]]]


def _no_step(name: str) -> AbstractContextManager[dict[str, Any]]:
    return nullcontext({})


_CREATE_TABLE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)`")


def _load(adapter: MysqlAdapter, database: str, path: Path) -> set[str]:
    """Stream a gzip dump into ``database`` line by line (statements that would switch to
    or create another database are left out, so any dump loads where it is told to).
    Returns the tables the dump creates, for the check before the swap."""
    tool = _dump_tool("mariadb", "mysql")
    created: set[str] = set()
    with _options_pipe(adapter) as (option, fd), gzip.open(path, "rb") as fh, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([tool, option, database], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=err, pass_fds=(fd,))
        assert proc.stdin is not None
        try:
            for line in fh:
                if line.startswith(_SKIP_ON_LOAD):
                    continue
                if line.startswith(b"CREATE TABLE `"):
                    match = _CREATE_TABLE.match(line)
                    if match:
                        created.add(match.group(1).replace(b"``", b"`").decode())
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
                              f"{err.read(4096).decode(errors='replace').strip()[:300]}; the database was not changed")
    return created


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
STAGING_PREFIX, KEPT_PREFIX = "tenantops_rs_", "tenantops_pre_"
KEPT_COMMENT = "tenantops: tables of "   # + "<database> replaced by a restore at <time>"


def staging_name(database: str) -> str:
    """One staging name per tenant database: a restore that was killed leaves its staging
    copy under the name the next restore of the same database drops first."""
    return STAGING_PREFIX + hashlib.sha256(database.encode()).hexdigest()[:16]


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


def _restore_mysql(adapter: MysqlAdapter, database: str, path: Path, step: Step) -> str | None:
    """Load into a staging database, check it, then swap every table in with one atomic
    ``RENAME TABLE``; the replaced tables move to a pre-restore database that is kept.
    A failed load or check leaves the tenant's database untouched. Returns the
    pre-restore database's name (None when there was nothing to keep)."""
    staging = staging_name(database)
    q = adapter._q
    try:
        with step("stage") as info:
            adapter.drop_database(staging)   # a killed restore's leftover: only ever a copy
            adapter.create_database(staging)
            created = _load(adapter, staging, path)
            info["detail"] = f"{len(created)} table(s) loaded into {staging}"
        with step("check") as info:
            new_tables, new_views, new_triggers = _objects(adapter, staging)
            missing = sorted(created - set(new_tables))
            if missing or not new_tables:
                raise ServerError(f"the backup loaded incompletely into {staging} (missing "
                                  f"{', '.join(missing) or 'every table'}); the database was not changed")
            info["detail"] = f"{len(new_tables)} table(s), {len(new_views)} view(s), {len(new_triggers)} trigger(s)"
        with step("swap") as info:
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
                if old_tables:
                    aside = KEPT_PREFIX + secrets_mod.token_hex(4)
                    stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
                    adapter._exec(f"CREATE DATABASE {q(aside)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci "
                                  f"COMMENT %s", (f"{KEPT_COMMENT}{database} replaced by a restore at {stamp}",))
                    kept = aside
                    renames += [f"{q(database)}.{q(t)} TO {q(aside)}.{q(t)}" for t in old_tables]
                for t in old_triggers:
                    adapter._exec(f"DROP TRIGGER {q(database)}.{q(t)}")
                for v in old_views:
                    adapter._exec(f"DROP VIEW {q(database)}.{q(v)}")
            else:
                adapter.create_database(database)
            renames += [f"{q(staging)}.{q(t)} TO {q(database)}.{q(t)}" for t in new_tables]
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
            info["detail"] = f"{len(new_tables)} table(s) swapped in" + (
                f"; the replaced tables are kept in database {kept}" if kept else "")
    finally:
        try:
            adapter.drop_database(staging)
        except Exception:  # noqa: BLE001 - a dead server: the next restore drops it first
            pass
    return kept


def _sqlite_tables(path: Path) -> dict[str, int]:
    """Every table of a SQLite file with its row count (the check before the swap)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
                for n in names}
    finally:
        conn.close()


def _restore_sqlite(adapter: SqliteAdapter, database: str, path: Path, step: Step) -> None:
    """Copy the backup into a new file beside the database, check it, then ``os.replace``
    it in: the database is the old one or the new one, never missing or half-written."""
    target = adapter.path(database)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.restoring")
    try:
        with step("stage") as info:
            staging.unlink(missing_ok=True)   # a killed restore's leftover
            _sqlite_copy(path, staging)
            info["detail"] = f"copied into {staging.name}"
        with step("check") as info:
            expected, loaded = _sqlite_tables(path), _sqlite_tables(staging)
            if expected != loaded:
                raise ServerError(f"the backup copied incompletely into {staging.name}; the database was not changed")
            info["detail"] = f"{len(loaded)} table(s), {sum(loaded.values())} row(s) as in the backup"
        with step("swap") as info:
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            os.replace(staging, target)
            info["detail"] = f"{target.name} replaced atomically"
    finally:
        staging.unlink(missing_ok=True)


def restore_file(adapter: Adapter, database: str, path: Path, step: Step = _no_step) -> str | None:
    """Replace ``database`` with the backup at ``path``; returns the name of the database
    holding the replaced tables (MariaDB/MySQL), if any. ``step`` names the stage, check
    and swap phases (timeline steps of the restore job)."""
    adapter.dispose()
    if isinstance(adapter, SqliteAdapter):
        _restore_sqlite(adapter, database, path, step)
        return None
    assert isinstance(adapter, MysqlAdapter)
    return _restore_mysql(adapter, database, path, step)


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
    verify_file(Path(doc["path"]), doc["checksum"])
    return tenant, server, doc


def verify_file(path: Path, checksum: str) -> None:
    """Refuse a backup file that is missing or no longer what was written."""
    if not path.exists():
        raise NotFoundError(f"backup file {path} is missing")
    if _sha256(path) != checksum:
        raise ValidationError(f"backup file {path} does not match its recorded checksum; refusing to restore")


def restore_into(ctx: Context, slug: str, backup_id: int, step: Step = _no_step) -> tuple[BackupDoc, str | None]:
    """Restore without the role check; returns the backup and the database keeping the
    replaced tables (MariaDB/MySQL), if any."""
    tenant, server, doc = _verified(ctx, slug, backup_id)
    adapter = adapter_for(server)
    try:
        kept = restore_file(adapter, tenant_database(tenant), Path(doc["path"]), step)
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
    """verify → backup → stage → check → swap → reconcile landlord → snapshot. A crash
    in any step leaves the old or the new complete database; the job re-run from the
    start (a worker reclaiming it, or `backups restore` again) finishes the restore."""
    slug, backup_id = job.tenant, job.params["backup"]
    assert slug is not None
    with tl.step("verify") as info:
        tenant, server, doc = _verified(ctx, slug, backup_id)
        reconcile.state_from_heads(ctx, tenant, reconcile.file_heads(Path(doc["path"])), what=f"backup {backup_id}")
        info["detail"] = f"backup {backup_id}: {doc['size_bytes']} bytes, sha256 {doc['checksum'][:12]} matches"
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
    doc, kept = restore_into(ctx, slug, backup_id, tl.step)
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


# -- kept pre-restore databases (MariaDB/MySQL) --------------------------------------------

_KEPT_COMMENT = re.compile(re.escape(KEPT_COMMENT) + r"(\S+) replaced by a restore at (\S+)$")


def _kept_on(adapter: MysqlAdapter) -> list[tuple[str, str | None, str | None, int, int]]:
    """(name, database it was taken from, when, tables, bytes) of each kept database."""
    rows: list[Any] = adapter._exec(
        "SELECT s.SCHEMA_NAME, s.SCHEMA_COMMENT, COUNT(t.TABLE_NAME), "
        "COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) FROM information_schema.SCHEMATA s "
        "LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME "
        "WHERE s.SCHEMA_NAME LIKE %s GROUP BY s.SCHEMA_NAME, s.SCHEMA_COMMENT ORDER BY s.SCHEMA_NAME",
        (KEPT_PREFIX.replace("_", "\\_") + "%",))
    kept = []
    for name, comment, tables, size in rows:
        match = _KEPT_COMMENT.match(str(comment or ""))
        kept.append((str(name), match.group(1) if match else None, match.group(2) if match else None,
                     int(tables), int(size)))
    return kept


def list_kept(ctx: Context, slug: str | None = None) -> list[dict[str, Any]]:
    """The pre-restore databases a restore kept (the tables it replaced), per server; with
    ``slug`` only that tenant's. SQLite restores keep none (the pinned backup of the
    state before the restore is the copy)."""
    with ctx.session() as s:
        if slug is not None:
            tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
            if tenant is None:
                raise NotFoundError(f"tenant {slug!r} does not exist")
            server_ids = {tenant.server_id} if tenant.server_id is not None else set()
        else:
            server_ids = None
        owners: dict[tuple[int | None, str | None], str] = {(t.server_id, t.database): t.slug for t in s.scalars(sa.select(m.Tenant))
                  if t.database is not None}
        targets = [srv for srv in s.scalars(sa.select(m.Server).order_by(m.Server.name))
                   if srv.dialect != "sqlite" and (server_ids is None or srv.id in server_ids)]
        servers = [(srv.id, srv.name, srv) for srv in targets]
    docs: list[dict[str, Any]] = []
    for server_id, server_name, server in servers:
        adapter = adapter_for(server)
        try:
            assert isinstance(adapter, MysqlAdapter)
            kept = _kept_on(adapter)
        finally:
            adapter.dispose()
        for name, database, taken, tables, size in kept:
            owner = owners.get((server_id, database))
            if slug is not None and owner != slug:
                continue
            docs.append({"name": name, "server": server_name, "tenant": owner, "database": database,
                         "kept_at": taken, "tables": tables, "size_bytes": size})
    return docs


@mutating("backups.drop-kept", "dba", target="slug")
def drop_kept(ctx: Context, *, slug: str, name: str, confirm: str | None = None) -> dict[str, Any]:
    """Drop one kept pre-restore database of a tenant. It holds only a copy (the state
    before the restore is also in a pinned backup); anything else is refused untouched."""
    if not name.startswith(KEPT_PREFIX):
        raise ValidationError(f"{name!r} is not a kept pre-restore database (their names start with "
                              f"{KEPT_PREFIX}); nothing was dropped")
    found = [d for d in list_kept(ctx, slug) if d["name"] == name]
    if not found:
        raise NotFoundError(f"no kept database {name} of tenant {slug} (see `tenantops backups kept {slug}`); "
                            "nothing was dropped")
    doc = found[0]
    require_confirmation(Preview("backups.drop-kept", slug, doc, destructive=True), confirm,
                         f"dropping {name} deletes the {doc['tables']} table(s) a restore of {slug} replaced")
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        assert tenant is not None
        server = tenant_server(s, tenant)
    adapter = adapter_for(server)
    try:
        adapter.drop_database(name)
    finally:
        adapter.dispose()
    return {**doc, "dropped": True}


KINDS = (JobKind("restore", "dba", run_restore, destructive=True),)
