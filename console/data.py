"""The engine calls the console's screens make from their worker threads, in one place.

Every read model comes from the engine (``engine/views.py`` and the packages' own read
functions); nothing here queries the landlord itself. The engine serialises Alembic, so
no caller holds a lock.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tenantops.engine import views
from tenantops.engine.access import audit
from tenantops.engine.context import Context
from tenantops.engine.documents import JobDoc
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.tenants import applications

DRIFT_LEVELS = views.DRIFT_LEVELS
TENANT_STATUSES = views.TENANT_STATUSES
JOB_STATUSES = views.JOB_STATUSES


def probe_servers(ctx: Context) -> None:
    """Refresh every server's reachability (the engine records it on the server row)."""
    from tenantops.engine.servers import registry as servers

    for server in servers.list_servers(ctx):
        servers.check_server(ctx, server["name"])


def catalog_dir(ctx: Context) -> Path | None:
    return Path(ctx.settings.catalog_dir) if ctx.settings.catalog_dir else None


def load_catalog(ctx: Context) -> Any:
    from tenantops.engine.catalog import load_catalog as load

    return load(catalog_dir(ctx))


def render_plan(units: list[Any], dialect: str) -> list[Any]:
    from tenantops.engine.migrate.offline import render_sql

    return render_sql(units, dialect)


def fill_demo(ctx: Context, progress: Any = None) -> bool | None:
    """The lead's demo filler, or None when this build has none."""
    try:
        from tenantops.engine.demo import fill_demo as fill
    except ImportError:
        return None
    return fill(ctx, progress=progress)


def latest_job(ctx: Context, tenant: str) -> JobDoc | None:
    found = jobs.list_jobs(ctx, tenant=tenant, limit=1)
    return found[0] if found else None


def spawn_worker(ctx: Context, job_id: int) -> int:
    """Start a detached worker process for a queued job (it outlives the console)."""
    from tenantops.engine.jobs import worker

    worker.spawn(ctx, job_id=job_id)
    return job_id


# Read models the engine owns, re-exported under the names the screens use.
dashboard = views.dashboard
tenant_detail = views.tenant_detail
unit_layers = views.unit_layers
layer_of = views.layer_of
application_detail = applications.application_detail
audit_facets = audit.audit_facets
