"""Sync strategies (issue 20) on a catalog update holding one additive and one
destructive revision: conservative applies the additive one and holds the other for a
dba, aggressive applies both, manual writes the SQL plan and applies nothing."""
from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from cli import run
from helpers import approved, copy_catalog, tenant_engine, use_catalog
from tenantops.engine.context import Context

ADDITIVE = '''"""events get a venue capacity

Revision ID: events_0003
"""
from alembic import op
import sqlalchemy as sa

revision = "events_0003"
down_revision = "events_0002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("events", sa.Column("venue_capacity", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("events", "venue_capacity")
'''

DESTRUCTIVE = '''"""events lose their venue capacity again

Revision ID: events_0004
"""
from alembic import op
import sqlalchemy as sa

revision = "events_0004"
down_revision = "events_0003"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_column("events", "venue_capacity")


def downgrade():
    op.add_column("events", sa.Column("venue_capacity", sa.Integer(), nullable=True))
'''


def columns(slug: str) -> set[str]:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.connect() as conn:
        found = {c["name"] for c in sa.inspect(conn).get_columns("events")}
    engine.dispose()
    ctx.close()
    return found


def setup(slug: str, server: str, tmp_path: Path) -> None:
    ctx = Context.open()
    approved(ctx, slug, template="community_group")
    ctx.close()
    assert run("provision", slug, "--server", server).code == 0
    catalog = copy_catalog(tmp_path)
    versions = catalog / "modules/event_management/versions"
    (versions / "events_0003_capacity.py").write_text(ADDITIVE)
    (versions / "events_0004_drop_capacity.py").write_text(DESTRUCTIVE)
    use_catalog(Path(os.environ["TENANTOPS_CONFIG"]), catalog)


def test_conservative_applies_the_additive_revision_and_holds_the_destructive_one(server: str,
                                                                                  tmp_path: Path) -> None:
    setup("sync-cons", server, tmp_path)
    r = run("sync", "sync-cons", "--strategy", "conservative", "--dry-run", "--json")
    assert r.code == 0, r.err
    t = r.json()["tenants"][0]
    assert [h["revision"] for h in t["held"]] == ["events_0004"]
    assert "venue_capacity" in t["held"][0]["reason"]
    assert "venue_capacity" not in columns("sync-cons")      # a dry run changes nothing

    r = run("sync", "sync-cons", "--strategy", "conservative", "--json")
    assert r.code == 0, r.err
    t = r.json()["tenants"][0]
    assert t["outcome"] == "upgraded" and t["versions"]["event_management"] == "events_0003"
    assert "venue_capacity" in columns("sync-cons")
    # the destructive one still waits: a second conservative run applies nothing
    r = run("sync", "sync-cons", "--strategy", "conservative", "--json")
    assert r.json()["tenants"][0]["outcome"] == "held"
    r = run("sync", "sync-cons", "--strategy", "aggressive", "--json")
    assert r.code == 0 and r.json()["tenants"][0]["versions"]["event_management"] == "events_0004"
    assert "venue_capacity" not in columns("sync-cons")


def test_aggressive_applies_both(server: str, tmp_path: Path) -> None:
    setup("sync-aggr", server, tmp_path)
    r = run("sync", "sync-aggr", "--strategy", "aggressive", "--json")
    assert r.code == 0, r.err
    assert r.json()["tenants"][0]["versions"]["event_management"] == "events_0004"


def test_manual_writes_the_plan_and_applies_nothing(server: str, tmp_path: Path, tenantops_env: Path) -> None:
    setup("sync-man", server, tmp_path)
    jobs_before = len(run("jobs", "list", "--json").json())
    r = run("sync", "sync-man", "--strategy", "manual", "--json")
    assert r.code == 0, r.err
    t = r.json()["tenants"][0]
    assert t["outcome"] == "planned"
    plan = Path(t["plan_file"])
    assert plan.is_relative_to(tenantops_env) and (plan.stat().st_mode & 0o077) == 0
    text = plan.read_text()
    assert "events_0003" in text and "events_0004" in text and "venue_capacity" in text
    assert "venue_capacity" not in columns("sync-man")
    assert len(run("jobs", "list", "--json").json()) == jobs_before


def test_the_default_strategy_comes_from_the_config_and_is_checked(server: str, tmp_path: Path) -> None:
    setup("sync-cfg", server, tmp_path)
    config = Path(os.environ["TENANTOPS_CONFIG"])
    config.write_text(config.read_text() + 'sync_strategy = "conservative"\n')
    r = run("sync", "sync-cfg", "--dry-run", "--json")
    assert r.json()["strategy"] == "conservative" and r.json()["tenants"][0]["held"]
    config.write_text(config.read_text().replace('"conservative"', '"reckless"'))
    r = run("sync", "sync-cfg", "--dry-run")
    assert r.code == 1 and "sync_strategy" in r.err and "reckless" in r.err
    r = run("sync", "sync-cfg", "--strategy", "reckless")
    assert r.code == 2
