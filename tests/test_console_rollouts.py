"""The rollouts screen (7): a real staged rollout halted by a failing tenant shows its
progress per stage and each tenant's outcome; resume from the screen drives it to its end
while the screen follows live; pause and cancel change the landlord record; a support
(viewer) operator cannot pause. Snapshots at 80x24 and 120x40 from fixed data.

Update the snapshots with: python -m pytest tests/test_console_rollouts.py --snapshot-update
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from textual.widgets import ProgressBar

from cli import run
from test_console_support import NOW, make_app, opened_copy, seed, seed_fleet, settle, viewer_context, wait_for
from test_rollouts import failing_sync_fleet
from tenantops.console.screens.confirm import ConfirmDialog
from tenantops.console.screens.rollouts import RolloutsScreen, StageRow
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine import identity
from tenantops.engine.access import operators
from tenantops.engine.context import Context
from tenantops.engine.health import rollouts
from tenantops.engine.landlord import models as m

SLUGS = ["ro-a", "ro-b", "ro-c", "ro-d"]


@pytest.fixture
def fleet(server: str, tmp_path: Path) -> list[str]:
    """Four community groups; ro-b's sync fails (and is restored)."""
    return failing_sync_fleet(SLUGS, server, tmp_path)


def stages(app: Any) -> list[tuple[str, str, str, float, float]]:
    """Each stage row as the operator sees it: name, done/total, state, and its bar."""
    out = []
    for row in app.screen.query(StageRow):
        bar = row.query_one(ProgressBar)
        labels = [str(row.query_one(f".stage-{part}").render()).strip() for part in ("name", "counts", "state")]
        out.append((labels[0].lstrip("▸ "), labels[1], labels[2], bar.progress, bar.total))
    return out


def tenants(app: Any) -> dict[str, str]:
    listing = app.screen.query_one("#rollout-tenants", RowList)
    return {r.key: r.data["outcome"] for r in listing.rows}


def notifications(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.asyncio
async def test_a_halted_rollout_shows_each_stage_and_resumes_pauses_and_cancels_from_the_screen(
        fleet: list[str]) -> None:
    ctx = Context.open()
    rollout_id = rollouts.create(ctx, spec="canary:1,pilot:2,rest", parallel=1, on_error="halt", strategy=None,
                                 slugs=fleet)
    assert rollouts.drive(ctx, rollout_id)["status"] == "halted"  # ro-b failed in the pilot stage
    assert rollouts.summaries(ctx) == rollouts.list_rollouts(ctx)
    # the driver `rollouts resume` starts runs as this machine's account, not as a test's
    operators.add_operator(ctx, user=identity.os_operator(), role="admin")
    async with make_app(ctx, clock=None, poll_seconds=0.5).run_test(size=(120, 40)) as pilot:
        app = pilot.app
        await pilot.press("7")
        assert await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen) and len(stages(app)) == 3)
        assert await wait_for(pilot, lambda: tenants(app) == {"ro-b": "failed", "ro-c": "pending"})
        assert stages(app) == [("canary", "1/1", "✓ done", 1, 1), ("pilot", "1/2 ✗1", "✗ halted", 1, 2),
                               ("rest", "0/1", "◷ waiting", 0, 1)]
        summary = str(app.screen.query_one("#rollout-summary").render())
        assert "HALTED" in summary and "stage pilot: 1 of 2 tenant(s) failed" in summary
        error = str(app.screen.query_one("#rollout-error").render())
        assert "ro-b" in error and "was restored" in error  # the failing tenant's own error, in full
        await pilot.press("l")
        assert await wait_for(pilot, lambda: tenants(app) == {"ro-d": "pending"})
        await pilot.press("h", "h")
        assert await wait_for(pilot, lambda: tenants(app) == {"ro-a": "upgraded"})

        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        # the screen follows the driver live, up to the rollout's end
        assert await wait_for(pilot, lambda: [s[1:3] for s in stages(app)] == [
            ("1/1", "✓ done"), ("2/2 ✗1", "✗ 1 failed"), ("1/1", "✓ done")], timeout=240)
        assert "completed" in str(app.screen.query_one("#rollout-summary").render())
        assert await wait_for(pilot, lambda: f"Rollout {rollout_id} completed (1 tenant(s) failed)" in notifications(app))
        assert rollouts.show(ctx, rollout_id)["status"] == "completed"

        # a second rollout (nothing left to do, no driver): pause, then cancel, from the screen
        second = rollouts.create(ctx, spec="canary:1,rest", parallel=1, on_error="halt", strategy=None,
                                 slugs=fleet)
        listing = app.screen.query_one("#rollouts-list", RowList)
        assert await wait_for(pilot, lambda: listing.move_to_key(second))
        assert await wait_for(pilot, lambda: tenants(app) == {"ro-a": "pending"})
        await pilot.press("p")
        assert await wait_for(pilot, lambda: rollouts.show(ctx, second)["status"] == "paused")
        assert await wait_for(pilot, lambda: "‖ paused" in stages(app)[0][2])
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # changes nothing
        await settle(pilot)
        assert rollouts.show(ctx, second)["status"] == "paused"
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: rollouts.show(ctx, second)["status"] == "cancelled")
        assert [t["outcome"] for st in rollouts.show(ctx, second)["stages"] for t in st["tenants"]] == \
            ["cancelled"] * 4
        # an ended rollout shows its last stage (none failed here)
        assert await wait_for(pilot, lambda: tenants(app) == {s: "cancelled" for s in fleet[1:]})
        await pilot.press("u")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        assert "Rollout %d is cancelled; only a paused or halted rollout can be resumed." % second \
            in notifications(app)
        assert app.handled_errors == []
    audit = [(a["action"], a["outcome"]) for a in run("audit", "--json").json() if a["action"].startswith("rollouts.")]
    assert sorted(audit) == [("rollouts.cancel", "ok"), ("rollouts.pause", "ok"), ("rollouts.resume", "ok")]
    ctx.close()


