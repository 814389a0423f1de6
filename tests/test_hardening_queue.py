"""Queued jobs never block a tenant for good, and a destructive job resumed long after it
was asked for waits for its confirmation (docs/reliability.md §10). Run on a SQLite and
a MariaDB landlord."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from cli import run
from helpers import approved
from test_hardening_concurrency import landlord  # noqa: F401 - the SQLite/MariaDB landlord fixture
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow

# A requester that dies between queuing its job and starting a worker for it: it queues
# through the engine as the CLI does, then is SIGKILLed before anything else happens.
_KILLED_REQUESTER = """
import os, signal, sys
from tenantops.engine import identity
identity.process_operator = lambda service_account="": "alice"
from tenantops.engine.context import Context
from tenantops.engine.tenants import modules
ctx = Context.open()
queued = modules.request_module_add(ctx, slug=sys.argv[1], module=sys.argv[2])
print(queued.job, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _queue_and_die(slug: str, module: str) -> int:
    done = subprocess.run([sys.executable, "-c", _KILLED_REQUESTER, slug, module], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    return int(done.stdout.strip())


def _provisioned(slug: str) -> None:
    ctx = Context.open()
    approved(ctx, slug, template="community_group")
    ctx.close()
    r = run("provision", slug, "--server", "local")
    assert r.code == 0, r.err


def _modules(slug: str) -> list[str]:
    return run("tenants", "show", slug, "--json").json()["modules"]


def test_a_killed_requesters_job_is_run_by_the_next_worker(landlord: str) -> None:  # noqa: F811
    _provisioned("orphan-org")
    orphan = _queue_and_die("orphan-org", "financial_tracking")
    assert run("jobs", "show", str(orphan), "--json").json()["status"] == "queued"
    # while it is held, a second request is refused with the job and both ways out
    r = run("modules", "add", "orphan-org", "membership_management")
    assert r.code == 1 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert (f"job {orphan} is queued and no worker has started it: `tenantops worker --once` runs it, "
            f"`tenantops jobs cancel {orphan}` drops it") in r.err
    # the next worker picks it up; the later operation then proceeds
    assert run("worker", "--once").code == 0
    assert run("jobs", "show", str(orphan), "--json").json()["status"] == "succeeded"
    r = run("modules", "add", "orphan-org", "membership_management")
    assert r.code == 0, r.err
    assert sorted(_modules("orphan-org")) == ["event_management", "financial_tracking", "membership_management"]
    assert run("locks", "list", "--json").json() == []


def test_a_killed_requesters_job_expires_when_its_hold_lapsed_and_the_tenant_is_asked_again(
        landlord: str) -> None:  # noqa: F811
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("[jobs]\nqueued_hold = 5\n")
    _provisioned("lapsed-org")
    orphan = _queue_and_die("lapsed-org", "financial_tracking")
    ctx = Context.open()
    with ctx.session() as s:  # the 5 minutes of the hold have passed, no worker came
        s.execute(sa.update(m.TenantLock).where(m.TenantLock.tenant == "lapsed-org")
                  .values(lease_until=utcnow() - timedelta(seconds=1)))
    ctx.close()
    r = run("modules", "add", "lapsed-org", "membership_management")
    assert r.code == 0, r.err
    doc = run("jobs", "show", str(orphan), "--json").json()
    assert doc["status"] == "cancelled"
    assert doc["error"].startswith(f"expired: queued by alice at ") and doc["error"].endswith(
        f"and never started by a worker; superseded by job {orphan + 1}"), doc["error"]
    assert sorted(_modules("lapsed-org")) == ["event_management", "membership_management"]
    # nothing left for a worker: the expired job is never run later
    assert run("worker", "--once").code == 0
    assert sorted(_modules("lapsed-org")) == ["event_management", "membership_management"]
    audit = [e for e in run("audit", "--json").json() if e["action"] == "modules.add"]
    assert [(e["outcome"], e["job"]) for e in audit] == [("failed", orphan), ("ok", orphan + 1)], audit


def test_the_queue_hold_is_range_checked() -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("[jobs]\nqueued_hold = 0\n")
    r = run("jobs", "list")
    assert r.code == 1 and r.err.strip().endswith("jobs.queued_hold: must be between 1 and 10080 minutes, got 0")


def _age_job(job_id: int, minutes: int, **values: object) -> None:
    """Make job ``job_id`` look asked for ``minutes`` ago (no sleeping in tests)."""
    ctx = Context.open()
    with ctx.session() as s:
        s.execute(sa.update(m.Job).where(m.Job.id == job_id)
                  .values(created_at=utcnow() - timedelta(minutes=minutes), **values))
    ctx.close()


def test_a_destructive_job_started_long_after_it_was_asked_waits_for_confirmation(landlord: str) -> None:  # noqa: F811
    from tenantops.engine.tenants import modules

    ctx = Context.open()
    approved(ctx, "late-org", template="community_group", modules=["membership_management"])
    ctx.close()
    assert run("provision", "late-org", "--server", "local").code == 0
    ctx = Context.open()
    job = modules.request_module_remove(ctx, slug="late-org", module="membership_management", confirm="late-org").job
    ctx.close()
    assert job is not None
    _age_job(job, 16)  # the default [jobs] resume_confirm_after is 15 minutes
    assert run("worker", "--once").code == 0
    doc = run("jobs", "show", str(job), "--json").json()
    assert doc["status"] == "needs_confirmation" and doc["steps"] == []
    assert doc["error"] == (
        f"job {job} (modules.remove of late-org) was asked for by alice 16 min ago, more than [jobs] "
        f"resume_confirm_after (15 min); it drops or rewrites data, so it waits: if it is still wanted, "
        f"`tenantops jobs retry {job} --confirm late-org`")
    assert "membership_management" in _modules("late-org")  # nothing was dropped
    assert run("locks", "list", "--json").json() == []  # and the tenant is free meanwhile
    r = run("jobs", "retry", str(job))
    assert r.code == 1 and r.err.strip().endswith("repeat the tenant's slug with --confirm late-org"), r.err
    r = run("jobs", "retry", str(job), "--confirm", "late-org")
    assert r.code == 0, r.err
    assert run("worker", "--once").code == 0
    assert "membership_management" not in _modules("late-org")
    assert [d["status"] for d in run("jobs", "list", "--json").json()][:2] == ["succeeded", "needs_confirmation"]


def test_a_destructive_job_reclaimed_long_after_it_was_asked_waits_too(landlord: str) -> None:  # noqa: F811
    from tenantops.engine.tenants import modules

    Path(os.environ["TENANTOPS_CONFIG"]).write_text("[jobs]\nresume_confirm_after = 30\n")
    ctx = Context.open()
    approved(ctx, "reclaim-org", template="community_group", modules=["membership_management"])
    ctx.close()
    assert run("provision", "reclaim-org", "--server", "local").code == 0
    ctx = Context.open()
    remove = modules.request_module_remove(ctx, slug="reclaim-org", module="membership_management",
                                           confirm="reclaim-org").job
    ctx.close()
    assert remove is not None
    # its worker claimed it 31 minutes ago and died: the lease ran out long since
    long_ago = utcnow() - timedelta(minutes=29)
    _age_job(remove, 31, status="running", attempt=1, claimed_by="gone:1", started_at=long_ago,
             heartbeat_at=long_ago, lease_until=long_ago)
    assert run("worker", "--once").code == 0
    assert run("jobs", "show", str(remove), "--json").json()["status"] == "needs_confirmation"
    assert "membership_management" in _modules("reclaim-org")
    # within the limit, the same reclaimed job simply resumes; an old job that is not
    # destructive runs whenever it is started
    r = run("jobs", "retry", str(remove), "--confirm", "reclaim-org")
    assert r.code == 0, r.err
    retried = remove + 1
    _age_job(retried, 29, status="running", attempt=1, claimed_by="gone:1", started_at=long_ago,
             heartbeat_at=long_ago, lease_until=long_ago)
    assert run("worker", "--once").code == 0
    assert run("jobs", "show", str(retried), "--json").json()["status"] == "succeeded"
    ctx = Context.open()
    add = modules.request_module_add(ctx, slug="reclaim-org", module="membership_management").job
    ctx.close()
    assert add is not None
    _age_job(add, 120)
    assert run("worker", "--once").code == 0
    assert run("jobs", "show", str(add), "--json").json()["status"] == "succeeded"


def test_resume_confirm_after_is_range_checked() -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("[jobs]\nresume_confirm_after = 20000\n")
    r = run("jobs", "list")
    assert r.code == 1 and r.err.strip().endswith(
        "jobs.resume_confirm_after: must be between 1 and 10080 minutes, got 20000"), r.err


def test_claim_skips_a_job_whose_tenant_a_running_job_holds(landlord: str) -> None:  # noqa: F811
    """Every job takes its tenant's lock when claimed: a second job for a busy tenant stays
    queued (the next claim takes the next tenant's job) until the first one ends."""
    from tenantops.engine.jobs import queue

    Path(os.environ["TENANTOPS_CONFIG"]).write_text("concurrency_per_server = 4\n")
    ctx = Context.open()
    first = queue.enqueue(ctx, "sync", "busy-org", {}, lock_operation="sync")
    claimed = queue.claim(ctx)
    assert claimed is not None and claimed.id == first
    # a scheduled job now due, for the same tenant, and one for another tenant
    due = queue.enqueue(ctx, "sync", "busy-org", {}, not_before=datetime.now(timezone.utc) - timedelta(minutes=1))
    other = queue.enqueue(ctx, "sync", "calm-org", {}, lock_operation="sync")
    assert queue.claim(ctx, job_id=due) is None
    nxt = queue.claim(ctx)
    assert nxt is not None and nxt.id == other
    assert queue.claim(ctx) is None  # busy-org is still held by the first job
    assert queue.get_job(ctx, due)["status"] == "queued"
    queue.finish(ctx, first, "succeeded")
    nxt = queue.claim(ctx)
    assert nxt is not None and nxt.id == due
    holders = {lock["tenant"]: lock["job_id"] for lock in queue.locks.list_locks(ctx)}
    assert holders == {"busy-org": due, "calm-org": other}
    ctx.close()
