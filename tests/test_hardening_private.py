"""Private state: everything tenantops writes under its home is 0600 (folders 0700),
whatever umask the caller had, and doctor reports anything looser with the fix
(docs/reliability.md §7)."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import run
from helpers import CUSTOM_NICKNAME, approved, tenant_engine
from tenantops.engine.access import operators
from tenantops.engine.context import Context

CUSTOM = CUSTOM_NICKNAME


@pytest.fixture
def open_umask():
    """The caller's shell had the usual umask 022: tenantops must not rely on it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(home: Path) -> dict[str, str]:
    found = {}
    for path in [home, *home.rglob("*")]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            continue
        found[str(path.relative_to(home))] = f"{'d' if stat.S_ISDIR(st.st_mode) else 'f'}{stat.S_IMODE(st.st_mode):04o}"
    return found


def test_everything_written_under_the_home_is_private(server: str, tenantops_env: Path, tmp_path: Path,
                                                      open_umask, as_operator) -> None:
    home = tenantops_env
    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="dba")
    approved(ctx, "priv-org", template="community_group")
    ctx.close()
    # fan-out provisioning starts worker processes, and so writes their logs
    assert run("provision", "--all-approved").code == 0
    os.umask(0o022)
    assert run("modules", "add", "priv-org", "social_media").code == 0  # a backup first
    script = tmp_path / "nickname.py"
    script.write_text(CUSTOM)
    assert run("custom", "submit", "priv-org", str(script)).code == 0
    as_operator("bob")
    assert run("custom", "approve", "priv-org", "nickname").code == 0
    os.umask(0o022)
    assert run("custom", "apply", "priv-org", "nickname").code == 0  # the custom migration file
    ctx = Context.open()
    engine = tenant_engine(ctx, "priv-org")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE extra_notes (id INTEGER PRIMARY KEY, note VARCHAR(20))"))
        conn.execute(sa.text("INSERT INTO extra_notes VALUES (1, 'keep')"))
    engine.dispose()
    ctx.close()
    os.umask(0o022)
    r = run("repair", "priv-org", "--strategy", "manual", "--json")  # a script for a person
    assert r.code == 0, r.err
    r = run("repair", "priv-org", "--strategy", "aggressive", "--confirm", "priv-org")  # quarantine
    assert r.code == 0, r.err

    os.umask(0o022)
    ctx = Context.open()  # hold the landlord open: its -wal and -shm exist meanwhile
    with ctx.engine.connect() as conn:
        conn.exec_driver_sql("SELECT COUNT(*) FROM audit_log").scalar()
        modes = _modes(home)
    ctx.close()
    kinds = {name.split("/")[0] for name in modes}
    assert {"landlord.db", "backups", "logs", "custom", "repairs"} <= kinds, kinds
    if server == "local":
        assert "tenants" in kinds
    assert any(name.startswith("landlord.db-") for name in modes)  # the WAL is checked too
    loose = {name: mode for name, mode in modes.items() if mode not in ("f0600", "d0700")}
    assert loose == {}

    r = run("doctor", "--json")
    assert not [f for f in r.json()["findings"] if f["kind"] == "loose_permissions"]
    backup = next(p for p in (home / "backups").rglob("*") if p.is_file())
    backup.chmod(0o644)
    (home / "logs").chmod(0o755)
    r = run("doctor", "--json")
    assert r.code == 1
    found = sorted((f["target"], f["fix"]) for f in r.json()["findings"] if f["kind"] == "loose_permissions")
    assert found == sorted([(str(backup), f"chmod 600 {backup}"), (str(home / "logs"), f"chmod 700 {home / 'logs'}")])
    for _, fix in found:
        subprocess.run(fix, shell=True, check=True)
    r = run("doctor", "--json")
    assert not [f for f in r.json()["findings"] if f["kind"] == "loose_permissions"]
