"""Bad input changes nothing: each case exits per CLI.md (usage 2, refusal 1) with one line
on stderr, and the jobs, applications and backups are the same before and after."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import run
from helpers import approved
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m


def state() -> dict[str, object]:
    ctx = Context.open()
    try:
        with ctx.session() as s:
            return {
                "jobs": s.scalar(sa.select(sa.func.count()).select_from(m.Job)),
                "applications": sorted(s.execute(sa.select(m.Application.slug, m.Application.status)).all()),
                "backups": s.scalar(sa.select(sa.func.count()).select_from(m.Backup)),
                "tenants": sorted(s.execute(sa.select(m.Tenant.slug, m.Tenant.status)).all()),
            }
    finally:
        ctx.close()


@pytest.fixture
def fleet(server: str) -> str:
    """One active tenant (`live-org`) and one approved application (`next-org`) on the server under test."""
    ctx = Context.open()
    approved(ctx, "live-org")
    approved(ctx, "next-org")
    ctx.close()
    assert run("provision", "live-org", "--server", server).code == 0
    return server


def refused(argv: list[str], code: int) -> str:
    before = state()
    r = run(*argv)
    assert r.code == code, (argv, r)
    assert r.err.count("\n") == 1, r.err          # one line
    assert "Traceback" not in r.err and "internal error" not in r.err
    assert r.out == ""                             # nothing that looks like a result
    assert state() == before                       # nothing changed
    return r.err


def test_provision_on_an_unknown_server_queues_nothing_and_keeps_the_application(fleet: str) -> None:
    err = refused(["provision", "next-org", "--server", "nosuch"], 1)
    assert "nosuch" in err and "not registered" in err
    assert run("applications", "show", "next-org", "--json").json()["status"] == "approved"
    err = refused(["provision", "next-org", "--server", "nosuch", "--json"], 1)
    assert "nosuch" in err


def test_sync_of_an_unknown_tenant_is_one_line_on_stderr(fleet: str) -> None:
    err = refused(["sync", "nosuch"], 1)
    assert "nosuch" in err
    refused(["sync", "nosuch", "--json"], 1)


@pytest.mark.parametrize("canary", ["0", "-1", "two"])
def test_canary_must_be_a_positive_number(fleet: str, canary: str) -> None:
    err = refused(["sync", "--all", "--canary", canary], 2)
    assert "--canary" in err


def test_drift_of_one_tenant_and_all_is_a_usage_error_not_a_fleet_scan(fleet: str) -> None:
    err = refused(["drift", "live-org", "--all"], 2)
    assert "--all" in err


def test_jobs_list_with_an_unknown_status_is_a_usage_error(fleet: str) -> None:
    err = refused(["jobs", "list", "--status", "bogus"], 2)
    assert "bogus" in err


def test_audit_since_a_word_is_a_usage_error(fleet: str) -> None:
    err = refused(["audit", "--since", "yesterday"], 2)
    assert "yesterday" in err


def test_a_missing_config_file_given_on_the_command_line_is_named(fleet: str) -> None:
    err = refused(["--config", "/missing.toml", "tenants", "list"], 2)
    assert "/missing.toml" in err
    err = refused(["provision", "next-org", "--config", "/missing.toml"], 2)
    assert "/missing.toml" in err


@pytest.mark.parametrize("home", ["/proc/nope", "/etc/hostname/sub"])
def test_an_unusable_home_is_one_clear_line(fleet: str, home: str, tmp_path: Path) -> None:
    err = refused(["--home", home, "tenants", "list"], 1)
    assert home in err or home.rsplit("/", 1)[0] in err
