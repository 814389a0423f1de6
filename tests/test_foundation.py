"""Foundation: landlord store, operators and roles, audit, servers, secrets, config."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cli import run
from tenantops.engine.servers import registry as servers
from tenantops.engine.context import Context
from tenantops.engine.errors import PermissionDenied


def test_init_makes_current_login_owner_and_registers_local(tenantops_env: Path) -> None:
    r = run("init", "--json")
    assert r.code == 0, r.err
    assert r.json()["role"] == "owner" and r.json()["operator"] == "alice"
    assert (tenantops_env / "landlord.db").exists()
    names = [s["name"] for s in run("servers", "list", "--json").json()]
    assert names == ["local"]
    # a second init changes nothing and keeps alice the only owner
    assert run("init", "--json").json()["changed"] is False
    ops = run("operators", "list", "--json").json()
    assert [(o["user"], o["role"]) for o in ops] == [("alice", "owner")]


def test_landlord_is_wal_with_foreign_keys(tenantops_env: Path) -> None:
    ctx = Context.open()
    with ctx.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    ctx.close()


def test_viewer_is_denied_and_audited(as_operator) -> None:
    assert run("operators", "add", "bob", "--role", "viewer").code == 0
    as_operator("bob")
    r = run("operators", "add", "mallory", "--role", "owner")
    assert r.code == 1
    assert r.err.strip() == "tenantops: operators.add needs the owner role; bob has viewer"
    assert "Traceback" not in r.err
    # the engine refuses too, not only the CLI
    ctx = Context.open()
    with pytest.raises(PermissionDenied):
        servers.add_server(ctx, name="x", url="sqlite:////tmp/x")
    ctx.close()
    as_operator("alice")
    entries = run("audit", "--json").json()
    denied = [e for e in entries if e["outcome"] == "denied"]
    assert [(e["operator"], e["action"], e["target"]) for e in denied] == [
        ("bob", "operators.add", "mallory"), ("bob", "servers.add", "x")]
    assert [o["user"] for o in run("operators", "list", "--json").json()] == ["alice", "bob"]


def test_unregistered_login_cannot_mutate(as_operator) -> None:
    run("init")
    as_operator("eve")
    r = run("operators", "remove", "alice")
    assert r.code == 1 and "not a registered operator" in r.err


def test_last_owner_cannot_be_removed() -> None:
    r = run("operators", "remove", "alice")
    assert r.code == 1 and "last owner" in r.err


def test_audit_since_filters_and_rejects_bad_dates() -> None:
    run("operators", "add", "bob", "--role", "admin")
    assert len(run("audit", "--since", "2000-01-01T00:00:00Z", "--json").json()) >= 2
    assert run("audit", "--since", "2999-01-01", "--json").json() == []
    r = run("audit", "--since", "yesterday")
    assert r.code == 2 and "--since: 'yesterday' is not an ISO 8601" in r.err  # a usage error (CLI.md)


def test_usage_errors_exit_2_with_one_line() -> None:
    r = run("servers", "frobnicate")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1


def test_bad_config_is_one_clear_line(tenantops_env: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('backup_retention = "many"\n')
    r = run("servers", "list")
    assert r.code == 1
    assert r.err.strip() == f"tenantops: {cfg}: backup_retention: expected an integer, got 'many'"
    cfg.write_text('[smtp]\npassword = "hunter2"\n')
    r = run("servers", "list")
    assert r.code == 1 and "secrets do not belong in the config" in r.err
    cfg.write_text("environment = [\n")
    assert "not valid TOML" in run("servers", "list").err
    assert not (tenantops_env / "landlord.db").exists()  # nothing was created


def test_missing_keyring_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, mariadb) -> None:
    run("init")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring.core

    keyring.core._keyring_backend = None
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 1
    assert "no usable keyring backend" in r.err and "Traceback" not in r.err
    assert mariadb.admin_password not in r.err + r.out
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no.such.Backend")
    keyring.core._keyring_backend = None
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 1 and "keyring backend cannot be loaded" in r.err
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    keyring.core._keyring_backend = None
    assert [s["name"] for s in run("servers", "list", "--json").json()] == ["local"]


def test_servers_add_check_remove_mariadb_keeps_password_secret(
        tenantops_env: Path, tmp_path: Path, mariadb) -> None:
    password = mariadb.admin_password
    r = run("servers", "add", "db1", mariadb.url, "--capacity", "5", "--password-stdin", "--json",
            stdin=password + "\n")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["dialect"] == "mariadb" and doc["version"].startswith("10.") and doc["capacity"] == 5
    assert doc["url"] == mariadb.url
    listed = {s["name"]: s for s in run("servers", "list", "--json").json()}
    assert listed["db1"]["reachable"] is True and listed["db1"]["tenants"] == 0
    check = run("servers", "check", "db1", "--json")
    assert check.code == 0 and check.json()["reachable"] is True
    outputs = r.out + r.err + check.out + check.err + run("audit", "--json").out
    assert password not in outputs
    # the password is in none of the landlord file, its WAL, or the config
    for path in tenantops_env.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    assert run("servers", "add", "db2", mariadb.url.replace("ops@", f"ops:{password}@")).code == 1
    assert run("servers", "remove", "db1").code == 0
    assert [s["name"] for s in run("servers", "list", "--json").json()] == ["local"]


def test_unreachable_server_check_reports_not_raises(mariadb) -> None:
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 0
    ctx = Context.open()
    with ctx.session() as s:
        from tenantops.engine.landlord import models as m
        import sqlalchemy as sa

        s.execute(sa.update(m.Server).where(m.Server.name == "db1")
                  .values(url="mysql+pymysql://ops@127.0.0.1:1"))
    ctx.close()
    r = run("servers", "check", "db1", "--json")
    assert r.code == 1 and r.json()["reachable"] is False
    assert "unreachable" in r.err and "Traceback" not in r.err


def test_wrong_server_password_is_refused_cleanly(mariadb) -> None:
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin="not-the-password\n")
    assert r.code == 1 and "Access denied" in r.err
    assert [s["name"] for s in run("servers", "list", "--json").json()] == ["local"]


def test_mariadb_landlord(mariadb, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same commands work against a MariaDB landlord, password from the keyring."""
    mariadb.execute("CREATE DATABASE IF NOT EXISTS landlord_t CHARACTER SET utf8mb4")
    url = f"{mariadb.url}/landlord_t"
    try:
        r = run("--landlord", url, "init", "--password-stdin", "--json", stdin=mariadb.admin_password + "\n")
        assert r.code == 0, r.err
        assert r.json()["role"] == "owner"
        monkeypatch.setenv("TENANTOPS_LANDLORD_URL", url)
        assert run("operators", "add", "bob", "--role", "dba").code == 0
        assert {o["user"] for o in run("operators", "list", "--json").json()} == {"alice", "bob"}
        assert [e["action"] for e in run("audit", "--json").json()] == ["operators.bootstrap", "operators.add"]
        tables = {r[0] for r in mariadb.execute("SHOW TABLES", database="landlord_t")}
        assert {"tenants", "jobs", "audit_log", "alembic_version"} <= tables
        assert run("servers", "list", "--json").json()[0]["name"] == "local"
    finally:
        mariadb.execute("DROP DATABASE IF EXISTS landlord_t")


