"""Pilot-driven flows of the console: real engine, real landlord, no mocks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from textual.widgets import Input, Static

from test_console_support import make_app, settle, viewer_context, wait_for
from tenantops.console import data
from tenantops.console.actions import RegistryCommands
from tenantops.console.screens.approve import ApproveDialog
from tenantops.console.screens.confirm import ConfirmDialog
from tenantops.console.screens.help import HelpScreen
from tenantops.console.screens.new_application import NewApplicationForm
from tenantops.console.screens.plan import PlanScreen
from tenantops.console.screens.reject import RejectDialog
from tenantops.console.screens.review import ReviewScreen
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.console.screens.wizard import WizardScreen
from tenantops.console.widgets.keybar import KeyBar
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine.tenants import applications
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.catalog import shipped_catalog_root
from tenantops.engine.context import Context
from tenantops.engine.errors import PermissionDenied
from tenantops.engine.landlord import models as m

pytestmark = pytest.mark.asyncio


def text(widget: Static) -> str:
    return str(widget.render())


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


def submit(ctx: Context, slug: str, template: str = "political_party_nepal", modules=(), approve: bool = False):
    applications.submit(ctx, organization=slug.title(), slug=slug, email=f"admin@{slug}.example.org",
                        template=template, modules=list(modules))
    if approve:
        applications.approve(ctx, slug, notes="ok")


async def open_review(pilot) -> ReviewScreen:
    await pilot.press("2")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ReviewScreen)
    return pilot.app.screen


async def test_submit_and_approve_from_the_review_screen() -> None:
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(100, 30)) as pilot:
        app = pilot.app
        await open_review(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewApplicationForm)
        form.query_one("#organization", Input).value = "Acme Party"
        form.query_one("#email", Input).value = "not-an-email"
        form.query_one("#slug", Input).value = "acme"
        form.query_one("#slug", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        # inline validation: the form stays, the message sits under the field
        assert app.screen is form
        assert "Not a valid e-mail address" in text(form.query_one("#email-error", Static))
        form.query_one("#email", Input).value = "office@acme.example.org"
        form.query_one("#slug", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        await pilot.press("G", "space")  # political_party_nepal, the last template
        await settle(pilot)
        assert wizard.template == "political_party_nepal"
        await pilot.press("j", "j", "space")  # after the two required modules: election_campaign
        assert wizard.chosen == ["election_campaign"]
        await pilot.press("v")
        await settle(pilot)
        plan = app.screen
        assert isinstance(plan, PlanScreen)
        assert "CREATE TABLE" in plan.sql
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        stored = applications.get(ctx, "acme")
        assert (stored["status"], stored["modules"], stored["email"]) == ("pending", ["election_campaign"],
                                                                         "office@acme.example.org")
        assert app.screen.query_one("#queue", RowList).current_row.key == stored["id"]

        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ApproveDialog)
        dialog.query_one("#notes", Input).value = "documents verified"
        await pilot.press("enter")
        await settle(pilot)
        stored = applications.get(ctx, "acme")
        assert (stored["status"], stored["notes"], stored["reviewed_by"]) == ("approved", "documents verified",
                                                                              "alice")
        assert isinstance(app.screen, ReviewScreen)
    ctx.close()


async def test_reject_needs_a_reason() -> None:
    ctx = Context.open()
    submit(ctx, "spam-org", template="community_group")
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await open_review(pilot)
        await pilot.press("x")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RejectDialog)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog
        assert text(dialog.query_one("#reason-error", Static)) == "A reason is required."
        assert applications.get(ctx, "spam-org")["status"] == "pending"
        dialog.query_one("#reason", Input).value = "duplicate of an existing organisation"
        await pilot.press("enter")
        await settle(pilot)
        stored = applications.get(ctx, "spam-org")
        assert (stored["status"], stored["reason"]) == ("rejected", "duplicate of an existing organisation")
        # a decided application cannot be rejected again: refused in the console, not crashed
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert any("only pending" in n for n in notifications(app))
    ctx.close()


async def test_wizard_adds_dependencies_and_refuses_conflicts(tmp_path: Path) -> None:
    # a catalog where community groups may run election campaigns, which need members
    catalog = tmp_path / "catalog"
    shutil.copytree(shipped_catalog_root(), catalog, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    manifest = catalog / "templates" / "community_group" / "template.json"
    doc = json.loads(manifest.read_text())
    doc["optional_modules"].append("election_campaign")
    doc["optional_modules"].remove("membership_management")
    doc["optional_modules"].append("membership_management")
    manifest.write_text(json.dumps(doc))
    Path(Context.open().settings.source).write_text(f'catalog_dir = "{catalog}"\n')
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        wizard = WizardScreen(template="community_group")
        app.push_screen(wizard)
        await settle(pilot)
        modules = wizard.query_one("#modules", RowList)
        modules.focus()
        assert modules.move_to_key("election_campaign")
        await pilot.press("space")
        assert wizard.chosen == ["election_campaign"]
        assert wizard.resolution.auto_added["membership_management"] == "dependency of election_campaign"
        row = next(r for r in modules.rows if r.key == "membership_management")
        assert row.cells[0][0] == "[+]" and "dependency of election_campaign" in row.cells[3][0]
        assert "also added membership_management" in wizard.message

        assert modules.move_to_key("financial_tracking")
        await pilot.press("space")
        row = next(r for r in modules.rows if r.key == "simple_donations")
        assert "conflicts with financial_tracking" in row.cells[3][0]
        assert modules.move_to_key("simple_donations")
        await pilot.press("space")
        assert "simple_donations" not in wizard.chosen
        assert wizard.message.startswith("✗ Cannot add simple_donations") and "conflicts" in wizard.message
        assert "conflicts" in text(wizard.query_one("#wizard-info", Static))
        # a required module stays on
        await pilot.press("g", "space")
        assert "event_management" in wizard.resolution.slugs and "stays on" in wizard.message
    ctx.close()


async def test_plan_preview_shows_the_sql_for_either_dialect() -> None:
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(120, 40)) as pilot:
        app = pilot.app
        app.push_screen(WizardScreen(template="political_party_nepal", modules=["election_campaign"]))
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        plan = app.screen
        assert isinstance(plan, PlanScreen)
        units = [r.key for r in plan.query_one("#plan-units", RowList).rows]
        assert units == ["basic", "political_party_nepal", "financial_tracking", "membership_management",
                         "election_campaign"]
        assert "CREATE TABLE tenant_users" in plan.sql and "AUTO_INCREMENT" not in plan.sql
        assert "14 revisions: basic 4 · template 4 · module 6" in text(plan.query_one("#plan-bar", Static))
        await pilot.press("m")
        await settle(pilot)
        assert plan.doc["dialect"] == "mysql" and "AUTO_INCREMENT" in plan.sql
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, WizardScreen)
    ctx.close()


async def test_provisioning_started_from_the_console_completes_on_the_timeline() -> None:
    ctx = Context.open()
    submit(ctx, "acme", modules=["election_campaign"], approve=True)
    async with make_app(ctx).run_test(size=(100, 40)) as pilot:
        app = pilot.app
        await open_review(pilot)
        await pilot.press("p")
        await settle(pilot)
        plan = app.screen
        assert isinstance(plan, PlanScreen)
        assert plan.doc["server"] == "local" and plan.doc["database"] == "tenant_acme"
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")  # development: a plain confirmation, focused on Provision
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen), timeout=10)
        timeline = app.screen
        assert await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] == "succeeded",
                              timeout=60), timeline.job
        await settle(pilot)
        body = text(timeline.query_one("#tl-body", Static))
        job = jobs.get_job(ctx, timeline.job_id)
        names = [s["name"].strip() for s in job["steps"]]
        for step in ("validate", "place", "create database", "basic basic", "template political_party_nepal",
                     "module election_campaign", "seed", "admin user", "snapshot", "compliance", "activate",
                     "notify"):
            assert step in names
            assert step in body
        assert "✗" not in body and body.count("✓ done") == len(job["steps"])
        assert "✓ done" in text(timeline.query_one("#tl-bar", Static))
    assert applications.get(ctx, "acme")["status"] == "provisioned"
    ctx.close()


async def test_viewer_sees_approve_disabled_and_cannot_trigger_it() -> None:
    admin = Context.open()
    submit(admin, "pokhara-youth-club", template="community_group")
    bob = viewer_context(admin)
    assert bob.role == "viewer"
    async with make_app(bob).run_test(size=(100, 24)) as pilot:
        app = pilot.app
        review = await open_review(pilot)
        bar = str(review.query_one(KeyBar).render())
        assert "Approve·admin" in bar and "Reject·admin" in bar
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is review  # no dialog opened
        assert "Approve needs the admin role; bob has viewer" in notifications(app)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert "needs admin" in text(app.screen.query_one("#help-body", Static))
        hits = [hit async for hit in RegistryCommands(review).discover()]
        approve = next(h for h in hits if h.text == "Approve" or str(h.display) == "Approve")
        assert "disabled: needs admin" in approve.help
    assert applications.get(admin, "pokhara-youth-club")["status"] == "pending"
    with pytest.raises(PermissionDenied):  # the engine refuses too
        applications.approve(bob, "pokhara-youth-club")
    bob.close()
    admin.close()


async def test_engine_refusals_become_notifications_not_crashes() -> None:
    ctx = Context.open()
    submit(ctx, "janakpur-teachers", template="community_group")
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await open_review(pilot)
        applications.approve(ctx, "janakpur-teachers")  # someone else, behind the console's back
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert any("cannot go from approved to approved" in n for n in notifications(app))
        await pilot.press("t")  # no job yet: said, not crashed
        await settle(pilot)
        assert any("no job yet" in n for n in notifications(app))
    ctx.close()


async def test_dashboard_figure_opens_its_filtered_list() -> None:
    ctx = Context.open()
    submit(ctx, "a-pending", template="community_group")
    submit(ctx, "b-approved", template="community_group", approve=True)
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        panel = app.screen.query_one("#dash-applications", RowList)
        assert panel.has_focus and panel.current_row.key == ("applications", "pending")
        assert [r.cells[1][0] for r in panel.rows[:2]] == ["1", "1"]
        await pilot.press("enter")
        await settle(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen) and review.status == "pending"
        assert [r.data["slug"] for r in review.query_one("#queue", RowList).rows] == ["a-pending"]
        await pilot.press("f")  # next status in the cycle
        assert review.status == "approved"
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_mode == "dashboard"
    ctx.close()


async def test_filter_and_vim_keys_in_the_queue() -> None:
    ctx = Context.open()
    for slug in ("alpha-club", "beta-club", "gamma-union"):
        submit(ctx, slug, template="community_group")
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        review = await open_review(pilot)
        queue = review.query_one("#queue", RowList)
        await pilot.press("G")
        assert queue.cursor == 2
        await pilot.press("k")
        assert queue.cursor == 1
        await pilot.press("g")
        assert queue.cursor == 0
        await pilot.press("slash", "c", "l", "u", "b")
        assert [r.data["slug"] for r in queue.rows] == ["beta-club", "alpha-club"]
        await pilot.press("enter")
        assert queue.has_focus
        await pilot.press("slash", "escape")
        assert len(queue.rows) == 3
    ctx.close()


async def test_theme_choice_is_saved_in_the_config() -> None:
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        assert app.theme == "tenantops-dark"
        await pilot.press("T")
        await settle(pilot)
        await pilot.press("down", "down", "down", "enter")
        await settle(pilot)
        assert app.theme == "tenantops-16"
    assert 'theme = "tenantops-16"' in Path(ctx.settings.source).read_text()
    assert Context.open().settings.theme == "tenantops-16"
    ctx.close()


async def test_production_is_loud_and_asks_for_the_slug() -> None:
    Path(Context.open().settings.source).write_text('environment = "production"\n')
    ctx = Context.open()
    submit(ctx, "acme", approve=True)
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await open_review(pilot)
        env = app.screen.query_one("#header-env")
        assert "PRODUCTION" in text(env) and env.has_class("env-production")
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.typed
        assert "PRODUCTION" in text(dialog.query_one("#env-banner", Static))
        await pilot.press("enter")  # nothing typed: refused inline
        await settle(pilot)
        assert app.screen is dialog and "Type the name exactly: acme" in text(dialog.query_one("#typed-error"))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, PlanScreen)
    assert applications.get(ctx, "acme")["status"] == "approved"  # nothing ran
    ctx.close()


async def test_demo_without_the_demo_module_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "fill_demo", lambda ctx, progress=None: None)
    ctx = Context.open()
    async with make_app(ctx, demo=True).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert any("no demo data" in n for n in notifications(pilot.app))
    ctx.close()


async def test_timeline_reattaches_to_a_job_and_shows_the_failing_statement() -> None:
    from test_console_support import seed

    ctx = Context.open()
    ids = seed(ctx)
    async with make_app(ctx).run_test(size=(100, 40)) as pilot:
        app = pilot.app
        await pilot.press("3")
        await settle(pilot)
        listing = app.screen.query_one("#jobs-list", RowList)
        assert listing.move_to_key(ids["failed_job"])
        await pilot.press("enter")
        await settle(pilot)
        timeline = app.screen
        assert isinstance(timeline, TimelineScreen)
        body = text(timeline.query_one("#tl-body", Static))
        assert "✗ FAILED" in body and "failing statement:" in body and "CREATE TABLE enrollments (" in body
        assert "CREATE TABLE students" not in body  # only the statement that failed
    with ctx.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(m.Job)) == 3
    ctx.close()


async def test_failed_job_is_retried_from_the_jobs_list() -> None:
    from test_console_support import seed

    ctx = Context.open()
    ids = seed(ctx)
    with ctx.session() as s:  # placement would pick the (made-up, unreachable) MariaDB server
        s.execute(sa.delete(m.Server).where(m.Server.name == "db-east"))
    async with make_app(ctx).run_test(size=(100, 30)) as pilot:
        app = pilot.app
        await pilot.press("3")
        await settle(pilot)
        listing = app.screen.query_one("#jobs-list", RowList)
        assert listing.move_to_key(ids["done_job"])
        await pilot.press("R")  # only failed jobs: refused with a reason
        await settle(pilot)
        assert any("Only a failed job" in n for n in notifications(app))
        assert listing.move_to_key(ids["failed_job"])
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen), timeout=10)
        timeline = app.screen
        assert timeline.job_id != ids["failed_job"]
        ok = await wait_for(pilot, lambda: timeline.job is not None and timeline.job["status"] not in ("queued", "running"),
                            timeout=60)
        assert ok and timeline.job["status"] == "succeeded", (timeline.job["status"], timeline.job["error"],
                                                              [(s["name"], s["status"], s["error"]) for s in timeline.job["steps"]])
    assert applications.get(ctx, "butwal-college")["status"] == "provisioned"
    ctx.close()


async def test_drift_figure_opens_the_tenants_it_counts() -> None:
    from test_console_support import seed

    ctx = Context.open()
    seed(ctx)
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        drift = app.screen.query_one("#dash-drift", RowList)
        drift.focus()
        assert drift.move_to_key(("drift", "high"))
        await pilot.press("enter")
        await settle(pilot)
        tenants = app.screen
        assert tenants.SCREEN_NAME == "tenants" and tenants.drift == "high"
        assert [r.key for r in tenants.query_one("#tenants-list", RowList).rows] == ["green-valley-ngo"]
    ctx.close()


async def test_command_palette_runs_registry_actions() -> None:
    ctx = Context.open()
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        for key in "jobs":
            await pilot.press(key)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == "jobs"
    ctx.close()
