"""Jobs outlive the console: close it while a provisioning runs, open it again, and the
job's timeline is still advancing to completion (work continues when an SSH session drops)."""
from __future__ import annotations

import pytest

from test_console_support import make_app, settle, wait_for
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.engine.tenants import applications
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.tenants import provision as provisioner
from tenantops.engine.jobs import worker
from tenantops.engine.context import Context

pytestmark = pytest.mark.asyncio


async def test_closing_the_console_leaves_the_job_running_and_reopening_reattaches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Context.open()
    applications.submit(ctx, organization="Reattach Org", slug="reattach", email="a@reattach.example.org",
                        template="community_group")
    applications.approve(ctx, "reattach")
    # the detached worker parks 3 s inside "seed": long enough to close the console mid-job
    monkeypatch.setenv("TENANTOPS_FAILPOINT", "pause:seed")
    monkeypatch.setenv("TENANTOPS_FAILPOINT_SECONDS", "3")
    job_id = provisioner.request_provision(ctx, slug="reattach").job
    process = worker.spawn(ctx, job_id=job_id)
    monkeypatch.delenv("TENANTOPS_FAILPOINT")

    async with make_app(ctx).run_test(size=(100, 40)) as pilot:
        app = pilot.app
        app.push_screen(TimelineScreen(job_id))
        timeline = app.screen
        assert await wait_for(pilot, lambda: timeline.job is not None and any(
            s["name"] == "seed" and s["status"] == "running" for s in timeline.job["steps"]), timeout=30)
        await settle(pilot)
    # the console is gone; the job is not
    assert jobs.get_job(ctx, job_id)["status"] == "running"
    assert process.poll() is None

    async with make_app(ctx).run_test(size=(100, 40)) as pilot:
        app = pilot.app
        app.push_screen(TimelineScreen(job_id))
        timeline = app.screen
        assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                              timeout=60), timeline.job
        await settle(pilot)
        names = [s["name"] for s in timeline.job["steps"] if not s["name"].startswith("  ")]
        assert names[-3:] == ["compliance", "activate", "notify"]
    process.wait(timeout=30)
    assert applications.get(ctx, "reattach")["status"] == "provisioned"
    ctx.close()
