"""`tenantops doctor`: what needs attention, each finding with the command that fixes it."""
from __future__ import annotations

import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import private
from tenantops.engine.config import tenant_user_host
from tenantops.engine.vocab import ACTIVE_JOB_STATUSES
from tenantops.engine.servers.adapters import ServerUnreachable, adapter_for
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import NotFoundError, ServerError, TenantopsError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.landlord.outbox import clear_links
from tenantops.engine.jobs.locks import _valid as lock_is_valid

QUEUED_TOO_LONG = timedelta(minutes=10)
LOOSE_LISTED = 20


def _finding(kind: str, server: str | None, target: str, detail: str, fix: str) -> dict[str, Any]:
    return {"kind": kind, "server": server, "target": target, "detail": detail, "fix": fix}


def diagnose(ctx: Context) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    now = utcnow()
    with ctx.session() as s:
        servers = list(s.scalars(sa.select(m.Server).order_by(m.Server.name)))
        tenants = list(s.scalars(sa.select(m.Tenant)))
        jobs = list(s.scalars(sa.select(m.Job).where(m.Job.status.in_(ACTIVE_JOB_STATUSES))))
        locks = [(lock, lock_is_valid(s, lock)) for lock in s.scalars(sa.select(m.TenantLock))]
    unreachable: set[int] = set()
    for server in servers:
        known = {t.database: t for t in tenants if t.server_id == server.id and t.database}
        users = {t.db_user for t in tenants if t.server_id == server.id and t.db_user}
        adapter = adapter_for(server)
        try:
            try:
                adapter.check()  # answers within the connect timeout, or the server is unreachable
                databases = set(adapter.list_databases("tenant_"))
                server_users = set(adapter.list_users("tu_"))
                excess = adapter.excess_privileges_of({t.db_user: db for db, t in known.items() if t.db_user})
            except ServerError as exc:
                unreachable.add(server.id)
                findings.append(_finding("unreachable_server", server.name, server.name, str(exc),
                                         f"tenantops servers check {server.name}"))
                continue
        finally:
            adapter.dispose()
        for db in sorted(databases - set(known)):
            findings.append(_finding("orphan_database", server.name, db,
                                     f"database {db} exists on {server.name} but no tenant owns it",
                                     f"inspect it, back it up, then drop it on {server.name}"))
        for user in sorted(server_users - users):
            findings.append(_finding("orphan_user", server.name, user,
                                     f"user {user} exists on {server.name} but no tenant uses it",
                                     f"DROP USER `{user}`@'{tenant_user_host()}' on {server.name}"))
        for db, tenant in sorted(known.items()):
            for host, privileges in sorted(excess.get(tenant.db_user or "", {}).items()):
                findings.append(_finding("excess_privileges", server.name, f"{tenant.db_user}@{host}",
                                         f"tenant user {tenant.db_user}@{host} of {tenant.slug} has more than data "
                                         f"privileges on {db}: {', '.join(privileges)} (created by an older version)",
                                         f"tenantops servers harden {server.name}"))
            if db in databases and tenant.status == "failed" and tenant.activated_at is None:
                findings.append(_finding("orphan_database", server.name, db,
                                         f"database {db} was left by the failed provisioning of {tenant.slug}",
                                         f"tenantops provision {tenant.slug} (a retry starts clean), or back it "
                                         "up and drop it"))
                if tenant.db_user and tenant.db_user in server_users:
                    findings.append(_finding("orphan_user", server.name, tenant.db_user,
                                             f"user {tenant.db_user} was left by the failed provisioning of "
                                             f"{tenant.slug}", f"tenantops provision {tenant.slug}"))
            if db not in databases and tenant.status in ("active", "suspended"):
                findings.append(_finding("missing_database", server.name, tenant.slug,
                                         f"tenant {tenant.slug} is {tenant.status} but database {db} is missing",
                                         f"tenantops backups list {tenant.slug} then tenantops backups restore "
                                         f"{tenant.slug} ID --confirm {tenant.slug}"))
    for job in jobs:
        if job.status == "running" and job.lease_until and job.lease_until < now:
            findings.append(_finding("stale_job", None, f"job {job.id}",
                                     f"{job.kind} of {job.tenant} stopped heartbeating at {job.heartbeat_at}",
                                     "tenantops worker --once (reclaims and resumes it)"))
        elif job.status == "queued" and job.created_at < now - QUEUED_TOO_LONG:
            findings.append(_finding("stale_job", None, f"job {job.id}",
                                     f"{job.kind} of {job.tenant} queued since {job.created_at} with no worker",
                                     "tenantops worker --once"))
    for lock, valid in locks:
        if not valid:
            findings.append(_finding("stale_lock", None, lock.tenant,
                                     f"lock of {lock.tenant} held by {lock.holder} ({lock.operation}) expired "
                                     f"at {lock.lease_until}", f"tenantops locks break {lock.tenant}"))
    findings += _edited(ctx, tenants)
    findings += _mismatched(ctx, tenants, [sv for sv in servers if sv.id not in unreachable])
    interval = timedelta(hours=ctx.settings.drift_check_interval_hours)
    for tenant in sorted(tenants, key=lambda t: t.slug):
        if tenant.status != "active":
            continue
        last = tenant.last_drift_at or tenant.activated_at
        if last is not None and last < now - interval:
            findings.append(_finding("stale_drift_check", None, tenant.slug,
                                     f"last drift check {tenant.last_drift_at or 'never'}",
                                     f"tenantops drift {tenant.slug}"))
    findings += _loose_permissions(ctx)
    findings += _clear_secrets(ctx)
    return findings


