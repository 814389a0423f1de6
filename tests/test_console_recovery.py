"""Pilot tests of the console's recovery actions, real engine and landlord (SQLite):
retrying on another server, draining a server, restoring backups and quarantined data,
withdrawing accepted drift."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from helpers import approved
from test_console_support import make_app, settle, wait_for
from tenantops.console.screens.choose import ChoiceDialog
from tenantops.console.screens.confirm import ConfirmDialog
from tenantops.console.screens.jobs import JobsScreen
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.worker import work
from tenantops.engine.servers import registry as servers
from tenantops.engine.tenants import provision

pytestmark = pytest.mark.asyncio


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


def failed_on_draining_server(ctx: Context, tmp_path: Path) -> int:
    """The demo's story: a provisioning asked for a server that drains; its job failed."""
    (tmp_path / "archive").mkdir()
    servers.add_server(ctx, name="archive", url=f"sqlite:///{tmp_path / 'archive'}", capacity=5)
    servers.set_draining(ctx, name="archive", draining=True)
    approved(ctx, "moving-org", template="community_group")
    job_id = provision.request_provision(ctx, slug="moving-org", server="archive").job
    assert job_id is not None
    work(ctx, job_id=job_id)
    assert jobs.get_job(ctx, job_id)["status"] == "failed"
    return job_id


async def test_a_draining_server_failure_can_be_retried_on_another_server(tmp_path: Path) -> None:
    ctx = Context.open()
    failed = failed_on_draining_server(ctx, tmp_path)
    async with make_app(ctx).run_test(size=(100, 30)) as pilot:
        app = pilot.app
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        listing = app.screen.query_one("#jobs-list", RowList)
        assert listing.move_to_key(failed)
        assert "draining" in str(app.screen.query_one("#jobs-error", Static).render())
        await pilot.press("R")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ChoiceDialog)
        choices = picker.query_one("#choices", RowList)
        # the draining server is shown with why it cannot be chosen
        assert [r.key for r in choices.rows] == ["local", "archive"]
        assert choices.move_to_key("archive")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is picker
        assert "archive is draining" in str(picker.query_one("#choice-note", Static).render())
        assert choices.move_to_key("local")
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog) and "on server local" in str(
            confirm.query_one("#confirm-body", Static).render())
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen), timeout=10)
        timeline = app.screen
        assert timeline.job_id != failed
        assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                              timeout=60)
    tenant = provision_state(ctx, "moving-org")
    assert tenant == ("active", "local")
    ctx.close()


def provision_state(ctx: Context, slug: str) -> tuple[str, str]:
    from cli import run

    doc = run("tenants", "show", slug, "--json").json()
    return doc["status"], doc["server"]
