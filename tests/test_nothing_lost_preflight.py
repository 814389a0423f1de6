"""Pre-flight data checks of a repair (issue 14): before anything runs, the rows a
narrowing, a NOT NULL or a UNIQUE index would not carry over are counted; `--dry-run`
shows the counts per operation; the repair then either moves the offending values to
quarantine first and succeeds, or is refused up front with the count and changes
nothing (no backup, no job, schema and rows as before). SQLite and MariaDB."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from cli import run
from helpers import tenant_engine
from test_nothing_lost import backups_of, job_count, provision, state_of
from tenantops.engine.context import Context

LONG = "Coordinator of the district committee " * 6   # 228 characters: more than VARCHAR(120)


def _alter(slug: str, table: str, column: str, **kwargs: object) -> None:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.begin() as conn:
        with Operations(MigrationContext.configure(conn)).batch_alter_table(table) as batch:
            batch.alter_column(column, **kwargs)
    engine.dispose()
    ctx.close()


def _sql(slug: str, *statements: str) -> None:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()
    ctx.close()


def _scratch(slug: str) -> None:
    _sql(slug, "CREATE TABLE scratch (id INTEGER PRIMARY KEY, note VARCHAR(20))",
         "INSERT INTO scratch VALUES (1, 'a'), (2, 'b')")


def test_too_long_value_and_extra_table_go_to_quarantine_and_the_repair_succeeds(server: str) -> None:
    provision("fit-org", server)
    _alter("fit-org", "roles", "display_name", type_=sa.String(300), existing_type=sa.String(120),
           existing_nullable=False)
    _sql("fit-org", f"INSERT INTO roles (name, display_name) VALUES ('long', '{LONG}')")
    _scratch("fit-org")

    r = run("repair", "fit-org", "--strategy", "aggressive", "--dry-run", "--json")
    assert r.code == 0, r.err
    plan = r.json()
    assert plan["refused"] is None
    assert [(c["table"], c["name"], c["check"], c["rows"], c["action"]) for c in plan["preflight"]] == \
        [("roles", "display_name", "too_long", 1, "quarantine")]
    narrowing = next(op for op in plan["operations"] if op["table"] == "roles")
    assert [c["rows"] for c in narrowing["preflight"]] == [1]
    assert all(op["preflight"] == [] for op in plan["operations"] if op["table"] == "scratch")
    human = run("repair", "fit-org", "--strategy", "aggressive", "--dry-run")
    assert human.code == 0 and "pre-flight" in human.out + human.err and "1 value(s) of roles.display_name" in \
        human.out + human.err

    r = run("repair", "fit-org", "--strategy", "aggressive", "--confirm", "fit-org", "--json")
    assert r.code == 0, r.err
    assert r.json()["severity_after"] == "none"
    items = run("quarantine", "list", "fit-org", "--json").json()
    assert sorted((q["kind"], q["table"]) for q in items) == [("table", "scratch"), ("values", "roles")]
    rows = state_of("fit-org")["rows"]
    values = next(q for q in items if q["kind"] == "values")["quarantined_as"]
    assert any(LONG in row for row in rows[values])                     # the original, whole
    assert any(LONG[:120] in row and LONG not in row for row in rows["roles"])   # the column holds it cut to fit
    assert len(rows[next(q for q in items if q["kind"] == "table")["quarantined_as"]]) == 2
    assert run("drift", "fit-org", "--json").json()["severity"] == "none"


def test_rows_that_cannot_fit_refuse_the_repair_up_front(server: str) -> None:
    provision("ref-org", server)
    ctx = Context.open()
    engine = tenant_engine(ctx, "ref-org")
    with engine.begin() as conn:
        with Operations(MigrationContext.configure(conn)).batch_alter_table("roles") as batch:
            batch.drop_constraint("uq_roles_name", type_="unique")
        conn.execute(sa.text("INSERT INTO roles (name, display_name) VALUES ('dup', 'a'), ('dup', 'b')"))
    engine.dispose()
    ctx.close()
    _alter("ref-org", "permissions", "group_name", nullable=True, existing_type=sa.String(64))
    _sql("ref-org", "INSERT INTO permissions (name, group_name) VALUES ('orphan.perm', NULL)")
    _scratch("ref-org")

    plan = run("repair", "ref-org", "--strategy", "aggressive", "--dry-run", "--json").json()
    assert sorted((c["table"], c["check"], c["rows"], c["action"]) for c in plan["preflight"]) == \
        [("permissions", "null", 1, "refuse"), ("roles", "duplicates", 2, "refuse")]
    assert "refused" in plan["refused"] and "2 row(s) of roles share their (name)" in plan["refused"]

    before, backups_before, jobs_before = state_of("ref-org"), backups_of("ref-org"), job_count()
    for strategy in ("aggressive", "conservative"):
        r = run("repair", "ref-org", "--strategy", strategy, "--confirm", "ref-org")
        assert r.code == 1 and "Traceback" not in r.err, r.err
        assert len(r.err.strip().splitlines()) == 1, r.err
        assert "2 row(s) of roles share their (name)" in r.err and "nothing was changed" in r.err
        assert state_of("ref-org") == before                # scratch still in place, nothing half-done
        assert backups_of("ref-org") == backups_before and job_count() == jobs_before
    assert run("quarantine", "list", "ref-org", "--json").json() == []
    audit = [a for a in run("audit", "--json").json() if a["action"] == "repair"]
    assert [a["outcome"] for a in audit] == ["failed", "failed"]


def test_rows_that_stop_fitting_after_the_request_refuse_the_job_before_its_backup(server: str) -> None:
    """The job counts again in its `plan` step: duplicates inserted between the request
    and the run fail the job there, before the backup and before any change."""
    from tenantops.engine.health import repair as repairs
    from tenantops.engine.jobs import queue as jobs
    from tenantops.engine.jobs import worker

    provision("late-org", server)
    ctx = Context.open()
    engine = tenant_engine(ctx, "late-org")
    with engine.begin() as conn:
        with Operations(MigrationContext.configure(conn)).batch_alter_table("roles") as batch:
            batch.drop_constraint("uq_roles_name", type_="unique")
    engine.dispose()
    _scratch("late-org")
    job_id = repairs.request_repair(ctx, slug="late-org", strategy="aggressive", confirm="late-org").job
    assert job_id is not None
    _sql("late-org", "INSERT INTO roles (name, display_name) VALUES ('dup', 'a'), ('dup', 'b')")
    before = state_of("late-org")
    assert worker.work(ctx, job_id=job_id) == 1
    job = jobs.get_job(ctx, job_id)
    ctx.close()
    assert job["status"] == "failed" and "2 row(s) of roles share their (name)" in job["error"], job["error"]
    assert [(s["name"], s["status"]) for s in job["steps"]] == [("plan", "failed")]
    assert state_of("late-org") == before and backups_of("late-org") == []
    assert run("locks", "list", "--json").json() == []
