"""Fingerprint clusters reach the dashboard: the same drift on several tenants shows as
one line, between fleet scans, from the stored reports."""
from __future__ import annotations

import pytest

from cli import run
from helpers import approved, tenant_engine
from test_console_support import make_app, settle, wait_for
from tenantops.console import data
from tenantops.engine.context import Context


@pytest.mark.asyncio
async def test_dashboard_names_the_cluster_of_identically_drifted_tenants() -> None:
    ctx = Context.open()
    for slug in ("clu-a", "clu-b", "clu-c"):
        approved(ctx, slug, template="community_group")
        assert run("provision", slug).code == 0
    for slug in ("clu-a", "clu-c"):
        engine = tenant_engine(ctx, slug)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_notices_is_pinned_published_at")
        engine.dispose()
    assert run("drift", "--all", "--json").code == 0
    lines = [a["text"] for a in data.dashboard(ctx)["attention"] if a["text"].startswith("cluster ")]
    assert len(lines) == 1
    assert "2 missing index ix_notices_is_pinned_published_at on notices" in lines[0]
    async with make_app(ctx, probe_servers=False).run_test(size=(120, 40)) as pilot:
        panel = pilot.app.screen.query_one("#dash-attention")
        assert await wait_for(pilot, lambda: any("cluster" in str(r) for r in getattr(panel, "rows", [])),
                              timeout=20)
        await settle(pilot)
    ctx.close()
