"""Console part 2, schema health: a tenant's detail, the side-by-side diff stepped with
n/N, guarded repair (conservative until clean; aggressive only with the slug typed),
snapshots compared, drift accepted, and day-2 module changes — on a real tenant
database (embedded SQLite), provisioned once per module and copied into each test."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from textual.widgets import Input, Static

from test_console_support import SLUG, behind_the_back, make_app, make_provisioned, settle, use_home, wait_for
from tenantops.console import data, diffmodel
from tenantops.console.screens.accept import AcceptDialog
from tenantops.console.screens.choose import ChoiceDialog
from tenantops.console.screens.confirm import ConfirmDialog
from tenantops.console.screens.diff import DiffScreen
from tenantops.console.screens.plan import PlanScreen
from tenantops.console.screens.repair import RepairScreen
from tenantops.console.screens.snapshots import SnapshotsScreen
from tenantops.console.screens.tenant import TenantScreen
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.console.screens.wizard import WizardScreen
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine.health import drift
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.health import repair as repairs
from tenantops.engine.tenants import records as tenants
from tenantops.engine.context import Context
from tenantops.engine.errors import ConflictError
from tenantops.engine.landlord import models as m

pytestmark = pytest.mark.asyncio

DRIFT = ["ALTER TABLE notices ADD COLUMN mood VARCHAR(20)",
         "DROP INDEX ix_notices_is_pinned_published_at",
         "CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))"]


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    return make_provisioned(tmp_path_factory.mktemp("provisioned"), expected_cache)


@pytest.fixture
def ctx(provisioned: Path, tenantops_env: Path) -> Context:
    use_home(provisioned, tenantops_env)
    context = Context.open()
    yield context
    context.close()


def text(widget: Static) -> str:
    return str(widget.render())


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


def no_spawn(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Queue jobs but start no worker process (the queued job is what the test checks)."""
    started: list[int] = []
    monkeypatch.setattr(data, "spawn_worker", lambda ctx, job_id: started.append(job_id) or job_id)
    return started


async def open_tenant(pilot: Any) -> TenantScreen:
    pilot.app.push_screen(TenantScreen(SLUG))
    assert await wait_for(pilot, lambda: isinstance(pilot.app.screen, TenantScreen) and pilot.app.screen.detail)
    return pilot.app.screen


async def diff_loaded(pilot: Any, loads: int = 1) -> DiffScreen:
    assert await wait_for(pilot, lambda: isinstance(pilot.app.screen, DiffScreen) and pilot.app.screen.loads >= loads)
    await settle(pilot)
    return pilot.app.screen


def current(screen: DiffScreen) -> dict[str, Any]:
    line = screen.view.current_line
    assert line is not None and line.diffs, "the cursor is not on a difference"
    return screen.model.differences[line.diffs[0]]


async def test_tenant_detail_then_drift_side_by_side_stepped_with_n(ctx: Context) -> None:
    behind_the_back(ctx, SLUG, DRIFT)
    async with make_app(ctx).run_test(size=(100, 32)) as pilot:
        app = pilot.app
        tenant = await open_tenant(pilot)
        main, side = text(tenant.query_one("#tenant-main")), text(tenant.query_one("#tenant-side"))
        assert "community_group 1.0.0" in main and "■ event_management" in main and "required by the template" in main
        assert "Migrations basic 4 · template 1 · module 2 · custom 0" in main and "latest batch 1" in main
        assert "Snapshots (1)" in side and "provision" in side and "Locks" in side and "none held" in side
        assert "#1 ✓ done provision" in side

        await pilot.press("d")
        diff = await diff_loaded(pilot)
        bar = text(diff.query_one("#diff-bar"))
        assert "3 differences" in bar and "high" in bar
        view = diff.view
        assert view.left_title.startswith("expected") and view.right_title.startswith("actual")
        # the cursor starts on the first difference; n and N step through them
        seen = [current(diff)]
        assert (seen[0]["object"], seen[0]["change"], seen[0]["name"]) == ("column", "added", "mood")
        assert "+ mood varchar(20) NULL" in view.line_text(view.cursor)
        assert "column notices.mood added" in text(diff.query_one("#diff-detail"))
        assert "owner template community_group" in text(diff.query_one("#diff-detail"))
        for _ in range(2):
            await pilot.press("n")
            seen.append(current(diff))
        assert [(d["object"], d["change"]) for d in seen] == [("column", "added"), ("index", "removed"),
                                                              ("table", "added")]
        assert view.line_text(view.cursor).startswith("+ ▸ scratch_notes") is False  # nothing on the left …
        assert "+ ▸ scratch_notes" in view.line_text(view.cursor)  # … the table is on the right
        await pilot.press("n")  # wraps around
        assert current(diff)["name"] == "mood" and any("Wrapped" in n for n in notes(app))
        await pilot.press("N")
        assert current(diff)["name"] == "scratch_notes"
        await pilot.press("N")
        assert current(diff)["name"] == "ix_notices_is_pinned_published_at"
        assert view.line_text(view.cursor).startswith("- INDEX ix_notices_is_pinned_published_at")

        # filters: one kind of object, one kind of change
        await pilot.press("o")  # table
        assert diff.kind == "table" and current(diff)["name"] == "scratch_notes"
        assert len([i for i in view.rows if i >= 0]) == 1 + 2 + 1  # its name, its two columns, its primary key
        await pilot.press("o", "c")  # column, added
        assert (diff.kind, diff.change) == ("column", "added") and current(diff)["name"] == "mood"
        assert "only column + added" in text(diff.query_one("#diff-bar"))
        for _ in range(len(diffmodel.KINDS) - 1):  # column -> index -> ... -> trigger -> all
            await pilot.press("o")
        await pilot.press("c", "c", "c")
        assert (diff.kind, diff.change) == (None, None)
        assert len(view.rows) == len(diff.model.lines)

        # a dba accepts the removed index for a while: still shown, no longer counted
        assert view.move_to_line(diff.model.diff_line[1])
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AcceptDialog)
        await pilot.press("enter")  # no reason: refused inline
        assert app.screen is dialog and "A reason is required." in text(dialog.query_one("#reason-error"))
        dialog.query_one("#reason", Input).value = "index rebuilt by hand, ticket 42"
        dialog.query_one("#expires", Input).value = "2099-01-01"  # more than a year ahead: the engine refuses
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: any("at most a year" in n for n in notes(app)))
        assert drift.latest_report(ctx, SLUG)["score"] == 17
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        # the default expiry is 30 days after the app's clock, which this test froze in the past
        assert dialog.query_one("#expires", Input).value == "2025-04-13"
        dialog.query_one("#reason", Input).value = "index rebuilt by hand, ticket 42"
        dialog.query_one("#expires", Input).value = (date.today() + timedelta(days=30)).isoformat()
        await pilot.press("enter")
        diff = await diff_loaded(pilot, loads=2)
        assert "(1 accepted)" in text(diff.query_one("#diff-bar"))
        assert current(diff)["name"] == "ix_notices_is_pinned_published_at" and current(diff)["accepted"]
    report = drift.latest_report(ctx, SLUG)
    assert report["score"] == 15 and [d["accepted"] for d in report["differences"]] == [False, True, False]


