"""Staged rollouts (`sync --all --stages`): halt at the first failing stage and resume
where it stopped; `threshold:50%` goes on past one failure; a crashed driver, pause and
cancel take effect between tenants; `rollouts list|show|pause|resume|cancel`."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli import run
from helpers import copy_catalog, use_catalog
from test_day2 import NEW_REVISION, add_rows, provision
from tenantops.engine.context import Context
from tenantops.engine.health import rollouts
from tenantops.engine.jobs import queue as jobs

SLUGS = ["r-a", "r-b", "r-c", "r-d", "r-e"]


def failing_sync_fleet(slugs: list[str], server: str, tmp_path: Path) -> list[str]:
    """Community groups with one new catalog revision pending; the second got the column
    by hand, so its sync fails (and is restored)."""
    for slug in slugs:
        provision(slug, server)
    catalog = copy_catalog(tmp_path)
    (catalog / "modules/event_management/versions/events_0003_capacity.py").write_text(NEW_REVISION)
    use_catalog(Path(os.environ["TENANTOPS_CONFIG"]), catalog)
    add_rows(slugs[1], ["ALTER TABLE events ADD COLUMN venue_capacity INTEGER"])
    return slugs


@pytest.fixture
def fleet(server: str, tmp_path: Path) -> list[str]:
    """Five community groups; r-b's sync fails."""
    return failing_sync_fleet(SLUGS, server, tmp_path)


def _outcomes(report: dict) -> dict[str, str]:
    return {t["tenant"]: t["outcome"] for t in report["tenants"]}


def _sync_jobs(slug: str) -> int:
    ctx = Context.open()
    try:
        return sum(1 for j in jobs.list_jobs(ctx, tenant=slug) if j["kind"] == "sync")
    finally:
        ctx.close()


def test_rollout_halts_at_first_failing_stage_and_resumes_where_it_stopped(fleet: list[str]) -> None:
    r = run("sync", "--all", "--stages", "canary:1,pilot:2,rest", "--dry-run", "--json")
    assert r.code == 0, r.err
    assert [(st["name"], st["tenants"]) for st in r.json()["stages"]] == [
        ("canary", ["r-a"]), ("pilot", ["r-b", "r-c"]), ("rest", ["r-d", "r-e"])]
    assert run("rollouts", "list", "--json").json() == []  # a dry run records nothing

    r = run("sync", "--all", "--stages", "canary:1,pilot:2,rest", "--json")
    assert r.code == 1, r.err
    report = r.json()
    assert _outcomes(report) == {"r-a": "upgraded", "r-b": "failed", "r-c": "untouched", "r-d": "untouched",
                                 "r-e": "untouched"}
    assert report["stopped"] == "r-b" and "was restored" in {t["tenant"]: t for t in report["tenants"]}["r-b"]["error"]
    rollout = report["rollout"]
    assert rollout["status"] == "halted" and "stage pilot" in rollout["reason"]
    assert [(st["name"], st["done"], st["total"], st["failed"]) for st in rollout["stages"]] == [
        ("canary", 1, 1, 0), ("pilot", 1, 2, 1), ("rest", 0, 2, 0)]

    listed = run("rollouts", "list", "--json").json()
    assert [(x["id"], x["status"]) for x in listed] == [(rollout["id"], "halted")]
    shown = run("rollouts", "show", str(rollout["id"])).out
    assert "halted" in shown and "pilot" in shown and "1/2" in shown

    r = run("rollouts", "resume", str(rollout["id"]), "--json")
    assert r.code == 0, r.err
    resumed = r.json()
    assert resumed["status"] == "completed"
    outcomes = {t["tenant"]: t["outcome"] for st in resumed["stages"] for t in st["tenants"]}
    assert outcomes == {"r-a": "upgraded", "r-b": "failed", "r-c": "upgraded", "r-d": "upgraded", "r-e": "upgraded"}
    # from where it stopped: nothing ran twice, the failed tenant is not retried behind anyone's back
    assert [_sync_jobs(s) for s in SLUGS] == [1, 1, 1, 1, 1]
    r = run("rollouts", "resume", str(rollout["id"]))
    assert r.code == 1 and "completed; it cannot be resumed" in r.err and len(r.err.strip().splitlines()) == 1


def test_threshold_50_percent_continues_past_one_failure(fleet: list[str]) -> None:
    r = run("sync", "--all", "--stages", "canary:2,rest", "--on-error", "threshold:50%", "--parallel", "2", "--json")
    assert r.code == 1, r.err  # a tenant failed: the command says so
    report = r.json()
    assert _outcomes(report) == {"r-a": "upgraded", "r-b": "failed", "r-c": "upgraded", "r-d": "upgraded",
                                 "r-e": "upgraded"}
    assert report["rollout"]["status"] == "completed" and report["stopped"] is None
    assert [(st["name"], st["done"], st["failed"]) for st in report["rollout"]["stages"]] == [
        ("canary", 2, 1), ("rest", 3, 0)]


