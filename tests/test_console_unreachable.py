"""The console with an unreachable landlord: a clear screen with retry, not a traceback."""
from __future__ import annotations

import pytest

from tenantops.console.unreachable import LandlordUnreachableApp
from tenantops.engine.context import Context
from tenantops.engine.errors import ServerError



@pytest.mark.asyncio
async def test_unreachable_landlord_offers_retry_then_opens() -> None:
    attempts: list[int] = []

    def opener():
        attempts.append(1)
        if len(attempts) == 1:
            raise ServerError("landlord store unreachable: Can't connect to MySQL server on '127.0.0.1' (111)")
        return Context.open()

    app = LandlordUnreachableApp("landlord store unreachable: connection refused",
                                 "mysql+pymysql://ops@127.0.0.1:1/tenantops", opener)
    async with app.run_test(size=(80, 24)) as pilot:
        text = " ".join(str(w.render()) for w in app.query("Static"))
        assert "cannot be opened" in text and "connection refused" in text and "127.0.0.1:1" in text
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "still unreachable" in str(app.query_one("#unreachable-keys").render())
        assert "(111)" in str(app.query_one("#unreachable-error").render())
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert len(attempts) == 2
    assert isinstance(app.return_value, Context)
    app.return_value.close()


@pytest.mark.asyncio
async def test_quit_from_the_unreachable_screen_returns_nothing() -> None:
    app = LandlordUnreachableApp("boom", "sqlite:/nowhere", lambda: pytest.fail("no retry asked"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
    assert app.return_value is None


def test_console_start_with_a_dead_landlord_shows_the_screen_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from tenantops.console import app as console_app

    shown: dict[str, str] = {}

    class Recorder:
        def __init__(self, error: str, where: str, opener) -> None:
            shown.update(error=error, where=where)

        def run(self):
            return None  # the operator pressed q

    url = "mysql+pymysql://ops@127.0.0.1:1/tenantops"
    args = argparse.Namespace(home=None, config=None, landlord=url, demo=False)
    assert console_app.open_or_wait(args, unreachable_app=Recorder) is None
    assert shown["where"] == url
    assert "unreachable" in shown["error"] and "\n" not in shown["error"]
