"""Nothing is lost, for real (issue 14): pinned backups that retention never removes,
restores that reconcile the landlord and have no gap, repairs that are all-or-restore,
and audit rows that carry their job's outcome. SQLite and MariaDB alike."""
from __future__ import annotations

import gzip
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from cli import run
from helpers import approved, tenant_engine, execute_sql
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m
from tenantops.engine.schema.capture import capture
from tenantops.engine.servers.adapters import adapter_for


def provision(slug: str, server: str, modules: list[str] | None = None) -> None:
    ctx = Context.open()
    approved(ctx, slug, template="community_group", modules=modules)
    ctx.close()
    r = run("provision", slug, "--server", server)
    assert r.code == 0, r.err


def execute(slug: str, *statements: str) -> None:
    execute_sql(slug, list(statements))


def state_of(slug: str) -> dict[str, Any]:
    """The tenant's whole schema (canonical capture) and every row of every table."""
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.connect() as conn:
        schema = capture(conn, None if conn.dialect.name == "sqlite" else conn.engine.url.database)
        rows = {}
        for table in sorted(sa.inspect(conn).get_table_names()):
            rows[table] = sorted(tuple(str(v) for v in r) for r in conn.execute(sa.text(f"SELECT * FROM {table}")))
    engine.dispose()
    ctx.close()
    return {"schema": schema, "rows": rows}


def tables_of(slug: str) -> set[str]:
    return set(state_of(slug)["rows"])


def backups_of(slug: str) -> list[dict[str, Any]]:
    r = run("backups", "list", slug, "--json")
    assert r.code == 0, r.err
    return r.json()


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def job_count() -> int:
    return len(run("jobs", "list", "--json").json())


def remove_social(slug: str) -> dict[str, Any]:
    """Add social_media with one row, then remove it (a destructive change)."""
    r = run("modules", "add", slug, "social_media")
    assert r.code == 0, r.err
    execute(slug, "INSERT INTO social_accounts (platform, handle) VALUES ('facebook', 'kept')")
    r = run("modules", "remove", slug, "social_media", "--confirm", slug)
    assert r.code == 0, r.err
    pinned = backups_of(slug)[0]
    assert pinned["reason"] == "modules remove social_media" and pinned["pinned"] is True
    return pinned


def test_pinned_backup_survives_refused_restores_and_later_changes(server: str, tenantops_env: Path) -> None:
    Path(str(tenantops_env.parent / "config.toml")).write_text("backup_retention = 2\n")
    provision("pin-org", server)
    pinned = remove_social("pin-org")
    add_backup = [b for b in backups_of("pin-org") if b["reason"] == "modules add social_media"]
    assert len(add_backup) == 1 and add_backup[0]["pinned"] is False

    # twelve refused or invalid restores: none takes, deletes or queues anything
    before, jobs_before = backups_of("pin-org"), job_count()
    files = {b["path"]: sha(b["path"]) for b in before}
    refused = [
        ("backups", "restore", "pin-org", "12345", "--confirm", "pin-org"),      # the mistyped id
        ("backups", "restore", "pin-org", "99999", "--confirm", "pin-org"),
        ("backups", "restore", "pin-org", str(pinned["id"])),                     # no --confirm
        ("backups", "restore", "pin-org", str(pinned["id"]), "--confirm", "pin"),
        ("backups", "restore", "pin-org", str(pinned["id"]), "--confirm", "PIN-ORG"),
        ("backups", "restore", "no-such", str(pinned["id"]), "--confirm", "no-such"),
        ("backups", "restore", "pin-org", "0", "--confirm", "pin-org"),
        ("backups", "restore", "pin-org", "-1", "--confirm", "pin-org"),
        ("backups", "unpin", "pin-org", str(pinned["id"])),                       # unpin without --confirm
        ("backups", "unpin", "pin-org", "12345", "--confirm", "pin-org"),
        ("backups", "unpin", "pin-org", str(add_backup[0]["id"]), "--confirm", "pin-org"),  # not pinned
        ("backups", "restore", "pin-org", "--confirm", "pin-org"),                # no id at all
        # other destructive commands refused for want of --confirm take no backup either
        ("modules", "remove", "pin-org", "membership_management"),
        ("rollback", "pin-org", "--batch", "1"),
    ]
    for argv in refused:
        r = run(*argv)
        assert r.code in (1, 2), (argv, r.code, r.err)
        assert "Traceback" not in r.err and r.out == "", argv
        assert backups_of("pin-org") == before, argv
    assert job_count() == jobs_before
    assert {p: sha(p) for p in files} == files

    # twelve later changes, each with its own backup: retention keeps 2 unpinned ones
    for i in range(6):
        r = run("modules", "add", "pin-org", "simple_donations")
        assert r.code == 0, r.err
        module = "simple_donations"
        r = run("modules", "remove", "pin-org", module, "--confirm", "pin-org")
        assert r.code == 0, r.err
    after = backups_of("pin-org")
    unpinned = [b for b in after if not b["pinned"]]
    assert len(unpinned) == 2                              # retention counted only these
    assert len([b for b in after if b["pinned"]]) == 1 + 6  # every removal's backup is kept
    kept = next(b for b in after if b["id"] == pinned["id"])
    assert kept["pinned"] is True and sha(kept["path"]) == pinned["checksum"]
    assert all(Path(b["path"]).exists() for b in after)

    # the table view shows the flag too
    table = run("backups", "list", "pin-org")
    assert table.code == 0 and "pinned" in table.out + table.err

    # unpinning needs --confirm, is audited, and then retention may count it
    r = run("backups", "unpin", "pin-org", str(pinned["id"]), "--confirm", "pin-org", "--json")
    assert r.code == 0, r.err
    assert r.json()["pinned"] is False
    audit = [a for a in run("audit", "--json").json() if a["action"] == "backups.unpin"]
    assert [a["outcome"] for a in audit][-1] == "ok" and "failed" in [a["outcome"] for a in audit]


