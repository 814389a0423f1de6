"""Applications and the provisioning pipeline, end to end through the CLI and real
worker processes, on SQLite and MariaDB."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import run
from helpers import approved, copy_catalog, switch_operator, tenant_engine, use_catalog
from tenantops.engine import secrets
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.tenants import provision as provisioner
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m

NEPAL_TABLES = {"tenant_users", "roles", "provinces", "districts", "political_committees", "members",
                "financial_reports", "donation_records", "member_registrations", "election_expenditures",
                "audit_trails", "citizen_validations", "election_commission_reports"}


def test_submit_approve_provision_show(server: str, dialect: str, mariadb_or_none) -> None:
    r = run("applications", "submit", "--org", "Nepali Congress", "--slug", "nc-ktm", "--email",
            "sita@nc.example.org", "--template", "political_party_nepal", "--modules", "election_campaign",
            "--contact", "Sita Sharma", "--json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "pending"
    assert run("applications", "approve", "nc-ktm", "--notes", "documents verified").code == 0
    r = run("provision", "nc-ktm", "--server", server, "--json")
    assert r.code == 0, r.err
    assert "setup link" in r.err  # shown once to the operator
    doc = run("tenants", "show", "nc-ktm", "--json").json()
    assert doc["status"] == "active" and doc["server"] == server
    assert doc["template"]["slug"] == "political_party_nepal" and doc["template"]["version"]
    assert set(doc["modules"]) == {"membership_management", "financial_tracking", "election_campaign"}
    assert doc["migrations"]["basic"] == 4 and doc["migrations"]["template"] == 4
    assert doc["migrations"]["module"] == 6 and doc["migrations"]["custom"] == 0
    assert doc["admin_user"] == {"email": "sita@nc.example.org", "must_change_password": True}
    assert doc["schema_hash"]
    assert run("applications", "show", "nc-ktm", "--json").json()["status"] == "provisioned"

    ctx = Context.open()
    engine = tenant_engine(ctx, "nc-ktm")
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert NEPAL_TABLES <= tables
        admin = conn.execute(sa.text("SELECT email, must_change_password, password_hash FROM tenant_users")).one()
        assert admin.email == "sita@nc.example.org" and bool(admin.must_change_password)
        assert admin.password_hash.startswith("scrypt$")
        roles = conn.execute(sa.text("SELECT u.email, r.name FROM user_roles ur JOIN tenant_users u ON u.id = ur.user_id "
                                     "JOIN roles r ON r.id = ur.role_id")).all()
        assert [tuple(r) for r in roles] == [("sita@nc.example.org", "tenant_admin")]
        assert conn.execute(sa.text("SELECT COUNT(*) FROM provinces")).scalar() == 7
        assert conn.execute(sa.text("SELECT COUNT(*) FROM districts")).scalar() == 77
    engine.dispose()

    job = jobs.list_jobs(ctx)[0]
    steps = [s["name"] for s in jobs.get_job(ctx, job["id"])["steps"] if not s["name"].startswith("  ")]
    assert steps == ["validate", "place", "create database", "basic basic", "template political_party_nepal",
                     "module financial_tracking", "module membership_management", "module election_campaign",
                     "custom", "seed", "admin user", "snapshot", "compliance", "activate", "notify"]
    history = run("history", "nc-ktm", "--json").json()
    assert len(history) == 14 and {h["outcome"] for h in history} == {"ok"}
    assert all(len(h["checksum"]) == 64 for h in history)
    assert len(ctx.engine.connect().execute(sa.select(m.Notification)).all()) == 1

    if dialect == "mariadb":
        _tenant_user_is_confined(ctx, mariadb_or_none, "nc-ktm")
    ctx.close()


def _tenant_user_is_confined(ctx: Context, db, slug: str) -> None:
    import pymysql

    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
    password = secrets.get_secret(secrets.tenant_user_key("db1", tenant.database))
    conn = pymysql.connect(host="127.0.0.1", port=db.port, user=tenant.db_user, password=password,
                           database=tenant.database, ssl_disabled=True)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM provinces")
        assert cur.fetchone()[0] == 7
        # data only: schema changes run as the server's admin account (least privilege)
        with pytest.raises(pymysql.err.OperationalError) as refused:
            cur.execute("CREATE TABLE scratch_ok (id INT)")
        assert refused.value.args[0] == 1142
        with pytest.raises(pymysql.err.OperationalError) as refused:
            cur.execute("CREATE DATABASE tenant_other")
        assert refused.value.args[0] in (1044, 1045)
        with pytest.raises(pymysql.err.OperationalError) as refused:
            cur.execute("SELECT * FROM mysql.user")
        assert refused.value.args[0] in (1142, 1044)
    conn.close()


@pytest.fixture
def mariadb_or_none(dialect: str, request: pytest.FixtureRequest):
    return request.getfixturevalue("mariadb") if dialect == "mariadb" else None


def test_dry_run_shows_plan_and_changes_nothing(server: str, tenantops_env: Path) -> None:
    ctx = Context.open()
    approved(ctx, "dry-org")
    r = run("provision", "dry-org", "--server", server, "--dry-run", "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["server"] == server and doc["database"] == "tenant_dry_org"
    assert [u["slug"] for u in doc["units"]][:2] == ["basic", "political_party_nepal"]
    assert doc["units"][2]["auto_added"].startswith("required by template")
    assert any("CREATE TABLE provinces" in stmt for r in doc["revisions"] for stmt in r["sql"])
    human = run("provision", "dry-org", "--server", server, "--dry-run")
    assert "CREATE TABLE" in human.out
    with ctx.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(m.Tenant)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(m.Job)) == 0
    assert run("applications", "show", "dry-org", "--json").json()["status"] == "approved"
    from tenantops.engine.servers.registry import adapter

    assert not adapter(ctx, server).database_exists("tenant_dry_org")
    ctx.close()


def _broken_catalog(tmp_path: Path, config: Path, body: str) -> Path:
    catalog = copy_catalog(tmp_path)
    target = catalog / "modules" / "financial_tracking" / "versions" / "finance_0002_donations_expenses.py"
    original = target.read_text()
    target.write_text(original.replace("def upgrade() -> None:\n", f"def upgrade() -> None:\n{body}", 1)
                      if "def upgrade() -> None:\n" in original else
                      original.replace("def upgrade():\n", f"def upgrade():\n{body}", 1))
    assert target.read_text() != original
    use_catalog(config, catalog)
    return target


def test_failing_revision_cleans_up_and_retry_succeeds(server: str, tmp_path: Path) -> None:
    config = Path(os.environ["TENANTOPS_CONFIG"])
    target = _broken_catalog(tmp_path, config, '    op.execute("SELECT * FROM no_such_table_anywhere")\n')
    ctx = Context.open()
    approved(ctx, "fail-org")
    r = run("provision", "fail-org", "--server", server)
    assert r.code == 1
    assert "provisioning fail-org failed" in r.err and "finance_0002" in r.err
    assert "Traceback" not in r.err
    tenant = run("tenants", "show", "fail-org", "--json").json()
    assert tenant["status"] == "failed"
    assert run("applications", "show", "fail-org", "--json").json()["status"] == "failed"
    job = jobs.get_job(ctx, jobs.list_jobs(ctx)[0]["id"])
    failed = {s["name"].strip(): s for s in job["steps"] if s["status"] == "failed"}
    assert set(failed) >= {"apply financial_tracking · finance_0002"}, job["steps"]
    revision = failed["apply financial_tracking · finance_0002"]
    assert "no_such_table_anywhere" in revision["error"]
    assert "finance_0002" in failed["module financial_tracking"]["error"]
    assert job["steps"][-1]["name"] == "cleanup" and job["steps"][-1]["status"] == "succeeded"
    from tenantops.engine.servers.registry import adapter

    ad = adapter(ctx, server)
    assert not ad.database_exists("tenant_fail_org")
    assert "tu_fail_org" not in ad.list_users()
    # fix the file and retry: a clean run from scratch
    target.write_text(target.read_text().replace('    op.execute("SELECT * FROM no_such_table_anywhere")\n', ""))
    r = run("provision", "fail-org", "--server", server)
    assert r.code == 0, r.err
    assert run("tenants", "show", "fail-org", "--json").json()["status"] == "active"
    ctx.close()


def test_failed_job_document_is_the_landlords(tmp_path: Path) -> None:
    """`provision --json` prints the failed job from what its own process wrote, without
    reading it back: it must say exactly what `jobs show` says afterwards."""
    _broken_catalog(tmp_path, Path(os.environ["TENANTOPS_CONFIG"]),
                    '    op.execute("SELECT * FROM no_such_table_anywhere")\n')
    ctx = Context.open()
    approved(ctx, "doc-org")
    r = run("provision", "doc-org", "--json")
    assert r.code == 1
    printed = r.json()
    stored = run("jobs", "show", str(printed["id"]), "--json").json()
    for doc in (printed, stored):
        doc.pop("heartbeat_at")  # the heartbeat thread may beat once more in between
    assert printed == stored
    assert printed["status"] == "failed" and "no_such_table_anywhere" in printed["error"]
    assert [s["name"] for s in printed["steps"]][-1] == "cleanup"
    ctx.close()


def test_failing_seed_cleans_up_while_the_schema_is_read_ahead(server: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot's schema is read on another connection while the seeds go in: a seed
    that fails still fails the job in its own step, and the cleanup drops the database
    and its user only after that read (nothing left behind, no error from the read)."""
    from tenantops.engine.tenants import snapshots

    reads: list[object] = []
    real = snapshots._read_definitions

    def slow_read(adapter, database):  # a server slow to answer information_schema
        time.sleep(0.5)
        try:
            reads.append(real(adapter, database))
        except Exception as exc:  # the database dropped under the read
            reads.append(exc)
            raise
        return reads[-1]

    monkeypatch.setattr(snapshots, "_read_definitions", slow_read)
    config = Path(os.environ["TENANTOPS_CONFIG"])
    catalog = copy_catalog(tmp_path)
    seed = catalog / "modules" / "financial_tracking" / "seeds" / "ledger_accounts.json"
    doc = json.loads(seed.read_text())
    doc["rows"][0]["no_such_column"] = 1
    seed.write_text(json.dumps(doc))
    use_catalog(config, catalog)
    ctx = Context.open()
    approved(ctx, "seedfail-org")
    r = run("provision", "seedfail-org", "--server", server)
    assert r.code == 1 and "provisioning seedfail-org failed" in r.err, r.err
    job = jobs.get_job(ctx, jobs.list_jobs(ctx)[0]["id"])
    steps = {s["name"]: s["status"] for s in job["steps"]}
    assert steps["seed"] == "failed" and "no_such_column" in job["error"], job["steps"]
    assert "snapshot" not in steps and steps["cleanup"] == "succeeded", job["steps"]
    from tenantops.engine.servers.registry import adapter

    ad = adapter(ctx, server)
    assert not ad.database_exists("tenant_seedfail_org")
    assert "tu_seedfail_org" not in ad.list_users()
    if server != "local":  # SQLite reads when asked, and the job never asked
        assert len(reads) == 1 and isinstance(reads[0], dict), reads
    # the catalog mended: the next attempt reads a schema that matches what it built
    seed.write_text(seed.read_text().replace(', "no_such_column": 1', ""))
    assert run("provision", "seedfail-org", "--server", server).code == 0
    assert run("drift", "seedfail-org", "--json").code == 0
    ctx.close()


