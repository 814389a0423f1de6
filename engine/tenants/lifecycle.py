"""A tenant's life after provisioning: suspend/resume (the application's account locked,
the data untouched) and archive/unarchive (a pinned final backup, then the database and
its account dropped; the slug stays reserved and the backup brings it back).

Each is a guarded change like the others: ``preview_x`` changes nothing, ``request_x`` is
role-checked, audited and queues a job under the tenant's lock, ``run_x`` runs in a worker
with a timeline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import names, secrets
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import NotFoundError, StateError, TenantopsError, ValidationError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.servers.adapters import adapter_for
from tenantops.engine.servers.placement import choose_server
from tenantops.engine.tenants import backups
from tenantops.engine.tenants.records import get_tenant_row, tenant_database
from tenantops.engine.tenants.snapshots import take_snapshot

ARCHIVE_REASON = "archive"
MAX_REASON = 255


def tenant_in(ctx: Context, slug: str, *allowed: str, doing: str) -> tuple[m.Tenant, m.Server | None]:
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        if tenant.status not in allowed:
            raise StateError(f"tenant {slug} is {tenant.status}; {doing} needs a tenant that is "
                             f"{' or '.join(allowed)}")
        server = s.get(m.Server, tenant.server_id) if tenant.server_id is not None else None
        s.expunge(tenant)
        if server is not None:
            s.expunge(server)
        return tenant, server


def suspension_reason(ctx: Context, slug: str) -> str | None:
    """Why a suspended tenant is suspended: the reason given to its latest suspend job."""
    with ctx.session() as s:
        params = s.scalar(sa.select(m.Job.params).where(m.Job.kind == "suspend", m.Job.tenant == slug,
                                                        m.Job.status == "succeeded")
                          .order_by(m.Job.id.desc()).limit(1))
    return (params or {}).get("reason")


# -- suspend / resume ---------------------------------------------------------------------

def preview_suspend(ctx: Context, *, slug: str, reason: str) -> Preview:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("suspend needs a reason (--reason TEXT): it is shown wherever the tenant is")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"the reason is {len(reason)} characters; at most {MAX_REASON}")
    tenant, server = tenant_in(ctx, slug, "active", doing="suspend")
    return Preview("suspend", slug, {"tenant": slug, "from": "active", "to": "suspended", "reason": reason,
                                     "server": server.name if server else None, "user": tenant.db_user})


@mutating("tenants.suspend", "admin", target="slug")
def request_suspend(ctx: Context, *, slug: str, reason: str) -> Queued:
    preview = preview_suspend(ctx, slug=slug, reason=reason)
    job = jobs.enqueue(ctx, "suspend", slug, {"reason": preview.document["reason"]}, lock_operation="suspend")
    return Queued("suspend", slug, job, preview)


def _switch_account(ctx: Context, job: m.Job, tl: Timeline, *, lock: bool) -> dict[str, Any]:
    """Suspend (lock) or resume (unlock): the account first, then the status, so a crash
    in between leaves a tenant that the next run of the same job finishes."""
    slug = job.tenant
    assert slug is not None
    tenant, server = tenant_in(ctx, slug, "active", "suspended", doing="suspend" if lock else "resume")
    assert server is not None
    with tl.step(f"{'lock' if lock else 'unlock'} the application account") as info:
        adapter = adapter_for(server)
        try:
            (adapter.lock_user if lock else adapter.unlock_user)(tenant.db_user, tenant_database(tenant))
        finally:
            adapter.dispose()
        if tenant.db_user:
            info["detail"] = f"user {tenant.db_user} " + ("locked and its sessions ended" if lock else "unlocked")
        else:
            info["detail"] = f"the embedded server's application access is {'refused' if lock else 'allowed'}"
    status = "suspended" if lock else "active"
    with tl.step(f"status {status}") as info:
        with ctx.session() as s:
            get_tenant_row(s, slug).status = status
        info["detail"] = job.params.get("reason", "")
    return {"tenant": slug, "status": status, **({"reason": job.params.get("reason")} if lock else {})}


def run_suspend(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    return _switch_account(ctx, job, tl, lock=True)


def preview_resume(ctx: Context, *, slug: str) -> Preview:
    tenant, server = tenant_in(ctx, slug, "suspended", doing="resume")
    return Preview("resume", slug, {"tenant": slug, "from": "suspended", "to": "active",
                                    "server": server.name if server else None, "user": tenant.db_user,
                                    "reason": suspension_reason(ctx, slug)})


@mutating("tenants.resume", "admin", target="slug")
def request_resume(ctx: Context, *, slug: str) -> Queued:
    preview = preview_resume(ctx, slug=slug)
    job = jobs.enqueue(ctx, "resume", slug, {}, lock_operation="resume")
    return Queued("resume", slug, job, preview)


def run_resume(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    return _switch_account(ctx, job, tl, lock=False)


# -- archive / unarchive ------------------------------------------------------------------

def preview_archive(ctx: Context, *, slug: str) -> Preview:
    tenant, server = tenant_in(ctx, slug, "active", "suspended", doing="archive")
    assert server is not None
    return Preview("archive", slug, {
        "tenant": slug, "server": server.name, "database": tenant.database, "user": tenant.db_user,
        "backup": "a pinned final backup is taken and verified first",
        "drops": [f"database {tenant.database}"] + ([f"user {tenant.db_user}"] if tenant.db_user else []),
        "restore": f"tenantops tenants unarchive {slug}"}, destructive=True)


@mutating("tenants.archive", "dba", target="slug")
def request_archive(ctx: Context, *, slug: str, confirm: str | None = None) -> Queued:
    preview = preview_archive(ctx, slug=slug)
    require_confirmation(preview, confirm, f"archiving drops the database of {slug} (a pinned backup keeps it)")
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "archive", slug, {}, lock_operation="archive")
    return Queued("archive", slug, job, preview)


def run_archive(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    slug = job.tenant
    assert slug is not None
    tenant, server = tenant_in(ctx, slug, "active", "suspended", doing="archive")
    assert server is not None
    database = tenant_database(tenant)
    with tl.step("final backup") as info:
        backup = backups.take_backup(ctx, slug, ARCHIVE_REASON, pinned=True)
        info["detail"] = f"backup {backup['id']}: {backup['size_bytes']} bytes (pinned)"
    with tl.step("verify backup") as info:
        # the drop below is the point of no return: only a backup that reads back counts
        backups.verify_file(Path(backup["path"]), backup["checksum"])
        info["detail"] = f"sha256 {backup['checksum'][:12]} matches"
    with tl.step("drop database and account") as info:
        adapter = adapter_for(server)
        try:
            adapter.unlock_user(tenant.db_user, database)   # no marker left behind on SQLite
            adapter.drop_database(database)
            if tenant.db_user:
                adapter.drop_user(tenant.db_user)
        finally:
            adapter.dispose()
        secrets.delete_secret(secrets.tenant_user_key(server.name, database))
        info["detail"] = f"dropped {database}" + (f" and user {tenant.db_user}" if tenant.db_user else "")
    with tl.step("status archived"):
        with ctx.session() as s:
            row = get_tenant_row(s, slug)
            # the server keeps no claim on it (so `servers remove` works); unarchive
            # goes back to this server by default, from the job's result
            row.status, row.archived_at, row.db_user, row.server_id = "archived", utcnow(), None, None
    return {"tenant": slug, "status": "archived", "backup": backup["id"], "server": server.name}


def _archive_backup(ctx: Context, slug: str) -> dict[str, Any]:
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        b = s.scalar(sa.select(m.Backup).where(m.Backup.tenant_id == tenant.id, m.Backup.reason == ARCHIVE_REASON)
                     .order_by(m.Backup.id.desc()).limit(1))
        if b is None:
            raise NotFoundError(f"tenant {slug} has no archive backup; see `tenantops backups list {slug}`")
        return dict(backups.backup_json(b, slug))


def _target(ctx: Context, tenant: m.Tenant, requested: str | None) -> m.Server:
    """The server to bring an archived tenant back to: the one asked for, else its old one
    if that can still take it, else the least-loaded (placement rules apply throughout)."""
    with ctx.session() as s:
        result = s.scalar(sa.select(m.Job.result).where(m.Job.kind == "archive", m.Job.tenant == tenant.slug,
                                                        m.Job.status == "succeeded")
                          .order_by(m.Job.id.desc()).limit(1)) or {}
        if requested is None and result.get("server"):
            old = s.scalar(sa.select(m.Server).where(m.Server.name == result["server"]))
            if old is not None:
                try:
                    server = choose_server(s, old.name)
                    s.expunge(server)
                    return server
                except TenantopsError:
                    pass   # draining, full or gone: place it like a new tenant
        server = choose_server(s, requested)
        s.expunge(server)
        return server


def preview_unarchive(ctx: Context, *, slug: str, server: str | None = None) -> Preview:
    tenant, _ = tenant_in(ctx, slug, "archived", doing="unarchive")
    backup = _archive_backup(ctx, slug)
    backups.verify_file(Path(backup["path"]), backup["checksum"])
    target = _target(ctx, tenant, server)
    return Preview("unarchive", slug, {"tenant": slug, "server": target.name, "database": tenant.database,
                                       "backup": backup["id"], "backup_created_at": backup["created_at"]})


@mutating("tenants.unarchive", "dba", target="slug")
def request_unarchive(ctx: Context, *, slug: str, server: str | None = None) -> Queued:
    preview = preview_unarchive(ctx, slug=slug, server=server)
    job = jobs.enqueue(ctx, "unarchive", slug, {"server": preview.document["server"],
                                                "backup": preview.document["backup"]},
                       lock_operation="unarchive")
    return Queued("unarchive", slug, job, preview)


def run_unarchive(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    slug = job.tenant
    assert slug is not None
    tenant, _ = tenant_in(ctx, slug, "archived", doing="unarchive")
    database = tenant_database(tenant)
    backup = _archive_backup(ctx, slug)
    with ctx.session() as s:
        server = s.scalar(sa.select(m.Server).where(m.Server.name == job.params["server"]))
        if server is None:
            raise NotFoundError(f"server {job.params['server']!r} is not registered")
        s.expunge(server)
    adapter = adapter_for(server)
    try:
        with tl.step(f"restore backup {backup['id']}") as info:
            if adapter.database_exists(database):
                raise StateError(f"database {database} already exists on {server.name}; "
                                 f"refusing to overwrite a database this tenant does not own")
            backups.verify_file(Path(backup["path"]), backup["checksum"])
            backups.restore_file(adapter, database, Path(backup["path"]))
            info["detail"] = f"{backup['size_bytes']} bytes into {database} on {server.name}"
        with tl.step("application account") as info:
            user = names.user_name(slug)
            password = adapter.create_user(user, database)
            if password is not None:
                secrets.set_secret(secrets.tenant_user_key(server.name, database), password)
            info["detail"] = f"user {user} created (password in the keyring)" if password else "embedded server"
        with ctx.session() as s:
            row = get_tenant_row(s, slug)
            row.status, row.archived_at, row.server_id = "active", None, server.id
            row.db_user = user if password is not None else None
    except BaseException:
        # back to archived exactly: no half-restored database on the target
        if adapter.database_exists(database) and get_status(ctx, slug) == "archived":
            adapter.drop_database(database)
        raise
    finally:
        adapter.dispose()
    with tl.step("snapshot") as info:
        snap = take_snapshot(ctx, slug, source="after-restore")
        info["detail"] = f"schema {snap['hash'][:12]}"
    return {"tenant": slug, "status": "active", "server": server.name, "backup": backup["id"]}


def get_status(ctx: Context, slug: str) -> str:
    with ctx.session() as s:
        return get_tenant_row(s, slug).status


KINDS = (
    JobKind("suspend", "admin", run_suspend),
    JobKind("resume", "admin", run_resume),
    JobKind("archive", "dba", run_archive, destructive=True),
    JobKind("unarchive", "dba", run_unarchive),
)
