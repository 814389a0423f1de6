"""Shared helpers for the console tests: fixed data, a frozen clock, and waiting for the
app's workers. Imported by the other test_console_* modules (no tests of its own)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from textual.worker import WorkerCancelled

from tenantops.console.app import TenantopsApp
from tenantops.engine.tenants import applications
from tenantops.engine.access import operators
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m

NOW = datetime(2025, 3, 14, 9, 30, 0)
LANDLORD_LABEL = "sqlite:~/.local/share/tenantops/landlord.db"


@contextmanager
def opened_copy(store: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """A context on a copy of a prepared landlord, labelled the same on every machine (the
    label shows in snapshots)."""
    shutil.copy(store, home / "landlord.db")
    monkeypatch.setattr(Context, "landlord_label", property(lambda self: LANDLORD_LABEL))
    context = Context.open()
    try:
        yield context
    finally:
        context.close()


def frozen() -> datetime:
    return NOW


def make_app(ctx: Context, **kwargs: Any) -> TenantopsApp:
    kwargs.setdefault("clock", frozen)
    kwargs.setdefault("probe_servers", False)
    return TenantopsApp(ctx, **kwargs)


async def idle(pilot: Any) -> None:
    """Wait for the app's workers; a read replaced by a newer one ends cancelled, which is fine."""
    for _ in range(10):
        try:
            await pilot.app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


async def settle(pilot: Any, rounds: int = 2) -> None:
    """Let workers finish and their messages land (reads are threads posting messages;
    a handler may start another read, hence more than one round)."""
    for _ in range(rounds):
        await idle(pilot)
        await pilot.pause()


async def wait_for(pilot: Any, condition: Any, timeout: float = 20.0, step: float = 0.1) -> bool:
    waited = 0.0
    while waited < timeout:
        await idle(pilot)
        await pilot.pause()
        if condition():
            return True
        await pilot.pause(step)
        waited += step
    return condition()


def viewer_context(ctx: Context, user: str = "bob") -> Context:
    operators.add_operator(ctx, user=user, role="viewer")
    return Context.open(operator=user)


# -- a fixed, realistic landlord ------------------------------------------------------

APPS = [
    # slug, organisation, template, modules, status, age
    ("nepal-congress-kathmandu", "Nepali Congress — Kathmandu", "political_party_nepal", ["election_campaign"],
     "provisioned", timedelta(days=9)),
    ("green-valley-ngo", "Green Valley NGO", "non_profit_organization", [], "provisioned", timedelta(days=8)),
    ("butwal-college", "Butwal Community College", "educational_institution", [], "failed", timedelta(days=4)),
    ("chitwan-farmers", "Chitwan Farmers' Cooperative", "community_group", [], "provisioning", timedelta(days=3)),
    ("rastriya-biratnagar", "Rastriya Swatantra — Biratnagar", "political_party_nepal", [], "approved",
     timedelta(days=2, hours=5)),
    ("spam-org", "Totally Real Org", "community_group", [], "rejected", timedelta(days=2)),
    ("bhaktapur-heritage", "Bhaktapur Heritage Trust", "non_profit_organization", ["event_management"],
     "pending", timedelta(days=1, hours=3)),
    ("janakpur-teachers", "Janakpur Teachers' Union", "community_group", ["membership_management"], "pending",
     timedelta(hours=20)),
    ("pokhara-youth-club", "Pokhara Youth Club", "community_group", ["social_media"], "pending",
     timedelta(hours=2, minutes=10)),
]

REVIEW = {"provisioned": ("notes", "documents verified"), "failed": ("notes", "documents verified"),
          "provisioning": ("notes", "ok"), "approved": ("notes", "verified by phone"),
          "rejected": ("reason", "duplicate or unverifiable organisation")}


def _event(job_id: int, name: str, status: str, start: datetime, seconds: float | None,
           detail: str | None = None, error: str | None = None) -> m.JobEvent:
    return m.JobEvent(job_id=job_id, name=name, status=status, started_at=start,
                      finished_at=None if seconds is None else start + timedelta(seconds=seconds),
                      duration_s=seconds, detail=detail, error=error)