STEPS = ["validate", "place", "create database", "basic basic", "template political_party_nepal",
         "module financial_tracking", "seed", "admin user", "snapshot", "activate", "notify"]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_sigkilled_worker_at_each_step_is_reclaimed(step: str, tmp_path: Path) -> None:
    """A worker SIGKILLed inside any provisioning step: a new worker reclaims the job after
    the lease and finishes it; the landlord and the database agree afterwards."""
    _kill_and_reclaim("local", step)


@pytest.mark.parametrize("step", ["module financial_tracking"])
def test_sigkilled_worker_mid_migration_mariadb(step: str, server: str, dialect: str) -> None:
    if dialect == "sqlite":
        pytest.skip("covered step by step by test_sigkilled_worker_at_each_step_is_reclaimed")
    _kill_and_reclaim(server, step)


def _kill_and_reclaim(server: str, step: str) -> None:
    config = Path(os.environ["TENANTOPS_CONFIG"])
    config.write_text("lease_seconds = 2\n")
    ctx = Context.open()
    approved(ctx, "kill-org")
    job_id = provisioner.request_provision(ctx, slug="kill-org", server=server).job
    env = {**os.environ, "TENANTOPS_FAILPOINT": f"pause:{step}"}
    victim = subprocess.Popen([sys.executable, "-m", "tenantops.engine.jobs.worker", "--job", str(job_id)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(s["name"] == step and s["status"] == "running" for s in jobs.get_job(ctx, job_id)["steps"]):
            break
        time.sleep(0.05)
    else:
        victim.kill()
        pytest.fail(f"the worker never reached step {step}")
    # while a step runs, every step before it is recorded as ended (an end held back to
    # share the next step's write must not linger)
    seen = [s for s in jobs.get_job(ctx, job_id)["steps"] if not s["name"].startswith(" ")]
    assert [s["status"] for s in seen] == ["succeeded"] * (len(seen) - 1) + ["running"], seen
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert jobs.get_job(ctx, job_id)["status"] == "running"  # nobody knows yet
    time.sleep(2.2)  # the lease runs out
    rescuer = subprocess.run([sys.executable, "-m", "tenantops.engine.jobs.worker", "--once"],
                             env={k: v for k, v in os.environ.items() if k != "TENANTOPS_FAILPOINT"}, timeout=120)
    assert rescuer.returncode == 0
    job = jobs.get_job(ctx, job_id)
    assert job["status"] == "succeeded" and job["attempt"] == 2, job["error"]
    tenant = run("tenants", "show", "kill-org", "--json").json()
    assert tenant["status"] == "active"
    assert tenant["migrations"] == {"basic": 4, "template": 4, "module": 4, "custom": 0}
    engine = tenant_engine(ctx, "kill-org")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM districts")).scalar() == 77
        assert conn.execute(sa.text("SELECT COUNT(*) FROM tenant_users")).scalar() == 1
        assert "donation_records" in sa.inspect(conn).get_table_names()
    engine.dispose()
    from tenantops.engine.servers.registry import adapter

    assert adapter(ctx, server).list_databases() == ["tenant_kill_org"]
    assert run("locks", "list", "--json").json() == []
    ctx.close()


def test_job_queued_claimed_by_a_cli_that_died_is_resumed_by_a_worker(tmp_path: Path) -> None:
    """`provision` queues its job already claimed (it runs the job itself next). A CLI that
    dies in between leaves a running job under its lease: no worker takes it while the
    lease runs, any worker resumes it after, and the tenant comes out whole."""
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("lease_seconds = 2\n")
    ctx = Context.open()
    approved(ctx, "orphan-org")
    job_id = provisioner.request_provision(ctx, slug="orphan-org", server="local", run_here=True).job
    assert job_id is not None
    job = jobs.get_job(ctx, job_id)
    assert job["status"] == "running" and job["attempt"] == 1 and job["claimed_by"] == jobs.worker_id()
    assert run("locks", "list", "--json").json()[0]["tenant"] == "orphan-org"
    worker = [sys.executable, "-m", "tenantops.engine.jobs.worker", "--once"]
    subprocess.run(worker, timeout=120, check=True)  # the lease still runs: not taken
    assert jobs.get_job(ctx, job_id)["attempt"] == 1
    again = run("provision", "orphan-org")
    assert again.code == 1 and f"job {job_id}" in again.err, again.err  # held by its job, named
    jobs.take_claimed(job_id)  # what dies with the CLI's process
    time.sleep(2.2)
    subprocess.run(worker, timeout=120, check=True)
    job = jobs.get_job(ctx, job_id)
    assert job["status"] == "succeeded" and job["attempt"] == 2, job["error"]
    assert run("tenants", "show", "orphan-org", "--json").json()["status"] == "active"
    assert run("locks", "list", "--json").json() == []
    ctx.close()


def test_concurrent_provision_same_slug_one_wins(server: str, tmp_path: Path) -> None:
    config = Path(os.environ["TENANTOPS_CONFIG"])
    _broken_catalog(tmp_path, config, "    import time; time.sleep(1.0)\n")
    ctx = Context.open()
    approved(ctx, "race-org")
    cmd = [sys.executable, str(Path(__file__).parent / "as_operator.py"), "alice", "-m", "tenantops.console", "provision", "race-org", "--server", server]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=180) + (p.returncode,) for p in procs]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 1], results
    loser = next(err for _, err, code in results if code == 1)
    assert "locked by" in loser and "Traceback" not in loser
    assert run("tenants", "show", "race-org", "--json").json()["status"] == "active"
    assert len(jobs.list_jobs(ctx)) == 1
    with pytest.raises(Exception, match="cannot go from provisioned"):
        provisioner.request_provision(ctx, slug="race-org", server=server).job
    ctx.close()