def test_newer_landlord_is_refused(tenantops_env: Path) -> None:
    run("init")
    con = sqlite3.connect(tenantops_env / "landlord.db")
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    r = run("servers", "list")
    assert r.code == 1
    assert "which this tenantops does not know" in r.err


def test_parallel_workers_never_lose_keyring_entries(tenantops_env: Path) -> None:
    """File keyrings rewrite their whole file: without a lock, parallel worker processes
    lost each other's passwords (found by bench_throughput)."""
    import subprocess
    import sys

    code = ("import sys; from tenantops.engine import secrets\n"
            "for i in range(25): secrets.set_secret(f'p{sys.argv[1]}-{i}', f'v{sys.argv[1]}-{i}')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(4)]
    assert [p.wait() for p in procs] == [0, 0, 0, 0]
    from tenantops.engine import secrets

    missing = [f"p{n}-{i}" for n in range(4) for i in range(25)
               if secrets.get_secret(f"p{n}-{i}", required=False) != f"v{n}-{i}"]
    assert missing == []


def test_json_documents_carry_the_contract_fields() -> None:
    """CLI.md fixes the fields of each JSON document: scripts rely on them."""
    from helpers import approved

    ctx = Context.open()
    approved(ctx, "contract-org", template="community_group")
    ctx.close()
    assert run("provision", "contract-org").code == 0
    app = run("applications", "show", "contract-org", "--json").json()
    assert {"id", "slug", "organization", "email", "template", "modules", "status", "reviewed_by", "notes",
            "submitted_at"} <= set(app)
    tenant = run("tenants", "show", "contract-org", "--json").json()
    assert {"slug", "status", "server", "database", "template", "modules", "migrations", "schema_hash",
            "last_drift", "admin_user"} <= set(tenant)
    assert set(tenant["migrations"]) == {"basic", "template", "module", "custom"}
    job = run("jobs", "list", "--json").json()[0]
    assert {"id", "kind", "tenant", "status", "steps"} <= set(job)
    assert {"name", "status", "started_at", "finished_at", "duration_s", "detail", "error"} <= set(job["steps"][0])
    history = run("history", "contract-org", "--json").json()[0]
    assert {"batch", "layer", "unit", "revision", "action", "checksum", "operator", "started_at", "duration_s",
            "outcome", "error"} <= set(history)
    server = run("servers", "list", "--json").json()[0]
    assert {"name", "dialect", "url", "version", "capacity", "tenants", "reachable", "draining"} <= set(server)
    operator = run("operators", "list", "--json").json()[0]
    assert {"user", "role", "added_by", "added_at"} <= set(operator)
    entry = run("audit", "--json").json()[0]
    assert {"id", "at", "operator", "action", "target", "params", "outcome", "error"} <= set(entry)
    report = run("drift", "contract-org", "--json").json()
    assert {"tenant", "checked_at", "severity", "score", "expected_hash", "actual_hash", "differences"} <= set(report)
    repair = run("repair", "contract-org", "--dry-run", "--json").json()
    assert {"tenant", "strategy", "dry_run", "operations", "applied", "skipped", "backup", "quarantine",
            "severity_after"} <= set(repair)
    doctor = run("doctor", "--json").json()
    assert set(doctor) == {"findings"}
    for listing in (["applications", "list"], ["tenants", "list"], ["jobs", "list"], ["audit"],
                    ["history", "contract-org"], ["backups", "list", "contract-org"],
                    ["quarantine", "list", "contract-org"], ["drift", "--all"]):
        assert isinstance(run(*listing, "--json").json(), list), listing
