"""The Alembic driver against real databases (SQLite and the private MariaDB)."""
from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import make_engine

from tenantops.engine.catalog import Resolution, Unit, custom_unit, load_catalog, resolve
from tenantops.engine.errors import ConflictError, TenantopsError, ValidationError
from tenantops.engine.migrate.offline import render_sql
from tenantops.engine.migrate.seeds import apply_seeds
from tenantops.engine.migrate.driver import (
    MigrationFailed,
    RevisionResult,
    applied_revisions,
    apply_units,
    downgrade_revisions,
    downgrade_unit,
    installed_units,
    normalize_sql,
    pending,
    revision_checksum,
)

CATALOG = load_catalog()
TEMPLATES = sorted(CATALOG.templates)
NEPAL_MODULES = ["election_campaign", "social_media", "event_management"]


def allowed_combinations(template: str) -> list[Resolution]:
    """Every subset of the template's optional modules that resolves (conflicts are skipped)."""
    optional = CATALOG.templates[template].optional_modules
    found = []
    for size in range(len(optional) + 1):
        for combo in itertools.combinations(optional, size):
            try:
                found.append(resolve(CATALOG, template, list(combo)))
            except ConflictError:
                continue
    return found


def tables(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def expected_tables(units: list[Unit]) -> set[str]:
    return set().union(*(u.tables for u in units)) | {"alembic_version"}


def apply_then_remove_everything(connection: sa.Connection, resolution: Resolution) -> None:
    units = resolution.units
    results = apply_units(connection, units)
    every_revision = [rev for unit in units for rev in unit.revisions]
    assert sorted(r.revision for r in results) == sorted(every_revision)
    assert applied_revisions(connection, units) == every_revision
    assert installed_units(connection, units) == resolution.slugs
    assert tables(connection) == expected_tables(units)
    for unit in reversed(units):
        downgrade_unit(connection, units, unit.slug)
    assert applied_revisions(connection, units) == []
    assert tables(connection) <= {"alembic_version"}


# --- every template with every allowed module combination --------------------------------


def test_combinations_cover_every_template_and_module() -> None:
    covered = {m for t in TEMPLATES for r in allowed_combinations(t) for m in r.modules}
    assert covered == set(CATALOG.modules)
    # the conflict pair really prunes: community_group cannot have both donation modules
    assert len(allowed_combinations("community_group")) < 2 ** len(CATALOG.templates["community_group"].optional_modules)


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_combination_applies_and_downgrades_to_empty(template: str, dialect: str, db_url: sa.URL,
                                                           tmp_path: Path) -> None:
    combos = allowed_combinations(template)
    if dialect == "sqlite":
        for i, resolution in enumerate(combos):
            engine = make_engine(sa.make_url(f"sqlite:///{tmp_path / f'combo{i}.sqlite'}"))
            with engine.connect() as connection:
                apply_then_remove_everything(connection, resolution)
            engine.dispose()
        return
    # MariaDB on tmpfs is fast enough for every combination too (~0.1 s each); they share
    # one database, emptied down to nothing in between
    engine = make_engine(db_url)
    with engine.connect() as connection:
        for resolution in combos:
            apply_then_remove_everything(connection, resolution)
            connection.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()


# --- seeds ---------------------------------------------------------------------------------


def test_nepal_seeds_7_provinces_and_77_districts(db_url: sa.URL) -> None:
    resolution = resolve(CATALOG, "political_party_nepal", [])
    engine = make_engine(db_url)
    with engine.connect() as connection:
        apply_units(connection, resolution.units)
        first = apply_seeds(connection, resolution.units)
        assert first["provinces"] == 7 and first["districts"] == 77
        count = lambda table: connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: E731
        assert (count("provinces"), count("districts")) == (7, 77)
        per_province = connection.execute(sa.text(
            "SELECT p.name, COUNT(d.id) FROM provinces p JOIN districts d ON d.province_id = p.id "
            "GROUP BY p.id, p.name ORDER BY p.id")).all()
        assert [tuple(r) for r in per_province] == [
            ("Koshi", 14), ("Madhesh", 8), ("Bagmati", 13), ("Gandaki", 11), ("Lumbini", 12), ("Karnali", 10),
            ("Sudurpashchim", 9)]
        name_np = connection.execute(sa.text("SELECT name_np FROM districts WHERE name = 'Kathmandu'")).scalar_one()
        assert name_np == "काठमाडौँ"
        policy = connection.execute(sa.text("SELECT value FROM settings WHERE `key` = 'password_policy'"
                                            if db_url.get_backend_name() == "mysql" else
                                            "SELECT value FROM settings WHERE key = 'password_policy'")).scalar_one()
        assert json.loads(policy)["min_length"] == 12
        # idempotent: a second run inserts nothing
        assert set(apply_seeds(connection, resolution.units).values()) == {0}
        assert (count("provinces"), count("districts"), count("role_permissions")) == (7, 77, 9)
    engine.dispose()


# --- SQL preview ----------------------------------------------------------------------------


def is_ddl(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("CREATE", "ALTER", "DROP")) and "alembic_version" not in statement


def test_sql_preview_equals_the_sql_executed(dialect: str, db_url: sa.URL) -> None:
    resolution = resolve(CATALOG, "political_party_nepal", NEPAL_MODULES)
    preview = render_sql(resolution.units, dialect)
    assert [p.revision for p in preview] == [rev for unit in resolution.units for rev in unit.revisions]

    engine = make_engine(db_url)
    executed: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cur, statement, *args: executed.append(statement))
    with engine.connect() as connection:
        results = apply_units(connection, resolution.units)
    engine.dispose()

    ran = [normalize_sql(s) for s in executed if is_ddl(s)]
    planned = [normalize_sql(s) for p in preview for s in p.sql]
    assert len(planned) > 60
    assert ran == planned
    # per revision too: what on_revision reports is what the preview showed
    assert [(r.revision, [normalize_sql(s) for s in r.statements]) for r in results] == \
        [(p.revision, [normalize_sql(s) for s in p.sql]) for p in preview]