@pytest.mark.parametrize("args, message", [
    (["--slug", "Bad_Slug"], "slug 'Bad_Slug' is invalid"),
    (["--slug", "a"], "slug 'a' is invalid"),
    (["--slug", "admin"], "slug 'admin' is reserved"),
    (["--slug", "x" * 64], "is invalid"),
    (["--slug", "taken-org"], "slug 'taken-org' is already taken"),
    (["--slug", "TAKEN-ORG"], "already taken"),
    (["--template", "no_such_template"], "no_such_template"),
    (["--template", "community_group", "--modules", "simple_donations,financial_tracking"], "conflict"),
    (["--modules", "simple_donations"], "not allowed for template"),
    (["--email", "not-an-email"], "email 'not-an-email' is not a valid address"),
])
def test_bad_applications_get_one_clear_line(args: list[str], message: str) -> None:
    base = {"--org": "Some Org", "--slug": "good-org", "--email": "a@b.example.org",
            "--template": "political_party_nepal"}
    assert run("applications", "submit", "--org", "Taken", "--slug", "taken-org", "--email", "t@t.example.org",
               "--template", "community_group").code == 0
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [x for pair in base.items() for x in pair]
    r = run("applications", "submit", *argv)
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and message.lower() in lines[0].lower(), r.err
    assert [a["slug"] for a in run("applications", "list", "--json").json()] == ["taken-org"]


