"""The tenant lifecycle (issue 20): suspend/resume lock and unlock the application's
account; archive keeps a pinned final backup, drops the database and reserves the slug;
unarchive brings the rows back. SQLite and MariaDB alike, through the real CLI."""
from __future__ import annotations

from typing import Any

import pymysql
import pytest
import sqlalchemy as sa

from cli import run
from helpers import execute_sql, provision_via_cli, tenant_engine
from tenantops.engine import secrets
from tenantops.engine.context import Context
from tenantops.engine.errors import ServerError
from tenantops.engine.landlord import models as m
from tenantops.engine.servers.adapters import adapter_for


provision = provision_via_cli


def show(slug: str) -> dict[str, Any]:
    r = run("tenants", "show", slug, "--json")
    assert r.code == 0, r.err
    return r.json()


def counts() -> tuple[int, int]:
    """Jobs and backups in the landlord: a refusal must change neither."""
    ctx = Context.open()
    with ctx.session() as s:
        found = (s.scalar(sa.select(sa.func.count()).select_from(m.Job)) or 0,
                 s.scalar(sa.select(sa.func.count()).select_from(m.Backup)) or 0)
    ctx.close()
    return found


def application_login(slug: str) -> None:
    """Connect the way the tenant's application does: its own account, never the admin's."""
    ctx = Context.open()
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        server = s.get(m.Server, tenant.server_id)
        s.expunge_all()
    adapter = adapter_for(server)
    try:
        password = (secrets.get_secret(secrets.tenant_user_key(server.name, tenant.database), required=False)
                    if tenant.db_user else "")
        url = adapter.user_url(tenant.database, tenant.db_user or "", password or "")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT COUNT(*) FROM alembic_version").scalar_one()
        engine.dispose()
    finally:
        adapter.dispose()
        ctx.close()


def login_refused(slug: str) -> bool:
    try:
        application_login(slug)
    except ServerError as exc:           # SQLite: the adapter's flag
        return "locked" in str(exc)
    except sa.exc.OperationalError as exc:   # MariaDB: ACCOUNT LOCK
        orig = exc.orig
        return isinstance(orig, pymysql.err.OperationalError) and "locked" in str(orig).lower()
    return False


