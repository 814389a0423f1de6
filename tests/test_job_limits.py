"""A job the CLI runs itself (or a worker started for one job, the console's way) is held
to the server's ``concurrency_per_server`` and load limit like any worker's claim: it
waits its turn, says why (CLI stderr, `jobs show`, the console's timeline), and starts
when the server has room. On a SQLite and a MariaDB landlord."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import run
from conftest import drop_tenants
from helpers import approved
from test_hardening_concurrency import landlord  # noqa: F401 - the SQLite/MariaDB landlord fixture
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue, worker
from tenantops.engine.landlord import models as m
from tenantops.engine.tenants import provision as provisioner

AS_OPERATOR = str(Path(__file__).parent / "as_operator.py")


def _one_job_per_server() -> Context:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("concurrency_per_server = 1\n")
    return Context.open()


def _cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, AS_OPERATOR, "alice", "-m", "tenantops.console", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def _killed_at_exit(*procs: subprocess.Popen) -> Iterator[None]:
    """A failing assertion never leaves a waiting CLI or worker behind."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _jobs_of(ctx: Context, slug: str) -> list[m.Job]:
    with ctx.session() as s:
        return list(s.scalars(sa.select(m.Job).where(m.Job.tenant == slug).order_by(m.Job.id)))


def _wait_for(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _run_first_holding_the_server(ctx: Context, slug: str) -> m.Job:
    """A provisioning on `local` claimed by this process (a worker busy with it)."""
    approved(ctx, slug, template="community_group")
    job_id = provisioner.request_provision(ctx, slug=slug, server="local").job
    claimed = queue.claim(ctx)
    assert claimed is not None and claimed.id == job_id
    return claimed


def test_cli_provision_waits_for_room_on_a_full_server(landlord: str) -> None:  # noqa: F811
    ctx = _one_job_per_server()
    first = _run_first_holding_the_server(ctx, "first-org")
    approved(ctx, "second-org", template="community_group")
    cli = _cli("provision", "second-org", "--server", "local", "--json")
    with _killed_at_exit(cli):
        second = _wait_for("the CLI's job", lambda: _jobs_of(ctx, "second-org"))[0]
        time.sleep(1.5)  # three of the CLI's polls: it must still be waiting
        assert cli.poll() is None
        assert queue.get_job(ctx, second.id)["status"] == "queued"
        assert queue.get_job(ctx, first.id)["status"] == "running"
        why = "server local already runs 1 job (concurrency_per_server = 1)"
        assert run("jobs", "show", str(second.id), "--json").json()["waiting"] == why
        shown = run("jobs", "show", str(second.id))
        assert shown.code == 0 and f"waits: {why}" in shown.err.splitlines(), shown.err
        assert run("jobs", "show", str(first.id), "--json").json()["waiting"] is None
        # the server has room again once the first job ends
        assert worker.run_job(ctx, first) == "succeeded"
        out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    waits = [line for line in err.splitlines() if "waits" in line]
    assert waits == [f"job {second.id} waits: server local already runs 1 job (concurrency_per_server = 1); "
                     "interrupted, it stays queued for `tenantops worker`"], err
    assert json.loads(out)["status"] == "active"
    done = {j["id"]: j for j in queue.list_jobs(ctx)}
    assert done[second.id]["status"] == "succeeded" and done[second.id]["attempt"] == 1
    assert done[second.id]["started_at"] >= done[first.id]["finished_at"]
    assert run("jobs", "show", str(second.id), "--json").json()["waiting"] is None
    ctx.close()


def test_an_interrupted_waiting_cli_leaves_its_job_queued_for_a_worker() -> None:
    """Ctrl-C while the CLI waits for room: exit 130, the job stays queued (its tenant
    still reserved for it), and a `tenantops worker` runs it once the server has room."""
    ctx = _one_job_per_server()
    first = _run_first_holding_the_server(ctx, "first-org")
    approved(ctx, "second-org", template="community_group")
    cli = _cli("provision", "second-org", "--server", "local")
    with _killed_at_exit(cli):
        second = _wait_for("the CLI's job", lambda: _jobs_of(ctx, "second-org"))[0]
        _wait_for("the CLI to say it waits", lambda: queue.show_job(ctx, second.id)["waiting"])
        time.sleep(0.5)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
    assert cli.returncode == 130, err
    assert err.splitlines()[-1] == "tenantops: interrupted", err
    assert queue.get_job(ctx, second.id)["status"] == "queued"
    refused = run("provision", "second-org", "--server", "local")
    assert refused.code == 1 and f"job {second.id}" in refused.err, refused.err
    assert worker.run_job(ctx, first) == "succeeded"
    done = run("worker", "--once")
    assert done.code == 0, done.err
    assert queue.get_job(ctx, second.id)["status"] == "succeeded"
    assert run("tenants", "show", "second-org", "--json").json()["status"] == "active"
    ctx.close()


def test_a_worker_started_for_one_job_waits_its_turn(landlord: str) -> None:  # noqa: F811
    """The console's way: a worker process started for one queued job (``--job``)."""
    ctx = _one_job_per_server()
    first = _run_first_holding_the_server(ctx, "first-org")
    approved(ctx, "second-org", template="community_group")
    second = provisioner.request_provision(ctx, slug="second-org", server="local").job
    proc = subprocess.Popen([sys.executable, "-m", "tenantops.engine.jobs.worker", "--job", str(second), "--once"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _killed_at_exit(proc):
        time.sleep(2.0)
        assert proc.poll() is None, proc.communicate()
        assert queue.get_job(ctx, second)["status"] == "queued"
        assert worker.run_job(ctx, first) == "succeeded"
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"job {second} waits: server local already runs 1 job" in err
    assert queue.get_job(ctx, second)["status"] == "succeeded"
    ctx.close()


@pytest.mark.asyncio
async def test_the_console_timeline_says_why_its_job_waits() -> None:
    """A job queued from the console, on a full server: its timeline names the limit while
    the worker started for it waits, then shows it done once the server has room."""
    from test_console_support import make_app, wait_for
    from textual.widgets import Static
    from tenantops.console.screens.timeline import TimelineScreen

    ctx = _one_job_per_server()
    first = _run_first_holding_the_server(ctx, "first-org")
    approved(ctx, "second-org", template="community_group")
    second = provisioner.request_provision(ctx, slug="second-org", server="local").job
    proc = worker.spawn(ctx, job_id=second)
    with _killed_at_exit(proc):
        async with make_app(ctx).run_test(size=(120, 30)) as pilot:
            pilot.app.push_screen(TimelineScreen(second))
            timeline = pilot.app.screen
            await pilot.pause()
            bar = timeline.query_one("#tl-bar", Static)
            assert await wait_for(pilot, lambda: "waits: server local already runs 1 job" in str(bar.render()),
                                  timeout=30), str(bar.render())
            assert worker.run_job(ctx, first) == "succeeded"
            assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                                  timeout=60), timeline.job
            assert "waits" not in str(bar.render())
        proc.wait(timeout=60)
    ctx.close()


def test_three_clis_at_once_take_the_one_slot_in_turn(landlord: str) -> None:  # noqa: F811
    """Three `tenantops provision` at once on a server that runs one job at a time: each
    starts claimed only if the server has room when it commits, so no two ever overlap."""
    ctx = _one_job_per_server()
    slugs = [f"race-{i}" for i in range(3)]
    for slug in slugs:
        approved(ctx, slug, template="community_group")
    clis = [_cli("provision", slug, "--server", "local", "--json") for slug in slugs]
    with _killed_at_exit(*clis):
        results = [c.communicate(timeout=240) for c in clis]
    assert [c.returncode for c in clis] == [0, 0, 0], [err for _, err in results]
    spans = sorted((j.started_at, j.finished_at) for slug in slugs for j in _jobs_of(ctx, slug))
    assert len(spans) == 3
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, spans
    ctx.close()


@pytest.mark.mariadb
def test_cli_provision_waits_while_its_server_is_over_its_load_limit(mariadb) -> None:
    """A limit below the server's Threads_running makes it busy: the CLI's job waits,
    naming the limit, and starts once the limit is lifted."""
    from tenantops.engine.servers import registry as servers

    ctx = Context.open()
    servers.add_server(ctx, name="db1", url=mariadb.url, capacity=10, password=mariadb.admin_password)
    approved(ctx, "loaded-org", template="community_group")
    try:
        assert run("servers", "limit", "db1", "--threads-running", "0").code == 0
        cli = _cli("provision", "loaded-org", "--server", "db1")
        with _killed_at_exit(cli):
            job = _wait_for("the CLI's job", lambda: _jobs_of(ctx, "loaded-org"))[0]
            time.sleep(1.5)
            assert cli.poll() is None
            assert queue.get_job(ctx, job.id)["status"] == "queued"
            assert run("servers", "limit", "db1", "--threads-running", "off").code == 0
            _, err = cli.communicate(timeout=120)
        assert cli.returncode == 0, err
        assert f"job {job.id} waits: server db1 is over its load limit (Threads_running " in err
        assert "> 0)" in err
        assert queue.get_job(ctx, job.id)["status"] == "succeeded"
    finally:
        ctx.close()
        drop_tenants(mariadb)