def seed(ctx: Context) -> dict[str, int]:
    """Applications in every state, tenants (one drifted), jobs (one failed, one running),
    two servers; every timestamp fixed relative to NOW. Returns ids worth knowing."""
    for slug, org, template, modules, _status, _age in APPS:
        applications.submit(ctx, organization=org, slug=slug, email=f"admin@{slug}.example.org",
                            template=template, modules=modules, contact="Sita Sharma")
    ids: dict[str, int] = {}
    with ctx.session() as s:
        for slug, _org, _template, _modules, status, age in APPS:
            app = s.scalar(sa.select(m.Application).where(m.Application.slug == slug))
            app.submitted_at = NOW - age
            app.status = status
            if status in REVIEW:
                app.reviewed_by, app.reviewed_at = "alice", NOW - age + timedelta(hours=1)
                field, text = REVIEW[status]
                setattr(app, field, text)
            if status == "failed":
                app.error = "upgrade of revision edu_0002 (unit educational_institution) failed: table " \
                            "enrollments already exists"
            ids[slug] = app.id
        local = s.scalar(sa.select(m.Server).where(m.Server.name == "local"))
        local.reachable, local.checked_at, local.version = True, NOW, "3.45.1"
        east = m.Server(name="db-east", dialect="mariadb", url="mysql+pymysql://ops@10.0.4.21:3306",
                        capacity=200, version="10.11.6-MariaDB", reachable=False, checked_at=NOW)
        s.add(east)
        s.flush()
        for slug, template, version, drift in (("nepal-congress-kathmandu", "political_party_nepal", "2.0.0", "none"),
                                              ("green-valley-ngo", "non_profit_organization", "1.1.0", "high")):
            s.add(m.Tenant(slug=slug, organization=slug, application_id=ids[slug], server_id=local.id,
                           database=f"tenant_{slug.replace('-', '_')}", status="active", template=template,
                           template_version=version, schema_hash="ab" * 32, last_drift_severity=drift,
                           last_drift_at=NOW - timedelta(hours=6), created_at=NOW - timedelta(days=8),
                           activated_at=NOW - timedelta(days=8)))
        s.add(m.Tenant(slug="chitwan-farmers", organization="Chitwan Farmers' Cooperative",
                       application_id=ids["chitwan-farmers"], server_id=local.id, database="tenant_chitwan_farmers",
                       status="provisioning", template="community_group", template_version="1.0.0",
                       created_at=NOW - timedelta(minutes=1)))
        # job 1: a finished provisioning
        start = NOW - timedelta(days=8)
        done = m.Job(kind="provision", tenant="nepal-congress-kathmandu", params={"slug": "nepal-congress-kathmandu"},
                     status="succeeded", attempt=1, claimed_by="ops-1:4242", created_by="alice",
                     created_at=start, started_at=start, finished_at=start + timedelta(seconds=3.4))
        # job 2: failed in a template revision, cleaned up
        fstart = NOW - timedelta(days=4) + timedelta(hours=2)
        failed = m.Job(kind="provision", tenant="butwal-college", params={"slug": "butwal-college"}, status="failed",
                       attempt=1, claimed_by="ops-1:4301", created_by="alice", created_at=fstart, started_at=fstart,
                       finished_at=fstart + timedelta(seconds=1.9),
                       error="upgrade of revision edu_0002 (unit educational_institution) failed: table enrollments "
                             "already exists")
        # job 3: running now, in the basic layer
        rstart = NOW - timedelta(seconds=47)
        running = m.Job(kind="provision", tenant="chitwan-farmers", params={"slug": "chitwan-farmers"},
                        status="running", attempt=1, claimed_by="ops-2:5120", created_by="alice",
                        created_at=rstart, started_at=rstart, heartbeat_at=NOW, lease_until=NOW + timedelta(seconds=30))
        s.add_all([done, failed, running])
        s.flush()
        ids.update(done_job=done.id, failed_job=failed.id, running_job=running.id)
        t = start
        for name, secs, detail in (("validate", 0.03, "units: basic → political_party_nepal → financial_tracking"),
                                   ("place", 0.01, "server local (sqlite), database tenant_nepal_congress_kathmandu"),
                                   ("create database", 0.01, "created tenant_nepal_congress_kathmandu"),
                                   ("basic basic", 0.07, "basic 1.2.0: 4 revision(s)"),
                                   ("activate", 0.01, None), ("notify", 0.01, "welcome notification queued")):
            s.add(_event(done.id, name, "succeeded", t, secs, detail))
            t += timedelta(seconds=secs)
        t = fstart
        steps = [("validate", 0.03, "units: basic → educational_institution → financial_tracking", None, "succeeded"),
                 ("place", 0.01, "server local (sqlite), database tenant_butwal_college", None, "succeeded"),
                 ("create database", 0.01, "created tenant_butwal_college", None, "succeeded"),
                 ("basic basic", 0.07, "basic 1.2.0: 4 revision(s)", None, "succeeded"),
                 ("  apply basic · basic_0001", 0.025, "CREATE TABLE tenant_users (id INTEGER NOT NULL)", None,
                  "succeeded"),
                 ("  apply basic · basic_0002", 0.005, "CREATE TABLE settings (id INTEGER NOT NULL)", None,
                  "succeeded"),
                 ("template educational_institution", 0.04, None,
                  "upgrade of revision edu_0002 (unit educational_institution) failed: table enrollments already "
                  "exists", "failed"),
                 ("  apply educational_institution · edu_0001", 0.012,
                  "CREATE TABLE departments (id INTEGER NOT NULL)", None, "succeeded"),
                 ("  apply educational_institution · edu_0002", 0.008,
                  "CREATE TABLE students (id INTEGER NOT NULL);\nCREATE TABLE enrollments (\n    id INTEGER NOT "
                  "NULL,\n    student_id INTEGER NOT NULL\n)", "table enrollments already exists", "failed"),
                 ("cleanup", 0.02, "removed the partial database tenant_butwal_college", None, "succeeded")]
        for name, secs, detail, error, status in steps:
            s.add(_event(failed.id, name, status, t, secs, detail, error))
            t += timedelta(seconds=secs)
        t = rstart
        for name, secs, detail, status in (("validate", 0.03, "units: basic → community_group → event_management",
                                            "succeeded"),
                                           ("place", 0.01, "server local (sqlite), database tenant_chitwan_farmers",
                                            "succeeded"),
                                           ("create database", 0.01, "created tenant_chitwan_farmers", "succeeded"),
                                           ("  apply basic · basic_0001", 0.03, "CREATE TABLE tenant_users (…)",
                                            "succeeded"),
                                           ("basic basic", None, "basic 1.2.0: applying revision 2 of 4",
                                            "running")):
            s.add(_event(running.id, name, status, t, secs, detail))
            t += timedelta(seconds=secs or 0)
        # the audit and history tables are not shown by part 1 of the console
    return ids


