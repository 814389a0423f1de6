"""The console shows a custom migration's review before the approve key, and approving
an unsafe one takes the typed slug; four eyes hold here as in the CLI."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from test_console_support import LANDLORD_LABEL, SLUG, make_app, make_provisioned, settle, use_home, wait_for
from tenantops.console.screens.custom import CustomScreen
from tenantops.engine.access import operators
from tenantops.engine.context import Context
from tenantops.engine.tenants import custom

# raw SQL that the static checks cannot see: only running it shows what it does
DROP_NOTICES = ('from alembic import op\n\n\ndef upgrade():\n    op.execute("DROP TABLE notices")\n\n\n'
                'def downgrade():\n    op.execute("SELECT 1")\n')


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory, expected_cache: Path) -> Path:
    return make_provisioned(tmp_path_factory.mktemp("provisioned"), expected_cache)


@pytest.fixture
def reviewed(provisioned: Path, tenantops_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_home(provisioned, tenantops_env)
    monkeypatch.setattr(Context, "landlord_label", property(lambda self: LANDLORD_LABEL))
    ctx = Context.open(operator="alice")
    operators.add_operator(ctx, user="bob", role="dba")
    custom.submit_custom(ctx, slug=SLUG, filename="cleanup.py", content=DROP_NOTICES)
    ctx.close()
    return tenantops_env


async def _open(pilot: Any) -> None:
    await settle(pilot)
    pilot.app.push_screen(CustomScreen(SLUG))
    await settle(pilot, 3)


def test_review_screen_at_80x24(reviewed: Path, snap_compare: Any) -> None:
    ctx = Context.open(operator="bob")
    try:
        assert snap_compare(make_app(ctx), terminal_size=(80, 24), run_before=_open)
    finally:
        ctx.close()


@pytest.mark.asyncio
async def test_unsafe_approval_needs_the_typed_slug_and_another_dba(reviewed: Path) -> None:
    for user, outcome in (("alice", "another dba must approve it"), ("bob", "approved")):
        ctx = Context.open(operator=user)
        app = make_app(ctx)
        async with app.run_test(size=(100, 30)) as pilot:
            await _open(pilot)
            screen = app.screen
            assert isinstance(screen, CustomScreen)
            review = str(screen.query_one("#custom-review-text").render())
            assert "drops table notices" in review and "DESTRUCTIVE" in review and "TO201" in review
            await pilot.press("a")
            await settle(pilot)
            await pilot.press("enter")            # without the slug nothing happens
            await settle(pilot)
            assert custom.list_custom(ctx, SLUG)[0]["status"] == "submitted"
            for key in SLUG:
                await pilot.press(key)
            await pilot.press("enter")
            assert await wait_for(pilot, lambda: any(outcome in n.message for n in app._notifications))
        ctx.close()
    ctx = Context.open(operator="alice")
    assert custom.list_custom(ctx, SLUG)[0]["status"] == "approved"
    assert custom.list_custom(ctx, SLUG)[0]["approved_by"] == "bob"
    ctx.close()
