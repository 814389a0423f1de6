"""Identity comes from the OS (the real uid's account), never from USER/LOGNAME, and
SUDO_USER only when sudo made us root or the service account (docs/reliability.md §6).

Tests switch the acting operator with the ``as_operator`` fixture (it replaces the
engine's identity function); the sudo rules are tested on the function itself, with the
uid and environment passed in.
"""
from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from cli import run
from helpers import CUSTOM_NICKNAME, approved
from tenantops.engine import identity
from tenantops.engine.access import operators
from tenantops.engine.context import Context
from tenantops.engine.errors import PermissionDenied

NOBODY = pwd.getpwnam("nobody")
DAEMON = pwd.getpwnam("daemon")
ROOT = pwd.getpwuid(0).pw_name


def _spoof_env(monkeypatch: pytest.MonkeyPatch, name: str, uid: int | None = None) -> None:
    for key in ("USER", "LOGNAME", "SUDO_USER"):
        monkeypatch.setenv(key, name)
    monkeypatch.setenv("SUDO_UID", str(uid if uid is not None else 0))


def test_viewer_claiming_to_be_the_owner_through_env_is_still_the_viewer(monkeypatch: pytest.MonkeyPatch,
                                                                         as_operator) -> None:
    assert run("operators", "add", "bob", "--role", "viewer").code == 0
    as_operator("bob")
    _spoof_env(monkeypatch, "alice")
    r = run("operators", "add", "mallory", "--role", "owner")
    assert r.code == 1
    assert r.err.strip() == "tenantops: operators.add needs the owner role; bob has viewer"
    as_operator("alice")
    denied = [e for e in run("audit", "--json").json() if e["outcome"] == "denied"]
    assert [(e["operator"], e["action"], e["target"]) for e in denied] == [("bob", "operators.add", "mallory")]
    assert [o["user"] for o in run("operators", "list", "--json").json()] == ["alice", "bob"]


def test_real_process_with_spoofed_env_acts_as_its_real_account(tenantops_env: Path) -> None:
    """No identity hook at all: a real `tenantops` process whose USER, LOGNAME and
    SUDO_USER name the owner acts as the account of its real uid."""
    real = pwd.getpwuid(os.getuid()).pw_name
    assert run("operators", "add", real, "--role", "viewer").code == 0
    env = {**os.environ, "USER": "alice", "LOGNAME": "alice", "SUDO_USER": "alice", "SUDO_UID": str(os.getuid())}
    proc = subprocess.run([sys.executable, "-m", "tenantops.console", "operators", "add", "mallory", "--role", "owner"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == f"tenantops: operators.add needs the owner role; {real} has viewer"
    denied = [e for e in run("audit", "--json").json() if e["outcome"] == "denied"]
    assert [(e["operator"], e["action"], e["target"]) for e in denied] == [(real, "operators.add", "mallory")]
    assert [o["user"] for o in run("operators", "list", "--json").json()] == sorted(["alice", real])


def test_user_logname_never_count() -> None:
    env = {"USER": NOBODY.pw_name, "LOGNAME": NOBODY.pw_name}
    assert identity.os_operator(uid=0, env=env) == ROOT
    assert identity.os_operator(uid=DAEMON.pw_uid, env=env) == DAEMON.pw_name


def test_sudo_user_counts_only_from_root_or_the_service_account_with_matching_uid() -> None:
    sudo = {"SUDO_USER": NOBODY.pw_name, "SUDO_UID": str(NOBODY.pw_uid)}
    # `sudo tenantops ...` as root: the invoking account acts
    assert identity.os_operator(uid=0, env=sudo) == NOBODY.pw_name
    # SUDO_UID must be that account's uid (sudo sets both)
    assert identity.os_operator(uid=0, env={**sudo, "SUDO_UID": "12345"}) == ROOT
    assert identity.os_operator(uid=0, env={"SUDO_USER": NOBODY.pw_name}) == ROOT
    assert identity.os_operator(uid=0, env={"SUDO_USER": "no-such-account-x", "SUDO_UID": "0"}) == ROOT
    # any other account can set SUDO_USER in its own environment: ignored
    assert identity.os_operator(uid=DAEMON.pw_uid, env={"SUDO_USER": ROOT, "SUDO_UID": "0"}) == DAEMON.pw_name
    # `sudo -u <service> tenantops ...`: the service account honours it, when configured
    assert identity.os_operator(uid=DAEMON.pw_uid, env=sudo, service_account=DAEMON.pw_name) == NOBODY.pw_name
    assert identity.os_operator(uid=DAEMON.pw_uid, env=sudo, service_account="other") == DAEMON.pw_name
    # the process's own identity is the real uid's account
    assert identity.os_operator(env={}) == pwd.getpwuid(os.getuid()).pw_name


def test_unregistered_account_gets_no_access_and_is_told_whom_to_ask(as_operator, tenantops_env: Path) -> None:
    assert run("operators", "add", "carol", "--role", "owner").code == 0
    as_operator("eve")
    for argv in (("operators", "list", "--json"), ("tenants", "list"), ("operators", "remove", "alice"), ("init",)):
        r = run(*argv)
        assert r.code == 1 and r.out == "", argv
        assert r.err.strip() == ("tenantops: eve is not a registered operator; ask an owner (alice, carol) "
                                 "to run `tenantops operators add eve --role viewer`"), argv
    with pytest.raises(PermissionDenied):
        Context.open()
    as_operator("alice")
    entries = run("audit", "--json").json()
    assert {(e["operator"], e["action"], e["outcome"]) for e in entries if e["operator"] == "eve"} == {
        ("eve", "access", "denied")}
    assert [o["user"] for o in run("operators", "list", "--json").json()] == ["alice", "carol"]


def test_unregistered_viewer_by_config_reads_but_cannot_change(as_operator) -> None:
    assert run("init").code == 0
    Path(os.environ["TENANTOPS_CONFIG"]).write_text('unregistered = "viewer"\n')
    as_operator("eve")
    assert run("operators", "list", "--json").code == 0
    r = run("operators", "add", "eve", "--role", "owner")
    assert r.code == 1 and "needs the owner role; eve has viewer" in r.err


def test_first_login_to_an_empty_store_becomes_owner(as_operator) -> None:
    as_operator("zoe")
    r = run("init", "--json")
    assert r.code == 0 and r.json()["operator"] == "zoe" and r.json()["role"] == "owner"


def test_worker_runs_for_requesters_without_being_an_operator(as_operator) -> None:
    assert run("init").code == 0
    as_operator("cron-account")
    assert run("worker", "--once").code == 0


CUSTOM = CUSTOM_NICKNAME


def test_four_eyes_cannot_be_passed_by_one_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="dba")
    approved(ctx, "eyes-org", template="community_group")
    ctx.close()
    assert run("provision", "eyes-org").code == 0
    script = tmp_path / "nickname.py"
    script.write_text(CUSTOM)
    assert run("custom", "submit", "eyes-org", str(script)).code == 0
    # the same account, claiming to be bob every way the environment allows
    _spoof_env(monkeypatch, "bob", uid=0)
    r = run("custom", "approve", "eyes-org", "nickname")
    assert r.code == 1 and "another dba must approve it" in r.err
    listed = run("custom", "list", "eyes-org", "--json").json()
    assert [(c["name"], c["status"], c["submitted_by"]) for c in listed] == [("nickname", "submitted", "alice")]