# -- a fleet of tenant rows (no databases) -----------------------------------------------

CITIES = ("kathmandu", "pokhara", "lalitpur", "biratnagar", "butwal", "dharan", "janakpur", "nepalgunj", "hetauda",
          "bhaktapur", "chitwan", "itahari", "birgunj", "dhangadhi", "gorkha")
KINDS = ("youth", "farmers", "teachers", "party", "ngo", "college", "club", "union", "trust", "coop")
FLEET_TEMPLATES = (("political_party_nepal", "2.0.0", ("membership_management", "financial_tracking")),
                   ("community_group", "1.0.0", ("event_management",)),
                   ("non_profit_organization", "1.1.0", ("financial_tracking",)),
                   ("educational_institution", "1.0.0", ()))
SEVERITIES = ("none", "none", "none", "none", "low", "low", "medium", "high", "critical", None)
FLEET_STATUSES = ("active",) * 17 + ("suspended", "failed", "provisioning")


def seed_fleet(ctx: Context, count: int, *, seed_value: int = 7) -> list[str]:
    """``count`` tenants bulk-inserted into the landlord (fast: no tenant databases),
    deterministic for a given seed; returns their slugs."""
    import random

    rng = random.Random(seed_value)
    with ctx.session() as s:
        names = set(s.scalars(sa.select(m.Server.name)))
        for name in ("db-east", "db-west", "db-north"):
            if len(names) >= 3:
                break
            if name not in names:
                s.add(m.Server(name=name, dialect="mariadb", url=f"mysql+pymysql://ops@{name}.internal:3306",
                               capacity=6000, version="10.11.6-MariaDB", reachable=True, checked_at=NOW))
                names.add(name)
        s.flush()
        servers = [sv.id for sv in s.scalars(sa.select(m.Server).order_by(m.Server.name))]
    rows, modules, slugs = [], {}, []
    for i in range(count):
        city, kind = rng.choice(CITIES), rng.choice(KINDS)
        slug = f"{city}-{kind}-{i:05d}"
        template, version, mods = rng.choice(FLEET_TEMPLATES)
        status = rng.choice(FLEET_STATUSES)
        severity = rng.choice(SEVERITIES) if status == "active" else None
        checked = NOW - timedelta(minutes=rng.randrange(5, 60 * 24 * 20)) if severity else None
        rows.append({"slug": slug, "organization": f"{city.title()} {kind.title()} Association {i}",
                     "server_id": servers[i % len(servers)], "database": f"tenant_{slug.replace('-', '_')}",
                     "status": status, "template": template, "template_version": version,
                     "schema_hash": f"{rng.getrandbits(256):064x}", "last_drift_severity": severity,
                     "last_drift_at": checked, "created_at": NOW - timedelta(days=rng.randrange(1, 900))})
        modules[slug] = mods
        slugs.append(slug)
    with ctx.session() as s:
        s.execute(sa.insert(m.Tenant), rows)
        ids = dict(s.execute(sa.select(m.Tenant.slug, m.Tenant.id)).all())
        s.execute(sa.insert(m.TenantModule), [
            {"tenant_id": ids[slug], "module": mod, "version": "1.0.0", "position": p, "required": True,
             "reason": "required by template"} for slug, mods in modules.items() for p, mod in enumerate(mods)])
    return slugs


