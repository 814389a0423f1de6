"""Load-aware throttle: a server whose Threads_running exceeds its limit gets no new
tenant job until it drops (the claim skips it; other servers' jobs go on), and `servers
list` shows it. The limit is set below the server's current value to make it "busy"."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cli import run
from helpers import approved
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.tenants import provision as provisioner


def _queue(slug: str, server: str) -> int:
    ctx = Context.open()
    approved(ctx, slug, template="community_group")
    job = provisioner.request_provision(ctx, slug=slug, server=server).job
    ctx.close()
    assert job is not None
    return job


def _worker_once() -> None:
    done = subprocess.run([sys.executable, "-m", "tenantops.engine.jobs.worker", "--once"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def _status(job_id: int) -> str:
    ctx = Context.open()
    try:
        return jobs.get_job(ctx, job_id)["status"]
    finally:
        ctx.close()


def test_a_server_over_its_threads_running_limit_gets_no_new_job(server: str, dialect: str) -> None:
    if dialect == "sqlite":
        # SQLite has no Threads_running: a limit is recorded, shown as unknown, never throttles
        r = run("servers", "limit", "local", "--threads-running", "0", "--json")
        assert r.code == 0 and r.json()["limit"] == 0 and r.json()["throttled"] is False, r.err
        job = _queue("thr-lite", "local")
        _worker_once()
        assert _status(job) == "succeeded"
        return
    r = run("servers", "limit", server, "--threads-running", "0", "--json")
    assert r.code == 0, r.err
    assert r.json()["limit"] == 0 and r.json()["threads_running"] >= 1 and r.json()["throttled"] is True
    listed = {s["name"]: s["load"] for s in run("servers", "list", "--json").json()}
    assert listed[server]["throttled"] is True and listed["local"]["limit"] is None
    shown = run("servers", "list")
    assert f"server {server} is THROTTLED" in shown.err

    busy_job, other_job = _queue("thr-busy", server), _queue("thr-other", "local")
    _worker_once()
    assert _status(busy_job) == "queued"      # skipped while its server is over the limit
    assert _status(other_job) == "succeeded"  # another server's job is not held up

    r = run("servers", "limit", server, "--threads-running", "200")
    assert r.code == 0, r.err
    assert "THROTTLED" not in run("servers", "list").err
    _worker_once()
    assert _status(busy_job) == "succeeded"
    r = run("servers", "limit", server, "--threads-running", "off", "--json")
    assert r.code == 0 and r.json()["limit"] is None
    audit = [a["outcome"] for a in run("audit", "--json").json() if a["action"] == "servers.limit"]
    assert audit == ["ok", "ok", "ok"]


@pytest.mark.parametrize("args, complaint", [
    (["servers", "limit", "local"], "required: --threads-running"),
    (["servers", "limit", "local", "--threads-running", "many"], "argument --threads-running: 'many'"),
    (["servers", "limit", "local", "--threads-running", "-1"], "'-1' must not be negative"),
])
def test_bad_limits_are_refused_with_one_line(args: list[str], complaint: str) -> None:
    r = run(*args)
    assert r.code == 2 and complaint in r.err and len(r.err.strip().splitlines()) == 1, r.err
    r = run("servers", "limit", "ghost", "--threads-running", "3")
    assert r.code == 1 and "server 'ghost' is not registered" in r.err