def fake_rollout(ctx: Context, slugs: list[str], spec: str, outcomes: list[str], *, status: str, age: timedelta,
                 by: str = "alice", reason: str | None = None, errors: dict[str, str] | None = None,
                 parallel: int = 1, on_error: str = "halt") -> int:
    """A rollout record with the given outcomes (fixed data: no tenant is synced)."""
    rollout_id = rollouts.create(ctx, spec=spec, parallel=parallel, on_error=on_error, strategy="conservative",
                                 slugs=slugs)
    with ctx.session() as s:
        s.execute(sa.update(m.Rollout).where(m.Rollout.id == rollout_id).values(
            status=status, reason=reason, created_by=by, created_at=NOW - age, updated_at=NOW - age / 2))
        rows = list(s.scalars(sa.select(m.RolloutTenant).where(m.RolloutTenant.rollout_id == rollout_id)
                              .order_by(m.RolloutTenant.stage, m.RolloutTenant.position)))
        for i, (row, outcome) in enumerate(zip(rows, outcomes)):
            row.outcome = outcome
            row.job_id = 100 * rollout_id + i if outcome not in ("pending", "cancelled") else None
            row.error = (errors or {}).get(row.tenant)
    return rollout_id


@pytest.fixture(scope="module")
def rollouts_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixed landlord, a made-up fleet, and four rollouts: completed, cancelled, halted
    by a failure in its pilot stage, and running."""
    home = tmp_path_factory.mktemp("rollouts") / "home"
    ctx = Context.open(home=home, config=home / "absent.toml", operator="alice")
    seed(ctx)
    slugs = sorted(seed_fleet(ctx, 40))
    fake_rollout(ctx, slugs[:6], "canary:2,rest", ["upgraded"] * 5 + ["up-to-date"], status="completed",
                 age=timedelta(days=3))
    fake_rollout(ctx, slugs[:8], "canary:1,rest", ["upgraded"] + ["cancelled"] * 7, status="cancelled",
                 age=timedelta(days=2), by="dave", reason="cancelled by dave")
    fake_rollout(ctx, slugs[:16], "canary:2,pilot:25%,rest",
                 ["upgraded", "upgraded", "upgraded", "failed", "upgraded", "pending"] + ["pending"] * 10,
                 status="halted", age=timedelta(hours=5), reason="stage pilot: 1 of 4 tenant(s) failed (--on-error halt)",
                 errors={slugs[3]: "upgrade of revision events_0003 (unit event_management) failed: duplicate column "
                                   "name venue_capacity; the database was restored from backup 41"})
    fake_rollout(ctx, slugs[:30], "canary:1,pilot:10%,rest", ["upgraded"] + ["upgraded", "upgraded", "running"]
                 + ["pending"] * 26, status="running", age=timedelta(minutes=4), parallel=2,
                 on_error="threshold:5%")
    ctx.close()
    return home / "landlord.db"


@pytest.fixture
def fixed_ctx(rollouts_store: Path, tenantops_env: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    with opened_copy(rollouts_store, tenantops_env, monkeypatch) as context:
        yield context


@pytest.mark.asyncio
async def test_a_support_operator_sees_rollouts_but_cannot_pause_resume_or_cancel(fixed_ctx: Context) -> None:
    bob = viewer_context(fixed_ctx)
    running = rollouts.summaries(fixed_ctx)[0]
    assert running["status"] == "running"
    async with make_app(bob).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("7")
        assert await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen) and len(stages(app)) == 3)
        for key, name in (("p", "Pause"), ("u", "Resume"), ("x", "Cancel")):
            await pilot.press(key)
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmDialog)
            assert f"{name} needs the admin role; bob has viewer" in notifications(app)
        listing = app.screen.query_one("#rollouts-list", RowList)
        summary = app.screen.query_one("#rollout-summary")
        await pilot.press("f", "f", "f")  # running → paused → halted
        assert await wait_for(pilot, lambda: [r.data["status"] for r in listing.rows] == ["halted"])
        assert await wait_for(pilot, lambda: "HALTED" in str(summary.render()))
        await pilot.press("f")
        assert await wait_for(pilot, lambda: [r.data["status"] for r in listing.rows] == ["cancelled"])
    assert rollouts.summaries(fixed_ctx)[0] == running  # nothing changed
    bob.close()


def _open(*keys: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RolloutsScreen)
                       and len(pilot.app.screen.query(StageRow)) == 3 and pilot.app.screen.tenant_list.rows)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await pilot.pause(0.2)
        await settle(pilot)
    return run_before


@pytest.mark.parametrize("theme", ["tenantops-dark", "tenantops-16"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_rollouts_screen(size: tuple[int, int], theme: str, fixed_ctx: Context, snap_compare: Any) -> None:
    """The running rollout: its pilot stage in progress, one tenant running."""
    fixed_ctx.settings.theme = theme
    assert snap_compare(make_app(fixed_ctx), terminal_size=size, run_before=_open())


def test_halted_rollout(fixed_ctx: Context, snap_compare: Any) -> None:
    """The halted rollout: the failing tenant of its pilot stage, with its error."""
    assert snap_compare(make_app(fixed_ctx), terminal_size=(80, 24), run_before=_open("j", "tab", "j"))


@pytest.mark.asyncio
async def test_the_servers_screen_shows_the_load_throttle(server: str, dialect: str) -> None:
    """`servers limit NAME --threads-running 0`: on MariaDB the session itself is a running
    thread, so the server is over its limit; SQLite has no Threads_running (never throttled)."""
    from tenantops.engine.servers import load

    ctx = Context.open()
    load.set_load_limit(ctx, name=server, threads_running=0)
    async with make_app(ctx).run_test(size=(120, 40)) as pilot:
        app = pilot.app
        await pilot.press("5")
        listing = app.screen.query_one("#servers-list", RowList)
        assert await wait_for(pilot, lambda: listing.move_to_key(server))
        await settle(pilot)
        cells = listing.current_row.cells
        bar = str(app.screen.query_one("#servers-bar").render())
        detail = str(app.screen.query_one("#servers-detail").render())
        if dialect == "mariadb":
            assert cells[3] == ("! throttled", "warn")
            assert cells[6][0].endswith("/0") and cells[6][1] == "bad"
            assert "1 throttled" in bar and "no new tenant job starts here until it drops" in detail
        else:
            assert cells[3][0] != "! throttled" and cells[6] == ("?/0", None)
            assert "throttled" not in bar and "SQLite has none, never throttled" in detail
        other = next(r for r in listing.rows if r.key != server) if len(listing.rows) > 1 else None
        if other is not None:
            assert other.cells[6] == ("—", "muted")  # no limit
    ctx.close()


@pytest.mark.asyncio
async def test_a_refused_resume_says_why_and_changes_nothing(fixed_ctx: Context) -> None:
    """The driver is `tenantops rollouts resume` run as this machine's account, which this
    store does not know: it refuses, and the screen shows its one line."""
    halted = next(r for r in rollouts.summaries(fixed_ctx) if r["status"] == "halted")
    async with make_app(fixed_ctx, poll_seconds=0.5).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("7")
        assert await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen) and len(stages(app)) == 3)
        await pilot.press("u")  # the running rollout: the screen says what to do instead
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        assert any("tenantops rollouts resume 4` takes it over" in n for n in notifications(app))
        await pilot.press("j")
        assert await wait_for(pilot, lambda: app.screen.rollout_id == halted["id"])
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: any(n.title == "Resume failed" for n in app._notifications), timeout=60)
        refusal = next(n.message for n in app._notifications if n.title == "Resume failed")
        assert identity.os_operator() in refusal and "Traceback" not in refusal and "\n" not in refusal
        assert app.handled_errors == []
    assert rollouts.summaries(fixed_ctx)[1] == halted
