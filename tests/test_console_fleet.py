"""Console part 2, the fleet: 10,000 tenants filtered as you type and sorted, the audit
log filtered and exported, servers checked now. Tenant rows are bulk-inserted into the
landlord (no tenant databases are needed for these screens)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from test_console_support import make_app, seed, seed_fleet, settle, wait_for
from tenantops.console.screens.audit import AuditScreen
from tenantops.console.screens.servers import ServersScreen
from tenantops.console.screens.tenant import TenantScreen
from tenantops.console.screens.tenants import TenantsScreen
from tenantops.console.widgets.rowlist import RowList
from tenantops.engine.tenants import applications
from tenantops.engine.access import operators
from tenantops.engine.context import Context

pytestmark = pytest.mark.asyncio


def text(widget: Static) -> str:
    return str(widget.render())


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def test_filter_ten_thousand_tenants_by_typing_and_open_one() -> None:
    ctx = Context.open()
    slugs = seed_fleet(ctx, 10_000)
    async with make_app(ctx).run_test(size=(100, 30)) as pilot:
        app = pilot.app
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, TenantsScreen)
        assert await wait_for(pilot, lambda: screen.loaded)
        listing = screen.query_one("#tenants-list", RowList)
        assert len(listing.rows) == 10_000
        assert "all 10,000 of 10,000 · by slug ▲" in text(screen.query_one("#tenants-bar"))
        assert [r.key for r in listing.rows[:3]] == sorted(slugs)[:3]

        # only the rows on screen are ever formatted, whatever the fleet's size
        formatted: list[str] = []
        cells = screen._cells
        screen._cells = lambda e: formatted.append(e.slug) or cells(e)  # type: ignore[method-assign]
        await pilot.press("slash", *"pokhara")
        await settle(pilot)
        # (checked before this test reads every row): one screenful per keystroke at most
        assert 0 < len(formatted) <= len("pokhara") * (listing.size.height + 2)
        expected = [t for t in sorted(slugs) if "pokhara" in t]
        assert [r.key for r in listing.rows] == expected

        # field:value narrows one field; words still match any field
        await pilot.press("space", *"sev:crit")
        critical = [r.data.tenant for r in listing.rows]
        assert critical and all(t["last_drift"]["severity"] == "critical" and "pokhara" in t["slug"] for t in critical)
        assert all(r.cells[4] == ("■ critical", "bad") for r in listing.rows[:5])  # a word and an icon, not colour
        await pilot.press("space", *"module:events")
        assert len(listing.rows) == 0 and "No tenants match" == listing.empty
        for _ in "module:events":
            await pilot.press("backspace")
        await pilot.press("space", *"tpl:political")
        party = [r.data.tenant for r in listing.rows]
        assert party and all(t["template"]["slug"] == "political_party_nepal" for t in party)
        assert f"{len(party)} of 10,000" in text(screen.query_one("#tenants-bar"))

        await pilot.press("enter")  # keeps the filter, back to the list
        assert listing.has_focus
        await pilot.press("j", "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TenantScreen) and app.screen.detail)
        detail = app.screen
        assert detail.slug == party[1]["slug"]
        assert party[1]["slug"] in text(detail.query_one("#tenant-bar"))
        assert "critical" in text(detail.query_one("#tenant-bar"))
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and [r.data.tenant for r in listing.rows] == party

        # sort by any column: o cycles, O reverses; the header marks it
        await pilot.press("slash", "escape")
        assert len(listing.rows) == 10_000
        await pilot.press("o")  # status: failed first
        assert screen.sort == "status" and listing.rows[0].data.status == "failed"
        assert "by status ▲" in text(screen.query_one("#tenants-bar"))
        for _ in range(4):  # organisation, template, server, drift
            await pilot.press("o")
        assert screen.sort == "drift"
        assert listing.rows[0].data.severity == "critical" and listing.rows[-1].data.severity == "unchecked"
        await pilot.press("O")
        assert listing.rows[0].data.severity == "unchecked"
        assert listing.sort_column == 4 and listing.sort_reverse  # the drift column, ▼
    ctx.close()


async def test_status_and_drift_cycles_and_server_drill_down() -> None:
    ctx = Context.open()
    seed_fleet(ctx, 300)
    async with make_app(ctx).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("5")
        servers = app.screen
        assert isinstance(servers, ServersScreen)
        assert await wait_for(pilot, lambda: len(servers.query_one("#servers-list", RowList).rows) == 3)
        listing = servers.query_one("#servers-list", RowList)
        assert [r.key for r in listing.rows] == ["db-east", "db-west", "local"]
        assert listing.rows[0].cells[3] == "100/6000"
        await pilot.press("enter")  # the server's tenants
        assert await wait_for(pilot, lambda: isinstance(app.screen, TenantsScreen) and app.screen.loaded)
        tenants = app.screen
        shown = [r.data.tenant for r in tenants.query_one("#tenants-list", RowList).rows]
        assert len(shown) == 100 and {t["server"] for t in shown} == {"db-east"}
        await pilot.press("f")  # active only
        await pilot.press("d")  # drift: critical
        rows = [r.data.tenant for r in tenants.query_one("#tenants-list", RowList).rows]
        assert rows and all(t["status"] == "active" and t["last_drift"]["severity"] == "critical"
                            and t["server"] == "db-east" for t in rows)
        bar = text(tenants.query_one("#tenants-bar"))
        assert "active" in bar and "drift critical" in bar and "server db-east" in bar
    ctx.close()


async def test_servers_are_checked_now_in_a_worker() -> None:
    ctx = Context.open()
    seed(ctx)  # local (reachable) and db-east, a made-up MariaDB that is not there
    async with make_app(ctx).run_test(size=(100, 24)) as pilot:
        app = pilot.app
        await pilot.press("5")
        screen = app.screen
        assert await wait_for(pilot, lambda: len(screen.query_one("#servers-list", RowList).rows) == 2)
        listing = screen.query_one("#servers-list", RowList)
        assert listing.move_to_key("local")
        await pilot.press("c")
        assert await wait_for(pilot, lambda: any("1 server(s) reachable" in n for n in notes(app)))
        row = next(r for r in listing.rows if r.key == "local")
        assert row.cells[3] == ("✓ up", "ok") and row.data["version"]
        assert "db-east" in [r.key for r in listing.rows]
        assert "✗ unreachable" in [r.cells[3][0] for r in listing.rows]
    ctx.close()


async def test_audit_is_filtered_and_exported_to_json_and_csv(tenantops_env: Path) -> None:
    ctx = Context.open()
    seed(ctx)
    operators.add_operator(ctx, user="bob", role="viewer")
    bob = Context.open(operator="bob")
    with pytest.raises(Exception):
        applications.approve(bob, "pokhara-youth-club")  # denied, and audited as such
    bob.close()
    applications.approve(ctx, "janakpur-teachers", notes="verified")
    async with make_app(ctx).run_test(size=(120, 30)) as pilot:
        app = pilot.app
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        assert await wait_for(pilot, lambda: bool(screen.entries))
        listing = screen.query_one("#audit-list", RowList)
        total = len(screen.entries)
        assert listing.rows[0].data["action"] == "applications.approve"  # newest first
        await pilot.press("o")  # the first operator: alice
        assert await wait_for(pilot, lambda: screen.operator == "alice" and screen.entries
                              and all(e["operator"] == "alice" for e in screen.entries))
        await pilot.press("o")  # bob
        assert await wait_for(pilot, lambda: screen.entries and all(e["operator"] == "bob" for e in screen.entries))
        assert [(e["action"], e["outcome"]) for e in screen.shown] == [("applications.approve", "denied")]
        assert listing.rows[0].cells[4] == ("⊘ denied", "warn")
        await pilot.press("o")  # every operator again
        assert await wait_for(pilot, lambda: len(screen.entries) == total)
        await pilot.press("slash", *"action:applications.su", "enter")
        assert {e["action"] for e in screen.shown} == {"applications.submit"} and len(screen.shown) == 9
        assert listing.move_to_key(screen.shown[0]["id"])
        await pilot.press("t")  # only this entry's tenant
        assert await wait_for(pilot, lambda: screen.tenant == "pokhara-youth-club" and len(screen.shown) == 1)

        await pilot.press("e")
        assert await wait_for(pilot, lambda: getattr(screen, "last_export", None) is not None)
        path = screen.last_export
        assert path.parent == tenantops_env / "exports" and path.name == "audit-20250314T093000.json"
        exported = json.loads(path.read_text())
        assert exported == screen.shown and exported[0]["target"] == "pokhara-youth-club"
        assert any(str(path) in n for n in notes(app))
        await pilot.press("E")
        assert await wait_for(pilot, lambda: screen.last_export.suffix == ".csv")
        with screen.last_export.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["action"] for r in rows] == ["applications.submit"]
        assert json.loads(rows[0]["params"])["slug"] == "pokhara-youth-club"
    ctx.close()