def test_rendered_plan_replays_to_the_same_database(tmp_path: Path) -> None:
    """The offline plan, statements plus version bookkeeping, is a complete raw replay."""
    resolution = resolve(CATALOG, "community_group", ["membership_management", "simple_donations"])
    plan = render_sql(resolution.units, "sqlite")
    assert plan[0].version_sql[0].startswith("CREATE TABLE alembic_version")
    engine = make_engine(sa.make_url(f"sqlite:///{tmp_path / 'replay.sqlite'}"))
    with engine.begin() as connection:
        for step in plan:
            for statement in (*step.sql, *step.version_sql):
                connection.exec_driver_sql(statement)
    with engine.connect() as connection:
        assert applied_revisions(connection, resolution.units) == [r for u in resolution.units for r in u.revisions]
        assert tables(connection) == expected_tables(resolution.units)
        assert pending(connection, resolution.units) == []
    engine.dispose()


def test_render_sql_from_a_partly_applied_database() -> None:
    resolution = resolve(CATALOG, "political_party_nepal", [])
    basic = CATALOG.basic
    plan = render_sql(resolution.units, "mariadb", applied=basic.revisions)
    assert plan[0].revision == "ppn_0001"
    assert not any("CREATE TABLE alembic_version" in s for p in plan for s in p.version_sql)
    assert plan[0].version_sql == ("UPDATE alembic_version SET version_num='ppn_0001' "
                                   "WHERE alembic_version.version_num = 'basic_0004'",)
    assert any(s.startswith("CREATE TABLE provinces") for s in plan[0].sql)
    with pytest.raises(ValidationError, match="unknown SQL dialect 'oracle'"):
        render_sql(resolution.units, "oracle")
    with pytest.raises(ValidationError, match="unknown applied revision"):
        render_sql(resolution.units, "sqlite", applied=["nope_0001"])


# --- callbacks, failures, partial rollbacks ----------------------------------------------------


