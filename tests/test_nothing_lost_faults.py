"""Nothing is lost when a restore is killed (issue 14): the process running the restore
job is SIGKILLed at each step of the restore, on SQLite and on MariaDB, and on MariaDB
the server itself is SIGKILLed (then restarted) at each step. Afterwards the tenant has
its old or its new complete database (schema and every row compared), never none, and
the documented recovery works: a worker reclaims the killed job once its lease runs out,
and after a server crash `backups restore` run again finishes the restore.

Steps are stopped at with the timeline's fault-injection point (TENANTOPS_FAILPOINT, as
the provisioning and hardening fault tests do). The server faults run on a private
MariaDB server started for this module, never the session's shared one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cli import run
from mariadb import MariaDB
from test_hardening_faults import faulty, private_db  # noqa: F401 - the private server, registered as db9
from test_nothing_lost import backups_of, execute, provision, state_of
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.servers import registry as servers
from tenantops.engine.tenants import backups

STEPS = ["verify", "backup", "stage", "check", "swap", "reconcile landlord", "snapshot"]
# where the server's death leaves the database: before the swap the old one, after it the new
AFTER_SWAP = {"reconcile landlord", "snapshot"}


def _old_and_new(slug: str, server: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A tenant with a backup (the "new" state a restore brings back) and changes made
    since (the "old" state a restore replaces)."""
    provision(slug, server, modules=["social_media"])
    execute(slug, "INSERT INTO social_accounts (platform, handle) VALUES ('facebook', 'in the backup')")
    ctx = Context.open()
    backup = backups.take_backup(ctx, slug, "manual")
    ctx.close()
    new = state_of(slug)
    execute(slug, "INSERT INTO social_accounts (platform, handle) VALUES ('youtube', 'made later')",
            "DELETE FROM social_accounts WHERE handle = 'in the backup'",
            "CREATE TABLE later_notes (id INTEGER PRIMARY KEY, note VARCHAR(20))",
            "INSERT INTO later_notes VALUES (1, 'later')")
    return backup["id"], new, state_of(slug)


def _worker_parked_in(ctx: Context, job_id: int, step: str, seconds: str) -> subprocess.Popen:
    env = {**os.environ, "TENANTOPS_FAILPOINT": f"pause:{step}", "TENANTOPS_FAILPOINT_SECONDS": seconds}
    proc = subprocess.Popen([sys.executable, "-m", "tenantops.engine.jobs.worker", "--job", str(job_id)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(s["name"] == step and s["status"] == "running" for s in jobs.get_job(ctx, job_id)["steps"]):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the worker never reached step {step}: {proc.communicate()}")
        time.sleep(0.03)
    return proc


def _queue_restore(ctx: Context, slug: str, backup_id: int) -> int:
    job = backups.request_restore(ctx, slug=slug, backup_id=backup_id, confirm=slug).job
    assert job is not None
    return job


def _assert_settled(slug: str, new: dict[str, Any]) -> None:
    """The restore finished: the new database, the landlord agreeing with it."""
    assert state_of(slug) == new
    assert run("drift", slug, "--json").json()["severity"] == "none"
    assert [f for f in run("doctor", "--json").json()["findings"] if f["target"] == slug] == []
    assert "social_media" in run("tenants", "show", slug, "--json").json()["modules"]
    assert run("locks", "list", "--json").json() == []


def _kill_worker_at(step: str, server: str) -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("lease_seconds = 2\n")
    slug = "kill-rs"
    backup_id, new, old = _old_and_new(slug, server)
    ctx = Context.open()
    job_id = _queue_restore(ctx, slug, backup_id)
    victim = _worker_parked_in(ctx, job_id, step, "120")
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert jobs.get_job(ctx, job_id)["status"] == "running"   # nobody knows yet
    # the tenant has its old or its new complete database, never none
    now = state_of(slug)
    assert now == (new if step in AFTER_SWAP else old)

    time.sleep(2.2)  # the lease runs out: the documented recovery is any worker reclaiming the job
    rescuer = subprocess.run([sys.executable, "-m", "tenantops.engine.jobs.worker", "--once"], timeout=300,
                             env={k: v for k, v in os.environ.items() if k != "TENANTOPS_FAILPOINT"},
                             capture_output=True, text=True)
    assert rescuer.returncode == 0, rescuer.stderr
    job = jobs.get_job(ctx, job_id)
    assert job["status"] == "succeeded" and job["attempt"] == 2, job["error"]
    ctx.close()
    _assert_settled(slug, new)
    # the backup being restored is untouched, and every pre-restore state is pinned
    assert any(b["id"] == backup_id for b in backups_of(slug))


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_worker_killed_at_each_restore_step(step: str, server: str) -> None:
    """SIGKILL of the process running the restore job, at each step, on both dialects."""
    _kill_worker_at(step, server)


@pytest.mark.slow
@pytest.mark.mariadb
@pytest.mark.parametrize("step", [s for s in STEPS if s != "verify"])
def test_server_killed_at_each_restore_step(step: str, faulty: MariaDB) -> None:
    """SIGKILL of mariadbd while the restore is inside each step: the job fails with one
    line and the worker does not crash; after the server is back the tenant has its old
    or its new complete database, and `backups restore` again finishes the restore."""
    slug = "crash-rs"
    backup_id, new, old = _old_and_new(slug, "db9")
    ctx = Context.open()
    job_id = _queue_restore(ctx, slug, backup_id)
    proc = _worker_parked_in(ctx, job_id, step, "2")
    faulty.kill()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err   # the job fails, not the worker
    job = jobs.get_job(ctx, job_id)
    ctx.close()
    assert job["status"] == "failed" and "\n" not in job["error"], job
    assert run("locks", "list", "--json").json() == []

    faulty.restart()
    assert state_of(slug) in (old, new)
    assert state_of(slug) == (new if step in AFTER_SWAP else old)
    r = run("backups", "restore", slug, str(backup_id), "--confirm", slug, "--json")
    assert r.code == 0, r.err
    _assert_settled(slug, new)
    # no staging copy is left behind by the crash or the retry
    leftovers = [r[0] for r in faulty.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
                 if r[0].startswith(backups.STAGING_PREFIX)]
    assert leftovers == []
