"""Least privilege on MariaDB: a tenant's application user reads and writes data in its
own database and nothing else; schema changes run as the server's admin account
(docs/reliability.md §10)."""
from __future__ import annotations

import os
from pathlib import Path

import pymysql
import pytest

from cli import run
from conftest import drop_tenants
from helpers import approved
from tenantops.engine import secrets
from tenantops.engine.context import Context


def _connect(mariadb, user: str, password: str, database: str) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=mariadb.port, user=user, password=password, database=database,
                           autocommit=True, ssl_disabled=True)


@pytest.mark.mariadb
@pytest.mark.parametrize("host", ["%", "127.0.0.1"])
def test_tenant_user_gets_data_privileges_only(mariadb, tenantops_env: Path, host: str) -> None:
    if host != "%":
        Path(os.environ["TENANTOPS_CONFIG"]).write_text(f'tenant_user_host = "{host}"\n')
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 0, r.err
    ctx = Context.open()
    approved(ctx, "least-org", template="community_group")
    ctx.close()
    try:
        assert run("provision", "least-org", "--server", "db1").code == 0
        tenant = run("tenants", "show", "least-org", "--json").json()
        database = tenant["database"]
        user = [u for (u,) in mariadb.execute("SELECT User FROM mysql.user WHERE User LIKE 'tu\\_%'")]
        assert len(user) == 1
        user = user[0]
        hosts = [h for (h,) in mariadb.execute(f"SELECT Host FROM mysql.user WHERE User = '{user}'")]
        assert hosts == [host]
        grants = " ".join(g for (g,) in mariadb.execute(f"SHOW GRANTS FOR '{user}'@'{host}'"))
        assert "SELECT, INSERT, UPDATE, DELETE, EXECUTE ON" in grants and "ALL PRIVILEGES" not in grants, grants
        password = secrets.get_secret(secrets.tenant_user_key("db1", database))
        conn = _connect(mariadb, user, password, database)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO tenant_users (uuid, first_name, last_name, email, password_hash, tenant_id, "
                            "status) VALUES ('00000000-0000-0000-0000-000000000042', 'A', 'B', 'a@x.example.org', "
                            "'x', 1, 'active')")
                cur.execute("UPDATE tenant_users SET last_name = 'C' WHERE email = 'a@x.example.org'")
                cur.execute("SELECT COUNT(*) FROM tenant_users")
                assert cur.fetchone()[0] == 2  # the first admin and ours
                cur.execute("DELETE FROM tenant_users WHERE email = 'a@x.example.org'")
                for statement in ("CREATE TABLE sneaky (id INT)", "DROP TABLE tenant_users",
                                  "ALTER TABLE tenant_users ADD COLUMN x INT", "CREATE DATABASE tenant_other",
                                  "GRANT SELECT ON *.* TO CURRENT_USER"):
                    with pytest.raises(pymysql.err.MySQLError) as denied:
                        cur.execute(statement)
                    assert denied.value.args[0] in (1044, 1142, 1045, 1227), (statement, denied.value.args)
                cur.execute("SHOW TABLES")
                assert "sneaky" not in {t for (t,) in cur.fetchall()}
        finally:
            conn.close()
        # migrations still work: they run as the admin account
        assert run("modules", "add", "least-org", "social_media").code == 0
        assert run("drift", "least-org", "--json").json()["severity"] == "none"
    finally:
        drop_tenants(mariadb)

