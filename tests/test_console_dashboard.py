"""The dashboard's "Needs attention": named items, worst first — drifted tenants by
slug with their severity, failed jobs with their error, unreachable or draining servers,
pending applications — and the demo's first frame shows its drifted tenant."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from test_console_support import make_app, seed, settle, wait_for
from tenantops.console import data
from tenantops.console.screens.tenant import TenantScreen
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m

pytestmark = pytest.mark.asyncio


def texts(panel: RowList) -> list[str]:
    return [str(r.cells[0][0]) for r in panel.rows]


async def test_needs_attention_names_everything_worst_first() -> None:
    ctx = Context.open()
    seed(ctx)  # green-valley-ngo drifted high, job 2 failed, db-east unreachable, 3 pending
    with ctx.session() as s:
        s.execute(sa.update(m.Tenant).where(m.Tenant.slug == "nepal-congress-kathmandu")
                  .values(last_drift_severity="critical"))
        s.execute(sa.update(m.Server).where(m.Server.name == "local").values(draining=True))
    items = data.dashboard(ctx)["attention"]
    assert [(i["kind"], i["key"]) for i in items] == [
        ("tenant", "nepal-congress-kathmandu"), ("servers", "db-east"), ("job", 2), ("tenant", "green-valley-ngo"),
        ("servers", "local"), ("applications", "pending"), ("job", 3)]
    assert items[2]["text"] == ("job 2 provision butwal-college failed: upgrade of revision edu_0002 (unit "
                                "educational_institution) failed: table enrollments already exists")
    assert items[5]["text"] == ("3 application(s) wait for review: bhaktapur-heritage, janakpur-teachers, "
                                "pokhara-youth-club")
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        panel = app.screen.query_one("#dash-attention", RowList)
        shown = texts(panel)
        assert shown[0] == "■ nepal-congress-kathmandu: critical drift"
        assert shown[3] == "▲ green-valley-ngo: high drift"
        panel.focus()
        await pilot.press("enter")  # a drifted tenant opens its own screen
        await settle(pilot)
        assert isinstance(app.screen, TenantScreen) and app.screen.slug == "nepal-congress-kathmandu"
        await pilot.press("q")
        await settle(pilot)
        panel.focus()
        await pilot.press("j", "j", "enter")  # the failed job opens its timeline
        await settle(pilot)
        assert isinstance(app.screen, TimelineScreen) and app.screen.job_id == 2
        assert app.handled_errors == []
    ctx.close()


async def test_the_demo_first_frame_shows_its_drifted_tenant() -> None:
    ctx = Context.open()
    async with make_app(ctx, demo=True).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        panel = app.screen.query_one("#dash-attention", RowList)

        def drifted() -> Any:
            return next((i for i, t in enumerate(texts(panel)) if "uml-lalitpur" in t), None)

        assert await wait_for(pilot, lambda: drifted() is not None, timeout=180)
        index = drifted()
        assert texts(panel)[index].endswith("uml-lalitpur: medium drift")
        # on screen at 80x24, not below the panel's fold
        assert index < panel.scrollable_content_region.height, (index, texts(panel))
    ctx.close()


async def test_compliance_violations_and_jobs_waiting_for_a_confirmation_need_attention() -> None:
    ctx = Context.open()
    seed(ctx)
    with ctx.session() as s:
        s.execute(sa.update(m.Tenant).where(m.Tenant.slug == "nepal-congress-kathmandu")
                  .values(compliance_status="violation", compliance_checked_at=m.utcnow()))
        s.execute(sa.update(m.Job).where(m.Job.id == 2).values(status="needs_confirmation"))
    items = data.dashboard(ctx)["attention"]
    by_key = {(i["kind"], i["key"]): i for i in items}
    assert by_key[("job", 2)]["text"].endswith("waits for a confirmation: tenantops jobs retry 2 --confirm butwal-college")
    violation = by_key[("tenant", "nepal-congress-kathmandu")]
    assert "compliance" in violation["text"]
    # worse than medium drift, listed before the draining and pending items
    keys = [(i["kind"], i["key"]) for i in items]
    assert keys.index(("tenant", "nepal-congress-kathmandu")) < keys.index(("applications", "pending"))
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        shown = texts(pilot.app.screen.query_one("#dash-attention", RowList))
        assert any("nepal-congress-kathmandu breaks its template's compliance rules" in t for t in shown)
    ctx.close()


async def test_a_halted_rollout_needs_attention_and_opens_on_the_rollouts_screen() -> None:
    from tenantops.console.screens.rollouts import RolloutsScreen
    from tenantops.engine.health import rollouts

    ctx = Context.open()
    seed(ctx)
    with ctx.session() as s:
        fleet = sorted(s.scalars(sa.select(m.Tenant.slug)))
    halted = rollouts.create(ctx, spec="canary:1,rest", parallel=1, on_error="halt", strategy=None, slugs=fleet[:3])
    rollouts._set(ctx, halted, status="halted", reason="stage canary: 1 of 1 tenant(s) failed (--on-error halt)")
    # newer, so listed above the halted one on the rollouts screen
    running = rollouts.create(ctx, spec="canary:1,rest", parallel=1, on_error="halt", strategy=None, slugs=fleet[:3])
    items = data.dashboard(ctx)["attention"]
    keys = [(i["kind"], i["key"]) for i in items]
    assert ("rollout", halted) in keys and ("rollout", running) not in keys  # a running one is no news
    assert keys.index(("rollout", halted)) < keys.index(("applications", "pending"))
    assert items[keys.index(("rollout", halted))]["text"] == (
        f"rollout {halted} (canary:1,rest) halted: stage canary: 1 of 1 tenant(s) failed (--on-error halt); "
        f"tenantops rollouts resume {halted}")
    async with make_app(ctx).run_test(size=(120, 40)) as pilot:
        app = pilot.app
        await settle(pilot)
        panel = app.screen.query_one("#dash-attention", RowList)
        panel.focus()
        assert panel.move_to_key(("rollout", halted))
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen)
                              and app.screen.listing.current_row is not None
                              and app.screen.listing.current_row.key == halted)
        assert app.handled_errors == []
    ctx.close()