def test_restoring_the_pre_removal_backup_reconciles_the_landlord(server: str) -> None:
    provision("rec-org", server)
    pinned = remove_social("rec-org")
    assert "social_accounts" not in tables_of("rec-org")
    assert "social_media" not in run("tenants", "show", "rec-org", "--json").json()["modules"]

    from tenantops.engine.tenants.backups import preview_restore

    ctx = Context.open()   # the backup's own revisions are read before anything runs
    assert "social_media" in preview_restore(ctx, slug="rec-org", backup_id=pinned["id"]).document["modules"]
    ctx.close()
    r = run("backups", "restore", "rec-org", str(pinned["id"]), "--confirm", "rec-org", "--json")
    assert r.code == 0, r.err
    result = r.json()
    assert result["reconciled"]["modules_added"] == ["social_media"]
    # the state it replaced is kept, pinned
    before_restore = next(b for b in backups_of("rec-org") if b["id"] == result["before"])
    assert before_restore["pinned"] is True and before_restore["reason"] == f"before restoring backup {pinned['id']}"

    rows = state_of("rec-org")["rows"]
    assert len(rows["social_accounts"]) == 1 and "kept" in rows["social_accounts"][0]
    shown = run("tenants", "show", "rec-org", "--json").json()
    assert "social_media" in shown["modules"]
    history = run("history", "rec-org", "--json").json()
    restored = [h for h in history if h["outcome"] == "restored" and h["batch"] == result["reconciled"]["batch"]]
    assert restored and {h["unit"] for h in restored} == {"social_media"} and {h["action"] for h in restored} == {"apply"}
    drift = run("drift", "rec-org", "--json")
    assert drift.code == 0, drift.err
    assert drift.json()["severity"] == "none"
    findings = run("doctor", "--json").json()["findings"]
    assert [f for f in findings if f["target"] == "rec-org"] == []

    # the module can be removed again after the restore: landlord and database agree
    r = run("modules", "remove", "rec-org", "social_media", "--confirm", "rec-org")
    assert r.code == 0, r.err
    assert "social_accounts" not in tables_of("rec-org")


def test_hand_made_mismatch_is_found_by_doctor_and_reconciled(server: str) -> None:
    provision("mis-org", server, modules=["membership_management"])
    ctx = Context.open()
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == "mis-org"))
        s.execute(sa.delete(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id,
                                                  m.TenantModule.module == "membership_management"))
    ctx.close()
    findings = [f for f in run("doctor", "--json").json()["findings"] if f["kind"] == "revision_mismatch"]
    assert len(findings) == 1
    finding = findings[0]
    assert finding["target"] == "mis-org" and "membership_management" in finding["detail"]
    assert finding["fix"].startswith("tenantops doctor --reconcile mis-org")

    r = run("doctor", "--reconcile", "mis-org", "--json")
    assert r.code == 0, r.err
    assert [f for f in r.json()["findings"] if f["kind"] == "revision_mismatch"] == []
    assert "membership_management" in run("tenants", "show", "mis-org", "--json").json()["modules"]
    assert run("drift", "mis-org", "--json").json()["severity"] == "none"


