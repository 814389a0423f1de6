"""`modules add --all MODULE --stages ...`: a module added across the fleet as a staged
rollout — tenants that have it are left alone, a failing tenant halts the stage, the
rollout resumes where it stopped, and bad input records nothing."""
from __future__ import annotations

import pytest

from cli import run
from test_day2 import add_rows, provision
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs

SLUGS = ["m-a", "m-b", "m-c", "m-d"]
MODULE = "simple_donations"


@pytest.fixture
def fleet(server: str) -> list[str]:
    """Four community groups; m-a has the module already; m-c holds a table the module
    creates, so adding it there fails (and is restored)."""
    for slug in SLUGS:
        provision(slug, server)
    assert run("modules", "add", "m-a", MODULE).code == 0
    add_rows("m-c", ["CREATE TABLE donation_causes (id INTEGER PRIMARY KEY)"])
    assert run("tenants", "label", "m-d", "tier=gold").code == 0
    return SLUGS


def _module_jobs(slug: str) -> int:
    ctx = Context.open()
    try:
        return sum(1 for j in jobs.list_jobs(ctx, tenant=slug) if j["kind"] == "modules.add")
    finally:
        ctx.close()


def _modules(slug: str) -> list[str]:
    return run("tenants", "show", slug, "--json").json()["modules"]


def test_a_module_rollout_halts_at_the_failing_tenant_and_resumes_where_it_stopped(fleet: list[str]) -> None:
    r = run("modules", "add", "--all", MODULE, "--stages", "canary:1,rest", "--dry-run", "--json")
    assert r.code == 0, r.err
    planned = r.json()
    assert {t["tenant"]: t["outcome"] for t in planned["tenants"]} == {
        "m-a": "up-to-date", "m-b": "pending", "m-c": "pending", "m-d": "pending"}
    assert [(st["name"], st["tenants"]) for st in planned["stages"]] == [("canary", ["m-b"]), ("rest", ["m-c", "m-d"])]
    assert run("rollouts", "list", "--json").json() == []  # a dry run records nothing

    r = run("modules", "add", "--all", MODULE, "--stages", "canary:1,rest", "--json")
    assert r.code == 1, r.err
    report = r.json()
    assert {t["tenant"]: t["outcome"] for t in report["tenants"]} == {
        "m-a": "up-to-date", "m-b": "upgraded", "m-c": "failed", "m-d": "untouched"}
    assert report["stopped"] == "m-c"
    rollout = report["rollout"]
    assert rollout["kind"] == "modules.add" and rollout["params"] == {"module": MODULE}
    assert rollout["status"] == "halted" and "stage rest" in rollout["reason"]
    assert MODULE in _modules("m-b") and MODULE not in _modules("m-c") and MODULE not in _modules("m-d")

    r = run("rollouts", "resume", str(rollout["id"]), "--json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "completed"
    assert MODULE in _modules("m-d") and MODULE not in _modules("m-c")
    # from where it stopped: one job per tenant, none for the tenant that already had it
    assert [_module_jobs(s) for s in SLUGS] == [1, 1, 1, 1]  # m-a: its own `modules add` above


def test_a_module_rollout_can_be_narrowed_by_label_and_template(fleet: list[str]) -> None:
    r = run("modules", "add", "--all", MODULE, "--label", "tier=gold", "--json")
    assert r.code == 0, r.err
    assert [(t["tenant"], t["outcome"]) for t in r.json()["tenants"]] == [("m-d", "upgraded")]
    r = run("modules", "add", "--all", MODULE, "--template", "political_party_nepal", "--dry-run", "--json")
    assert r.code == 0 and r.json()["tenants"] == []


@pytest.mark.parametrize("args, complaint", [
    (["--all", "no_such_module"], "module 'no_such_module' is not in the catalog"),
    (["--all", MODULE, "--template", "nosuch"], "--template 'nosuch' is not in the catalog"),
    (["--all", MODULE, "--label", "Tier=gold"], "label key 'Tier'"),
    (["--all", MODULE, "--stages", "canary:0"], "whole number ≥ 1"),
    (["--all", MODULE, "--on-error", "sometimes"], "--on-error 'sometimes'"),
    (["m-b", MODULE, "--stages", "canary:1,rest"], "--stages go(es) with --all"),
    (["--all", "m-b", MODULE], "--all adds"),
    ([MODULE], "give the tenant's slug and the module, or --all"),
])
def test_bad_fleet_module_input_is_one_line_and_records_nothing(fleet: list[str], args: list[str],
                                                                 complaint: str) -> None:
    r = run("modules", "add", *args)
    assert r.code == 2, (r.code, r.err)
    assert complaint in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert run("rollouts", "list", "--json").json() == []
    assert [_module_jobs(s) for s in SLUGS] == [1, 0, 0, 0]


def test_a_viewer_cannot_start_a_module_rollout(fleet: list[str], as_operator) -> None:
    assert run("operators", "add", "victor", "--role", "viewer").code == 0
    as_operator("victor")
    r = run("modules", "add", "--all", MODULE)
    assert r.code == 1 and "needs the admin role" in r.err
    assert run("rollouts", "list", "--json").json() == []
