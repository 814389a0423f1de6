"""Pilot tests of the console's recovery actions, real engine and landlord (SQLite):
retrying on another server, draining a server, restoring backups and quarantined data,
withdrawing accepted drift."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from typing import Any

from helpers import approved, tenant_engine
from test_console_support import SLUG, behind_the_back, make_app, make_provisioned, settle, use_home, wait_for
from tenantops.console.screens.command_log import CommandLogScreen
from tenantops.console.screens.recovery import AcceptedScreen, BackupsScreen, QuarantineScreen
from tenantops.console.screens.tenant import TenantScreen
from tenantops.engine.health import drift
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


# -- a provisioned tenant with a backup, quarantined data and an accepted difference ----

@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    return make_provisioned(tmp_path_factory.mktemp("provisioned"), expected_cache)


def repaired_with_quarantine(ctx: Context) -> None:
    """Someone added a table by hand; an aggressive repair backed up, then moved it aside."""
    from cli import run

    behind_the_back(ctx, SLUG, ["CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))",
                                "INSERT INTO scratch_notes VALUES (1, 'keep me'), (2, 'me too')"])
    r = run("repair", SLUG, "--strategy", "aggressive", "--confirm", SLUG)
    assert r.code == 0, r.err


async def open_tenant_list(pilot, key: str, cls: type) -> Any:
    app = pilot.app
    app.push_screen(TenantScreen(SLUG))
    await settle(pilot, 3)
    await pilot.press(key)
    await settle(pilot, 3)
    assert isinstance(app.screen, cls)
    return app.screen


async def test_quarantined_data_is_restored_from_the_tenant_screen(provisioned: Path, tenantops_env: Path) -> None:
    use_home(provisioned, tenantops_env)
    ctx = Context.open()
    repaired_with_quarantine(ctx)
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        screen = await open_tenant_list(pilot, "Q", QuarantineScreen)
        listing = screen.query_one("#quarantine-list", RowList)
        assert [r.data["table"] for r in listing.rows] == ["scratch_notes"]
        assert "2 " in str(listing.rows[0].cells[3]) or listing.rows[0].data["rows"] == 2
        await pilot.press("R")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.typed
        dialog.query_one("#typed", Input).value = "wrong"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog  # a wrong slug changes nothing
        dialog.query_one("#typed", Input).value = SLUG
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: any("Restored 2 row(s) of scratch_notes" in n
                                                 for n in notifications(app)))
        assert await wait_for(pilot, lambda: listing.rows and listing.rows[0].data.get("restored_at"))
        assert "restored" in str(listing.rows[0].cells[4])
    engine = tenant_engine(ctx, SLUG)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT note FROM scratch_notes ORDER BY id").scalars().all() == [
            "keep me", "me too"]
    engine.dispose()
    ctx.close()


async def test_a_backup_is_restored_from_the_tenant_screen(provisioned: Path, tenantops_env: Path) -> None:
    use_home(provisioned, tenantops_env)
    ctx = Context.open()
    repaired_with_quarantine(ctx)
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        screen = await open_tenant_list(pilot, "B", BackupsScreen)
        listing = screen.query_one("#backups-list", RowList)
        assert len(listing.rows) >= 1
        backup = listing.current_row.data
        await pilot.press("R")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.typed
        assert f"backup #{backup['id']}" in str(dialog.query_one("#confirm-body", Static).render())
        dialog.query_one("#typed", Input).value = SLUG
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen), timeout=10)
        timeline = app.screen
        assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                              timeout=60)
        assert timeline.job["kind"] == "restore"
    # the backup was taken before the repair: the hand-made table is back
    engine = tenant_engine(ctx, SLUG)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch_notes").scalar() == 2
    engine.dispose()
    ctx.close()


async def test_accepted_drift_is_withdrawn_from_the_tenant_screen(provisioned: Path, tenantops_env: Path) -> None:
    use_home(provisioned, tenantops_env)
    ctx = Context.open()
    accepted = drift.accept_difference(ctx, slug=SLUG, object="index", change="added", table="notices",
                                       name="ix_notices_title", reason="hot fix, ticket 42",
                                       expires=(datetime.now(timezone.utc) + timedelta(days=30)).date().isoformat())
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        screen = await open_tenant_list(pilot, "D", AcceptedScreen)
        listing = screen.query_one("#accepted-list", RowList)
        assert [r.key for r in listing.rows] == [accepted["id"]]
        assert "hot fix, ticket 42" in str(screen.query_one("#accepted-detail", Static).render())
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: listing.rows == [] and screen.items == [])
        assert any(f"Acceptance #{accepted['id']} withdrawn" in n for n in notifications(app))
    assert drift.list_acceptances(ctx, SLUG) == []
    ctx.close()


async def test_a_server_is_drained_and_undrained_after_a_confirmation(tmp_path: Path) -> None:
    ctx = Context.open()
    (tmp_path / "spare").mkdir()
    servers.add_server(ctx, name="spare", url=f"sqlite:///{tmp_path / 'spare'}", capacity=5)
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("5")
        await settle(pilot)
        listing = app.screen.query_one("#servers-list", RowList)
        assert listing.move_to_key("spare")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert not draining(ctx, "spare")  # cancelled: nothing changed
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: listing.current_row is not None and listing.current_row.data["draining"])
        assert "draining" in str(listing.current_row.cells[2])
        await pilot.press("d")
        await settle(pilot)
        assert "Undrain" in str(app.screen.query_one("#confirm-body", Static).render())
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: not listing.current_row.data["draining"])
    assert not draining(ctx, "spare")
    from cli import run

    drains = [(e["operator"], e["outcome"]) for e in run("audit", "--json").json() if e["action"] == "servers.drain"]
    assert drains == [("alice", "ok"), ("alice", "ok")]
    ctx.close()


def draining(ctx: Context, name: str) -> bool:
    return next(sv for sv in servers.list_servers(ctx) if sv["name"] == name)["draining"]


async def test_the_command_log_lists_engine_calls_and_sql_with_timing() -> None:
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("3")  # the jobs screen reads the jobs
        await settle(pilot)
        await pilot.press("L")
        await settle(pilot)
        panel = app.screen
        assert isinstance(panel, CommandLogScreen), app.handled_errors
        text = panel.entries_text()
        assert "▶ jobs.list_jobs" in text
        sql = [line for line in text.splitlines() if "SELECT" in line and " ms " in line]
        assert sql, text
        bar = str(panel.query_one("#command-log-bar", Static).render())
        assert "engine call(s)" in bar and "SQL statement(s)" in bar
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
    ctx.close()
