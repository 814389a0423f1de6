"""Pilot tests of the tenant lifecycle from the tenant screen (issue 20), real engine and
landlord (SQLite): suspend with a reason and resume, move to another server chosen in a
picker, archive behind the typed slug."""
from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from cli import run
from test_console_support import SLUG, make_app, make_provisioned, settle, use_home, wait_for
from tenantops.console.screens.choose import ChoiceDialog
from tenantops.console.screens.confirm import ConfirmDialog
from tenantops.console.screens.reason import ReasonDialog
from tenantops.console.screens.tenant import TenantScreen
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine.context import Context
from tenantops.engine.servers import registry as servers

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    return make_provisioned(tmp_path_factory.mktemp("provisioned"), expected_cache)


def tenant_doc() -> dict:
    r = run("tenants", "show", SLUG, "--json")
    assert r.code == 0, r.err
    return r.json()


async def open_tenant(pilot) -> TenantScreen:
    pilot.app.push_screen(TenantScreen(SLUG))
    await settle(pilot, 3)
    screen = pilot.app.screen
    assert isinstance(screen, TenantScreen)
    assert await wait_for(pilot, lambda: screen.detail is not None)
    return screen


async def finish_job(pilot) -> dict:
    app = pilot.app
    assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen), timeout=10)
    timeline = app.screen
    assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] in ("succeeded", "failed"),
                          timeout=60)
    return timeline.job


async def test_suspend_needs_a_reason_and_resume_lets_the_tenant_back(provisioned: Path, tenantops_env: Path) -> None:
    use_home(provisioned, tenantops_env)
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await open_tenant(pilot)
        await pilot.press("z")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReasonDialog)
        await pilot.press("enter")                  # no reason: refused, nothing queued
        await settle(pilot)
        assert app.screen is dialog and "required" in str(dialog.query_one("#reason-error", Static).render())
        dialog.query_one("#reason", Input).value = "invoice overdue"
        await pilot.press("enter")
        job = await finish_job(pilot)
        assert job["kind"] == "suspend" and job["status"] == "succeeded", job
        assert tenant_doc()["status"] == "suspended"

        await pilot.press("escape")
        await settle(pilot, 3)
        screen = app.screen
        assert isinstance(screen, TenantScreen)
        assert await wait_for(pilot, lambda: screen.detail is not None
                              and screen.detail["tenant"]["status"] == "suspended")
        await pilot.press("z")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog) and "log in again" in str(
            confirm.query_one("#confirm-body", Static).render())
        await pilot.press("enter")
        job = await finish_job(pilot)
        assert job["kind"] == "resume" and job["status"] == "succeeded", job
    assert tenant_doc()["status"] == "active"
    ctx.close()


async def test_move_picks_a_server_that_can_take_the_tenant(provisioned: Path, tenantops_env: Path,
                                                            tmp_path: Path) -> None:
    use_home(provisioned, tenantops_env)
    ctx = Context.open()
    for name in ("spare", "closing"):
        (tmp_path / name).mkdir()
        servers.add_server(ctx, name=name, url=f"sqlite:///{tmp_path / name}", capacity=5)
    servers.set_draining(ctx, name="closing", draining=True)
    async with make_app(ctx).run_test(size=(100, 30)) as pilot:
        app = pilot.app
        await open_tenant(pilot)
        await pilot.press("m")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ChoiceDialog)
        choices = picker.query_one("#choices", RowList)
        assert {r.key for r in choices.rows} == {"local", "spare", "closing"}
        assert choices.move_to_key("closing")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is picker and "draining" in str(picker.query_one("#choice-note", Static).render())
        assert choices.move_to_key("spare")
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog)
        assert "verify" in str(confirm.query_one("#confirm-body", Static).render())
        await pilot.press("enter")
        job = await finish_job(pilot)
        assert job["kind"] == "move" and job["status"] == "succeeded", job
    doc = tenant_doc()
    assert (doc["status"], doc["server"]) == ("active", "spare")
    ctx.close()


async def test_archive_wants_the_slug_typed(provisioned: Path, tenantops_env: Path) -> None:
    use_home(provisioned, tenantops_env)
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await open_tenant(pilot)
        await pilot.press("X")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.typed
        assert "DROPS" in str(dialog.query_one("#confirm-body", Static).render())
        dialog.query_one("#typed", Input).value = "not-it"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog and tenant_doc()["status"] == "active"
        dialog.query_one("#typed", Input).value = SLUG
        await pilot.press("enter")
        job = await finish_job(pilot)
        assert job["kind"] == "archive" and job["status"] == "succeeded", job
    assert tenant_doc()["status"] == "archived"
    backups = run("backups", "list", SLUG, "--json").json()
    assert backups[0]["reason"] == "archive" and backups[0]["pinned"] is True
    ctx.close()
