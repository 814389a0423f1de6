"""A monkey at the keyboard: a seeded random walk of key presses over every screen, as
every role, at 80x24 (tmux over SSH). It fails on any exception — one the console
turned into its error screen counts too (``app.handled_errors``).

Real landlord and a real drifted tenant (for the diff and repair screens), plus the
fixed data of the snapshot tests and a made-up fleet; no worker process is started
(queued jobs stay queued). Split by role so each run stays short on 2 cores.
"""
from __future__ import annotations

import asyncio
import random
import subprocess
import traceback
from pathlib import Path
from typing import Any

import pytest
from textual import events

from test_console_support import (SLUG, behind_the_back, idle, make_app, make_provisioned, seed, seed_fleet,
                                  use_home)
from tenantops.console.actions import REGISTRY
from tenantops.engine.access import operators
from tenantops.engine.context import Context
from tenantops.engine.health import drift, rollouts
from tenantops.console.screens import rollouts as rollouts_screen

pytestmark = pytest.mark.asyncio

PRESSES = 1300  # per role: 4 roles, 5,200 presses in all
SECTIONS = ["1", "2", "3", "4", "5", "6", "7"]
# every key of the registry (ctrl+q quits: left out, the walk would end), plus keys that
# mean nothing to the console and text an operator types into filters and forms
REGISTRY_KEYS = sorted({k for a in REGISTRY for k in a.keys if k != "ctrl+q"})
NOISE = ["tab", "shift+tab", "backspace", "a", "e", "i", "x", "z", "0", "9", "-", "_", ":", "ctrl+p"]
OPERATORS = {"owner": "alice", "admin": "carol", "dba": "dave", "viewer": "bob"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    return make_provisioned(tmp_path_factory.mktemp("monkey"), expected_cache)


@pytest.fixture
def home(store: Path, tenantops_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tenantops.engine.jobs import worker

    use_home(store, tenantops_env)
    ctx = Context.open()
    seed(ctx)
    fleet = sorted(seed_fleet(ctx, 30))
    # rollouts to pause, resume and cancel: one running (no driver), one halted
    rollouts.create(ctx, spec="canary:2,rest", parallel=1, on_error="halt", strategy=None, slugs=fleet[:10])
    halted = rollouts.create(ctx, spec="canary:1,pilot:2,rest", parallel=1, on_error="halt", strategy=None,
                             slugs=fleet[10:16])
    rollouts._set(ctx, halted, status="halted", reason="stage pilot: 1 of 2 tenant(s) failed (--on-error halt)")
    for role, user in OPERATORS.items():
        if user != "alice":
            operators.add_operator(ctx, user=user, role=role)
    behind_the_back(ctx, SLUG, ["ALTER TABLE notices ADD COLUMN mood VARCHAR(20)",
                                "CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))"])
    drift.check_drift(ctx, slug=SLUG)
    ctx.close()
    # jobs are queued, no worker process is started
    monkeypatch.setattr(worker, "spawn", lambda ctx, job_id=None, **kw: None)
    # nor a rollout's driver: a process that ends at once, having changed nothing
    monkeypatch.setattr(rollouts_screen, "spawn_driver",
                        lambda ctx, rollout_id: (subprocess.Popen(["true"]), tenantops_env / "no-driver.log"))
    return tenantops_env


CHARS = {"space": " ", "question_mark": "?", "slash": "/", "minus": "-", "underscore": "_", "colon": ":"}
NOISE = [{"-": "minus", "_": "underscore", ":": "colon"}.get(k, k) for k in NOISE]


async def press(pilot: Any, key: str) -> None:
    """One key press, waiting until the screen has handled it. Pilot.press also waits
    for the process to look idle (two 20 ms sleeps at least per key): too slow for
    thousands of keys on 2 cores, and not needed to find exceptions."""
    app = pilot.app
    event = events.Key(key, CHARS.get(key, key if len(key) == 1 else None))
    event.set_sender(app)
    app._driver.send_message(event)
    await asyncio.sleep(0)
    try:
        await pilot._wait_for_screen(timeout=10)
    except Exception as exc:
        stuck = [f"{w!r} queue={w._message_queue.qsize()} closed={w._closed}"
                 for w in [app, *app.screen.walk_children(with_self=True)] if w._message_queue.qsize()]
        errors = "".join(traceback.format_exception(app.handled_errors[0])) if app.handled_errors else ""
        raise AssertionError(f"key {key!r} not handled on {app.screen!r} {app.screen_stack}: {stuck}\n{errors}") from exc


def next_keys(rng: random.Random) -> list[str]:
    """Mostly one key; now and then a drill-down (a section, then Enter on its list, then
    a key of the opened screen), which a walk of single keys reaches too rarely."""
    roll = rng.random()
    if roll < 0.05:
        # Esc first, as a person would, so a dialog or panel left open does not swallow the drill-down
        return ["escape", rng.choice(["4", "4", "3", "2", "6"]), rng.choice(["j", "G", "k"]), "enter",
                rng.choice(REGISTRY_KEYS)]
    if roll < 0.12:
        return [rng.choice(SECTIONS)]
    if roll < 0.22:
        return [rng.choice(["enter", "escape", "j", "k", "q"])]
    if roll < 0.92:
        return [rng.choice(REGISTRY_KEYS)]
    return [rng.choice(NOISE)]


@pytest.mark.parametrize("role", list(OPERATORS))
async def test_monkey_walk(role: str, home: Path) -> None:
    seed_value = 1800 + list(OPERATORS).index(role)
    rng = random.Random(seed_value)
    ctx = Context.open(operator=OPERATORS[role])
    pressed: list[str] = []
    visited: set[str] = set()

    def failure(i: int, error: BaseException) -> str:
        return (f"seed {seed_value}, press {i}, after keys {pressed[-30:]}:\n"
                + "".join(traceback.format_exception(error)))

    try:
        while len(pressed) < PRESSES:
            # Quit in the command palette ends a session (the monkey may type it): start again
            app = make_app(ctx, poll_seconds=0.5)
            async with app.run_test(size=(80, 24)) as pilot:
                while len(pressed) < PRESSES and app.is_running:
                    for key in next_keys(rng):
                        if not app.is_running:
                            break
                        pressed.append(key)
                        await press(pilot, key)
                        visited.add(type(app.screen).__name__)
                        if len(pressed) % 25 == 0:
                            await idle(pilot)  # let reads land now and then, as a person would
                        assert not app.handled_errors, failure(len(pressed), app.handled_errors[0])
                if app.is_running:
                    await idle(pilot)
            assert not app.handled_errors, failure(len(pressed), app.handled_errors[0])
            assert app.return_code in (0, None), f"exit status {app.return_code} after {pressed[-30:]}"
    finally:
        ctx.close()
    # the walk reached the sections and the drill-downs
    assert {"DashboardScreen", "ReviewScreen", "JobsScreen", "TenantsScreen", "ServersScreen", "AuditScreen",
            "RolloutsScreen", "TenantScreen", "TimelineScreen", "HelpScreen"} <= visited, visited
