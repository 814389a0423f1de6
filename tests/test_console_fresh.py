"""Fresh data without a manual refresh: relative ages tick every second, and a row whose
data changed at the last read is marked for a moment (Pilot, real landlord)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from helpers import approved
from test_console_support import make_app, settle, wait_for
from tenantops.console.screens.jobs import JobsScreen
from tenantops.console.widgets.rowlist import CHANGED_MARK, RowList
from tenantops.engine import kinds
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.landlord.models import utcnow

pytestmark = pytest.mark.asyncio


class Clock:
    """A clock the test moves on: ages depend on it, nothing sleeps for minutes."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def line(listing: RowList, key: object) -> str:
    index = listing.index_of(key)
    assert index is not None
    return listing.render_line(index + 1 - listing.scroll_offset.y).text


async def test_ages_tick_and_a_changed_row_is_marked() -> None:
    ctx = Context.open()
    approved(ctx, "tick-org", template="community_group")
    job = jobs.enqueue(ctx, "provision", "tick-org", {"slug": "tick-org", "server": None}, lock_operation="provision")
    clock = Clock()
    # reads every 10 minutes: whatever moves on screen below comes from the tick
    async with make_app(ctx, clock=clock, poll_seconds=600).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        listing = screen.query_one("#jobs-list", RowList)
        assert listing.current_row is not None and listing.current_row.key == job
        before = line(listing, job)
        assert "now" in before or "0s" in before or "1s" in before, before
        assert CHANGED_MARK not in before  # the first read marks nothing
        clock.now += timedelta(minutes=7)
        assert await wait_for(pilot, lambda: "7m" in line(listing, job), timeout=3)
        # a change made elsewhere (another operator cancels the job): marked at the next read
        kinds.cancel(ctx, job)
        await pilot.press("r")
        assert await wait_for(pilot, lambda: listing.current_row.data["status"] == "cancelled")
        changed = line(listing, job)
        assert changed.startswith(CHANGED_MARK) and "cancelled" in changed
        assert job in listing.changed
        # the mark goes after a few seconds
        listing.changed[job] = 0.0
        listing._unmark()
        await pilot.pause()
        assert not line(listing, job).startswith(CHANGED_MARK)
        assert app.handled_errors == []
    ctx.close()
