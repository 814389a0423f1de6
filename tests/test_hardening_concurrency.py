"""Hardening: concurrency.

Parallel submissions of one slug, two worker processes on one queue (on the embedded
SQLite landlord and on a MariaDB landlord, where claims use SKIP LOCKED), and a stale lock
left by a killed worker: visible, and breakable by a dba only (audited).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import run
from helpers import switch_operator
from tenantops.engine.tenants import applications
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.access import operators
from tenantops.engine.tenants import provision as provisioner
from tenantops.engine.context import Context
from tenantops.engine.errors import ConflictError, TenantopsError
from tenantops.engine.landlord import models as m


def _submit_args(slug: str, org: str) -> dict:
    return {"organization": org, "slug": slug, "email": "race@example.org", "template": "community_group"}


def test_parallel_submissions_of_one_slug_exactly_one_wins(tenantops_env: Path) -> None:
    """8 threads (each its own Context and connection pool) and 4 CLI processes submit the
    same slug at once: exactly one wins, every other gets one clear 'taken' line."""
    contexts = [Context.open() for _ in range(8)]
    barrier = threading.Barrier(len(contexts))
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def submit(i: int) -> None:
        barrier.wait()
        try:
            applications.submit(contexts[i], **_submit_args("race-org", f"Org {i}"))
            result = ("won", "")
        except TenantopsError as exc:
            result = (type(exc).__name__, str(exc))
        except Exception as exc:  # noqa: BLE001 - the test reports anything else as a failure
            result = ("crash", f"{type(exc).__name__}: {exc}")
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(contexts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(kind for kind, _ in outcomes).count("won") == 1, outcomes
    for kind, message in outcomes:
        if kind != "won":
            assert kind == ConflictError.__name__, (kind, message)
            assert "slug 'race-org' is already taken" in message and "\n" not in message

    cmd = [sys.executable, str(Path(__file__).parent / "as_operator.py"), "alice", "-m", "tenantops.console", "applications", "submit", "--slug", "proc-org", "--email",
           "p@example.org", "--template", "community_group", "--org"]
    procs = [subprocess.Popen(cmd + [f"Proc {i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 1, 1, 1], results
    for code, err in results:
        if code:
            assert err.count("\n") == 1 and "slug 'proc-org' is already taken" in err, err

    with contexts[0].session() as s:
        slugs = sorted(s.scalars(sa.select(m.Application.slug)))
    assert slugs == ["proc-org", "race-org"]
    for ctx in contexts:
        ctx.close()


# -- two workers, one queue ----------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def landlord(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The landlord store the workers share: the embedded SQLite file, or a MariaDB
    database (password in the keyring via init --password-stdin)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    db = request.getfixturevalue("mariadb")
    name = f"tenantops_landlord_{os.getpid()}"
    db.execute(f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    url = f"{db.url}/{name}"
    monkeypatch.setenv("TENANTOPS_LANDLORD_URL", url)
    r = run("init", "--password-stdin", stdin=db.admin_password + "\n")
    assert r.code == 0, r.err
    yield "mariadb"
    db.execute(f"DROP DATABASE IF EXISTS `{name}`")


def test_two_workers_on_one_queue_never_run_a_job_twice(landlord: str, tenantops_env: Path) -> None:
    """Five queued provisioning jobs, two worker processes: every job succeeds on its
    first attempt, every tenant is provisioned exactly once."""
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("concurrency_per_server = 4\n")
    ctx = Context.open()
    slugs = [f"q-{i}" for i in range(5)]
    job_ids = []
    for slug in slugs:
        applications.submit(ctx, **_submit_args(slug, f"Org {slug}"))
        applications.approve(ctx, slug)
        job_ids.append(provisioner.request_provision(ctx, slug=slug, server="local").job)
    # each job lingers 0.4 s in its seed step, so both workers are busy at the same time
    env = {**os.environ, "TENANTOPS_FAILPOINT": "pause:seed", "TENANTOPS_FAILPOINT_SECONDS": "0.4"}
    workers = [subprocess.Popen([sys.executable, "-m", "tenantops.engine.jobs.worker", "--once"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert not any("Traceback" in err for _, err in outputs), outputs

    docs = [jobs.get_job(ctx, j) for j in job_ids]
    assert [(d["status"], d["attempt"]) for d in docs] == [("succeeded", 1)] * 5, [(d["status"], d["error"]) for d in docs]
    assert len({d["claimed_by"] for d in docs}) == 2, [d["claimed_by"] for d in docs]  # both took jobs
    for d in docs:
        names = [s["name"] for s in d["steps"]]
        assert names.count("create database") == 1 and names.count("activate") == 1, names
    with ctx.session() as s:
        tenants = {t.slug: t for t in s.scalars(sa.select(m.Tenant))}
        history = list(s.execute(sa.select(m.MigrationHistory.tenant_id, m.MigrationHistory.revision,
                                           m.MigrationHistory.action)))
    assert sorted(tenants) == slugs and {t.status for t in tenants.values()} == {"active"}
    applied = [(tid, rev) for tid, rev, action in history if action == "apply"]
    assert len(applied) == len(set(applied))  # no revision applied twice to a tenant
    per_tenant = {tid: sum(1 for t, _ in applied if t == tid) for tid, _ in applied}
    assert len(per_tenant) == 5 and len(set(per_tenant.values())) == 1, per_tenant
    assert sorted(p.stem for p in (tenantops_env / "tenants").glob("*.sqlite")) == \
        sorted(t.database for t in tenants.values())
    assert run("locks", "list", "--json").json() == []
    ctx.close()


# -- stale locks ---------------------------------------------------------------------------------


def _as(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    switch_operator(monkeypatch, user)


def test_stale_lock_of_a_killed_worker_is_visible_and_only_a_dba_breaks_it(monkeypatch: pytest.MonkeyPatch,
                                                                          tenantops_env: Path) -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("lease_seconds = 2\n")
    ctx = Context.open()
    operators.add_operator(ctx, user="vera", role="viewer")
    operators.add_operator(ctx, user="adam", role="admin")
    operators.add_operator(ctx, user="bob", role="dba")
    applications.submit(ctx, **_submit_args("stale-org", "Stale"))
    applications.approve(ctx, "stale-org")
    job_id = provisioner.request_provision(ctx, slug="stale-org", server="local").job
    env = {**os.environ, "TENANTOPS_FAILPOINT": "pause:seed", "TENANTOPS_FAILPOINT_SECONDS": "120"}
    victim = subprocess.Popen([sys.executable, "-m", "tenantops.engine.jobs.worker", "--job", str(job_id)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(s["name"] == "seed" and s["status"] == "running" for s in jobs.get_job(ctx, job_id)["steps"]):
            assert time.monotonic() < deadline and victim.poll() is None, "the worker never reached the seed step"
            time.sleep(0.05)
        live = run("locks", "list", "--json").json()
        assert [(x["tenant"], x["stale"], x["job_id"]) for x in live] == [("stale-org", False, job_id)]
        _as(monkeypatch, "bob")
        r = run("locks", "break", "stale-org")
        assert r.code == 1 and "it is not stale" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    time.sleep(2.3)  # the lease is no longer renewed by anyone

    stale = run("locks", "list", "--json").json()
    assert len(stale) == 1 and stale[0]["stale"] is True and stale[0]["tenant"] == "stale-org"
    assert f"job {job_id}" in stale[0]["holder"] and stale[0]["operation"] == "provision"
    assert "STALE" in run("locks", "list").out
    kinds = {f["kind"] for f in run("doctor", "--json").json()["findings"]}
    assert {"stale_lock", "stale_job"} <= kinds

    for user in ("vera", "adam"):
        _as(monkeypatch, user)
        r = run("locks", "break", "stale-org")
        assert r.code == 1 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err
        assert "locks.break needs the dba role" in r.err, r.err
    assert len(run("locks", "list", "--json").json()) == 1

    _as(monkeypatch, "bob")
    r = run("locks", "break", "stale-org", "--json")
    assert r.code == 0, r.err
    assert r.json()["tenant"] == "stale-org" and r.json()["stale"] is True
    assert run("locks", "list", "--json").json() == []
    audit = [(a["operator"], a["outcome"], a["target"]) for a in run("audit", "--json").json()
             if a["action"] == "locks.break"]
    assert sorted(audit) == sorted([("bob", "failed", "stale-org"), ("vera", "denied", "stale-org"),
                                    ("adam", "denied", "stale-org"), ("bob", "ok", "stale-org")]), audit
    ctx.close()
