"""Hardening: secrets stay in the keyring.

A tenant is provisioned on MariaDB (server added with --password-stdin), gets a module,
loses it again (backup first), has a backup restored, and is inspected with every read
command. Then everything tenantops wrote or printed is scanned for the server's admin
password and the tenant user's password: none may appear anywhere but the keyring.
"""
from __future__ import annotations

import base64
import gzip
import os
import tempfile
import urllib.parse
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import Result, run
from conftest import drop_tenants
from tenantops.engine import secrets
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m


def _forms(secret: str) -> list[bytes]:
    """The ways a secret could be written down: clear, URL-quoted, base64, hex."""
    raw = secret.encode()
    return sorted({raw, urllib.parse.quote(secret, safe="").encode(), base64.b64encode(raw),
                   base64.urlsafe_b64encode(raw), raw.hex().encode()}, key=len)


@pytest.mark.mariadb
def test_passwords_never_leave_the_keyring(mariadb, tenantops_env: Path, tmp_path: Path) -> None:
    config = Path(os.environ["TENANTOPS_CONFIG"])
    config.write_text('environment = "staging"\n')
    outputs: list[tuple[tuple[str, ...], Result]] = []

    def cli(*argv: str, stdin: str | None = None, ok: bool = True) -> Result:
        r = run(*argv, stdin=stdin)
        outputs.append((argv, r))
        if ok:
            assert r.code == 0, (argv, r.err)
        return r

    mariadb.execute("SET GLOBAL general_log = 0", "TRUNCATE TABLE mysql.general_log",
                    "SET GLOBAL log_output = 'TABLE'", "SET GLOBAL general_log = 1")
    try:
        _exercise(cli, mariadb)
        mariadb.execute("SET GLOBAL general_log = 0")
        general_log = b"\n".join(a if isinstance(a, bytes) else str(a).encode()
                                 for (a,) in mariadb.execute("SELECT argument FROM mysql.general_log"))
        ctx = Context.open()
        with ctx.session() as s:
            tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == "sec-org"))
            events = [(e.name, e.detail, e.error) for e in s.scalars(sa.select(m.JobEvent))]
            audit = [(a.action, a.target, repr(a.params), a.error) for a in s.scalars(sa.select(m.AuditEntry))]
        ctx.close()
    finally:
        mariadb.execute("SET GLOBAL general_log = 0", "SET GLOBAL log_output = 'FILE'",
                        "TRUNCATE TABLE mysql.general_log")
        drop_tenants(mariadb)
    tenant_password = secrets.get_secret(secrets.tenant_user_key("db1", tenant.database))
    admin_password = mariadb.admin_password
    assert tenant.status == "active" and tenant_password and len(tenant_password) >= 24

    places: dict[str, bytes] = {}
    home = tenantops_env
    for path in [*home.rglob("*"), config]:
        if path.is_file():
            places[str(path)] = path.read_bytes()
            if path.suffix == ".gz":
                places[f"{path} (unpacked)"] = gzip.decompress(path.read_bytes())
    assert any(p.endswith("landlord.db") for p in places) and any("/logs/" in p for p in places)
    assert any(p.endswith(".sql.gz (unpacked)") for p in places), "no backup was taken"
    for argv, r in outputs:
        places[f"tenantops {' '.join(argv)}"] = (r.out + r.err).encode()
    places["job events"] = repr(events).encode()
    places["audit log"] = repr(audit).encode()
    places["MariaDB general log"] = general_log
    assert b"tenant_sec_org" in general_log and b"CREATE USER" in general_log  # the log did record the work
    for tmp in Path(tempfile.gettempdir()).glob("tenantops-*.cnf"):  # dump option files must be gone
        try:
            places[str(tmp)] = tmp.read_bytes()
        except OSError:
            pass

    for label, secret in (("server admin password", admin_password), ("tenant user password", tenant_password)):
        for form in _forms(secret):
            leaks = [where for where, content in places.items() if form in content]
            assert not leaks, f"the {label} appears in: {leaks}"
    # control: the keyring does hold both, and this scan finds them there (so it would elsewhere)
    assert secrets.get_secret(secrets.server_key("db1")) == admin_password
    keyring_file = Path(secrets.backend().file_path).read_bytes()
    for secret in (admin_password, tenant_password):
        assert any(form in keyring_file for form in _forms(secret))


def _exercise(cli, mariadb) -> None:
    """Every kind of operation that touches a password or a tenant database."""
    cli("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    cli("servers", "check", "db1")
    cli("applications", "submit", "--org", "Secret Org", "--slug", "sec-org", "--email", "s@example.org",
        "--template", "community_group", "--contact", "Sita")
    cli("applications", "approve", "sec-org")
    cli("provision", "sec-org", "--server", "db1")
    cli("modules", "add", "sec-org", "social_media")
    cli("modules", "remove", "sec-org", "social_media", "--confirm", "sec-org")
    backups = cli("backups", "list", "sec-org", "--json").json()
    cli("backups", "restore", "sec-org", str(backups[-1]["id"]), "--confirm", "sec-org")
    cli("modules", "add", "sec-org", "no_such_module", ok=False)  # a refusal is printed too
    for argv in (("servers", "list", "--json"), ("tenants", "show", "sec-org", "--json"), ("tenants", "list"),
                 ("jobs", "list", "--json"), ("history", "sec-org", "--json"), ("audit", "--json"), ("audit",),
                 ("backups", "list", "sec-org", "--json"), ("locks", "list", "--json"),
                 ("applications", "show", "sec-org", "--json"), ("provision", "sec-org", "--dry-run")):
        cli(*argv, ok=argv[0] != "provision")
    cli("doctor", "--json", ok=False)
    for job in cli("jobs", "list", "--json").json():
        cli("jobs", "show", str(job["id"]), "--json")