def _clear_secrets(ctx: Context) -> list[dict[str, Any]]:
    """Setup links an older version left in clear in the outbox (landlord/outbox.py)."""
    with ctx.session() as s:
        rows = [(note.id, note.recipient, note.status) for note in clear_links(s)]
    return [_finding("clear_secret_at_rest", None, f"notification {nid}",
                     f"the {status} welcome message to {recipient} holds its one-time setup link in clear in the "
                     "landlord (written by an older version)",
                     "tenantops init (moves the link into the keyring; the landlord keeps none)")
            for nid, recipient, status in rows]


def _loose_permissions(ctx: Context) -> list[dict[str, Any]]:
    """State readable by other accounts (a copy made with cp, an old umask ...)."""
    roots = [ctx.home]
    if ctx.settings.backup_dir:
        roots.append(Path(ctx.settings.backup_dir))
    found = []
    loose = list(private.loose(roots))
    if len(loose) > LOOSE_LISTED:  # one finding for the lot, not thousands of lines
        return [_finding("loose_permissions", None, str(root),
                         f"{sum(1 for p, _, _ in loose if p == root or root in p.parents)} files and folders under "
                         f"{root} are open to other accounts (tenantops state is private to its account)",
                         f"chmod -R go-rwx {shlex.quote(str(root))}")
                for root in roots if any(p == root or root in p.parents for p, _, _ in loose)]
    for path, mode, is_dir in loose:
        want = "0700" if is_dir else "0600"
        found.append(_finding("loose_permissions", None, str(path),
                              f"{'folder' if is_dir else 'file'} mode {mode:04o}, should be {want} "
                              "(tenantops state is private to its account)",
                              private.fix_command(path, is_dir)))
    return found


def _edited(ctx: Context, tenants: list[m.Tenant]) -> list[dict[str, Any]]:
    from tenantops.engine.tenants.sync import edited_units
    from tenantops.engine.migrate.units import units_for

    out = []
    for tenant in sorted(tenants, key=lambda t: t.slug):
        if tenant.status != "active":
            continue
        try:
            units, _ = units_for(ctx, tenant)
        except TenantopsError:
            continue
        for unit, revision in edited_units(ctx, tenant, units).items():
            out.append(_finding("edited_migration", None, tenant.slug,
                                f"revision {revision} of {unit} changed on disk after it was applied to {tenant.slug}",
                                f"restore the file, or acknowledge: tenantops doctor --acknowledge {tenant.slug}"))
    return out