def test_on_revision_reports_each_revision(tmp_path: Path) -> None:
    resolution = resolve(CATALOG, "educational_institution", ["event_management"])
    seen: list[RevisionResult] = []
    engine = make_engine(sa.make_url(f"sqlite:///{tmp_path / 't.sqlite'}"))
    with engine.connect() as connection:
        results = apply_units(connection, resolution.units, on_revision=seen.append)
        assert not connection.in_transaction()
        assert apply_units(connection, resolution.units) == []  # nothing left to do
    engine.dispose()
    assert seen == results
    assert [(r.unit, r.kind) for r in results[:5]] == [("basic", "basic")] * 4 + [
        ("educational_institution", "template")]
    for result in results:
        assert result.outcome == "ok" and result.error is None and result.direction == "upgrade"
        assert result.duration_s >= 0
        assert result.checksum == hashlib.sha256(result.path.read_bytes()).hexdigest()
        assert result.checksum == revision_checksum(result.path)
    first = normalize_sql(results[0].statements[0])
    assert first.startswith("CREATE TABLE tenant_users (")


BAD_CUSTOM = '''"""Custom revision {n}."""
from alembic import op
import sqlalchemy as sa

revision = "cust_acme_000{n}"
down_revision = {down}
branch_labels = {labels}
depends_on = {depends}


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    op.drop_table("acme_cells")
'''


def write_custom(folder: Path) -> Unit:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cust_acme_0001.py").write_text(BAD_CUSTOM.format(
        n=1, down=None, labels='("custom_acme",)', depends='("basic_0004",)',
        upgrade='op.create_table("acme_cells", sa.Column("id", sa.Integer(), primary_key=True))'), encoding="utf-8")
    (folder / "cust_acme_0002.py").write_text(BAD_CUSTOM.format(
        n=2, down='"cust_acme_0001"', labels=None, depends=None,
        upgrade='op.execute("ALTER TABLE no_such_table ADD COLUMN x INTEGER")'), encoding="utf-8")
    return custom_unit("acme", folder)


def test_failing_revision_names_unit_and_revision(db_url: sa.URL, tmp_path: Path) -> None:
    custom = write_custom(tmp_path / "custom" / "acme")
    units = [CATALOG.basic, custom]
    seen: list[RevisionResult] = []
    engine = make_engine(db_url)
    with engine.connect() as connection:
        with pytest.raises(MigrationFailed) as caught:
            apply_units(connection, units, on_revision=seen.append)
        error = caught.value
        assert isinstance(error, TenantopsError)
        assert (error.unit, error.revision) == ("custom_acme", "cust_acme_0002")
        assert "cust_acme_0002" in str(error) and "custom_acme" in str(error) and "no_such_table" in str(error)
        assert [(r.revision, r.outcome) for r in seen][-2:] == [("cust_acme_0001", "ok"), ("cust_acme_0002", "failed")]
        assert "no_such_table" in seen[-1].error and seen[-1].kind == "custom"
        # what succeeded before the failure stays applied
        assert applied_revisions(connection, units) == [*CATALOG.basic.revisions, "cust_acme_0001"]
        assert "acme_cells" in tables(connection)
        # a rollback of the batch removes it again
        rolled = downgrade_revisions(connection, units, ["cust_acme_0001", "cust_acme_0002"])
        assert [(r.revision, r.direction) for r in rolled] == [("cust_acme_0001", "downgrade")]
        assert applied_revisions(connection, units) == CATALOG.basic.revisions
        assert "acme_cells" not in tables(connection)
    engine.dispose()


def test_downgrade_refuses_to_remove_a_unit_others_need(db_url: sa.URL) -> None:
    resolution = resolve(CATALOG, "political_party_nepal", ["election_campaign"])
    units = resolution.units
    engine = make_engine(db_url)
    with engine.connect() as connection:
        apply_units(connection, units)
        with pytest.raises(ConflictError, match="cannot remove unit 'membership_management': installed unit "
                                                "election_campaign depends on it"):
            downgrade_unit(connection, units, "membership_management")
        with pytest.raises(ConflictError, match="cannot remove unit 'basic': installed units political_party_nepal, "
                                                "financial_tracking, membership_management, election_campaign"):
            downgrade_unit(connection, units, "basic")
        with pytest.raises(ValidationError, match="unknown unit 'social_media'"):
            downgrade_unit(connection, units, "social_media")
        # nothing was touched by the refusals
        assert installed_units(connection, units) == resolution.slugs
        removed = downgrade_unit(connection, units, "election_campaign")
        assert [r.revision for r in removed] == ["campaign_0002", "campaign_0001"]
        assert {"campaigns", "candidates"}.isdisjoint(tables(connection))
        assert downgrade_unit(connection, units, "election_campaign") == []  # already gone
        removed = downgrade_unit(connection, units, "membership_management")
        assert [r.unit for r in removed] == ["membership_management"] * 2
    engine.dispose()