def test_illegal_transitions_name_both_states() -> None:
    ctx = Context.open()
    approved(ctx, "rej-org")
    r = run("applications", "reject", "rej-org", "--reason", "changed mind")
    assert r.code == 1 and "cannot go from approved to rejected" in r.err
    run("applications", "submit", "--org", "R", "--slug", "rej2", "--email", "r@r.example.org",
        "--template", "community_group")
    assert run("applications", "reject", "rej2", "--reason", "spam").code == 0
    r = run("applications", "approve", "rej2")
    assert r.code == 1 and r.err.strip() == "tenantops: application rej2 cannot go from rejected to approved"
    r = run("provision", "rej2")
    assert r.code == 1 and "rejected" in r.err
    assert run("applications", "show", "rej2", "--json").json()["status"] == "rejected"
    ctx.close()


def test_retry_of_failed_provisioning_is_role_checked_and_audited(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = Path(os.environ["TENANTOPS_CONFIG"])
    target = _broken_catalog(tmp_path, config, '    op.execute("SELECT * FROM no_such_table_anywhere")\n')
    ctx = Context.open()
    approved(ctx, "retry-org")
    from tenantops.engine.access import operators

    operators.add_operator(ctx, user="bob", role="viewer")
    assert run("provision", "retry-org").code == 1
    failed_job = jobs.list_jobs(ctx)[0]["id"]
    target.write_text(target.read_text().replace('    op.execute("SELECT * FROM no_such_table_anywhere")\n', ""))
    switch_operator(monkeypatch, "bob")
    r = run("jobs", "retry", str(failed_job))
    assert r.code == 1 and "jobs.retry needs the admin role" in r.err
    switch_operator(monkeypatch, "alice")
    r = run("jobs", "retry", str(failed_job), "--json")
    assert r.code == 0, r.err
    new_job = r.json()["job"]
    assert run("applications", "show", "retry-org", "--json").json()["status"] == "provisioning"
    assert run("worker", "--once").code == 0
    assert jobs.get_job(ctx, new_job)["status"] == "succeeded"
    assert run("tenants", "show", "retry-org", "--json").json()["status"] == "active"
    outcomes = [(e["operator"], e["outcome"]) for e in run("audit", "--json").json() if e["action"] == "jobs.retry"]
    assert outcomes == [("bob", "denied"), ("alice", "ok")]
    r = run("jobs", "retry", str(new_job))
    assert r.code == 1 and "only failed jobs can be retried" in r.err
    ctx.close()
