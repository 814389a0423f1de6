"""Snapshots of every screen at 80x24 (tmux over SSH) and 120x40, in the default theme
and the 16-colour one. Fixed data and a frozen clock keep them deterministic.

Update with: python -m pytest tests/test_console_snapshots.py --snapshot-update
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from test_console_support import LANDLORD_LABEL, make_app, opened_copy, seed, settle
from tenantops.console.screens.timeline import TimelineScreen
from tenantops.console.screens.wizard import WizardScreen
from tenantops.engine.context import Context

SIZES = [(80, 24), (120, 40)]
THEMES = ["tenantops-dark", "tenantops-16"]


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Build the fixed landlord once; each test gets a copy (Context.open is then quick)."""
    home = tmp_path_factory.mktemp("seeded") / "home"
    ctx = Context.open(home=home, config=home / "absent.toml", operator="alice")
    ids = seed(ctx)
    ctx.close()
    return home / "landlord.db", ids


@pytest.fixture
def ctx(seeded_store: tuple[Path, dict[str, int]], tenantops_env: Path,
        monkeypatch: pytest.MonkeyPatch) -> Context:
    with opened_copy(seeded_store[0], tenantops_env, monkeypatch) as context:
        yield context


def _press(*keys: str) -> Callable[[Any], Awaitable[None]]:
    async def run(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.15)  # the review detail waits for the cursor to rest (0.12 s)
            await settle(pilot)

    return run


def _push(factory: Callable[[dict[str, int]], Any], *keys: str) -> Callable[[dict[str, int]], Any]:
    def make(ids: dict[str, int]) -> Callable[[Any], Awaitable[None]]:
        async def run(pilot: Any) -> None:
            await settle(pilot)
            pilot.app.push_screen(factory(ids))
            await settle(pilot)
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
        return run
    return make


SCREENS: dict[str, Callable[[dict[str, int]], Any]] = {
    "dashboard": lambda ids: _press(),
    "review": lambda ids: _press("2"),
    "wizard": _push(lambda ids: WizardScreen(template="political_party_nepal", modules=["election_campaign"],
                                             purpose="New application acme-party"), "tab", "j", "j"),
    "plan": _push(lambda ids: WizardScreen(template="political_party_nepal", modules=["election_campaign"]), "v"),
    "timeline": _push(lambda ids: TimelineScreen(ids["failed_job"])),
    "jobs": lambda ids: _press("3"),
    "help": lambda ids: _press("2", "question_mark"),
}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(screen: str, size: tuple[int, int], theme: str, ctx: Context, seeded_store: Any,
                snap_compare: Any) -> None:
    ctx.settings.theme = theme
    app = make_app(ctx)
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen](seeded_store[1]))


@pytest.mark.parametrize("theme", THEMES)
def test_running_job_timeline(theme: str, ctx: Context, seeded_store: Any, snap_compare: Any) -> None:
    """The running step's clock, from the frozen clock."""
    ctx.settings.theme = theme
    run = _push(lambda ids: TimelineScreen(ids["running_job"]))(seeded_store[1])
    assert snap_compare(make_app(ctx), terminal_size=(80, 24), run_before=run)


def test_viewer_review(ctx: Context, seeded_store: Any, snap_compare: Any) -> None:
    """A viewer: decisions struck out in the key bar with the role they need."""
    from tenantops.engine.access import operators

    operators.add_operator(ctx, user="bob", role="viewer")
    bob = Context.open(operator="bob")
    try:
        assert snap_compare(make_app(bob), terminal_size=(80, 24), run_before=_press("2"))
    finally:
        bob.close()


# -- console part 2: the fleet, one tenant's schema health, audit and servers ------------

