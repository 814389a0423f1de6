"""Navigation: a section key lands on the section's root screen (its state kept),
drill-downs push onto it, "open X filtered by Y" works whatever is on top, the header
shows a breadcrumb; q goes back, ctrl+q quits; an unexpected error shows the error
screen (message, log file, a way back) instead of a dead app."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Label

from test_console_support import SLUG, make_app, make_provisioned, seed, settle, use_home, wait_for
from tenantops.console.screens.dashboard import DashboardScreen
from tenantops.console.screens.diff import DiffScreen
from tenantops.console.screens.error import ErrorScreen
from tenantops.console.screens.servers import ServersScreen
from tenantops.console.screens.snapshots import SnapshotsScreen
from tenantops.console.screens.tenant import TenantScreen
from tenantops.console.screens.tenants import TenantsScreen
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine.context import Context
from tenantops.engine.tenants import snapshots

pytestmark = pytest.mark.asyncio


def header(app: Any) -> str:
    return str(app.screen.query_one("#header-title", Label).render())


@pytest.fixture
def seeded() -> Context:
    ctx = Context.open()
    seed(ctx)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    return make_provisioned(tmp_path_factory.mktemp("provisioned"), expected_cache)


@pytest.fixture
def real(provisioned: Path, tenantops_env: Path) -> Context:
    use_home(provisioned, tenantops_env)
    ctx = Context.open()
    yield ctx
    ctx.close()


async def keys(pilot: Any, *pressed: str) -> None:
    for key in pressed:
        await pilot.press(key)
        await settle(pilot)


async def test_dashboard_panel_opens_the_tenants_root_over_a_stacked_tenant(seeded: Context) -> None:
    """4, Enter, 1, l, Enter used to exit with 'TenantScreen' has no attribute 'show_only'."""
    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await keys(pilot, "4", "enter")
        assert isinstance(app.screen, TenantScreen)
        opened = app.screen.slug
        await keys(pilot, "1", "l")
        assert app.screen.focused.id == "dash-tenants"
        await keys(pilot, "enter")  # the highlighted figure: active tenants
        screen = app.screen
        assert isinstance(screen, TenantsScreen) and len(app.screen_stack) == 1
        assert screen.status == "active"
        assert all(e.status == "active" for e in screen.shown) and screen.shown
        assert header(app).endswith("Tenants")
        await keys(pilot, "enter")  # drill down again from the root
        assert isinstance(app.screen, TenantScreen) and app.screen.slug
        assert header(app).startswith("tenantops › Tenants › ") and opened
        assert app.handled_errors == []
        assert app.is_running


async def test_server_row_opens_the_tenants_root_over_a_stacked_diff(real: Context) -> None:
    """tenant, S, d, then 5 Enter used to exit with 'DiffScreen' has no attribute 'show_only'."""
    snapshots.take_snapshot(real, SLUG)
    async with make_app(real).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await keys(pilot, "4")
        assert await wait_for(pilot, lambda: app.screen.loaded)
        app.screen.listing.move_to_key(SLUG)
        await keys(pilot, "enter", "S")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen) and app.screen.snapshots)
        await keys(pilot, "space", "j", "d")
        assert isinstance(app.screen, DiffScreen)
        assert header(app) == f"tenantops › Tenants › {SLUG} › Snapshots › Diff"
        await keys(pilot, "5")
        assert isinstance(app.screen, ServersScreen)
        assert app.screen.query_one("#servers-list", RowList).current_row.key == "local"
        await keys(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, TenantsScreen) and len(app.screen_stack) == 1
        assert screen.server == "local" and [e.slug for e in screen.shown] == [SLUG]
        assert app.handled_errors == []


async def test_a_section_key_lands_on_the_root_with_its_state_kept(seeded: Context) -> None:
    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await keys(pilot, "4", "f", "f")  # a status filter on the tenants root
        root = app.screen
        status = root.status
        await keys(pilot, "enter")
        assert isinstance(app.screen, TenantScreen)
        await keys(pilot, "4")  # the section key again: back on its root, filter kept
        assert app.screen is root and root.status == status and len(app.screen_stack) == 1
        await keys(pilot, "enter", "A")  # the tenant's audit: the audit root, filtered
        assert app.current_mode == "audit" and app.screen.tenant is not None and len(app.screen_stack) == 1
        await keys(pilot, "4")
        assert app.screen is root


async def test_q_goes_back_and_ctrl_q_quits(seeded: Context) -> None:
    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await keys(pilot, "4", "enter")
        assert isinstance(app.screen, TenantScreen)
        await keys(pilot, "q")
        assert isinstance(app.screen, TenantsScreen)
        await keys(pilot, "q")
        assert isinstance(app.screen, DashboardScreen)
        await keys(pilot, "q")  # on the dashboard q says how to quit, and stays
        assert app.is_running and any("ctrl+q quits" in n.message for n in app._notifications)
        await keys(pilot, "T")  # ctrl+q quits from a dialog too
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_an_unexpected_error_shows_the_error_screen_and_a_way_back(seeded: Context,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any) -> None:
        raise RuntimeError("the figures fell over")

    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        monkeypatch.setattr(DashboardScreen, "cmd_refresh", broken)
        await keys(pilot, "r")
        assert isinstance(app.screen, ErrorScreen)
        assert "RuntimeError: the figures fell over" in str(app.screen.query_one("#error-message").render())
        log = Path(seeded.home) / "logs" / "console.log"
        assert str(log) in str(app.screen.query_one("#error-log").render())
        assert "the figures fell over" in log.read_text() and "Traceback" in log.read_text()
        monkeypatch.undo()
        await keys(pilot, "escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        fresh = app.screen
        await keys(pilot, "4", "1")  # the reopened dashboard works
        assert app.screen is fresh and app.is_running
        assert len(app.handled_errors) == 1


async def test_an_error_in_a_screen_handler_reopens_the_section(seeded: Context,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception outside a key's action (here the dashboard's Enter on a figure, a
    message handler) stops that screen: the error screen's way back opens it afresh."""
    from tenantops.console.app import TenantopsApp

    def broken(self: Any, where: Any) -> None:
        raise KeyError("no such section")

    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        old = app.screen
        monkeypatch.setattr(TenantopsApp, "show", broken)
        await keys(pilot, "enter")
        assert isinstance(app.screen, ErrorScreen)
        assert "KeyError" in str(app.screen.query_one("#error-message").render())
        monkeypatch.undo()
        await keys(pilot, "escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen is not old)
        await keys(pilot, "enter")  # the fresh dashboard handles Enter again
        assert isinstance(app.screen, type(app.get_screen_stack("review")[0])) and app.current_mode == "review"
        assert len(app.handled_errors) == 1


async def test_errors_that_keep_coming_end_the_console_with_a_non_zero_status(seeded: Context,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(seeded)
    with pytest.raises(RuntimeError):
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            for _ in range(app.MAX_ERRORS + 1):
                app._handle_exception(RuntimeError("again"))
                await pilot.pause()
    assert app.return_code == 1


async def test_the_filter_line_is_visible_while_typing(seeded: Context) -> None:
    from tenantops.console.widgets.filterbar import FilterBar

    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await keys(pilot, "4")
        await pilot.press("slash", "v", "a", "l")
        await settle(pilot)
        bar = app.screen.query_one(FilterBar)
        keybar = app.screen.query_one("#keybar")
        assert bar.has_focus and bar.value == "val"
        assert bar.region.height == 1 and bar.region.bottom <= keybar.region.y, (bar.region, keybar.region)
        assert [e.slug for e in app.screen.shown] == ["green-valley-ngo"]


async def test_j_and_k_move_in_the_theme_picker(seeded: Context) -> None:
    from textual.widgets import OptionList

    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await keys(pilot, "T")
        options = app.screen.query_one(OptionList)
        start = options.highlighted
        await keys(pilot, "j")
        assert options.highlighted == start + 1
        await keys(pilot, "k")
        assert options.highlighted == start
        await keys(pilot, "G")
        assert options.highlighted == options.option_count - 1


async def palette(pilot: Any, text: str) -> None:
    await keys(pilot, "ctrl+p")
    for key in text:
        await pilot.press(key)
    await pilot.pause(0.4)
    await keys(pilot, "enter")
    await settle(pilot)


async def test_the_palette_finds_every_action_and_opens_its_screen(seeded: Context) -> None:
    async with make_app(seeded).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await palette(pilot, "reverse tenants")  # an action of the tenants list, from the dashboard
        assert app.current_mode == "tenants" and app.screen.reverse is True
        app.screen.listing.move_to_key("green-valley-ngo")
        await palette(pilot, "snapshots a tenant")  # a tenant's screen, for the highlighted tenant
        assert isinstance(app.screen, SnapshotsScreen) and app.screen.slug == "green-valley-ngo"
        assert header(app).endswith("› green-valley-ngo › Snapshots")
        assert app.handled_errors == []


async def test_back_on_the_diff_after_a_repair_shows_the_new_state(real: Context) -> None:
    """tenant, d, p (plan), c, Enter: the repair runs in a worker; Esc back to the first
    diff shows it clean without r."""
    from test_console_support import behind_the_back
    from tenantops.console.screens.repair import RepairScreen
    from tenantops.console.screens.timeline import TimelineScreen

    behind_the_back(real, SLUG, ["DROP INDEX ix_notices_is_pinned_published_at"])
    async with make_app(real).run_test(size=(100, 32)) as pilot:
        app = pilot.app
        app.push_screen(TenantScreen(SLUG))
        await settle(pilot)
        await keys(pilot, "d")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.loads == 1)
        first = app.screen
        assert len(first.model.differences) == 1
        await keys(pilot, "p")
        assert await wait_for(pilot, lambda: isinstance(app.screen, RepairScreen) and app.screen.plan is not None)
        await keys(pilot, "c", "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        timeline = app.screen
        assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                              timeout=60), timeline.job
        await keys(pilot, "escape")  # the repair screen shows a fresh diff in its place
        assert await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen is not first
                              and app.screen.loads >= 1)
        await keys(pilot, "escape")  # back on the first diff: read again by itself
        assert app.screen is first
        assert await wait_for(pilot, lambda: first.loads >= 2, timeout=30)
        assert first.model.differences == []
        assert app.handled_errors == []


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_slugs_are_never_cut_in_lists(seeded: Context, size: tuple[int, int]) -> None:
    """Descriptions (template, organisation, the detail pane) give way; slugs do not."""
    from test_console_support import seed_fleet

    seed_fleet(seeded, 30)
    async with make_app(seeded).run_test(size=size) as pilot:
        app = pilot.app
        await settle(pilot)
        for section, selector in (("4", "#tenants-list"), ("2", "#queue")):
            await keys(pilot, section)
            listing = app.screen.query_one(selector, RowList)
            lines = ["".join(seg.text for seg in listing.render_line(y)) for y in range(listing.size.height)]
            shown = [listing.rows[i] for i in range(min(len(listing.rows), listing.size.height - 1))]
            slugs = [r.key if selector == "#tenants-list" else r.data["slug"] for r in shown]
            assert slugs and all(any(f" {slug} " in line for line in lines) for slug in slugs), (slugs, lines)
