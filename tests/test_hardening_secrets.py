"""Hardening: secrets stay in the keyring.

A tenant is provisioned on MariaDB (server added with --password-stdin), gets a module,
loses it again (backup first), has a backup restored, and is inspected with every read
command. Then everything tenantops wrote or printed is scanned for the server's admin
password and the tenant user's password: none may appear anywhere but the keyring.
"""
from __future__ import annotations

import base64
import configparser
import gzip
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import Result, run
from conftest import drop_tenants
from helpers import approved, tenant_engine
from tenantops.engine import secrets
from tenantops.engine.servers import registry as servers
from tenantops.engine.tenants import modules, notify
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
    cli("provision", "--all-approved")  # fan-out: a worker process (db1, the only real server), its log
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


def test_setup_token_is_never_stored_in_clear(server: str, tenantops_env: Path) -> None:
    """The first admin's one-time setup token: shown once to the operator, kept (as the
    link) in the keyring until the welcome mail goes out; the landlord, the outbox, the
    logs, the backups and the tenant database hold at most its scrypt hash."""
    ctx = Context.open()
    approved(ctx, "tok-org", template="community_group")
    ctx.close()
    r = run("provision", "tok-org", "--server", server)
    assert r.code == 0, r.err
    token = re.search(r"token=([A-Za-z0-9_-]{20,})", r.err).group(1)
    assert run("modules", "add", "tok-org", "social_media").code == 0  # a backup holding tenant_users
    assert run("tenants", "show", "tok-org", "--json").json()["admin_user"]["must_change_password"] is True

    places: dict[str, bytes] = {}
    ctx = Context.open()
    with ctx.engine.connect() as conn:  # the landlord's WAL exists while a connection is open
        conn.exec_driver_sql("SELECT COUNT(*) FROM notifications").scalar()
        for path in [*tenantops_env.rglob("*"), Path(os.environ["TENANTOPS_CONFIG"])]:
            if path.is_file():
                places[str(path)] = path.read_bytes()
                if path.suffix == ".gz":
                    places[f"{path} (unpacked)"] = gzip.decompress(path.read_bytes())
    with ctx.session() as s:
        outbox = [(n.recipient, n.subject, n.body, n.error) for n in s.scalars(sa.select(m.Notification))]
        rows = [repr([tuple(row) for row in s.execute(sa.select(table))]) for table in m.Base.metadata.sorted_tables]
    engine = tenant_engine(ctx, "tok-org")
    with engine.connect() as conn:
        tenant_rows = repr(conn.execute(sa.text("SELECT * FROM tenant_users")).all())
    engine.dispose()
    ctx.close()
    # the CLI ran the provisioning in its own process: no worker log was written to check
    assert any(p.endswith("landlord.db") for p in places)
    assert any("/backups/" in p for p in places), "no backup was taken"
    assert len(outbox) == 1 and notify.LINK_PLACEHOLDER in outbox[0][2]
    places["outbox"] = repr(outbox).encode()
    places["every landlord row"] = "\n".join(rows).encode()
    places["tenant_users"] = tenant_rows.encode()
    assert "scrypt$" in tenant_rows  # the hash is there; the token is not
    for form in _forms(token):
        leaks = [where for where, content in places.items() if form in content]
        assert not leaks, f"the setup token appears in: {leaks}"
    # control: the keyring holds the pending link, and the scan finds it there
    ctx = Context.open()
    link = notify.setup_link(ctx, "tok-org")
    ctx.close()
    assert link is not None and link.endswith(f"token={token}")
    stored = configparser.RawConfigParser()
    stored.read(secrets.backend().file_path)
    values = [base64.decodebytes(v.encode()) for section in stored.sections() for _, v in stored.items(section)]
    assert any(token.encode() in v for v in values)


_SLOW_DUMP = """#!/bin/sh
# the real dump, started once the test has killed the worker that ran it
touch "{marker}"
while [ ! -e "{go}" ]; do sleep 0.05; done
exec "{real}" "$@"
"""


@pytest.mark.mariadb
def test_killed_worker_mid_dump_leaves_no_password_file(mariadb, tenantops_env: Path, tmp_path: Path) -> None:
    """The dump tool gets its credentials through an inherited pipe, so a worker SIGKILLed
    while mariadb-dump runs leaves no option file behind: /tmp, /dev/shm and the home hold
    no form of the server's password."""
    real = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert real, "mariadb-dump is needed for MariaDB backups"
    tools = tmp_path / "bin"
    tools.mkdir()
    marker, go = tmp_path / "dump-started", tmp_path / "dump-go"
    fake = tools / Path(real).name
    fake.write_text(_SLOW_DUMP.format(marker=marker, go=go, real=real))
    fake.chmod(0o700)
    ctx = Context.open()
    servers.add_server(ctx, name="db1", url=mariadb.url, capacity=100, password=mariadb.admin_password)
    approved(ctx, "dump-org", template="community_group")
    ctx.close()
    assert run("provision", "dump-org", "--server", "db1").code == 0
    ctx = Context.open()
    job_id = modules.request_module_add(ctx, slug="dump-org", module="social_media").job
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    started = time.time() - 1
    victim = subprocess.Popen([sys.executable, "-m", "tenantops.engine.jobs.worker", "--job", str(job_id)], env=env,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert victim.poll() is None and time.monotonic() < deadline, "the worker never started the dump"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        places: dict[str, bytes] = {}
        for root in (Path(tempfile.gettempdir()), Path("/dev/shm"), tenantops_env):
            # os.walk ignores folders that other processes remove meanwhile (/tmp is shared)
            for folder, _, files in os.walk(root, onerror=lambda _exc: None):
                for name in files:
                    path = Path(folder) / name
                    try:
                        st = path.lstat()
                        # anything written since the worker started (older files are other
                        # processes'), below the size of a database file
                        if stat.S_ISREG(st.st_mode) and st.st_mtime >= started and st.st_size < 10_000_000:
                            places[str(path)] = path.read_bytes()
                    except OSError:
                        continue  # another process's private file or one gone meanwhile
        # the keyring file is the one place the password belongs (and it is there); other
        # tests' keyring files hold it too (the session's server) and may be rewritten by
        # their workers while this test runs
        keyring_file = Path(secrets.backend().file_path)
        places = {where: content for where, content in places.items() if Path(where).name != keyring_file.name}
        assert any(form in keyring_file.read_bytes() for form in _forms(mariadb.admin_password))
        for form in _forms(mariadb.admin_password):
            leaks = [where for where, content in places.items() if form in content]
            assert not leaks, f"the server password appears in: {leaks}"
    finally:
        go.touch()  # the orphaned dump runs to its end (or fails) and exits
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        try:
            os.killpg(victim.pid, signal.SIGKILL)  # whatever the worker's session still holds
        except ProcessLookupError:
            pass
        ctx.close()
        drop_tenants(mariadb)