def test_suspend_locks_the_application_and_resume_unlocks_it(server: str) -> None:
    provision("ward-five", server)
    application_login("ward-five")

    r = run("tenants", "suspend", "ward-five")
    assert r.code == 2 and "--reason" in r.err
    before = counts()
    r = run("tenants", "suspend", "ward-fiv", "--reason", "typo")
    assert r.code == 1 and "ward-fiv" in r.err and counts() == before

    r = run("tenants", "suspend", "ward-five", "--reason", "invoice overdue", "--json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "succeeded" and isinstance(r.json()["job"], int)
    doc = show("ward-five")
    assert doc["status"] == "suspended" and doc["suspended_reason"] == "invoice overdue"
    assert login_refused("ward-five")

    # suspended: no day-2 change, and suspending again is refused without a job
    before = counts()
    r = run("modules", "add", "ward-five", "social_media")
    assert r.code == 1 and "suspended" in r.err and counts() == before
    r = run("tenants", "suspend", "ward-five", "--reason", "again")
    assert r.code == 1 and counts() == before
    listed = run("tenants", "list", "--status", "suspended", "--json").json()
    assert [t["slug"] for t in listed] == ["ward-five"]
    assert run("tenants", "list", "--status", "active", "--json").json() == []

    r = run("tenants", "resume", "ward-five")
    assert r.code == 0, r.err
    assert show("ward-five")["status"] == "active"
    application_login("ward-five")

    audit = run("audit", "--json").json()
    actions = [(e["action"], e["outcome"]) for e in audit if e["target"] == "ward-five"]
    assert ("tenants.suspend", "ok") in actions and ("tenants.resume", "ok") in actions


def test_a_viewer_cannot_suspend(server: str, as_operator) -> None:
    provision("ward-six", server)
    assert run("operators", "add", "vic", "--role", "viewer").code == 0
    as_operator("vic")
    before = counts()
    r = run("tenants", "suspend", "ward-six", "--reason", "x")
    assert r.code == 1 and "admin" in r.err and counts() == before


def test_archive_keeps_a_pinned_backup_and_unarchive_brings_the_rows_back(server: str) -> None:
    provision("old-club", server)
    execute_sql("old-club", ["INSERT INTO community_projects (name) VALUES ('Hari Bahadur')",
                             "INSERT INTO community_projects (name) VALUES ('Gita Rai')"])
    ctx = Context.open()
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == "old-club"))
        database, server_row = tenant.database, s.get(m.Server, tenant.server_id)
        s.expunge_all()
    ctx.close()

    before = counts()
    r = run("tenants", "archive", "old-club")
    assert r.code == 1 and "--confirm old-club" in r.err and counts() == before
    r = run("tenants", "archive", "old-club", "--dry-run", "--json")
    assert r.code == 0 and f"database {database}" in r.json()["drops"] and counts() == before

    r = run("tenants", "archive", "old-club", "--confirm", "old-club")
    assert r.code == 0, r.err
    doc = show("old-club")
    assert doc["status"] == "archived" and doc["server"] is None
    adapter = adapter_for(server_row)
    assert not adapter.database_exists(database)
    adapter.dispose()
    final = run("backups", "list", "old-club", "--json").json()[0]
    assert final["reason"] == "archive" and final["pinned"] is True

    # the slug stays reserved
    r = run("applications", "submit", "--org", "Someone Else", "--slug", "old-club", "--email", "x@example.org",
            "--template", "community_group")
    assert r.code == 1 and "old-club" in r.err
    # archived tenants take no change
    assert run("modules", "add", "old-club", "social_media").code == 1

    r = run("tenants", "unarchive", "old-club", "--json")
    assert r.code == 0, r.err
    doc = show("old-club")
    assert doc["status"] == "active" and doc["server"] == server_row.name
    ctx = Context.open()
    engine = tenant_engine(ctx, "old-club")
    with engine.connect() as conn:
        names = sorted(conn.exec_driver_sql("SELECT name FROM community_projects").scalars())
    engine.dispose()
    ctx.close()
    assert names == ["Gita Rai", "Hari Bahadur"]
    application_login("old-club")
    r = run("drift", "old-club", "--json")
    assert r.code == 0 and r.json()["severity"] == "none", r.out


@pytest.mark.mariadb
def test_archiving_its_last_tenant_lets_the_server_be_removed(mariadb) -> None:
    from tenantops.engine.servers import registry

    ctx = Context.open()
    registry.add_server(ctx, name="db9", url=mariadb.url, capacity=10, password=mariadb.admin_password)
    ctx.close()
    try:
        provision("leaving-org", "db9")
        r = run("servers", "remove", "db9")
        assert r.code == 1 and "move or archive" in r.err
        assert run("tenants", "archive", "leaving-org", "--confirm", "leaving-org").code == 0
        r = run("servers", "remove", "db9")
        assert r.code == 0, r.err
        # it comes back onto whatever server can take it now
        r = run("tenants", "unarchive", "leaving-org", "--server", "db9")
        assert r.code == 1 and "db9" in r.err
    finally:
        from conftest import drop_tenants
        drop_tenants(mariadb)


def test_tenants_list_refuses_an_unknown_status() -> None:
    r = run("tenants", "list", "--status", "bogus")
    assert r.code == 2 and "bogus" in r.err


def test_tenants_show_reports_health(server: str) -> None:
    provision("health-club", server)
    health = show("health-club")["health"]
    ctx = Context.open()
    engine = tenant_engine(ctx, "health-club")
    with engine.connect() as conn:
        tables = len(sa.inspect(conn).get_table_names())
    engine.dispose()
    ctx.close()
    assert health["reachable"] is True and health["tables"] == tables and health["size_bytes"] > 0
    assert health["rows_estimate"] >= 0
    assert health["last_snapshot"]["source"] == "provision"
    assert health["last_backup"] is None and health["pinned_backups"] == 0 and health["compliance"] is None
    assert run("modules", "add", "health-club", "social_media").code == 0
    assert run("modules", "remove", "health-club", "social_media", "--confirm", "health-club").code == 0
    health = show("health-club")["health"]
    assert health["last_backup"]["reason"] == "modules remove social_media" and health["pinned_backups"] == 1
    human = run("tenants", "show", "health-club")
    assert human.code == 0 and "pinned" in human.out and "last snapshot" in human.out