async def test_conservative_repair_then_the_diff_is_clean(ctx: Context) -> None:
    behind_the_back(ctx, SLUG, ["DROP INDEX ix_notices_is_pinned_published_at",
                                "ALTER TABLE notices DROP COLUMN expires_at"])
    async with make_app(ctx).run_test(size=(100, 32)) as pilot:
        app = pilot.app
        await open_tenant(pilot)
        await pilot.press("R")
        assert await wait_for(pilot, lambda: isinstance(app.screen, RepairScreen) and app.screen.plan is not None)
        repair = app.screen
        assert repair.strategy == "conservative"
        ops = repair.query_one("#repair-ops", RowList).rows
        assert [r.cells[1][0] for r in ops] == ["✓ safe", "✓ safe"]
        assert "ADD COLUMN expires_at" in repair.sql or "expires_at DATETIME" in repair.sql
        assert "CREATE INDEX ix_notices_is_pinned_published_at ON notices (is_pinned, published_at);" in repair.sql
        await pilot.press("y")  # OSC 52 through Textual's copy_to_clipboard
        assert app.clipboard == repair.sql
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog) and not app.screen.typed  # nothing destructive
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        timeline = app.screen
        assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                              timeout=60), timeline.job
        assert [s["name"] for s in timeline.job["steps"]] == ["plan", "backup", "repair", "re-check"]
        await pilot.press("escape")  # back on the repair screen: the diff is checked again and shown
        diff = await diff_loaded(pilot)
        assert diff.model.differences == []
        assert "No differences" in text(diff.query_one("#diff-detail"))
        assert "✓ none" in text(diff.query_one("#diff-bar"))
    assert tenants.show(ctx, SLUG)["last_drift"]["severity"] == "none"


async def test_aggressive_repair_refuses_until_the_slug_is_typed_exactly(ctx: Context,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    started = no_spawn(monkeypatch)
    behind_the_back(ctx, SLUG, ["CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))"])
    with pytest.raises(ConflictError):  # the engine refuses without the slug, whatever the UI does
        repairs.request_repair(ctx, slug=SLUG, strategy="aggressive", confirm="drift")
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        app.push_screen(RepairScreen(SLUG, "aggressive"))
        assert await wait_for(pilot, lambda: app.screen.plan is not None)
        repair = app.screen
        assert [r.cells[1][0] for r in repair.query_one("#repair-ops", RowList).rows] == ["⚠ DESTRUCTIVE"]
        assert "1 DESTRUCTIVE" in text(repair.query_one("#repair-bar"))
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.typed
        assert "environment: development" in text(dialog.query_one("#env-banner"))
        for attempt in ("", "drift", "Drifty", "drifty-x"):
            dialog.query_one("#typed", Input).value = attempt
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is dialog, attempt
            assert "Type the name exactly: drifty" in text(dialog.query_one("#typed-error"))
        with ctx.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(m.Job).where(m.Job.kind == "repair")) == 0
        dialog.query_one("#typed", Input).value = "drifty"
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
    assert len(started) == 1
    job = jobs.get_job(ctx, started[0])
    assert (job["kind"], job["tenant"], job["params"]["strategy"]) == ("repair", SLUG, "aggressive")