# -- a real, small tenant (provisioned once per module, copied per test) -----------------

SLUG = "drifty"


def provision_small(ctx: Context, slug: str = SLUG, template: str = "community_group") -> None:
    """A real tenant on the embedded SQLite server, provisioned in-process."""
    from tenantops.engine.tenants import provision as provisioner
    from tenantops.engine.jobs import worker

    applications.submit(ctx, organization=f"Org {slug}", slug=slug, email=f"admin@{slug}.example.org",
                        template=template, modules=[], contact="Sita Sharma")
    applications.approve(ctx, slug, notes="ok")
    job_id = provisioner.request_provision(ctx, slug=slug, server="local").job
    worker.work(ctx, job_id=job_id)


def freeze_times(ctx: Context) -> None:
    """Every timestamp of the landlord set relative to NOW (the snapshots show ages)."""
    base = NOW - timedelta(days=1)
    with ctx.session() as s:
        for table in m.Base.metadata.sorted_tables:
            values: dict[str, Any] = {}
            for column in table.columns:
                if isinstance(column.type, sa.DateTime):
                    values[column.name] = base + timedelta(seconds=2) if column.name == "finished_at" else base
                elif column.name == "duration_s":
                    values[column.name] = 0.05
            if values:
                s.execute(table.update().values(**values))


def make_provisioned(root: Path, cache: Path | None = None) -> Path:
    """A home with one provisioned tenant, its own config and keyring: copied into each test."""
    import os

    import keyring.core

    home = root / "home"
    env = {"TENANTOPS_HOME": str(home), "TENANTOPS_CONFIG": str(root / "absent.toml"),
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "XDG_DATA_HOME": str(root / "xdg"),
           "TENANTOPS_CACHE_DIR": str(cache or root / "cache")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("TENANTOPS_LANDLORD_URL", raising=False)
        keyring.core._keyring_backend = None
        ctx = Context.open(operator="alice")
        provision_small(ctx)
        freeze_times(ctx)
        ctx.close()
    keyring.core._keyring_backend = None
    assert os.environ.get("TENANTOPS_HOME") != str(home)
    return home


def use_home(template: Path, home: Path) -> None:
    """Copy a prepared home into this test's home; the embedded server follows it."""
    import shutil

    shutil.copytree(template, home, dirs_exist_ok=True)
    ctx = Context.open()
    with ctx.session() as s:
        s.execute(sa.update(m.Server).where(m.Server.name == "local").values(url=f"sqlite:///{home / 'tenants'}"))
    ctx.close()


def behind_the_back(ctx: Context, slug: str, statements: list[str]) -> None:
    """Change a tenant database with raw SQL, as someone with a SQL client would."""
    from tenantops.engine.servers.adapters import adapter_for

    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        server = s.get(m.Server, tenant.server_id)
    adapter = adapter_for(server)
    try:
        with adapter.engine(tenant.database).begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        adapter.dispose()
