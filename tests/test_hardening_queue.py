"""Queued jobs never block a tenant for good, and a destructive job resumed long after it
was asked for waits for its confirmation (docs/reliability.md §10). Run on a SQLite and
a MariaDB landlord."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
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
