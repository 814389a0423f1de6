"""Leftovers of older versions on an upgraded install: tenant users with ALL PRIVILEGES
and setup links in clear in the outbox are found by `doctor` and fixed by the command
it names (docs/reliability.md §10)."""
from __future__ import annotations

import pymysql
import pytest
import sqlalchemy as sa
from alembic import command

from cli import run
from conftest import drop_tenants
from helpers import approved
from test_hardening_concurrency import landlord  # noqa: F401 - the SQLite/MariaDB landlord fixture
from tenantops.engine import secrets
from tenantops.engine.context import Context
from tenantops.engine.landlord import store
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.outbox import LINK_PLACEHOLDER, REDACTED, link_key
from tenantops.engine.tenants import notify

OLD_LINK = "https://old-org.example.org/setup?token=Zq3-old-clear-token-4f9a"
OLD_BODY = f"Welcome to your new workspace 'old-org'.\n\nSet your password here (the link works once): {OLD_LINK}\n"


def _findings(kind: str) -> list[dict]:
    r = run("doctor", "--json")
    assert "Traceback" not in r.err, r.err
    return [f for f in r.json()["findings"] if f["kind"] == kind]


def _old_outbox_rows() -> tuple[int, int]:
    """What an older version left: a pending welcome and a sent one, links in clear."""
    ctx = Context.open()
    approved(ctx, "old-org", template="community_group")
    with ctx.session() as s:
        tenant = m.Tenant(slug="old-org", organization="Org old-org", template="community_group", status="active")
        s.add(tenant)
        s.flush()
        pending = m.Notification(tenant_id=tenant.id, recipient="admin@old-org.example.org",
                                 subject="Your workspace old-org is ready", body=OLD_BODY)
        sent = m.Notification(tenant_id=tenant.id, recipient="former@old-org.example.org", status="sent",
                              subject="Your workspace old-org is ready", body=OLD_BODY.replace("Zq3", "Sent"))
        s.add_all([pending, sent])
        s.flush()
        ids = pending.id, sent.id
    ctx.close()
    return ids


def _bodies() -> dict[int, str]:
    ctx = Context.open()
    with ctx.session() as s:
        bodies = {n.id: n.body for n in s.scalars(sa.select(m.Notification))}
    ctx.close()
    return bodies


def test_clear_setup_links_are_reported_and_moved_to_the_keyring_by_init(landlord: str) -> None:  # noqa: F811
    pending, sent = _old_outbox_rows()
    found = _findings("clear_secret_at_rest")
    assert [(f["target"], f["fix"]) for f in found] == [
        (f"notification {pending}", "tenantops init (moves the link into the keyring; the landlord keeps none)"),
        (f"notification {sent}", "tenantops init (moves the link into the keyring; the landlord keeps none)")]
    assert "token" not in " ".join(f["detail"] for f in found)  # the finding does not repeat the secret
    r = run("init", "--json")
    assert r.code == 0 and r.json()["changed"] is True, r.err
    bodies = _bodies()
    assert LINK_PLACEHOLDER in bodies[pending] and REDACTED in bodies[sent]
    assert not any("token=" in body for body in bodies.values())
    assert secrets.get_secret(link_key(pending)) == OLD_LINK  # sent with the message, then deleted
    assert secrets.get_secret(link_key(sent), required=False) is None
    ctx = Context.open()
    assert notify.setup_link(ctx, "old-org") == OLD_LINK  # the operator can still see it once
    ctx.close()
    assert _findings("clear_secret_at_rest") == []
    assert run("init", "--json").json()["changed"] is False  # a second run finds nothing to do
    assert _bodies() == bodies


def test_upgrading_an_old_landlord_moves_clear_links_without_being_asked(landlord: str) -> None:  # noqa: F811
    pending, _ = _old_outbox_rows()
    ctx = Context.open()
    # the store as the previous version left it: its own downgrades, not a forged stamp,
    # so later revisions' columns are gone too
    with ctx.engine.begin() as conn:
        command.downgrade(store._alembic_config(conn), "0003_custom_review")
    ctx.close()
    assert run("jobs", "list", "--json").code == 0  # any command upgrades the store
    assert LINK_PLACEHOLDER in _bodies()[pending]
    assert secrets.get_secret(link_key(pending)) == OLD_LINK


def _connect(mariadb, user: str, password: str, database: str) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=mariadb.port, user=user, password=password, database=database,
                           autocommit=True, ssl_disabled=True)


@pytest.mark.mariadb
def test_tenant_users_with_all_privileges_are_reported_and_reduced(mariadb) -> None:
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 0, r.err
    ctx = Context.open()
    approved(ctx, "grant-org", template="community_group")
    ctx.close()
    try:
        assert run("provision", "grant-org", "--server", "db1").code == 0
        tenant = run("tenants", "show", "grant-org", "--json").json()
        database = tenant["database"]
        (user,) = [u for (u,) in mariadb.execute("SELECT User FROM mysql.user WHERE User LIKE 'tu\\_%'")]
        # what older versions did
        mariadb.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%' WITH GRANT OPTION")
        password = secrets.get_secret(secrets.tenant_user_key("db1", database))
        conn = _connect(mariadb, user, password, database)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE proof_of_old_grants (id INT)")
            cur.execute("DROP TABLE proof_of_old_grants")
        conn.close()

        (found,) = _findings("excess_privileges")
        assert (found["server"], found["target"], found["fix"]) == ("db1", f"{user}@%", "tenantops servers harden db1")
        assert f"CREATE ON {database}" in found["detail"] and f"GRANT OPTION ON {database}" in found["detail"]

        r = run("servers", "harden", "db1", "--json")
        assert r.code == 0, r.err
        (reduced,) = r.json()["reduced"]
        assert (reduced["tenant"], reduced["user"], reduced["host"]) == ("grant-org", user, "%")
        assert f"DROP ON {database}" in reduced["removed"]
        assert _findings("excess_privileges") == []
        conn = _connect(mariadb, user, password, database)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM tenant_users")  # data still works
                assert cur.fetchone()[0] == 1
                for statement in ("CREATE TABLE sneaky (id INT)", "DROP TABLE tenant_users",
                                  f"GRANT SELECT ON `{database}`.* TO CURRENT_USER"):
                    with pytest.raises(pymysql.err.MySQLError) as denied:
                        cur.execute(statement)
                    assert denied.value.args[0] in (1044, 1142, 1227), (statement, denied.value.args)
        finally:
            conn.close()
        assert run("servers", "harden", "db1", "--json").json() == {"server": "db1", "reduced": []}
        audit = [e for e in run("audit", "--json").json() if e["action"] == "servers.harden"]
        assert [e["outcome"] for e in audit] == ["ok", "ok"]
    finally:
        drop_tenants(mariadb)


def test_harden_needs_a_dba(as_operator) -> None:
    assert run("operators", "add", "vera", "--role", "viewer").code == 0
    as_operator("vera")
    r = run("servers", "harden", "local")
    assert r.code == 1 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