@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixed landlord plus 40 made-up tenants on three servers (no databases)."""
    import sqlalchemy as sa

    from test_console_support import NOW, seed_fleet
    from tenantops.engine.landlord import models as m

    home = tmp_path_factory.mktemp("fleet") / "home"
    ctx = Context.open(home=home, config=home / "absent.toml", operator="alice")
    seed(ctx)
    seed_fleet(ctx, 40)
    with ctx.session() as s:
        # the embedded server's real path holds the temporary directory
        s.execute(sa.update(m.Server).where(m.Server.name == "local").values(url="sqlite:////var/lib/tenantops/tenants",
                                                                             checked_at=NOW))
        # one server busier than its load limit (`servers limit`): throttled
        s.execute(sa.update(m.Server).where(m.Server.name == "db-west").values(max_threads_running=40,
                                                                               threads_running=57, load_checked_at=NOW))
        last = s.scalar(sa.select(sa.func.max(m.AuditEntry.id)))
        for entry in s.scalars(sa.select(m.AuditEntry)):
            entry.at = NOW - timedelta(minutes=37 * (last - entry.id) + 5)
    ctx.close()
    return home / "landlord.db"


@pytest.fixture
def fleet_ctx(fleet_store: Path, tenantops_env: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    with opened_copy(fleet_store, tenantops_env, monkeypatch) as context:
        yield context


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    from test_console_support import make_provisioned

    return make_provisioned(tmp_path_factory.mktemp("provisioned"), expected_cache)


@pytest.fixture
def tenant_ctx(provisioned: Path, tenantops_env: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    """A real tenant changed behind the engine's back, its drift checked."""
    from test_console_support import SLUG, behind_the_back, use_home
    from tenantops.engine.health import drift

    use_home(provisioned, tenantops_env)
    monkeypatch.setattr(Context, "landlord_label", property(lambda self: LANDLORD_LABEL))
    context = Context.open()
    behind_the_back(context, SLUG, ["ALTER TABLE notices ADD COLUMN mood VARCHAR(20)",
                                    "DROP INDEX ix_notices_is_pinned_published_at",
                                    "CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))"])
    drift.check_drift(context, slug=SLUG)
    yield context
    context.close()


def _tenant_screen(name: str) -> Callable[[Any], Awaitable[None]]:
    from test_console_support import SLUG
    from tenantops.console.screens.diff import DiffScreen
    from tenantops.console.screens.repair import RepairScreen
    from tenantops.console.screens.snapshots import SnapshotsScreen
    from tenantops.console.screens.tenant import TenantScreen

    factory, keys = {"tenant": (lambda: TenantScreen(SLUG), ()),
                     "diff": (lambda: DiffScreen(SLUG), ()),
                     "repair": (lambda: RepairScreen(SLUG, "aggressive"), ()),
                     "snapshots": (lambda: SnapshotsScreen(SLUG), ()),
                     "confirm": (lambda: RepairScreen(SLUG, "aggressive"), ("c", *"drift", "enter")),
                     # from the tenant screen, as an operator gets there
                     "backups": (lambda: TenantScreen(SLUG), ("B",)),
                     "quarantine": (lambda: TenantScreen(SLUG), ("Q",)),
                     "accepted": (lambda: TenantScreen(SLUG), ("D",))}[name]
    return _push(lambda ids: factory(), *keys)({})


FLEET_SCREENS = {"tenants": "4", "servers": "5", "audit": "6"}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(FLEET_SCREENS))
def test_fleet_screen(screen: str, size: tuple[int, int], theme: str, fleet_ctx: Context, snap_compare: Any) -> None:
    """In 16 colours too: severity badges and states keep their icon and word."""
    fleet_ctx.settings.theme = theme
    assert snap_compare(make_app(fleet_ctx), terminal_size=size, run_before=_press(FLEET_SCREENS[screen]))


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", ["tenant", "diff", "repair", "snapshots"])
def test_tenant_screen(screen: str, size: tuple[int, int], theme: str, tenant_ctx: Context,
                       snap_compare: Any) -> None:
    tenant_ctx.settings.theme = theme
    assert snap_compare(make_app(tenant_ctx), terminal_size=size, run_before=_tenant_screen(screen))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_typed_confirmation_in_production(size: tuple[int, int], tenant_ctx: Context, snap_compare: Any) -> None:
    """Production: the typed confirmation repeats the loud banner."""
    tenant_ctx.settings.environment = "production"
    assert snap_compare(make_app(tenant_ctx), terminal_size=size, run_before=_tenant_screen("confirm"))


