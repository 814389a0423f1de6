"""Demo data so a newcomer sees a living system: applications in every state,
provisioned tenants from several templates, one tenant with drift, one failed job."""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from tenantops.engine.migrate.units import catalog_for
from tenantops.engine.tenants import applications
from tenantops.engine.tenants import provision as provisioner
from tenantops.engine.tenants.records import tenant_database, tenant_server
from tenantops.engine.servers import registry as servers
from tenantops.engine.servers.adapters import adapter_for
import shutil

from tenantops.engine.context import Context
from tenantops.engine.errors import ConflictError
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.landlord import models as m
from tenantops.engine.jobs.worker import work

# slug, organisation, template, modules, contact, final state
APPLICATIONS = [
    ("nepal-congress-kathmandu", "Nepali Congress — Kathmandu", "political_party_nepal", ["election_campaign"],
     "Sita Sharma", "provisioned"),
    ("uml-lalitpur", "CPN (UML) — Lalitpur", "political_party_nepal", [], "Ram Thapa", "provisioned"),
    ("green-valley-ngo", "Green Valley NGO", "non_profit_organization", [], "Anita Gurung", "provisioned"),
    ("kathmandu-model-school", "Kathmandu Model School", "educational_institution", [], "Hari Adhikari",
     "provisioned"),
    ("pokhara-youth-club", "Pokhara Youth Club", "community_group", [], "Bikash Rai", "pending"),
    ("janakpur-teachers", "Janakpur Teachers' Union", "community_group", [], "Sunita Yadav", "pending"),
    ("bhaktapur-heritage", "Bhaktapur Heritage Trust", "non_profit_organization", [], "Krishna Shrestha",
     "pending"),
    ("rastriya-swatantra-biratnagar", "Rastriya Swatantra — Biratnagar", "political_party_nepal", [],
     "Dipak Koirala", "approved"),
    ("chitwan-farmers", "Chitwan Farmers' Cooperative", "community_group", [], "Maya Tamang", "approved"),
    ("spam-org", "Totally Real Org", "community_group", [], "No One", "rejected"),
    ("duplicate-ngo", "Green Valley NGO (duplicate)", "non_profit_organization", [], "Anita Gurung", "rejected"),
    ("butwal-college", "Butwal Community College", "educational_institution", [], "Gita Pandey", "failed"),
]


def fill_demo(ctx: Context, *, progress: Callable[[str], None] | None = None) -> bool:
    """Fill an empty store; returns False (and does nothing) when it already has data."""
    say = progress or (lambda _msg: None)
    with ctx.session() as s:
        if s.scalar(sa.select(sa.func.count()).select_from(m.Application)):
            return False
    catalog = catalog_for(ctx)
    if not any(sv["name"] == "archive" for sv in servers.list_servers(ctx)):
        archive_dir = ctx.home / "archive-tenants"
        archive_dir.mkdir(parents=True, exist_ok=True)
        servers.add_server(ctx, name="archive", url=f"sqlite:///{archive_dir}", capacity=50)
        servers.set_draining(ctx, name="archive", draining=True)
    for slug, org, template, modules, contact, state in APPLICATIONS:
        if template not in catalog.templates:
            continue
        applications.submit(ctx, organization=org, slug=slug, email=f"admin@{slug}.example.org",
                            template=template, modules=modules, contact=contact)
        if state == "pending":
            continue
        if state == "rejected":
            applications.reject(ctx, slug, reason="duplicate or unverifiable organisation")
            continue
        applications.approve(ctx, slug, notes="documents verified")
        if state == "approved":
            continue
        say(f"provisioning {slug} …")
        # the failed one asks for a draining server: a realistic refusal on the timeline
        job_id = provisioner.request_provision(ctx, slug=slug, server="archive" if state == "failed" else None).job
        work(ctx, job_id=job_id)
    _inject_drift(ctx, "uml-lalitpur")
    return True


def reset_store(ctx: Context) -> str:
    """Move the embedded store and its tenant databases aside (never deleted).

    Audited by the caller into the new store, since the old one moves away.
    """
    ctx.authorize("demo.reset", "owner")
    if ctx.landlord_url:
        raise ConflictError("demo --reset only works on the embedded default store")
    if ctx.settings.production:
        raise ConflictError("demo --reset is refused in a production environment")
    target = ctx.home / f"demo-reset-{utcnow().strftime('%Y%m%dT%H%M%S')}"
    target.mkdir(parents=True)
    ctx.engine.dispose()
    for name in ("landlord.db", "landlord.db-wal", "landlord.db-shm", "tenants", "archive-tenants"):
        path = ctx.home / name
        if path.exists():
            shutil.move(str(path), str(target / name))
    return str(target)


def _inject_drift(ctx: Context, slug: str) -> None:
    """Someone 'fixed' production by hand: an extra column and a dropped index."""
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None or tenant.status != "active":
            return
        server = tenant_server(s, tenant)
    adapter = adapter_for(server)
    try:
        with adapter.engine(tenant_database(tenant)).begin() as conn:
            conn.exec_driver_sql("ALTER TABLE tenant_users ADD COLUMN legacy_phone VARCHAR(32)")
    finally:
        adapter.dispose()
    from tenantops.engine.health.drift import check_all

    check_all(ctx)  # every tenant gets a report: one shows drift, the rest none
