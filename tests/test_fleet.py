"""Fleet scale on three private MariaDB servers: placement with capacity and drain,
fleet drift scans across servers, a server dying mid-scan, fingerprint clusters."""
from __future__ import annotations

import pytest

from cli import run
from conftest import drop_tenants
from helpers import approved, tenant_engine
from mariadb import MariaDB, start_mariadb
from tenantops.engine.health import drift
from tenantops.engine.servers import registry as servers
from tenantops.engine.context import Context

pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def three(mariadb: MariaDB):
    """The session server plus two more: a pool for placement."""
    extra = [start_mariadb(), start_mariadb()]
    yield [mariadb, *extra]
    for server in extra:
        server.cleanup()


@pytest.fixture
def fleet(three: list[MariaDB]) -> list[MariaDB]:
    ctx = Context.open()
    for i, db in enumerate(three, 1):
        servers.add_server(ctx, name=f"db{i}", url=db.url, capacity=2, password=db.admin_password)
    ctx.close()
    yield three
    for db in three:
        if db.process is None or db.process.poll() is not None:
            db.restart()
        drop_tenants(db)


def provision(slug: str, server: str | None = None) -> dict:
    ctx = Context.open()
    approved(ctx, slug, template="community_group")
    ctx.close()
    args = ["provision", slug, "--json"] + (["--server", server] if server else [])
    return run(*args)


def test_placement_spreads_by_load_and_respects_capacity_and_drain(fleet) -> None:
    assert run("servers", "drain", "db3").code == 0
    placed = []
    for i in range(4):
        r = provision(f"place-{i}")
        assert r.code == 0, r.err
        placed.append(r.json()["server"])
    assert sorted(placed) == ["db1", "db1", "db2", "db2"]  # least-loaded first, db3 drains
    r = provision("place-x")
    assert r.code == 1 and "no server can take a new tenant" in r.err
    r = provision("place-y", server="db3")
    assert r.code == 1 and "db3 is draining" in r.err
    assert run("servers", "undrain", "db3").code == 0
    r = provision("place-z")
    assert r.code == 0 and r.json()["server"] == "db3"
    listed = {s["name"]: s["tenants"] for s in run("servers", "list", "--json").json()}
    assert listed == {"local": 0, "db1": 2, "db2": 2, "db3": 1}


def _inject(slug: str, statement: str) -> None:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()
    ctx.close()


def test_fleet_scan_across_servers_finds_each_injected_difference(fleet) -> None:
    for i in range(6):
        assert provision(f"scan-{i}").code == 0
    on = {t["slug"]: t["server"] for t in run("tenants", "list", "--json").json()}
    victims = {}
    for server in ("db1", "db2", "db3"):
        slug = sorted(s for s, sv in on.items() if sv == server)[0]
        victims[slug] = server
        _inject(slug, f"CREATE INDEX ix_drift_{server} ON notices (title)")
    r = run("drift", "--all", "--json", "--clusters")
    assert r.code == 0, r.err
    doc = r.json()
    drifted = {x["tenant"]: x for x in doc["reports"] if x["severity"] != "none"}
    assert set(drifted) == set(victims)
    for slug, server in victims.items():
        assert [d["name"] for d in drifted[slug]["differences"]] == [f"ix_drift_{server}"]
        assert drifted[slug]["server"] == server
    sizes = sorted(len(c["tenants"]) for c in doc["clusters"])
    assert sizes == [1, 1, 1, 3]
    biggest = max(doc["clusters"], key=lambda c: len(c["tenants"]))
    assert biggest["summary"] == "3 identical to expected" and biggest["differences"] == []


def test_server_dying_mid_scan_reports_its_tenants_and_finishes_the_rest(fleet) -> None:
    for i in range(6):
        assert provision(f"dead-{i}").code == 0
    on = {t["slug"]: t["server"] for t in run("tenants", "list", "--json").json()}
    victim = fleet[1]  # db2

    def progress(message: str) -> None:
        if message.startswith("db1:"):  # db1 is being scanned: db2 dies now
            victim.kill()

    ctx = Context.open()
    result = drift.check_all(ctx, progress=progress)
    ctx.close()
    by_tenant = {r["tenant"]: r for r in result["reports"]}
    assert set(by_tenant) == set(on)
    for slug, server in on.items():
        if server == "db2":
            # not checked: the severity stays within the contract's enum (CLI.md, wave 2)
            report = by_tenant[slug]
            assert (report["status"], report["checked"], report["severity"]) == ("unreachable", False, "none")
            assert "server db2 is unreachable" in report["error"]
        else:
            assert by_tenant[slug]["severity"] == "none"
    victim.restart()
    r = run("drift", "--all", "--json")
    assert {x["severity"] for x in r.json()} == {"none"}


def test_one_repair_plan_per_cluster(fleet) -> None:
    for i in range(3):
        assert provision(f"clu-{i}").code == 0
    for slug in ("clu-0", "clu-2"):
        _inject(slug, "DROP INDEX ix_notices_is_pinned_published_at ON notices")
    doc = run("drift", "--all", "--json", "--clusters").json()
    cluster = next(c for c in doc["clusters"] if c["differences"])
    assert sorted(cluster["tenants"]) == ["clu-0", "clu-2"]
    assert "missing index ix_notices_is_pinned_published_at on notices" in cluster["summary"]
    r = run("repair", "--cluster", cluster["hash"][:12], "--dry-run", "--json")
    assert r.code == 0, r.err
    plan = r.json()
    assert plan["tenants"] == ["clu-0", "clu-2"]  # one plan, reviewed once for the cluster
    assert [op["name"] for op in plan["operations"]] == ["ix_notices_is_pinned_published_at"]
    r = run("repair", "--cluster", cluster["hash"][:12], "--json")
    assert r.code == 0, r.err
    assert [(x["tenant"], x["status"], x["severity_after"]) for x in r.json()["results"]] == [
        ("clu-0", "succeeded", "none"), ("clu-2", "succeeded", "none")]
    assert {x["severity"] for x in run("drift", "--all", "--json").json()} == {"none"}


def test_provision_all_approved_fans_out_over_servers(fleet) -> None:
    ctx = Context.open()
    for i in range(5):
        approved(ctx, f"bulk-{i}", template="community_group")
    ctx.close()
    r = run("provision", "--all-approved", "--json")
    assert r.code == 0, r.err
    assert [(t["tenant"], t["status"]) for t in r.json()["tenants"]] == [(f"bulk-{i}", "succeeded") for i in range(5)]
    placed = sorted(t["server"] for t in run("tenants", "list", "--json").json())
    assert placed == ["db1", "db1", "db2", "db2", "db3"]