def test_backup_with_revisions_the_catalog_does_not_know_is_refused(server: str) -> None:
    provision("unk-org", server)
    ctx = Context.open()
    from tenantops.engine.tenants.backups import take_backup

    doc = take_backup(ctx, "unk-org", "manual")
    path = Path(doc["path"])
    if path.suffix == ".sqlite":
        conn = sqlite3.connect(path)
        conn.execute("INSERT INTO alembic_version VALUES ('zz_gone_0001')")
        conn.commit()
        conn.close()
    else:
        text = gzip.decompress(path.read_bytes()).decode()
        marker = "INSERT INTO `alembic_version` VALUES"
        assert marker in text
        text = text.replace(marker, marker + " ('zz_gone_0001'),")
        path.write_bytes(gzip.compress(text.encode()))
    with ctx.session() as s:
        s.get(m.Backup, doc["id"]).checksum = sha(str(path))
    ctx.close()
    before, jobs_before, state = backups_of("unk-org"), job_count(), state_of("unk-org")
    r = run("backups", "restore", "unk-org", str(doc["id"]), "--confirm", "unk-org")
    assert r.code == 1 and "zz_gone_0001" in r.err and "no longer knows" in r.err, r.err
    assert backups_of("unk-org") == before and job_count() == jobs_before
    assert state_of("unk-org") == state


def test_a_dropped_tenant_database_is_restored(server: str) -> None:
    provision("gone-org", server, modules=["social_media"])
    execute("gone-org", "INSERT INTO social_accounts (platform, handle) VALUES ('x', 'keep me')")
    ctx = Context.open()
    from tenantops.engine.tenants.backups import take_backup

    doc = take_backup(ctx, "gone-org", "manual")
    state = state_of("gone-org")
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == "gone-org"))
        adapter = adapter_for(s.get(m.Server, tenant.server_id))
        database = tenant.database
    adapter.drop_database(database)
    adapter.dispose()
    ctx.close()
    missing = [f for f in run("doctor", "--json").json()["findings"] if f["target"] == "gone-org"]
    assert [f["kind"] for f in missing] == ["missing_database"]

    r = run("backups", "restore", "gone-org", str(doc["id"]), "--confirm", "gone-org", "--json")
    assert r.code == 0, r.err
    assert r.json()["before"] is None                    # nothing to back up: no backup taken
    assert [b["id"] for b in backups_of("gone-org")] == [doc["id"]]
    assert state_of("gone-org") == state
    assert [f for f in run("doctor", "--json").json()["findings"] if f["target"] == "gone-org"] == []


