"""`tenants move SLUG --to SERVER`: the tenant's database goes to another server of the
same dialect. The application is locked out during the copy; the copy is verified on
the target (schema hash and row counts per table) before the landlord switches; the
source database stays until ``--drop-source`` or ``tenants cleanup-source`` so a move is
undone by pointing back. Any failure before the switch leaves the tenant as it was, on
the source, with nothing left on the target."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import names, secrets
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError, StateError, ValidationError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m

from tenantops.engine.schema.canonical import schema_hash
from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.servers.placement import choose_server
from tenantops.engine.tenants import backups
from tenantops.engine.tenants.lifecycle import tenant_in
from tenantops.engine.tenants.records import get_tenant_row, tenant_database
from tenantops.engine.tenants.snapshots import capture_tenant, take_snapshot

MOVABLE = ("active", "suspended")


def _server(ctx: Context, name: str) -> m.Server:
    with ctx.session() as s:
        server = s.scalar(sa.select(m.Server).where(m.Server.name == name))
        if server is None:
            raise NotFoundError(f"server {name!r} is not registered (see `tenantops servers list`)")
        s.expunge(server)
        return server


def preview_move(ctx: Context, *, slug: str, to: str, drop_source: bool = False) -> Preview:
    tenant, source = tenant_in(ctx, slug, *MOVABLE, doing="move")
    assert source is not None
    if source.name == to:
        raise ValidationError(f"tenant {slug} is already on server {to}")
    with ctx.session() as s:
        target = choose_server(s, to)       # placement rules: registered, not draining, not full
        s.expunge(target)
    if target.dialect != source.dialect:
        raise ValidationError(f"server {to} is {target.dialect} and {source.name} is {source.dialect}; "
                              f"a move copies between servers of the same kind")
    database = tenant_database(tenant)
    adapter = adapter_for(target)
    try:
        if adapter.database_exists(database):
            raise ConflictError(f"server {to} already has a database {database}; refusing to overwrite it")
    finally:
        adapter.dispose()
    return Preview("move", slug, {
        "tenant": slug, "from": source.name, "to": target.name, "database": database,
        "steps": ["lock the application account", "backup (streamed, pinned)", f"restore onto {target.name}",
                  "verify schema hash and row counts", "switch the landlord", "unlock on the target"]
        + ([f"drop the source database on {source.name}"] if drop_source else []),
        "source_kept": not drop_source,
        "cleanup": None if drop_source else f"tenantops tenants cleanup-source {slug}"}, destructive=drop_source)


@mutating("tenants.move", "dba", target="slug")
def request_move(ctx: Context, *, slug: str, to: str, drop_source: bool = False, confirm: str | None = None) -> Queued:
    preview = preview_move(ctx, slug=slug, to=to, drop_source=drop_source)
    require_confirmation(preview, confirm, f"--drop-source drops the database of {slug} on {preview.document['from']}")
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "move", slug, {"to": preview.document["to"], "drop_source": drop_source},
                       lock_operation="move")
    return Queued("move", slug, job, preview)


def _facts(adapter: Adapter, database: str) -> tuple[str, dict[str, int]]:
    schema, rows = capture_tenant(adapter, database)
    return schema_hash(schema), rows


def run_move(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    slug = job.tenant
    assert slug is not None
    tenant, source = tenant_in(ctx, slug, *MOVABLE, doing="move")
    assert source is not None
    target = _server(ctx, job.params["to"])
    database, was_active, old_user = tenant_database(tenant), tenant.status == "active", tenant.db_user
    src, dst = adapter_for(source), adapter_for(target)
    created_db = created_user = False
    new_user: str | None = None
    try:
        try:
            with tl.step("lock the application account") as info:
                src.lock_user(old_user, database)
                info["detail"] = "no writes reach the source while it is copied"
            with tl.step("backup") as info:
                backup = backups.take_backup(ctx, slug, f"move to {target.name}", pinned=True)
                info["detail"] = f"backup {backup['id']}: {backup['size_bytes']} bytes (pinned)"
            with tl.step(f"restore onto {target.name}") as info:
                if dst.database_exists(database):
                    raise ConflictError(f"server {target.name} already has a database {database}")
                created_db = True
                backups.restore_file(dst, database, Path(backup["path"]))
                info["detail"] = f"{database} on {target.name}"
            with tl.step("verify") as info:
                source_hash, source_rows = _facts(src, database)
                target_hash, target_rows = _facts(dst, database)
                if source_hash != target_hash:
                    raise StateError(f"the copy on {target.name} has schema {target_hash[:12]}, "
                                     f"the source {source_hash[:12]}")
                differ = sorted(t for t in set(source_rows) | set(target_rows)
                                if source_rows.get(t) != target_rows.get(t))
                if differ:
                    raise StateError(f"row counts differ on {target.name} for {', '.join(differ)}")
                info["detail"] = (f"schema {target_hash[:12]} and {sum(target_rows.values())} rows in "
                                  f"{len(target_rows)} tables equal")
            with tl.step("application account on the target") as info:
                new_user = names.user_name(slug)
                password = dst.create_user(new_user, database)
                created_user = password is not None
                if password is not None:
                    secrets.set_secret(secrets.tenant_user_key(target.name, database), password)
                else:
                    new_user = None
                if not was_active:
                    dst.lock_user(new_user, database)   # it was suspended: it stays so
                info["detail"] = f"user {new_user} created" if new_user else "embedded server"
        except BaseException:
            with tl.step("undo: the tenant stays on the source") as info:
                if created_user and new_user:
                    dst.drop_user(new_user)
                    secrets.delete_secret(secrets.tenant_user_key(target.name, database))
                if created_db and dst.database_exists(database):
                    dst.drop_database(database)
                if was_active:
                    src.unlock_user(old_user, database)
                info["detail"] = f"nothing left on {target.name}; {slug} is {'active' if was_active else 'suspended'} " \
                                 f"on {source.name}"
            raise
        with tl.step("switch the landlord") as info:
            with ctx.session() as s:
                row = get_tenant_row(s, slug)
                row.server_id, row.db_user = target.id, new_user
            info["detail"] = f"{slug} now lives on {target.name}"
        dropped = False
        if job.params.get("drop_source"):
            with tl.step(f"drop the source on {source.name}") as info:
                _drop_source(src, source.name, database, old_user)
                dropped = True
                info["detail"] = f"dropped {database}" + (f" and user {old_user}" if old_user else "")
    finally:
        src.dispose()
        dst.dispose()
    with tl.step("snapshot") as info:
        snap = take_snapshot(ctx, slug, source="after-move")
        info["detail"] = f"schema {snap['hash'][:12]}"
    return {"tenant": slug, "from": source.name, "to": target.name, "database": database, "backup": backup["id"],
            "source_user": old_user, "source_dropped": dropped}


def _drop_source(adapter: Adapter, server: str, database: str, user: str | None) -> None:
    adapter.unlock_user(user, database)   # SQLite: no marker file left behind
    adapter.drop_database(database)
    if user:
        adapter.drop_user(user)
    secrets.delete_secret(secrets.tenant_user_key(server, database))


def _kept_source(ctx: Context, slug: str) -> tuple[m.Job, dict[str, Any]]:
    with ctx.session() as s:
        for job in s.scalars(sa.select(m.Job).where(m.Job.kind == "move", m.Job.tenant == slug,
                                                    m.Job.status == "succeeded").order_by(m.Job.id.desc())):
            result = dict(job.result or {})
            if not result.get("source_dropped"):
                s.expunge(job)
                return job, result
    raise NotFoundError(f"tenant {slug} has no kept source database from a move")


@mutating("tenants.cleanup-source", "dba", target="slug")
def cleanup_source(ctx: Context, *, slug: str) -> dict[str, Any]:
    """Drop the source database a move kept, once the tenant lives elsewhere."""
    job, result = _kept_source(ctx, slug)
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        current = s.get(m.Server, tenant.server_id) if tenant.server_id is not None else None
        if current is None or current.name == result["from"]:
            raise StateError(f"tenant {slug} lives on {result['from']} again; its database there is not a leftover")
    source = _server(ctx, result["from"])
    adapter = adapter_for(source)
    try:
        _drop_source(adapter, source.name, result["database"], result.get("source_user"))
    finally:
        adapter.dispose()
    with ctx.session() as s:
        row = s.get_one(m.Job, job.id)
        row.result = {**result, "source_dropped": True}
    return {"tenant": slug, "server": source.name, "database": result["database"], "dropped": True}


KINDS = (JobKind("move", "dba", run_move),)