@pytest.fixture
def recovery_ctx(provisioned: Path, tenantops_env: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    """A tenant an aggressive repair backed up and moved a hand-made table of aside; one
    difference accepted. Paths, sizes and times fixed: they differ on every run."""
    import sqlalchemy as sa

    from cli import run
    from test_console_support import NOW, SLUG, behind_the_back, use_home
    from tenantops.engine.health import drift
    from tenantops.engine.landlord import models as m

    use_home(provisioned, tenantops_env)
    monkeypatch.setattr(Context, "landlord_label", property(lambda self: LANDLORD_LABEL))
    context = Context.open()
    behind_the_back(context, SLUG, ["CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))",
                                    "INSERT INTO scratch_notes VALUES (1, 'keep me'), (2, 'me too')",
                                    "CREATE INDEX ix_notices_title ON notices (title)"])
    drift.check_drift(context, slug=SLUG)
    drift.accept_difference(context, slug=SLUG, object="index", change="added", table="notices",
                            name="ix_notices_title", reason="hot fix for the slow notice search, ticket 42",
                            expires=(date.today() + timedelta(days=30)).isoformat())
    assert run("repair", SLUG, "--strategy", "aggressive", "--confirm", SLUG).code == 0
    with context.session() as s:
        for i, backup in enumerate(s.scalars(sa.select(m.Backup).order_by(m.Backup.id))):
            backup.path = f"/var/lib/tenantops/backups/{SLUG}-2025031{i}T093000.db"
            backup.checksum, backup.size_bytes = f"{i}" * 64, 180_224 + 4096 * i
            backup.created_at = NOW - timedelta(hours=5 - i)
        for item in s.scalars(sa.select(m.QuarantineItem)):
            item.quarantined_as = f"_q1_{item.table}"[:64]
            item.created_at = NOW - timedelta(hours=4)
        for accepted in s.scalars(sa.select(m.DriftAcceptance)):
            accepted.expires_at = NOW.replace(year=2099)
            accepted.accepted_at = NOW - timedelta(days=2)
    yield context
    context.close()


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", ["backups", "quarantine", "accepted"])
def test_recovery_screen(screen: str, size: tuple[int, int], theme: str, recovery_ctx: Context,
                         snap_compare: Any) -> None:
    recovery_ctx.settings.theme = theme
    assert snap_compare(make_app(recovery_ctx), terminal_size=size, run_before=_tenant_screen(screen))


@pytest.mark.parametrize("theme", THEMES)
def test_command_log(theme: str, ctx: Context, seeded_store: Any, snap_compare: Any) -> None:
    """The command log over the jobs screen, from a fixed log (real timings differ)."""
    from test_console_support import NOW
    from tenantops.console.commandlog import CommandLog, Entry
    from tenantops.console.screens.command_log import CommandLogScreen

    log = CommandLog()
    call = log._add(Entry("call", "jobs.list_jobs", NOW, 0.0123, statements=2))
    log._add(Entry("sql", "SELECT jobs.id, jobs.kind, jobs.tenant, jobs.status FROM jobs ORDER BY jobs.id DESC "
                          "LIMIT ? OFFSET ?", NOW, 0.0021, call=call.id))
    log._add(Entry("sql", "SELECT job_events.id, job_events.job_id, job_events.name FROM job_events WHERE "
                          "job_events.job_id IN (?, ?, ?, ?, ?, ?, ?, ?)", NOW, 0.0008, call=call.id))
    failed = log._add(Entry("call", "kinds.retry", NOW, 0.0044, error="StateError: job 3 is running; only failed "
                            "jobs can be retried", statements=1))
    log._add(Entry("sql", "SELECT jobs.id FROM jobs WHERE jobs.id = ?", NOW, 0.0004, call=failed.id))
    ctx.settings.theme = theme

    async def run(pilot: Any) -> None:
        await _press("3")(pilot)
        pilot.app.push_screen(CommandLogScreen(log))
        await settle(pilot)

    assert snap_compare(make_app(ctx), terminal_size=(80, 24), run_before=run)