def _make_repair_fail_midway(slug: str) -> None:
    """Drift the repair can only partly fix, which no pre-flight count foresees: two extra
    tables; the first is quarantined, the second's quarantine name is already taken by a
    hand-made table (quarantine tables are outside drift), so its move fails half-way."""
    ctx = Context.open()
    with ctx.session() as s:
        next_job = (s.scalar(sa.select(sa.func.max(m.Job.id))) or 0) + 1
    engine = tenant_engine(ctx, slug)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, note VARCHAR(20))"))
        conn.execute(sa.text("INSERT INTO scratch VALUES (1, 'a'), (2, 'b')"))
        conn.execute(sa.text("CREATE TABLE scratch2 (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO scratch2 VALUES (1)"))
        conn.execute(sa.text(f"CREATE TABLE _q_r{next_job}_scratch2 (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    ctx.close()


def test_failed_aggressive_repair_leaves_the_tenant_exactly_as_before(server: str) -> None:
    provision("rep-org", server)
    _make_repair_fail_midway("rep-org")
    plan = run("repair", "rep-org", "--strategy", "aggressive", "--dry-run", "--json").json()
    assert [(op["safe"], op["table"]) for op in plan["operations"]] == [(False, "scratch"), (False, "scratch2")]
    assert plan["preflight"] == [] and plan["refused"] is None
    before = state_of("rep-org")

    r = run("repair", "rep-org", "--strategy", "aggressive", "--confirm", "rep-org", "--json")
    assert r.code == 1 and "backup" in r.err and "was restored" in r.err, r.err
    assert "Traceback" not in r.err
    assert state_of("rep-org") == before                  # schema and every row, scratch included
    assert run("quarantine", "list", "rep-org", "--json").json() == []
    job = [j for j in run("jobs", "list", "--json").json() if j["kind"] == "repair"][0]
    assert job["status"] == "failed"
    steps = [(s["name"], s["status"]) for s in run("jobs", "show", str(job["id"]), "--json").json()["steps"]]
    assert ("repair", "failed") in steps and ("restore backup", "succeeded") in steps
    assert steps.index(("repair", "failed")) < steps.index(("restore backup", "succeeded"))
    backup = backups_of("rep-org")[0]
    assert backup["pinned"] is True and backup["reason"] == f"before repair (job {job['id']})"

    # the request's audit row carries the job and its failure
    audit = [a for a in run("audit", "--json").json() if a["action"] == "repair"]
    assert audit[-1]["job"] == job["id"] and audit[-1]["outcome"] == "failed" and "restored" in audit[-1]["error"]

    # retrying a destructive job needs the slug repeated
    r = run("jobs", "retry", str(job["id"]))
    assert r.code == 1 and "--confirm rep-org" in r.err, r.err
    assert job_count() == len([j for j in run("jobs", "list", "--json").json()])
    retried = [a for a in run("audit", "--json").json() if a["action"] == "jobs.retry"]
    assert [a["outcome"] for a in retried] == ["failed"]
    jobs_before = job_count()
    r = run("jobs", "retry", str(job["id"]), "--confirm", "rep-org", "--json")
    assert r.code == 0, r.err
    assert job_count() == jobs_before + 1


def test_a_succeeding_queued_operation_is_audited_with_its_job(server: str) -> None:
    provision("aud-org", server)
    r = run("modules", "add", "aud-org", "social_media")
    assert r.code == 0, r.err
    entry = [a for a in run("audit", "--json").json() if a["action"] == "modules.add"][-1]
    job = [j for j in run("jobs", "list", "--json").json() if j["kind"] == "modules.add"][0]
    assert entry["job"] == job["id"] and entry["outcome"] == "ok" and entry["error"] is None


def test_module_add_remove_and_rollback_failing_midway_restore_exactly(server: str) -> None:
    """modules add, modules remove and rollback go through the guarded change: each one
    made to fail part-way (by a hand-made table in its way) restores its backup, and the
    tenant's schema, rows and landlord modules are exactly as before."""
    provision("mid-org", server, modules=["membership_management"])
    # add: social_0001 creates social_accounts, then fails on a hand-made social_posts
    execute("mid-org", "CREATE TABLE social_posts (id INTEGER PRIMARY KEY, note VARCHAR(20))",
            "INSERT INTO social_posts VALUES (1, 'mine')")
    before, modules = state_of("mid-org"), run("tenants", "show", "mid-org", "--json").json()["modules"]
    r = run("modules", "add", "mid-org", "social_media")
    assert r.code == 1 and "was restored" in r.err, r.err
    assert state_of("mid-org") == before
    assert run("tenants", "show", "mid-org", "--json").json()["modules"] == modules
    execute("mid-org", "DROP TABLE social_posts")

    r = run("modules", "add", "mid-org", "social_media")
    assert r.code == 0, r.err
    execute("mid-org", "INSERT INTO social_accounts (id, platform, handle) VALUES (7, 'x', 'mine')",
            # a hand-made table referencing social_accounts: dropping that table fails
            f"CREATE TABLE my_refs (id INTEGER PRIMARY KEY, account_id {'INTEGER' if server == 'local' else 'BIGINT'}, "
            "FOREIGN KEY (account_id) REFERENCES social_accounts (id))",
            "INSERT INTO my_refs VALUES (1, 7)")
    history = run("history", "mid-org", "--json").json()
    added = max(h["batch"] for h in history if h["unit"] == "social_media" and h["action"] == "apply")
    before, modules = state_of("mid-org"), run("tenants", "show", "mid-org", "--json").json()["modules"]
    for argv in (("modules", "remove", "mid-org", "social_media", "--confirm", "mid-org"),
                 ("rollback", "mid-org", "--batch", str(added - 1), "--confirm", "mid-org")):
        r = run(*argv)
        assert r.code == 1 and "was restored" in r.err, (argv, r.err)
        assert state_of("mid-org") == before, argv
        assert run("tenants", "show", "mid-org", "--json").json()["modules"] == modules
        job = run("jobs", "list", "--json").json()[0]
        steps = [(s["name"], s["status"]) for s in run("jobs", "show", str(job["id"]), "--json").json()["steps"]]
        assert steps[0] == ("backup", "succeeded") and ("restore backup", "succeeded") in steps
        assert backups_of("mid-org")[0]["pinned"] is True
    assert [f for f in run("doctor", "--json").json()["findings"] if f["target"] == "mid-org"] == []


@pytest.mark.mariadb
def test_a_dump_that_names_its_database_loads_into_staging(mariadb, tenantops_env: Path) -> None:
    """Backups taken before restores used staging were dumped with ``--databases`` (they
    CREATE and USE the tenant's database): they still restore through the staging swap,
    and the database they name is never written to directly."""
    import subprocess

    from tenantops.engine.tenants import backups

    server = "db1"
    ctx = Context.open()
    from tenantops.engine.servers import registry as servers

    servers.add_server(ctx, name=server, url=mariadb.url, capacity=100, password=mariadb.admin_password)
    ctx.close()
    try:
        provision("old-org", server, modules=["social_media"])
        execute("old-org", "INSERT INTO social_accounts (platform, handle) VALUES ('x', 'old')")
        state = state_of("old-org")
        ctx = Context.open()
        with ctx.session() as s:
            tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == "old-org"))
            adapter = adapter_for(s.get(m.Server, tenant.server_id))
            database, tenant_id = tenant.database, tenant.id
        path = tenantops_env / "old-format.sql.gz"
        with backups._options_pipe(adapter) as (option, fd):
            dumped = subprocess.run(["mariadb-dump", option, "--single-transaction", "--databases", database],
                                    capture_output=True, check=True, pass_fds=(fd,)).stdout
        assert b"CREATE DATABASE" in dumped and b"USE `" in dumped
        path.write_bytes(gzip.compress(dumped))
        with ctx.session() as s:
            row = m.Backup(tenant_id=tenant_id, reason="old format", path=str(path), size_bytes=path.stat().st_size,
                           checksum=sha(str(path)), created_by="alice")
            s.add(row)
            s.flush()
            backup_id = row.id
        ctx.close()
        execute("old-org", "DELETE FROM social_accounts", "CREATE TABLE later (id INTEGER PRIMARY KEY)")
        r = run("backups", "restore", "old-org", str(backup_id), "--confirm", "old-org", "--json")
        assert r.code == 0, r.err
        kept = r.json()["kept_as"]
        assert state_of("old-org") == state
        # the replaced tables were moved aside, not dropped
        assert ("later",) in mariadb.execute(f"SHOW TABLES FROM `{kept}`")
        adapter.dispose()
    finally:
        from conftest import drop_tenants

        drop_tenants(mariadb)


