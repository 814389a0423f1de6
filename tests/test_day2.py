"""Day-2 migrations on live tenants: modules on and off, custom migrations with four
eyes, rollback by batch, catalog sync with a canary; every change backed up first."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import run
from helpers import CUSTOM_NICKNAME, approved, copy_catalog, execute_sql, switch_operator, tenant_engine, use_catalog
from tenantops.engine.access import operators
from tenantops.engine.context import Context


def provision(slug: str, server: str, template: str = "community_group", modules: list[str] | None = None) -> None:
    ctx = Context.open()
    approved(ctx, slug, template=template, modules=modules)
    ctx.close()
    r = run("provision", slug, "--server", server)
    assert r.code == 0, r.err


def count_rows(slug: str, *tables: str) -> dict[str, int]:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}
    engine.dispose()
    ctx.close()
    return counts


def tables_of(slug: str) -> set[str]:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    ctx.close()
    return names


def add_rows(slug: str, statements: list[str]) -> None:
    execute_sql(slug, statements)


USERS = ["INSERT INTO tenant_users (uuid, first_name, last_name, email, password_hash, tenant_id, status) "
         f"VALUES ('00000000-0000-0000-0000-00000000000{i}', 'U{i}', 'L', 'u{i}@x.example.org', 'x', 1, 'active')"
         for i in range(3)]


def test_module_add_with_dependency_then_guarded_remove(server: str) -> None:
    provision("cg-one", server)
    add_rows("cg-one", USERS)
    before = count_rows("cg-one", "tenant_users", "roles")
    r = run("modules", "add", "cg-one", "social_media", "--dry-run", "--json")
    assert r.code == 0, r.err
    plan = r.json()
    assert plan["installs"] == ["membership_management", "social_media"]
    assert "dependency of social_media" in plan["auto_added"]["membership_management"]
    assert "social_media" not in run("tenants", "show", "cg-one", "--json").json()["modules"]

    r = run("modules", "add", "cg-one", "social_media")
    assert r.code == 0, r.err
    doc = run("tenants", "show", "cg-one", "--json").json()
    assert doc["modules"][-2:] == ["membership_management", "social_media"]
    history = [h for h in run("history", "cg-one", "--json").json() if h["batch"] == 2]
    units = [h["unit"] for h in history]
    assert units.index("membership_management") < units.index("social_media")
    assert {"members", "social_accounts"} <= tables_of("cg-one")
    assert count_rows("cg-one", "tenant_users", "roles") == before

    r = run("modules", "remove", "cg-one", "membership_management", "--confirm", "cg-one")
    assert r.code == 1 and "social_media depends on it" in r.err
    r = run("modules", "remove", "cg-one", "social_media")
    assert r.code == 1 and "--confirm cg-one" in r.err
    plan = run("modules", "remove", "cg-one", "social_media", "--dry-run", "--json").json()
    assert any("DROP TABLE social_accounts" in sql for rev in plan["revisions"] for sql in rev["sql"])
    assert "social_accounts" in tables_of("cg-one")

    add_rows("cg-one", ["INSERT INTO social_accounts (platform, handle) VALUES ('facebook', 'cgone')"])
    r = run("modules", "remove", "cg-one", "social_media", "--confirm", "cg-one")
    assert r.code == 0, r.err
    assert "social_accounts" not in tables_of("cg-one")
    assert "social_media" not in run("tenants", "show", "cg-one", "--json").json()["modules"]
    assert count_rows("cg-one", "tenant_users") == {"tenant_users": before["tenant_users"]}

    backups = run("backups", "list", "cg-one", "--json").json()
    newest = backups[0]
    assert newest["reason"] == "modules remove social_media" and newest["size_bytes"] > 0
    r = run("backups", "restore", "cg-one", str(newest["id"]))
    assert r.code == 1 and "--confirm cg-one" in r.err
    r = run("backups", "restore", "cg-one", str(newest["id"]), "--confirm", "cg-one")
    assert r.code == 0, r.err
    assert count_rows("cg-one", "social_accounts") == {"social_accounts": 1}


CUSTOM_OK = CUSTOM_NICKNAME

CUSTOM_HALF = '''
"""Two statements; the second one is broken."""
from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table("ward_offices", sa.Column("id", sa.Integer, primary_key=True), sa.Column("ward", sa.String(32)))
    op.execute("INSERT INTO no_such_table_at_all VALUES (1)")


def downgrade():
    op.drop_table("ward_offices")
'''


def _as(user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    switch_operator(monkeypatch, user)


def test_custom_migrations_four_eyes_failure_restore_and_rollback(server: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    provision("ppn-c", server, template="political_party_nepal")
    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="dba")
    ctx.close()
    add_rows("ppn-c", USERS)
    before_tables, before_rows = tables_of("ppn-c"), count_rows("ppn-c", "tenant_users", "districts")

    bad = tmp_path / "0001_broken.py"
    bad.write_text("from alembic import op\n\n\ndef upgrade():\n    op.execute(\"SELECT 1\")\n")
    r = run("custom", "submit", "ppn-c", str(bad))
    assert r.code == 1 and "has no downgrade() function" in r.err
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(CUSTOM_OK.replace('touches = ["members"]\n', ""))
    r = run("custom", "submit", "ppn-c", str(sneaky))
    assert r.code == 1 and "touches table members owned by unit membership_management" in r.err

    half = tmp_path / "ward_offices.py"
    half.write_text(CUSTOM_HALF)
    assert run("custom", "submit", "ppn-c", str(half)).code == 0
    r = run("custom", "approve", "ppn-c", "ward_offices")
    assert r.code == 1 and "another dba must approve it" in r.err
    _as("bob", monkeypatch)
    r = run("custom", "approve", "ppn-c", "ward_offices")  # the review ran it: it fails half-way
    assert r.code == 1 and "TO302" in r.err and "no_such_table_at_all" in r.err
    assert run("custom", "approve", "ppn-c", "ward_offices", "--allow-unsafe").code == 0
    r = run("custom", "apply", "ppn-c", "ward_offices")
    assert r.code == 1 and "was restored" in r.err
    assert tables_of("ppn-c") == before_tables
    assert count_rows("ppn-c", "tenant_users", "districts") == before_rows
    listed = {c["name"]: c for c in run("custom", "list", "ppn-c", "--json").json()}
    assert listed["ward_offices"]["status"] == "failed"
    ctx = Context.open()
    from tenantops.engine.jobs import queue as jobs

    steps = [s["name"] for s in jobs.get_job(ctx, jobs.list_jobs(ctx)[0]["id"])["steps"]]
    ctx.close()
    assert steps[0] == "backup" and "restore backup" in steps

    # a good one, approved by the other dba, applied, then rolled back by batch
    good = tmp_path / "nickname.py"
    good.write_text(CUSTOM_OK)
    assert run("custom", "submit", "ppn-c", str(good)).code == 0
    _as("alice", monkeypatch)
    assert run("custom", "approve", "ppn-c", "nickname").code == 0
    r = run("custom", "apply", "ppn-c", "nickname")
    assert r.code == 0, r.err
    assert run("tenants", "show", "ppn-c", "--json").json()["migrations"]["custom"] == 1
    history = run("history", "ppn-c", "--json").json()
    last_batch = max(h["batch"] for h in history)
    r = run("rollback", "ppn-c", "--batch", str(last_batch - 1), "--dry-run", "--json")
    assert [x["unit"] for x in r.json()["revisions"]] == ["custom_ppn_c"]
    assert "nickname" in " ".join(r.json()["revisions"][0]["sql"])  # the exact SQL the rollback runs
    r = run("rollback", "ppn-c", "--batch", str(last_batch - 1))
    assert r.code == 1 and "--confirm ppn-c" in r.err
    r = run("rollback", "ppn-c", "--batch", str(last_batch - 1), "--confirm", "ppn-c")
    assert r.code == 0, r.err
    assert run("tenants", "show", "ppn-c", "--json").json()["migrations"]["custom"] == 0
    statuses = {c["name"]: c["status"] for c in run("custom", "list", "ppn-c", "--json").json()}
    assert statuses["nickname"] == "rolled_back"
    assert count_rows("ppn-c", "tenant_users") == {"tenant_users": before_rows["tenant_users"]}


NEW_REVISION = '''"""Events get a capacity."""
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


def test_sync_with_canary_stops_at_first_failure(server: str, tmp_path: Path) -> None:
    for slug in ("sync-a", "sync-b", "sync-c"):
        provision(slug, server)
        add_rows(slug, USERS)
    catalog = copy_catalog(tmp_path)
    (catalog / "modules/event_management/versions/events_0003_capacity.py").write_text(NEW_REVISION)
    use_catalog(Path(os.environ["TENANTOPS_CONFIG"]), catalog)
    # someone already added the column by hand on sync-b: its upgrade will fail
    add_rows("sync-b", ["ALTER TABLE events ADD COLUMN venue_capacity INTEGER"])

    r = run("sync", "--all", "--dry-run", "--json")
    assert r.code == 0, r.err
    assert {t["tenant"]: [p["revision"] for p in t["pending"]] for t in r.json()["tenants"]} == {
        "sync-a": ["events_0003"], "sync-b": ["events_0003"], "sync-c": ["events_0003"]}

    r = run("sync", "--all", "--canary", "1", "--json")
    assert r.code == 1
    report = {t["tenant"]: t for t in r.json()["tenants"]}
    assert report["sync-a"]["outcome"] == "upgraded"
    assert report["sync-a"]["versions"]["event_management"] == "events_0003"
    assert report["sync-b"]["outcome"] == "failed" and "was restored" in report["sync-b"]["error"]
    assert report["sync-c"]["outcome"] == "untouched"
    assert report["sync-c"]["versions"]["event_management"] == "events_0002"
    assert r.json()["stopped"] == "sync-b"
    for slug in ("sync-a", "sync-b", "sync-c"):
        assert count_rows(slug, "tenant_users") == {"tenant_users": 4}  # the first admin + 3
    r = run("sync", "sync-c", "--json")
    assert r.code == 0 and r.json()["tenants"][0]["outcome"] == "upgraded"
    r = run("sync", "sync-c", "--json")
    assert r.json()["tenants"][0]["outcome"] == "up-to-date"


def test_edited_applied_revision_is_found_by_doctor_and_blocks_sync(server: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = copy_catalog(tmp_path)
    use_catalog(Path(os.environ["TENANTOPS_CONFIG"]), catalog)
    provision("edited", server)
    applied = catalog / "templates/community_group/versions/cg_0001_projects_notices.py"
    applied.write_text(applied.read_text() + "\n# edited after it was applied\n")
    (catalog / "modules/event_management/versions/events_0003_capacity.py").write_text(NEW_REVISION)

    r = run("doctor", "--json")
    assert r.code == 1
    edited = [f for f in r.json()["findings"] if f["kind"] == "edited_migration"]
    assert [(f["target"], "cg_0001" in f["detail"]) for f in edited] == [("edited", True)]
    assert "tenantops doctor --acknowledge edited" in edited[0]["fix"]
    r = run("sync", "edited", "--json")
    assert r.code == 1 and r.json()["tenants"][0]["outcome"] == "blocked"

    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="admin")
    ctx.close()
    switch_operator(monkeypatch, "bob")
    assert run("doctor", "--acknowledge", "edited").code == 1  # a dba's call, not an admin's
    switch_operator(monkeypatch, "alice")
    r = run("doctor", "--acknowledge", "edited", "--json")
    assert not [f for f in r.json()["findings"] if f["kind"] == "edited_migration"]
    assert any(e["action"] == "doctor.acknowledge" and e["outcome"] == "ok" for e in run("audit", "--json").json())
    r = run("sync", "edited", "--json")
    assert r.code == 0 and r.json()["tenants"][0]["outcome"] == "upgraded"


def test_repair_is_refused_while_a_sync_holds_the_tenant(server: str) -> None:
    """One lock per tenant: a repair (or a module add) while a sync job holds it is refused
    by the engine, naming the holder, and changes nothing."""
    from tenantops.engine.jobs import queue as jobs
    from tenantops.engine.health import repair as repairs
    from tenantops.engine.errors import LockHeld

    provision("locked", server)
    add_rows("locked", ["CREATE INDEX ix_notices_title ON notices (title)"])
    ctx = Context.open()
    job_id = jobs.enqueue(ctx, "sync", "locked", {}, lock_operation="sync")  # queued: holds the lock
    with pytest.raises(LockHeld, match=f"locked by job {job_id}"):
        repairs.request_repair(ctx, slug="locked", strategy="aggressive", confirm="locked")
    r = run("modules", "add", "locked", "social_media")
    assert r.code == 1 and f"locked by job {job_id}" in r.err
    assert [j["id"] for j in jobs.list_jobs(ctx)][0] == job_id  # nothing else was queued
    assert run("drift", "locked", "--json").json()["severity"] == "low"  # untouched
    ctx.close()