def test_downgrade_revisions_newest_first_and_reapply(db_url: sa.URL) -> None:
    resolution = resolve(CATALOG, "political_party_nepal", [])
    units = resolution.units
    engine = make_engine(db_url)
    with engine.connect() as connection:
        apply_units(connection, units)
        with pytest.raises(ConflictError, match="cannot roll back basic_0004: applied revisions ppn_0001"):
            downgrade_revisions(connection, units, ["basic_0004"])
        with pytest.raises(ValidationError, match="unknown revision nope_1"):
            downgrade_revisions(connection, units, ["nope_1"])
        rolled = downgrade_revisions(connection, units, ["ppn_0003", "ppn_0004"])
        assert [r.revision for r in rolled] == ["ppn_0004", "ppn_0003"]
        assert {"election_commission_reports", "financial_reports", "audit_trails"}.isdisjoint(tables(connection))
        assert "citizen_validations" in tables(connection)
        assert [p.revision for p in pending(connection, units)] == ["ppn_0003", "ppn_0004"]
        again = apply_units(connection, units)
        assert [r.revision for r in again] == ["ppn_0003", "ppn_0004"]
        assert tables(connection) == expected_tables(units)
    engine.dispose()


def test_pending_and_applied_follow_layer_order(tmp_path: Path) -> None:
    resolution = resolve(CATALOG, "non_profit_organization", ["social_media"])
    units = resolution.units
    every = [rev for unit in units for rev in unit.revisions]
    assert [p.revision for p in pending(None, units)] == every
    assert [p.unit for p in pending(None, units)][:4] == ["basic"] * 4
    engine = make_engine(sa.make_url(f"sqlite:///{tmp_path / 't.sqlite'}"))
    # a caller-owned transaction is respected and committed by the caller
    with engine.begin() as connection:
        apply_units(connection, [CATALOG.basic])
    with engine.connect() as connection:
        assert applied_revisions(connection, units) == CATALOG.basic.revisions
        assert installed_units(connection, units) == ["basic"]
        assert [p.revision for p in pending(connection, units)] == every[4:]
        apply_units(connection, units)
        # the database is at heads of units not given: refuse instead of guessing
        with pytest.raises(ValidationError, match="none of the given units contain"):
            applied_revisions(connection, [CATALOG.basic])
    engine.dispose()


def test_units_missing_a_dependency_are_refused_before_touching_the_database(tmp_path: Path) -> None:
    nepal = CATALOG.templates["political_party_nepal"]
    engine = make_engine(sa.make_url(f"sqlite:///{tmp_path / 't.sqlite'}"))
    with engine.connect() as connection:
        with pytest.raises(ValidationError, match="revision ppn_0001 of unit political_party_nepal needs revision "
                                                  "basic_0004, which none of the given units contain"):
            apply_units(connection, [nepal])
        assert tables(connection) == set()
    engine.dispose()


@pytest.mark.parametrize("template", TEMPLATES)
def test_mysql_and_mariadb_previews_agree(template: str) -> None:
    """Catalog DDL avoids words only one of the two dialects reserves (e.g. MariaDB's BODY),
    so a preview rendered for either runs unchanged on both."""
    for resolution in allowed_combinations(template):
        mysql = [normalize_sql(s) for p in render_sql(resolution.units, "mysql") for s in p.sql]
        mariadb = [normalize_sql(s) for p in render_sql(resolution.units, "mariadb") for s in p.sql]
        assert mysql == mariadb