def test_tenant_screen_marks_pinned_backups(server: str) -> None:
    """The console's tenant detail shows which backups are pinned (from the same read
    model as `tenants show`)."""
    from tenantops.console.screens.tenant import render_side
    from tenantops.engine import views
    from tenantops.engine.landlord.models import utcnow

    provision("tui-org", server)
    remove_social("tui-org")
    ctx = Context.open()
    detail = views.tenant_detail(ctx, "tui-org")
    ctx.close()
    text = render_side(detail, utcnow())
    lines = [line for line in text.splitlines() if line.startswith(" #")]
    assert any("modules remove social_media [b]pinned[/]" in line for line in lines), lines
    assert any("modules add social_media [$text-muted]" in line for line in lines), lines


def test_landlord_upgrade_keeps_existing_backups_unpinned(tenantops_env: Path) -> None:
    """A store written before pinning (revision 0001) upgrades in place: its backups are
    unpinned (retention treats them as before) and its audit rows name no job."""
    from alembic import command

    from tenantops.engine.landlord import store

    engine = store.open_engine(None, tenantops_env)
    with engine.begin() as conn:
        command.upgrade(store._alembic_config(conn), "0001")
        conn.execute(sa.text("INSERT INTO tenants (slug, organization, status, template, created_at) "
                             "VALUES ('old', 'Old', 'active', 'community_group', '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO backups (tenant_id, reason, path, size_bytes, checksum, created_by, "
                             "created_at) VALUES (1, 'old', '/nowhere', 1, 'x', 'alice', '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO audit_log (at, operator, action, target, params, outcome) "
                             "VALUES ('2026-01-01', 'alice', 'old', 'old', '{}', 'ok')"))
    engine.dispose()
    assert store.schema_state(store.open_engine(None, tenantops_env))[0] == "0001"
    ctx = Context.open()
    current, head = store.schema_state(ctx.engine)
    assert current == head and current != "0001"  # upgraded to the newest revision
    ctx.close()
    assert [(b["id"], b["pinned"]) for b in backups_of("old")] == [(1, False)]
    assert [a["job"] for a in run("audit", "--json").json() if a["action"] == "old"] == [None]