async def test_snapshots_are_compared_side_by_side(ctx: Context) -> None:
    async with make_app(ctx).run_test(size=(100, 30)) as pilot:
        app = pilot.app
        await open_tenant(pilot)
        behind_the_back(ctx, SLUG, ["ALTER TABLE notices ADD COLUMN mood VARCHAR(20)"])
        await pilot.press("s")  # snapshot now (admin)
        assert await wait_for(pilot, lambda: any("Snapshot #2 taken" in n for n in notes(app)))
        await pilot.press("S")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen) and app.screen.snapshots)
        shots = app.screen
        listing = shots.query_one("#snapshots-list", RowList)
        assert [r.data["source"] for r in listing.rows] == ["manual", "provision"]
        await pilot.press("d")  # nothing picked
        assert any("Pick two snapshots" in n for n in notes(app))
        await pilot.press("space", "j")
        assert shots.picked == [2]
        await pilot.press("d")  # one picked + the highlighted one
        diff = await diff_loaded(pilot)
        assert diff.snapshots == (1, 2)
        assert [(d["object"], d["change"], d["name"]) for d in diff.model.differences] == [("column", "added", "mood")]
        assert diff.view.left_title.startswith("snapshot #1") and diff.view.right_title.startswith("snapshot #2")
        await pilot.press("a")  # history cannot be accepted
        assert any("only drift can be accepted" in n for n in notes(app))


async def test_module_add_remove_rollback_and_sync_from_the_tenant_screen(ctx: Context,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    async with make_app(ctx).run_test(size=(100, 32)) as pilot:
        app = pilot.app
        tenant = await open_tenant(pilot)
        await pilot.press("u")
        assert await wait_for(pilot, lambda: any("up to date" in n for n in notes(app)))

        # add: part 1's wizard, the template fixed, then a job in a worker process
        await pilot.press("a")
        assert await wait_for(pilot, lambda: isinstance(app.screen, WizardScreen) and app.screen.catalog)
        wizard = app.screen
        assert wizard.lock_template and wizard.template == "community_group"
        modules = wizard.query_one("#modules", RowList)
        modules.focus()
        assert modules.move_to_key("membership_management")
        await pilot.press("space", "v")
        assert await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.doc)
        await pilot.press("c")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        timeline = app.screen
        assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                              timeout=60), timeline.job
        assert timeline.job["kind"] == "modules.add"
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.screen is tenant
                              and "membership_management" in tenant.detail["tenant"]["modules"])
        assert "✓ membership_management" in text(tenant.query_one("#tenant-main"))
        assert "latest batch 2" in text(tenant.query_one("#tenant-main"))

        started = no_spawn(monkeypatch)
        # remove: the template's required module is refused in the chooser, the other asks for the slug
        await pilot.press("x")
        await settle(pilot)
        chooser = app.screen
        assert isinstance(chooser, ChoiceDialog)
        choices = chooser.query_one("#choices", RowList)
        assert choices.move_to_key("event_management")
        await pilot.press("enter")
        assert app.screen is chooser and "required by template" in text(chooser.query_one("#choice-note"))
        assert choices.move_to_key("membership_management")
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        confirm = app.screen
        assert confirm.typed and "DROPS" in text(confirm.query_one("#confirm-body"))
        assert "members" in text(confirm.query_one("#confirm-body"))
        await pilot.press("enter")
        assert app.screen is confirm and started == []
        confirm.query_one("#typed", Input).value = SLUG
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: len(started) == 1)
        job = jobs.get_job(ctx, started[0])
        assert (job["kind"], job["params"]["module"]) == ("modules.remove", "membership_management")
        jobs.finish(ctx, started[0], "cancelled")  # it will not run here (no worker started)
        await pilot.press("escape")  # the timeline of the queued job
        await settle(pilot)

        # rollback: choose the batch to go back to, see what it undoes, type the slug
        assert isinstance(app.screen, TenantScreen)
        await pilot.press("b")
        await settle(pilot)
        chooser = app.screen
        assert isinstance(chooser, ChoiceDialog)
        assert [r.key for r in chooser.query_one("#choices", RowList).rows] == [2, 1]
        await pilot.press("enter")  # the latest batch: nothing after it
        assert "nothing comes after it" in text(chooser.query_one("#choice-note"))
        await pilot.press("j", "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        body = text(app.screen.query_one("#confirm-body"))
        assert "undo 2 revision(s)" in body and "↶ membership_0002" in body and "↶ membership_0001" in body
        app.screen.query_one("#typed", Input).value = SLUG
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: len(started) == 2)
        job = jobs.get_job(ctx, started[1])
        assert (job["kind"], job["params"]["batch"]) == ("rollback", 1)
