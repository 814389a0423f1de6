"""Provisioning a new tenant: a pipeline of named, idempotent steps run as a durable job.

validate → place → create database (+ least-privilege user) → basic → template →
modules (dependency order) → custom (approved) → seed → admin user → snapshot →
compliance → activate → notify. Each step is an event on the job's timeline. A failed
or crashed new tenant leaves no orphan database or user behind (unless
``cleanup_on_failure = false`` keeps them for forensics).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine import catalog as catalog_mod
from tenantops.engine import names, secrets
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.migrate import seeds
from tenantops.engine.servers.adapters import Adapter, DatabaseExists, adapter_for
from tenantops.engine.tenants.applications import _find as find_application
from tenantops.engine.tenants.applications import transition
from tenantops.engine.migrate.units import catalog_for
from tenantops.engine.context import Context, mutating
from tenantops.engine.jobs.changes import Preview, Queued
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.errors import NotFoundError, StateError, TenantopsError, ValidationError
from tenantops.engine.migrate import plans
from tenantops.engine.migrate.history import next_batch_in, revision_rows
from tenantops.engine.jobs.timeline import Timeline, format_error
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.tenants.notify import queue_welcome, send_pending
from tenantops.engine.tenants.records import get_tenant_row, tenant_database, tenant_server
from tenantops.engine.servers.placement import choose_server

# Core statements where the pipeline sets a few columns of a tenant it holds by id: an
# ORM load-then-flush costs a SELECT and its first compile in every CLI process
TENANTS = cast(sa.Table, m.Tenant.__table__)


def _approved_app(s: Session, slug: str) -> m.Application:
    app = find_application(s, slug)
    if app.status not in ("approved", "failed", "provisioning"):
        raise StateError(f"application {app.slug} is {app.status}; only approved (or failed, to retry) "
                         "applications can be provisioned")
    return app


def preview_provision(ctx: Context, *, slug: str, server: str | None = None) -> Preview:
    """The dry run: placement, ordered units and every SQL statement; changes nothing."""
    with ctx.session() as s:
        app = _approved_app(s, slug)
        target = choose_server(s, server)
        template, modules = app.template, list(app.modules or [])
        target_name, dialect = target.name, target.dialect
    resolution = catalog_mod.resolve(catalog_for(ctx), template, modules)
    # the very plan the job replays (rendered by Alembic's offline mode, or its stored copy)
    revisions = plans.compiled(resolution.units, "sqlite" if dialect == "sqlite" else "mysql",
                               plans.cache_dir(ctx))
    return Preview("provision", slug, {
        "slug": slug, "server": target_name, "dialect": dialect, "database": names.database_name(slug),
        "units": [{"slug": u.slug, "kind": u.kind, "version": str(u.version),
                   "auto_added": resolution.auto_added.get(u.slug)} for u in resolution.units],
        "revisions": [_planned_json(r) for r in revisions],
    })


def _planned_json(r: Any) -> dict[str, Any]:
    sql = getattr(r, "sql", None) or getattr(r, "statements", None) or []
    if isinstance(sql, str):
        sql = [sql]
    return {"unit": getattr(r, "unit", None), "layer": getattr(r, "layer", None) or getattr(r, "kind", None),
            "revision": getattr(r, "revision", None), "sql": list(sql)}


@mutating("tenants.provision", "admin", target="slug")
def request_provision(ctx: Context, *, slug: str, server: str | None = None, confirm: str | None = None,
                      run_here: bool = False) -> Queued:
    """Queue the provisioning job; the tenant's lock is taken now, so a second request for
    the same slug is refused with who holds it. A failed provisioning is queued again the
    same way, moving its application from failed back to provisioning. ``run_here``: the
    caller runs the job itself next (``worker.run_here``): it is queued already claimed."""
    with ctx.session() as s:
        if run_here:
            jobs.read_committed(ctx, s)  # the job starts claimed only if its server has room
        app = find_application(s, slug)
        slug = app.slug
        if server and s.scalar(sa.select(m.Server.id).where(m.Server.name == server)) is None:
            # a misspelt server is bad input: refused now, not by a job that fails the
            # application (draining or full is the job's to find: it may change meanwhile)
            raise NotFoundError(f"server {server!r} is not registered (see `tenantops servers list`)")
        # the lock first: a tenant another operation holds is refused naming it (LockHeld),
        # before its application's state is judged; a refusal below rolls the job back
        job_id = jobs.enqueue_in(s, ctx, "provision", slug, {"slug": slug, "server": server},
                                 lock_operation="provision", claim_here=run_here)
        if app.status not in ("approved", "failed"):
            raise StateError(f"application {app.slug} cannot go from {app.status} to provisioning")
        transition(app, "provisioning")
        app.error = None
    return Queued("provision", slug, job_id, Preview("provision", slug, {"slug": slug, "server": server}))


def _requeue(ctx: Context, job: m.Job) -> int:
    queued = request_provision(ctx, slug=job.tenant or job.params["slug"], server=job.params.get("server"))
    assert queued.job is not None  # provisioning always queues a job or raises
    return queued.job


# -- the job -----------------------------------------------------------------------


def _tenant(s: Session, slug: str) -> m.Tenant | None:
    return s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))


def _adapter(ctx: Context, tenant_slug: str) -> tuple[Adapter, str]:
    with ctx.session() as s:
        tenant = get_tenant_row(s, tenant_slug)
        return adapter_for(tenant_server(s, tenant)), tenant_database(tenant)


def run(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    slug, requested = job.params["slug"], job.params.get("server")
    state: dict[str, Any] = {"adapter": None, "created": False}
    try:
        return _pipeline(ctx, job, tl, slug, requested, state)
    except BaseException as exc:
        _fail(ctx, tl, slug, exc, state)
        raise
    finally:
        if state["adapter"] is not None:
            state["adapter"].dispose()


def _pipeline(ctx: Context, job: m.Job, tl: Timeline, slug: str, requested: str | None,
              state: dict[str, Any]) -> dict[str, Any]:
    if job.attempt > 1:
        with ctx.session() as s:
            tenant = _tenant(s, slug)
            activated = tenant is not None and tenant.activated_at is not None
        if activated:
            return _finish_after_activation(ctx, tl, slug)
    from tenantops.engine.tenants.first_admin import ensure_admin, new_setup_token

    # the first admin's setup token hash is computed on another thread from the start
    # (scrypt releases the GIL), while this one prepares and the server builds the schema
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="setup-token")
    setup = hashing.submit(new_setup_token)
    hashing.shutdown(wait=False)

    with tl.step("validate") as info:
        with ctx.session() as s:
            app = _approved_app(s, slug)
            template, modules = app.template, list(app.modules or [])
            org, email, contact, app_id = app.organization, app.email, app.contact, app.id
        resolution = catalog_mod.resolve(catalog_for(ctx), template, modules)
        info["detail"] = "units: " + " → ".join(u.slug for u in resolution.units)

    with tl.step("place") as info:
        database = names.database_name(slug)
        with ctx.session() as s:
            # Core statements on the tenants table (see TENANTS)
            found = s.execute(sa.select(TENANTS.c.id, TENANTS.c.server_id, TENANTS.c.status)
                              .where(TENANTS.c.slug == slug)).first()
            if found is None or found.server_id is None or found.status == "failed":
                server = choose_server(s, requested)
            else:
                server = s.get_one(m.Server, found.server_id)
            values = {"server_id": server.id, "status": "provisioning", "error": None, "database": database,
                      "template": template, "template_version": str(resolution.units[1].version)}
            if found is None:
                key = s.connection().execute(TENANTS.insert().values(
                    slug=slug, organization=org, application_id=app_id, **values)).inserted_primary_key
                assert key is not None  # a single-row INSERT always reports its primary key
                tenant_id, batch = key[0], 1  # a new tenant has no history yet
            else:
                s.execute(TENANTS.update().where(TENANTS.c.id == found.id).values(**values))
                tenant_id, batch = found.id, next_batch_in(s, found.id)
            server_name = server.name
            adapter = state["adapter"] = adapter_for(server)
            info["detail"] = f"server {server_name} ({server.dialect}), database {database}"

    plan_all = plans.compiled(resolution.units, "sqlite" if adapter.dialect == "sqlite" else "mysql",
                              plans.cache_dir(ctx))
    with ExitStack() as layers:
        with tl.step("create database") as info:
            try:
                adapter.create_database(database)
            except DatabaseExists:
                # our own partial database from an interrupted or failed attempt of a tenant
                # that never went live: start clean, since MySQL DDL is not transactional and
                # a half-applied revision can't be resumed. A database we did not create is
                # never touched: the refusal stands. (Created first, looked at only when taken:
                # a new tenant's database costs no lookup.)
                if not (job.attempt > 1 or _created_by_us(ctx, slug, job.id)):
                    raise
                adapter.drop_database(database)
                adapter.drop_user(names.user_name(slug))
                with ctx.session() as s:
                    s.execute(sa.delete(m.TenantModule).where(m.TenantModule.tenant_id == tenant_id))
                info["detail"] = "dropped the partial database of an interrupted attempt; "
                adapter.create_database(database)
            state["created"] = True  # only now: cleanup must never drop a database it did not create
            # the server builds the schema from here on, while this thread adds the user,
            # stores its password and records each layer as it is done (plans.replay_ahead)
            unit_done = layers.enter_context(plans.replay_ahead(
                adapter.engine(database), plan_all, [u.slug for u in resolution.units],
                threaded=adapter.dialect != "sqlite"))
            user = names.user_name(slug)
            password = adapter.create_user(user, database)
            if password is not None:
                secrets.set_secret(secrets.tenant_user_key(server_name, database), password)
                with ctx.engine.begin() as conn:
                    conn.execute(TENANTS.update().where(TENANTS.c.id == tenant_id).values(db_user=user))
            info["detail"] = (info.get("detail") or "") + f"created {database}" + (f" and user {user}" if password else "")
        # loaded while the server is still busy with the schema
        from tenantops.engine.tenants.snapshots import row_counts, schema_read_ahead, store_snapshot

        for i, unit in enumerate(resolution.units):
            with tl.step(f"{unit.kind} {unit.slug}") as info:
                results: list[Any] = []
                try:
                    unit_done(unit.slug, results.append)
                finally:
                    info["rows"] += revision_rows(ctx, tl, tenant_id, batch, results)
                info["detail"] = f"{unit.slug} {unit.version}: {len(unit.revisions)} revision(s)"
                if unit.kind == "module":
                    reason = resolution.auto_added.get(unit.slug)
                    info["rows"].append(m.TenantModule(tenant_id=tenant_id, module=unit.slug,
                                                       version=str(unit.version), position=i,
                                                       required=bool(reason), reason=reason))
    engine = adapter.engine(database)

    with tl.step("custom") as info:
        info["detail"] = "no approved custom migrations for a new tenant"

    # the schema is final: the seeds and the admin user only add rows
    token = None
    with schema_read_ahead(adapter, database) as read_schema:
        with tl.step("seed") as info:
            with engine.connect() as conn:
                counts = seeds.apply_seeds(conn, resolution.units, fresh=True)
                conn.commit()
            info["detail"] = _seed_detail(counts)

        with tl.step("admin user") as info:
            with engine.connect() as conn:
                token = ensure_admin(conn, email=email, contact=contact, tenant_id=tenant_id, setup=setup.result())
                conn.commit()
            info["detail"] = f"{email}, must change password on first login"

        with tl.step("snapshot") as info:
            # through this job's own connections (a fresh adapter would log in again)
            schema = read_schema()
            with engine.connect() as conn:
                rows = row_counts(conn, list(schema["tables"]))
            snap = store_snapshot(ctx, tenant_id, schema, rows, "provision", slug)
            info["detail"] = f"schema {snap['hash'][:12]}: {snap['tables']} tables"

    with tl.step("compliance") as info:
        required = sorted(resolution.units[1].required_tables)
        present = set(schema["tables"])  # as the snapshot just read them
        missing = [t for t in required if t not in present]
        if missing:
            raise ValidationError(f"compliance: required tables missing: {', '.join(missing)}")
        info["detail"] = f"{len(required)} required table(s) present" if required else "no required tables"

    with tl.step("activate"):
        with ctx.session() as s:
            # recorded with the activation: a tenant that never went live is built again
            s.execute(TENANTS.update().where(TENANTS.c.id == tenant_id).values(
                status="active", activated_at=utcnow(), error=None, admin_email=email,
                admin_must_change_password=True))
            app = s.get_one(m.Application, app_id)
            if app.status != "provisioned":
                transition(app, "provisioned")

    with tl.step("notify") as info:
        if token is not None:
            with ctx.session() as s:
                queue_welcome(s, ctx.settings, tenant_id=tenant_id, slug=slug, email=email, token=token)
        sent = send_pending(ctx)
        info["detail"] = f"welcome notification to {email} queued" + (f", {sent} sent" if sent else "")
    return {"tenant": slug, "server": server_name, "database": database}


def _created_by_us(ctx: Context, slug: str, job_id: int) -> bool:
    """Did an earlier provisioning job of this tenant create its database?"""
    with ctx.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(m.JobEvent).join(m.Job)
                         .where(m.Job.tenant == slug, m.Job.kind == "provision", m.Job.id != job_id,
                                m.JobEvent.name == "create database", m.JobEvent.status == "succeeded")
                         ).scalar_one() > 0


def _finish_after_activation(ctx: Context, tl: Timeline, slug: str) -> dict[str, Any]:
    """A crash after activation: the tenant is live and holds data, so nothing is redone;
    only the welcome notification is made sure of (with a fresh setup token, since the
    first one was never delivered and only its hash was kept)."""
    from tenantops.engine.tenants.first_admin import reset_setup_token

    with tl.step("resume") as info:
        with ctx.session() as s:
            tenant = get_tenant_row(s, slug)  # activated: the row exists
            app = s.get(m.Application, tenant.application_id) if tenant.application_id else None
            if app is not None and app.status == "provisioning":
                transition(app, "provisioned")
            tenant.status = "active"
            queued = s.scalar(sa.select(sa.func.count()).select_from(m.Notification)
                              .where(m.Notification.tenant_id == tenant.id))
            server = tenant_server(s, tenant)
            tenant_id, database, email = tenant.id, tenant_database(tenant), tenant.admin_email
        info["detail"] = "tenant was already active; finishing the remaining steps"
    with tl.step("notify") as info:
        if not queued and email:
            adapter = adapter_for(server)
            try:
                with adapter.engine(database).begin() as conn:
                    token = reset_setup_token(conn, email)
            finally:
                adapter.dispose()
            with ctx.session() as s:
                queue_welcome(s, ctx.settings, tenant_id=tenant_id, slug=slug, email=email, token=token)
        info["detail"] = "welcome notification queued" if not queued else "welcome notification already queued"
    return {"tenant": slug, "server": server.name, "database": database, "resumed": True}


def _seed_detail(counts: Any) -> str:
    if isinstance(counts, dict) and counts:
        return ", ".join(f"{table}: {n}" for table, n in counts.items())
    return "seed data applied"


def _fail(ctx: Context, tl: Timeline, slug: str, exc: BaseException, state: dict[str, Any]) -> None:
    error = format_error(exc)
    with ctx.session() as s:
        tenant = _tenant(s, slug)
        app = s.scalar(sa.select(m.Application).where(m.Application.slug == slug))
        if app is not None and app.status == "provisioning":
            app.status, app.error = "failed", error
        fresh = tenant is not None and tenant.activated_at is None
        if tenant is not None:
            tenant.status, tenant.error = "failed", error
            server = s.get(m.Server, tenant.server_id) if tenant.server_id else None
            database, user = tenant.database, tenant.db_user
            tenant_id = tenant.id
    if tenant is None or not fresh or not ctx.settings.cleanup_on_failure or server is None or database is None:
        return
    if not state.get("created"):
        return
    adapter = state.get("adapter") or adapter_for(server)
    try:
        with tl.step("cleanup") as info:
            adapter.drop_database(database)
            if user:
                adapter.drop_user(user)
            secrets.delete_secret(secrets.tenant_user_key(server.name, database))
            with ctx.session() as s:
                s.execute(sa.delete(m.TenantModule).where(m.TenantModule.tenant_id == tenant_id))
                s.get_one(m.Tenant, tenant_id).db_user = None
            info["detail"] = f"removed the partial database {database}" + (f" and user {user}" if user else "")
    except TenantopsError:
        pass  # the cleanup event says what failed; doctor reports the orphan


KINDS = (JobKind("provision", "admin", run, requeue=_requeue),)
