"""Read-only: a viewer opens every screen; every action above viewer, taken from the
action registry, is shown disabled with the role it needs and refused when triggered on
its screen — nothing changes — and the engine function behind it refuses too."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from test_console_support import SLUG, make_app, make_provisioned, settle, use_home, viewer_context, wait_for
from tenantops.console.actions import GLOBAL, LIST, REGISTRY, ROLES, for_scope
from tenantops.console.screens.diff import DiffScreen
from tenantops.console.screens.help import HelpScreen
from tenantops.console.screens.plan import PlanScreen
from tenantops.console.screens.repair import RepairScreen
from tenantops.console.screens.custom import CustomScreen
from tenantops.console.screens.snapshots import SnapshotsScreen
from tenantops.console.screens.tenant import TenantScreen
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.console.screens.wizard import WizardScreen
from tenantops.console.widgets.keybar import KeyBar
from tenantops.engine.tenants import applications
from tenantops.engine import kinds
from tenantops.engine.tenants import custom, modules, rollback, sync
from tenantops.engine.health import drift, rollouts
from tenantops.engine.tenants import provision as provisioner
from tenantops.engine.health import repair as repairs
from tenantops.engine.tenants import backups, lifecycle, move, snapshots
from tenantops.engine.servers import registry as servers
from tenantops.console.screens.recovery import AcceptedScreen, BackupsScreen, QuarantineScreen
from tenantops.engine.context import Context
from tenantops.engine.errors import PermissionDenied
from tenantops.engine.landlord import models as m

PENDING = "pokhara-youth-club"

# the engine function each mutating action ends in (``Action.engine``), called as a viewer
ENGINE_CALLS: dict[str, Callable[[Context], Any]] = {
    "applications.approve": lambda c: applications.approve(c, PENDING, notes="ok"),
    "applications.reject": lambda c: applications.reject(c, PENDING, reason="no"),
    "applications.submit": lambda c: applications.submit(c, organization="Acme", slug="acme-club",
                                                         email="a@acme.example.org", template="community_group",
                                                         modules=[]),
    "provision.request_provision": lambda c: provisioner.request_provision(c, slug=PENDING),
    "kinds.retry": lambda c: kinds.retry(c, 1),
    "snapshots.snapshot": lambda c: snapshots.snapshot(c, slug=SLUG),
    "modules.request_module_add": lambda c: modules.request_module_add(c, slug=SLUG, module="membership_management"),
    "modules.request_module_remove": lambda c: modules.request_module_remove(c, slug=SLUG, module="event_management",
                                                                             confirm=SLUG),
    "sync.request_sync": lambda c: sync.request_sync(c, slug=SLUG),
    "rollback.request_rollback": lambda c: rollback.request_rollback(c, slug=SLUG, batch=1, confirm=SLUG),
    "repair.request_repair": lambda c: repairs.request_repair(c, slug=SLUG, strategy="aggressive", confirm=SLUG),
    "custom.approve_custom": lambda c: custom.approve_custom(c, slug=SLUG, name="nickname"),
    "registry.set_draining": lambda c: servers.set_draining(c, name="local", draining=True),
    "backups.request_restore": lambda c: backups.request_restore(c, slug=SLUG, backup_id=1, confirm=SLUG),
    "repair.restore": lambda c: repairs.restore(c, slug=SLUG, item_id=1),
    "drift.withdraw_acceptance": lambda c: drift.withdraw_acceptance(c, slug=SLUG, acceptance_id=1),
    "lifecycle.request_suspend": lambda c: lifecycle.request_suspend(c, slug=SLUG, reason="unpaid"),
    "lifecycle.request_archive": lambda c: lifecycle.request_archive(c, slug=SLUG, confirm=SLUG),
    "move.request_move": lambda c: move.request_move(c, slug=SLUG, to="local"),
    "rollouts.pause": lambda c: rollouts.pause(c, rollout_id=1),
    "rollouts.resume": lambda c: rollouts.resume(c, rollout_id=1),
    "rollouts.cancel": lambda c: rollouts.cancel(c, rollout_id=1),
    "drift.accept_difference": lambda c: drift.accept_difference(c, slug=SLUG, object="table", change="added",
                                                                 table="scratch", name="scratch", reason="r",
                                                                 expires="2030-01-01"),
}


def _mode(name: str) -> Callable[[Any], Awaitable[None]]:
    async def open_(pilot: Any) -> None:
        pilot.app.switch_mode(name)
    return open_


def _push(factory: Callable[[], Any], *keys: str) -> Callable[[Any], Awaitable[None]]:
    async def open_(pilot: Any) -> None:
        pilot.app.push_screen(factory())
        await settle(pilot, 3)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, 3)
    return open_


# every screen an operator can reach, by registry scope
SCREENS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "dashboard": _mode("dashboard"), "review": _mode("review"), "jobs": _mode("jobs"), "tenants": _mode("tenants"),
    "servers": _mode("servers"), "audit": _mode("audit"), "rollouts": _mode("rollouts"),
    "tenant": _push(lambda: TenantScreen(SLUG)), "diff": _push(lambda: DiffScreen(SLUG)),
    "repair": _push(lambda: RepairScreen(SLUG)), "snapshots": _push(lambda: SnapshotsScreen(SLUG)),
    "custom": _push(lambda: CustomScreen(SLUG)),
    "backups": _push(lambda: BackupsScreen(SLUG)), "quarantine": _push(lambda: QuarantineScreen(SLUG)),
    "accepted": _push(lambda: AcceptedScreen(SLUG)),
    "timeline": _push(lambda: TimelineScreen(1)),
    "wizard": _push(lambda: WizardScreen(template="community_group")),
    "plan": _push(lambda: WizardScreen(template="community_group"), "v"),
    "help": _push(lambda: HelpScreen("tenant")),
}


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    return make_provisioned(tmp_path_factory.mktemp("provisioned"), expected_cache)


def digest(ctx: Context) -> dict[str, Any]:
    """What a mutating action would change."""
    with ctx.session() as s:
        def count(model: Any) -> int:
            return s.scalar(sa.select(sa.func.count()).select_from(model))

        return {"jobs": count(m.Job), "snapshots": count(m.Snapshot), "accepted": count(m.DriftAcceptance),
                "modules": count(m.TenantModule), "backups": count(m.Backup), "locks": count(m.TenantLock),
                "applications": sorted(s.execute(sa.select(m.Application.slug, m.Application.status)).all()),
                "audit ok": s.scalar(sa.select(sa.func.count()).select_from(m.AuditEntry)
                                     .where(m.AuditEntry.outcome == "ok"))}


def above_viewer() -> list[Any]:
    return [a for a in REGISTRY if ROLES.index(a.role) > 0]


def test_every_action_above_viewer_names_its_engine_function() -> None:
    actions = above_viewer()
    assert actions
    for action in actions:
        assert action.engine in ENGINE_CALLS, f"{action.id}: which engine function refuses it? ({action.engine!r})"
        assert not set(action.screens) & {GLOBAL, LIST}, action.id  # every one lives on a screen
        for scope in action.screens:
            assert scope in SCREENS, f"{action.id}: no way to open {scope}"


@pytest.mark.asyncio
async def test_viewer_walks_every_screen_and_every_action_is_refused(provisioned: Path, tenantops_env: Path) -> None:
    use_home(provisioned, tenantops_env)
    admin = Context.open()
    applications.submit(admin, organization="Pokhara Youth Club", slug=PENDING, email="a@pokhara.example.org",
                        template="community_group", modules=[])
    bob = viewer_context(admin)
    before = digest(admin)
    refused: list[str] = []
    async with make_app(bob).run_test(size=(220, 40)) as pilot:
        app = pilot.app
        for scope, open_screen in SCREENS.items():
            app._notifications.clear()
            await open_screen(pilot)
            assert await wait_for(pilot, lambda: getattr(app.screen, "SCREEN_NAME", None) == scope), scope
            await settle(pilot, 3)
            screen = app.screen
            errors = [n.message for n in app._notifications if n.severity == "error"]
            assert errors == [], f"{scope}: {errors}"
            bar = str(screen.query_one(KeyBar).render()) if screen.query(KeyBar) else ""
            for action in for_scope(scope):
                if ROLES.index(action.role) == 0:
                    continue
                if action.footer:  # disabled in the key bar, with the role it needs
                    assert f"{action.description}·{action.role}" in bar, (scope, action.id, bar)
                stack = list(app.screen_stack)
                await pilot.press(action.keys[0])
                await settle(pilot)
                assert list(app.screen_stack) == stack, f"{action.id} opened something for a viewer"
                message = f"{action.description} needs the {action.role} role; bob has viewer"
                assert message in [n.message for n in app._notifications], action.id
                refused.append(action.id)
            if isinstance(screen, (TenantScreen, DiffScreen, RepairScreen, SnapshotsScreen, CustomScreen, TimelineScreen,
                                   PlanScreen, WizardScreen, HelpScreen, BackupsScreen, QuarantineScreen,
                                   AcceptedScreen)):
                while len(app.screen_stack) > 1:
                    app.pop_screen()
                    await settle(pilot)
    assert sorted(refused) == sorted(a.id for a in above_viewer())
    assert digest(admin) == before  # nothing changed

    for name, call in ENGINE_CALLS.items():  # and the engine refuses whatever a UI does
        with pytest.raises(PermissionDenied):
            call(bob)
    assert digest(admin) == before
    with admin.session() as s:
        denied = s.scalar(sa.select(sa.func.count()).select_from(m.AuditEntry).where(
            m.AuditEntry.operator == "bob", m.AuditEntry.outcome == "denied"))
    assert denied == len(ENGINE_CALLS)
    bob.close()
    admin.close()
