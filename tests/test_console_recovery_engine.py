"""The engine and CLI behind the console's recovery actions, on SQLite and MariaDB:
retrying a job on another server, and listing/withdrawing accepted drift."""
from __future__ import annotations

from pathlib import Path

import pytest

from cli import run
from helpers import approved
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.servers import registry as servers


def spare_server(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second server tenants can go to: a SQLite directory, or the session's MariaDB
    registered under another name."""
    ctx = Context.open()
    if dialect == "sqlite":
        (tmp_path / "spare").mkdir()
        servers.add_server(ctx, name="spare", url=f"sqlite:///{tmp_path / 'spare'}", capacity=10)
    else:
        db = request.getfixturevalue("mariadb")
        servers.add_server(ctx, name="spare", url=db.url, capacity=10, password=db.admin_password)
    ctx.close()
    return "spare"


def test_a_draining_server_failure_is_retried_on_another_server(server: str, dialect: str, tmp_path: Path,
                                                                 request: pytest.FixtureRequest, as_operator) -> None:
    spare = spare_server(dialect, tmp_path, request)
    ctx = Context.open()
    approved(ctx, "moving-org", template="community_group")
    assert run("servers", "drain", server).code == 0
    # provisioning asks for the draining server: the job fails in the worker
    assert run("provision", "moving-org", "--server", server).code == 1
    failed = jobs.list_jobs(ctx)[0]
    assert failed["status"] == "failed" and "draining" in (failed["error"] or "")
    before = len(jobs.list_jobs(ctx))

    # a bad choice is refused before anything is queued, naming what is wrong
    r = run("jobs", "retry", str(failed["id"]), "--server", server)
    assert r.code == 1 and f"server {server} is draining" in r.err and "Traceback" not in r.err
    r = run("jobs", "retry", str(failed["id"]), "--server", "nowhere")
    assert r.code == 1 and "server 'nowhere' is not registered" in r.err
    assert len(jobs.list_jobs(ctx)) == before

    # a viewer may not retry it at all
    run("operators", "add", "bob", "--role", "viewer")
    as_operator("bob")
    r = run("jobs", "retry", str(failed["id"]), "--server", spare)
    assert r.code == 1 and "needs the admin role" in r.err
    as_operator("alice")

    r = run("jobs", "retry", str(failed["id"]), "--server", spare, "--json")
    assert r.code == 0, r.err
    new_job = r.json()["job"]
    assert jobs.get_job(ctx, new_job)["params"]["server"] == spare
    assert run("worker", "--once").code == 0
    assert jobs.get_job(ctx, new_job)["status"] == "succeeded"
    tenant = run("tenants", "show", "moving-org", "--json").json()
    assert tenant["status"] == "active" and tenant["server"] == spare
    # the failed job keeps its own record: the server it asked for
    assert jobs.get_job(ctx, failed["id"])["params"]["server"] == server
    retried = [e for e in run("audit", "--json").json() if e["action"] == "jobs.retry"]
    assert [(e["operator"], e["outcome"]) for e in retried] == [
        ("alice", "failed"), ("alice", "failed"), ("bob", "denied"), ("alice", "ok")]
    assert retried[-1]["params"]["server"] == spare
    ctx.close()


def test_retry_on_another_server_only_for_jobs_that_chose_one(tmp_path: Path) -> None:
    ctx = Context.open()
    approved(ctx, "plain-org", template="community_group")
    assert run("provision", "plain-org").code == 0
    # a failed sync: it runs where the tenant lives, there is no server to choose
    from tenantops.engine.landlord import models as m

    queued = jobs.enqueue(ctx, "sync", "plain-org", {}, lock_operation="sync")
    with ctx.session() as s:
        job = s.get(m.Job, queued)
        job.status = "failed"
        job.error = "made to fail for this test"
    r = run("jobs", "retry", str(queued), "--server", "local")
    assert r.code == 1 and "does not run on a server you choose" in r.err
    ctx.close()


def test_accepted_drift_is_listed_and_withdrawn(server: str, as_operator) -> None:
    ctx = Context.open()
    approved(ctx, "acc-org", template="community_group")
    ctx.close()
    assert run("provision", "acc-org", "--server", server).code == 0
    from helpers import execute_sql

    execute_sql("acc-org", ["CREATE INDEX ix_notices_title ON notices (title)"])
    assert run("drift", "acc-org", "--json").json()["severity"] != "none"
    assert run("drift", "acc-org", "--accept", "1", "--reason", "hot fix, ticket 42").code == 0

    r = run("drift", "acc-org", "--accepted", "--json")
    assert r.code == 0, r.err
    [accepted] = r.json()
    assert accepted["object"] == "index" and accepted["reason"] == "hot fix, ticket 42"
    assert accepted["accepted_by"] == "alice"
    r = run("drift", "acc-org", "--accepted")
    assert r.code == 0 and "Accepted drift of acc-org" in r.out and "index" in r.out

    # a viewer can read the list, not withdraw
    run("operators", "add", "bob", "--role", "viewer")
    as_operator("bob")
    assert run("drift", "acc-org", "--accepted", "--json").json() == [accepted]
    r = run("drift", "acc-org", "--withdraw", str(accepted["id"]))
    assert r.code == 1 and "drift.withdraw needs the dba role" in r.err
    as_operator("alice")

    r = run("drift", "acc-org", "--withdraw", "999")
    assert r.code == 1 and "accepted drift 999 of tenant 'acc-org' does not exist" in r.err
    r = run("drift", "acc-org", "--withdraw", str(accepted["id"]))
    assert r.code == 0, r.err
    assert run("drift", "acc-org", "--accepted", "--json").json() == []
    report = run("drift", "acc-org", "--json").json()
    assert report["severity"] != "none" and not report["differences"][0].get("accepted")
    r = run("drift", "acc-org", "--withdraw", str(accepted["id"]))
    assert r.code == 1 and "already ended" in r.err
    outcomes = [(e["operator"], e["outcome"]) for e in run("audit", "--json").json() if e["action"] == "drift.withdraw"]
    assert outcomes == [("bob", "denied"), ("alice", "failed"), ("alice", "ok"), ("alice", "failed")]
