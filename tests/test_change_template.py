"""`tenants change-template` (issue 20): the new template's tables and required modules
arrive, a module the new template does not allow refuses the change up front, the old
template's tables are kept as accepted drift (or quarantined with --drop-old and
restorable), and drift and doctor agree afterwards. SQLite and MariaDB."""
from __future__ import annotations

import sqlalchemy as sa

from cli import run
from helpers import execute_sql, provision_via_cli, tenant_engine
from tenantops.engine.context import Context


provision = provision_via_cli


def tables(slug: str) -> set[str]:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    ctx.close()
    return names


def job_count() -> int:
    return len(run("jobs", "list", "--json").json())


def test_change_template_adds_the_new_template_and_its_required_modules(server: str) -> None:
    provision("green-hands", server)
    execute_sql("green-hands", ["INSERT INTO community_projects (name) VALUES ('river cleanup')"])
    jobs_before = job_count()
    r = run("tenants", "change-template", "green-hands", "non_profit_organization", "--dry-run", "--json")
    assert r.code == 0, r.err
    plan = r.json()
    assert plan["modules_added"] == ["financial_tracking"]
    assert set(plan["old_tables"]) == {"community_projects", "project_volunteers", "notices"}
    sql = " ".join(s for rev in plan["revisions"] for s in rev["sql"]).lower()
    assert "create table programs" in sql.replace("`", "").replace('"', "")
    r = run("tenants", "change-template", "green-hands", "non_profit_organization")
    assert r.code == 1 and "--confirm green-hands" in r.err and job_count() == jobs_before

    r = run("tenants", "change-template", "green-hands", "non_profit_organization", "--confirm", "green-hands")
    assert r.code == 0, r.err
    doc = run("tenants", "show", "green-hands", "--json").json()
    assert doc["template"]["slug"] == "non_profit_organization"
    assert "financial_tracking" in doc["modules"]
    present = tables("green-hands")
    assert {"programs", "beneficiaries", "grants", "community_projects"} <= present
    # the old template's tables stay, with their rows, as accepted drift
    r = run("drift", "green-hands", "--json")
    assert r.code == 0 and r.json()["severity"] == "none", r.out
    r = run("doctor", "--json")
    assert not [f for f in r.json()["findings"] if f.get("tenant") == "green-hands" or "green-hands" in str(f)], r.out
    # and later day-2 work still sees a consistent tenant
    assert run("modules", "add", "green-hands", "membership_management").code == 0


def test_a_module_the_new_template_does_not_allow_refuses_the_change(server: str) -> None:
    provision("ward-sports", server, modules=["simple_donations"])
    before = (job_count(), tables("ward-sports"))
    r = run("tenants", "change-template", "ward-sports", "political_party_nepal", "--confirm", "ward-sports")
    assert r.code == 1 and "simple_donations" in r.err
    assert (job_count(), tables("ward-sports")) == before
    r = run("tenants", "change-template", "ward-sports", "no_such_template", "--dry-run")
    assert r.code == 1 and "no_such_template" in r.err


def test_drop_old_quarantines_the_old_tables_and_they_can_come_back(server: str) -> None:
    provision("blue-hands", server)
    execute_sql("blue-hands", ["INSERT INTO notices (title, content) VALUES ('meeting', 'Saturday')"])
    r = run("tenants", "change-template", "blue-hands", "educational_institution", "--drop-old",
            "--confirm", "blue-hands")
    assert r.code == 0, r.err
    present = tables("blue-hands")
    assert "notices" not in present and {"courses", "students"} <= present
    items = run("quarantine", "list", "blue-hands", "--json").json()
    notices = next(i for i in items if i["table"] == "notices")
    assert notices["rows"] == 1
    assert run("drift", "blue-hands", "--json").json()["severity"] == "none"
    r = run("quarantine", "restore", "blue-hands", str(notices["id"]))
    assert r.code == 0, r.err
    ctx = Context.open()
    engine = tenant_engine(ctx, "blue-hands")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT title FROM notices").scalars().all() == ["meeting"]
    engine.dispose()
    ctx.close()