def test_crash_pause_and_cancel_take_effect_between_tenants(fleet: list[str]) -> None:
    add_rows("r-b", ["ALTER TABLE events DROP COLUMN venue_capacity"])  # every tenant syncs here
    ctx = Context.open()
    rollout_id = rollouts.create(ctx, spec="canary:1,rest", parallel=1, on_error="halt", strategy=None,
                                 slugs=SLUGS)

    class Crash(Exception):
        pass

    def crash(tenant: str, outcome: str) -> None:
        raise Crash(tenant)

    with pytest.raises(Crash):
        rollouts.drive(ctx, rollout_id, after_tenant=crash)  # the driver dies after r-a
    doc = rollouts.show(ctx, rollout_id)
    assert doc["status"] == "running"  # nobody marked it: a crash, not a stop
    assert [t["outcome"] for st in doc["stages"] for t in st["tenants"]] == ["upgraded"] + ["pending"] * 4

    def pause_now(tenant: str, outcome: str) -> None:
        rollouts.pause(ctx, rollout_id=rollout_id)

    rollouts.resume(ctx, rollout_id=rollout_id)
    doc = rollouts.drive(ctx, rollout_id, after_tenant=pause_now)  # paused once r-b is done
    assert doc["status"] == "paused"
    assert [t["outcome"] for st in doc["stages"] for t in st["tenants"]] == ["upgraded"] * 2 + ["pending"] * 3
    r = run("rollouts", "pause", str(rollout_id))
    assert r.code == 1 and "only a running rollout can be paused" in r.err and len(r.err.strip().splitlines()) == 1

    def cancel_now(tenant: str, outcome: str) -> None:
        run("rollouts", "cancel", str(rollout_id))

    rollouts.resume(ctx, rollout_id=rollout_id)
    doc = rollouts.drive(ctx, rollout_id, after_tenant=cancel_now)  # cancelled once r-c is done
    assert doc["status"] == "cancelled"
    assert [t["outcome"] for st in doc["stages"] for t in st["tenants"]] == ["upgraded"] * 3 + ["cancelled"] * 2
    assert [_sync_jobs(s) for s in SLUGS] == [1, 1, 1, 0, 0]
    r = run("rollouts", "resume", str(rollout_id))
    assert r.code == 1 and "cancelled; it cannot be resumed" in r.err
    audit = [(a["action"], a["outcome"]) for a in run("audit", "--json").json() if a["action"].startswith("rollouts.")]
    assert sorted(audit) == sorted([("rollouts.resume", "ok"), ("rollouts.pause", "ok"), ("rollouts.pause", "failed"),
                                    ("rollouts.resume", "ok"), ("rollouts.cancel", "ok"), ("rollouts.resume", "failed")])
    ctx.close()


@pytest.mark.parametrize("args, complaint", [
    (["--stages", ""], "give stages separated by commas"),
    (["--stages", "rest,canary:1"], "'rest' takes every remaining tenant"),
    (["--stages", "canary:0"], "whole number ≥ 1"),
    (["--stages", "pilot:120%"], "percentage in (0, 100]"),
    (["--stages", "canary"], "expected NAME:N"),
    (["--stages", "label:Region=east"], "label key 'Region'"),
    (["--stages", "a:1,a:2"], "stage names repeat"),
    (["--stages", "rest", "--on-error", "sometimes"], "--on-error 'sometimes'"),
    (["--stages", "rest", "--parallel", "0"], "argument --parallel: '0' must be 1 or more"),
    (["--parallel", "2"], "--parallel and --on-error go with --stages"),
])
def test_bad_rollout_options_are_refused_with_one_line(args: list[str], complaint: str) -> None:
    r = run("sync", "--all", *args)
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, (r.code, r.out, r.err)
    assert complaint in r.err, r.err
    assert run("rollouts", "list", "--json").json() == []


def test_label_stages_pick_labelled_tenants(fleet: list[str]) -> None:
    add_rows("r-b", ["ALTER TABLE events DROP COLUMN venue_capacity"])
    for slug in ("r-c", "r-e"):
        assert run("tenants", "label", slug, "region=east").code == 0
    r = run("sync", "--all", "--stages", "label:region=east,canary:1", "--json")
    assert r.code == 0, r.err
    stages = r.json()["rollout"]["stages"]
    assert [(st["name"], [t["tenant"] for t in st["tenants"]]) for st in stages] == [
        ("region=east", ["r-c", "r-e"]), ("canary", ["r-a"])]
    assert r.json()["rollout"]["left_out"] == ["r-b", "r-d"]
    assert _outcomes(r.json()) == {"r-a": "upgraded", "r-b": "untouched", "r-c": "upgraded", "r-d": "untouched",
                                   "r-e": "upgraded"}
