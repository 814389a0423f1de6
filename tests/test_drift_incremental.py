"""Incremental drift scans equal full ones: 150 cheap tenants on MariaDB, hidden changes
injected into a random 1% (at least two, each of another object kind), and the
incremental report compared tenant by tenant with a full one. Only the changed tenants
are captured; a changed expectation (an acceptance) is noticed without a schema change."""
from __future__ import annotations

import math
import random

import pytest
import sqlalchemy as sa

from cli import run
from conftest import drop_tenants
from mariadb import MariaDB
from tenantops.engine.catalog import resolve
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import plans
from tenantops.engine.migrate.units import catalog_for
from tenantops.engine.servers import registry as servers

TENANTS = 150
TEMPLATE = "community_group"
HIDDEN = [
    "CREATE INDEX ix_hidden ON notices (title)",
    "CREATE PROCEDURE hidden_proc() SELECT 1",
    "ALTER TABLE notices COMMENT = 'hidden'",
    "CREATE TRIGGER hidden_trg BEFORE INSERT ON notices FOR EACH ROW SET NEW.title = NEW.title",
]


@pytest.fixture
def fleet(dialect: str, request: pytest.FixtureRequest) -> list[str]:
    """TENANTS tenants built by replaying the engine's compiled plan (as bench_drift does),
    registered in the landlord as active tenants of server db1."""
    if dialect == "sqlite":
        pytest.skip("SQLite tenants are always captured in full: there is no incremental path to compare")
    db: MariaDB = request.getfixturevalue("mariadb")
    ctx = Context.open()
    servers.add_server(ctx, name="db1", url=db.url, capacity=100_000, password=db.admin_password)
    resolution = resolve(catalog_for(ctx), TEMPLATE, [])
    planned = plans.compiled(resolution.units, "mysql")
    names = [f"tenant_inc_{i:04d}" for i in range(TENANTS)]
    conn = db.root()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                cur.execute(f"USE {name}")
                for p in planned:
                    for statement in (*p.sql, *p.version_sql):
                        cur.execute(statement)
    finally:
        conn.close()
    with ctx.session() as s:
        server_id = s.scalar(sa.select(m.Server.id).where(m.Server.name == "db1"))
        for i, name in enumerate(names):
            t = m.Tenant(slug=f"inc-{i:04d}", organization=f"Inc {i}", server_id=server_id, database=name,
                         status="active", template=TEMPLATE, template_version=str(resolution.units[1].version))
            t.modules = [m.TenantModule(module=u.slug, version=str(u.version), position=k)
                         for k, u in enumerate(resolution.units) if u.kind == "module"]
            s.add(t)
    ctx.close()
    yield [f"inc-{i:04d}" for i in range(TENANTS)]
    drop_tenants(db)


def _scan(*extra: str) -> dict[str, dict]:
    r = run("drift", "--all", "--json", *extra)
    assert r.code in (0, 3), r.err  # 3: drift at or above --fail-on (none given: never)
    return {x["tenant"]: x for x in r.json()}


def _verdict(report: dict) -> tuple:
    return (report["severity"], report["score"], report["expected_hash"], report["actual_hash"],
            report["differences"])


def test_incremental_scan_equals_full_scan_with_hidden_changes_in_1_percent(fleet: list[str],
                                                                            mariadb: MariaDB) -> None:
    baseline = _scan("--full")
    assert all(x["captured"] and x["severity"] == "none" for x in baseline.values())
    quiet = _scan()
    assert not any(x["captured"] for x in quiet.values())  # nothing changed: nothing captured
    assert {t: _verdict(x) for t, x in quiet.items()} == {t: _verdict(x) for t, x in baseline.items()}

    seed = random.randrange(1 << 30)
    victims = random.Random(seed).sample(fleet, max(2, math.ceil(TENANTS / 100)))
    for i, slug in enumerate(victims):
        mariadb.execute(HIDDEN[i % len(HIDDEN)], database="tenant_inc_" + slug.split("-")[1])

    incremental = _scan()
    assert sorted(t for t, x in incremental.items() if x["captured"]) == sorted(victims), seed
    full = _scan("--full")
    assert {t: _verdict(x) for t, x in incremental.items()} == {t: _verdict(x) for t, x in full.items()}, seed
    assert sorted(t for t, x in full.items() if x["severity"] != "none") == sorted(victims), seed

    # the expectation changes without any schema change (an accepted difference): the
    # tenant is captured again and its verdict follows, in step with a full scan
    accepted = victims[0]
    r = run("drift", accepted, "--accept", "1", "--reason", "known and kept")
    assert r.code == 0, r.err
    after = _scan()
    assert [t for t, x in after.items() if x["captured"]] == [accepted]
    assert after[accepted]["severity"] == "none"
    assert {t: _verdict(x) for t, x in after.items()} == {t: _verdict(x) for t, x in _scan("--full").items()}


def test_full_goes_with_all() -> None:
    r = run("drift", "some-tenant", "--full")
    assert r.code == 2 and "--full goes with drift --all" in r.err and len(r.err.strip().splitlines()) == 1