def _describe(diff: dict[str, list[str]]) -> str:
    labels = {"modules_missing": "modules in the database but not the landlord",
              "modules_extra": "modules in the landlord but not the database",
              "revisions_missing": "revisions applied in the database but not in the history",
              "revisions_extra": "revisions in the history but not applied in the database",
              "custom_wrong": "custom migrations whose status disagrees"}
    return "; ".join(f"{labels[k]}: {', '.join(v)}" for k, v in diff.items() if v)


def _mismatched(ctx: Context, tenants: list[m.Tenant], servers: list[m.Server]) -> list[dict[str, Any]]:
    """Tenants whose landlord records (modules, custom states, history) disagree with the
    revisions recorded in their database."""
    from tenantops.engine.tenants import reconcile

    out = []
    by_id = {server.id: server for server in servers}
    for tenant in sorted(tenants, key=lambda t: t.slug):
        server = by_id.get(tenant.server_id) if tenant.server_id else None
        if tenant.status not in ("active", "suspended") or server is None or not tenant.database:
            continue
        adapter = adapter_for(server)
        try:
            if not adapter.database_exists(tenant.database):
                continue  # reported as missing_database
            heads = reconcile.database_heads(adapter, tenant.database)
            state = reconcile.state_from_heads(ctx, tenant, heads, what=f"database {tenant.database}")
            diff = reconcile.differences(ctx, tenant, state)
        except ServerUnreachable:
            continue  # reported as unreachable_server
        except TenantopsError as exc:
            out.append(_finding("revision_mismatch", server.name, tenant.slug, str(exc),
                                f"tenantops backups list {tenant.slug} then tenantops backups restore "
                                f"{tenant.slug} ID --confirm {tenant.slug}"))
            continue
        except Exception:  # noqa: BLE001 - an unreachable server is reported above
            continue
        finally:
            adapter.dispose()
        if any(diff.values()):
            out.append(_finding("revision_mismatch", server.name, tenant.slug,
                                f"landlord and database of {tenant.slug} disagree: {_describe(diff)}",
                                f"tenantops doctor --reconcile {tenant.slug} (records the database's revisions "
                                "in the landlord)"))
    return out


@mutating("doctor.reconcile", "dba", target="slug")
def reconcile_tenant(ctx: Context, *, slug: str) -> dict[str, Any]:
    """Set the landlord's modules, custom states and history from the revisions in the
    tenant's database (under the tenant's lock; audited)."""
    from tenantops.engine.jobs.locks import acquire, release
    from tenantops.engine.tenants import reconcile

    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        server = s.get(m.Server, tenant.server_id) if tenant.server_id else None
        if server is None or not tenant.database:
            raise NotFoundError(f"tenant {slug!r} has no database")
        acquire(s, slug, holder=ctx.operator, operation="doctor.reconcile", job_id=None,
                lease_seconds=ctx.settings.lease_seconds * 10)
    try:
        adapter = adapter_for(server)
        try:
            heads = reconcile.database_heads(adapter, tenant.database)
        finally:
            adapter.dispose()
        state = reconcile.state_from_heads(ctx, tenant, heads, what=f"database {tenant.database}")
        return reconcile.reconcile(ctx, tenant.id, state, why="doctor --reconcile")
    finally:
        with ctx.session() as s:
            release(s, slug, None)


@mutating("doctor.acknowledge", "dba", target="slug")
def acknowledge_edits(ctx: Context, *, slug: str) -> list[str]:
    """A dba accepts the edited revision files of a tenant; sync is unblocked (audited)."""
    from tenantops.engine.tenants.sync import edited_units
    from tenantops.engine.migrate.units import units_for

    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
    units, _ = units_for(ctx, tenant)
    edited = edited_units(ctx, tenant, units)
    with ctx.session() as s:
        for revision in edited.values():
            s.execute(sa.update(m.MigrationHistory).where(m.MigrationHistory.tenant_id == tenant.id,
                                                          m.MigrationHistory.revision == revision)
                      .values(acknowledged_by=ctx.operator))
    return sorted(edited.values())
