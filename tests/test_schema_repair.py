"""Repair: plans previewed as Alembic SQL, executed for real on SQLite and MariaDB; extras
go to quarantine and come back row for row; no row is ever lost."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from conftest import make_engine
from test_schema_capture import create_tenant, extra_database, snapshot, sqlite_rewrite
from tenantops.engine.errors import NotFoundError, StateError, ValidationError
from tenantops.engine.schema.canonical import schema_hash
from tenantops.engine.schema.capture import row_counts
from tenantops.engine.schema.diff import Difference, diff_schemas, severity
from tenantops.engine.schema.names import quarantine_name
from tenantops.engine.schema.repair import execute_plan, plan_repair, restore_quarantine

KEPT_TABLES = ("organizations", "members", "committees", "donations")


def run_sql(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def drift(engine: sa.Engine, dialect: str) -> None:
    """Missing table/column/index/foreign key, changed default, narrowed type and NOT NULL
    (repair widens: safe), widened type (repair narrows: unsafe), and extras with data."""
    mariadb = dialect == "mariadb"
    run_sql(
        engine,
        "DROP TABLE committee_members",
        "DROP INDEX ix_members_full_name_phone" + (" ON members" if mariadb else ""),
        "ALTER TABLE members DROP COLUMN joined_on",
        "ALTER TABLE members ADD COLUMN nickname VARCHAR(40)",
        "UPDATE members SET nickname = " + ("CONCAT('nick-', id)" if mariadb else "'nick-' || id"),
        "CREATE INDEX ix_members_email ON members (email)",
        "CREATE TABLE scratch_notes (id INTEGER PRIMARY KEY, body TEXT)",
        "INSERT INTO scratch_notes VALUES (1, 'keep me'), (2, 'me too')",
    )
    if mariadb:
        run_sql(
            engine,
            "ALTER TABLE donations DROP FOREIGN KEY fk_donations_member_id_members",
            "ALTER TABLE members ALTER COLUMN role SET DEFAULT 'guest'",
            "ALTER TABLE members MODIFY full_name VARCHAR(100) NOT NULL",
            "ALTER TABLE members MODIFY phone VARCHAR(60) NULL",
        )
    else:
        sqlite_rewrite(engine, "donations", r",\s*CONSTRAINT fk_donations_member_id_members FOREIGN KEY\(member_id\) "
                       r"REFERENCES members \(id\) ON DELETE SET NULL", "")
        sqlite_rewrite(engine, "members", "DEFAULT 'member'", "DEFAULT 'guest'")
        sqlite_rewrite(engine, "members", r"full_name VARCHAR\(200\)", "full_name VARCHAR(100) NOT NULL")
        sqlite_rewrite(engine, "members", r"phone VARCHAR\(30\)", "phone VARCHAR(60)")


SAFE_DIFFERENCES = {
    ("table", "removed", "committee_members", "committee_members", None),
    ("index", "removed", "members", "ix_members_full_name_phone", None),
    ("column", "removed", "members", "joined_on", None),
    ("foreign_key", "removed", "donations", "fk_donations_member_id_members", None),
    ("column", "modified", "members", "role", "default"),
    ("column", "modified", "members", "full_name", "type"),
    ("column", "modified", "members", "full_name", "nullable"),
}
UNSAFE_DIFFERENCES = {
    ("column", "added", "members", "nickname", None),
    ("index", "added", "members", "ix_members_email", None),
    ("table", "added", "scratch_notes", "scratch_notes", None),
    ("column", "modified", "members", "phone", "type"),
}


def keys(differences) -> set[tuple]:
    return {(d.object, d.change, d.table, d.name, d.attribute) for d in differences}


def members_rows(engine: sa.Engine, *columns: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT id, {', '.join(columns)} FROM members ORDER BY id"))]


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: n for t, n in row_counts(conn).items() if t in KEPT_TABLES}


@pytest.fixture
def drifted(db_url: sa.URL, dialect: str):
    engine = create_tenant(db_url)
    if dialect == "sqlite":
        # A view over a table that batch mode re-creates must survive the re-creation.
        run_sql(engine, "CREATE VIEW member_emails AS SELECT id, email FROM members")
    expected = snapshot(engine)
    drift(engine, dialect)
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    assert keys(differences) == SAFE_DIFFERENCES | UNSAFE_DIFFERENCES
    return engine, expected, actual, differences


def test_plan_preview_is_ordered_alembic_sql(drifted, dialect: str) -> None:
    engine, expected, actual, differences = drifted
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive")
    assert {(op.object, op.change, op.table, op.name, op.attribute) for op in plan.operations} == SAFE_DIFFERENCES | UNSAFE_DIFFERENCES
    assert plan.skipped == []
    assert all(op.sql and all(s.strip() for s in op.sql) for op in plan.operations)
    order = [(op.object, op.change, op.name) for op in plan.operations]
    # Column before the index that uses it, extras out of the way before anything is created.
    assert order.index(("column", "removed", "joined_on")) < order.index(("index", "removed", "ix_members_full_name_phone"))
    assert order.index(("index", "added", "ix_members_email")) < order.index(("table", "removed", "committee_members"))
    create = next(op for op in plan.operations if op.name == "committee_members")
    assert any("CREATE TABLE committee_members" in s for s in create.sql)
    quarantine = next(op for op in plan.operations if op.name == "nickname")
    assert not quarantine.safe and quarantine.destructive
    assert any("_q_preview_members__nickname" in s for s in quarantine.sql)
    assert not any(s.upper().startswith("DROP TABLE SCRATCH_NOTES") for s in plan.sql)
    json_plan = plan.to_json()
    assert {"sql", "safe", "object", "change", "table", "name"} <= set(json_plan["operations"][0])

    conservative = plan_repair(expected, actual, differences, dialect, strategy="conservative")
    assert all(op.safe for op in conservative.operations)
    assert keys(s.difference for s in conservative.skipped) == UNSAFE_DIFFERENCES
    assert not any("_q_" in s for s in conservative.sql)


def test_missing_tables_created_referenced_first(db_url: sa.URL, dialect: str) -> None:
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    run_sql(engine, "DROP TABLE committee_members", "DROP TABLE committees")
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    plan = plan_repair(expected, actual, differences, dialect)
    assert [op.name for op in plan.operations] == ["committees", "committee_members"]
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=False, quarantine_suffix="r1")
    assert result.ok and len(result.applied) == 2
    assert diff_schemas(expected, snapshot(engine)) == []


def test_extra_foreign_key_dropped_before_its_column(db_url: sa.URL, dialect: str) -> None:
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    if dialect == "mariadb":
        run_sql(engine, "ALTER TABLE members ADD COLUMN mentor_id INT NULL",
                "ALTER TABLE members ADD CONSTRAINT fk_members_mentor FOREIGN KEY (mentor_id) REFERENCES members (id)")
    else:
        run_sql(engine, "ALTER TABLE members ADD COLUMN mentor_id INTEGER REFERENCES members (id)")
    run_sql(engine, "UPDATE members SET mentor_id = 1 WHERE id = 2")
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    fk_name = "fk_members_mentor" if dialect == "mariadb" else "fk_members_mentor_id"
    assert ("foreign_key", "added", "members", fk_name, None) in keys(differences)
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive")
    objects = [op.object for op in plan.operations]
    # MariaDB also reports the index it made for the foreign key: dropped after the key.
    assert objects == (["foreign_key", "index", "column"] if dialect == "mariadb" else ["foreign_key", "column"])
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r7")
    assert result.ok, result.failed
    assert diff_schemas(expected, snapshot(engine)) == []
    [record] = result.quarantine
    assert (record.kind, record.column, record.rows) == ("column", "mentor_id", 3)


def test_conservative_restores_missing_and_keeps_extras(drifted, dialect: str) -> None:
    engine, expected, actual, differences = drifted
    rows_before = counts(engine)
    data_before = members_rows(engine, "email", "full_name", "phone", "nickname", "role")
    plan = plan_repair(expected, actual, differences, dialect, strategy="conservative")
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=False, quarantine_suffix="r1")
    assert result.ok, result.failed
    assert result.quarantine == []
    assert {(op.object, op.change, op.table, op.name, op.attribute) for op in result.applied} == SAFE_DIFFERENCES
    remaining = diff_schemas(expected, snapshot(engine))
    assert keys(remaining) == UNSAFE_DIFFERENCES
    assert severity(remaining) == (5 + 2 + 10 + 3, "critical")
    assert counts(engine) == rows_before
    assert members_rows(engine, "email", "full_name", "phone", "nickname", "role") == data_before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM scratch_notes")).scalar() == 2


def test_aggressive_quarantines_extras_and_restore_brings_them_back(drifted, dialect: str) -> None:
    engine, expected, actual, differences = drifted
    rows_before = counts(engine)
    data_before = members_rows(engine, "email", "full_name", "phone", "nickname")
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive")
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r2")
    assert result.ok, result.failed
    assert len(result.applied) == len(plan.operations)
    assert diff_schemas(expected, snapshot(engine)) == []
    assert counts(engine) == rows_before
    assert members_rows(engine, "email", "full_name", "phone") == [row[:4] for row in data_before]

    records = {r.kind: r for r in result.quarantine}
    assert set(records) == {"table", "column", "values"}
    assert (records["table"].table, records["table"].rows, records["table"].quarantined_as) == ("scratch_notes", 2, "_q_r2_scratch_notes")
    assert (records["column"].column, records["column"].rows, records["column"].quarantined_as) == ("nickname", 3, "_q_r2_members__nickname")
    assert (records["values"].column, records["values"].attribute, records["values"].previous) == ("phone", "type", "varchar(60)")
    assert records["values"].rows == 2  # the NULL phone had nothing to keep

    with engine.connect() as conn:
        assert restore_quarantine(conn, records["table"]) == 2
        assert restore_quarantine(conn, records["column"].to_json()) == 3
        assert restore_quarantine(conn, records["values"]) == 2
        with pytest.raises(NotFoundError):
            restore_quarantine(conn, records["table"])  # already back: nothing left to restore
        assert conn.execute(sa.text("SELECT id, body FROM scratch_notes ORDER BY id")).all() == [(1, "keep me"), (2, "me too")]
    assert members_rows(engine, "email", "full_name", "phone", "nickname") == data_before
    assert counts(engine) == rows_before
    # Restoring undoes the repair of exactly the quarantined differences.
    assert keys(diff_schemas(expected, snapshot(engine))) == {
        ("column", "added", "members", "nickname", None),
        ("table", "added", "scratch_notes", "scratch_notes", None),
        ("column", "modified", "members", "phone", "type"),
    }


def test_unsafe_operations_need_include_destructive(drifted, dialect: str) -> None:
    engine, expected, actual, differences = drifted
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive")
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=False, quarantine_suffix="r3")
        assert result.ok and result.quarantine == []
        assert {op.name for op, reason in result.skipped if reason.startswith("unsafe")} == {
            "nickname", "ix_members_email", "scratch_notes", "phone"}
        assert keys(diff_schemas(expected, snapshot(engine))) == UNSAFE_DIFFERENCES
        # Running the plan again only does what is still left, and says so for the rest.
        again = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r4")
    assert again.ok
    assert {op.name for op in again.applied} == {"nickname", "ix_members_email", "scratch_notes", "phone"}
    assert all(reason == "already as expected" for _, reason in again.skipped)
    assert diff_schemas(expected, snapshot(engine)) == []


def test_manual_plan_is_never_executed(drifted, dialect: str) -> None:
    engine, expected, actual, differences = drifted
    plan = plan_repair(expected, actual, differences, dialect, strategy="manual")
    assert len(plan.operations) == len(differences)
    with engine.connect() as conn, pytest.raises(StateError):
        execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r5")
    assert diff_schemas(actual, snapshot(engine)) == []


def test_not_null_repair_keeps_null_rows_aside(db_url: sa.URL, dialect: str) -> None:
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    if dialect == "mariadb":
        run_sql(engine, "ALTER TABLE donations MODIFY currency VARCHAR(3) NULL DEFAULT 'NPR'",
                "ALTER TABLE members MODIFY email VARCHAR(255) NULL")
    else:
        sqlite_rewrite(engine, "donations", "currency VARCHAR\\(3\\) DEFAULT 'NPR' NOT NULL", "currency VARCHAR(3) DEFAULT 'NPR'")
        sqlite_rewrite(engine, "members", "email VARCHAR\\(255\\) NOT NULL", "email VARCHAR(255)")
    run_sql(engine, "INSERT INTO donations (id, member_id, amount, currency) VALUES (4, 1, 5, NULL)",
            "INSERT INTO members (id, organization_id, email) VALUES (4, 1, NULL)")
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    assert keys(differences) == {("column", "modified", "donations", "currency", "nullable"),
                                 ("column", "modified", "members", "email", "nullable")}
    assert all(d.destructive_to_repair for d in differences)
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive")
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r6")
        assert result.ok
        [(skipped, reason)] = result.skipped
        assert skipped.name == "email" and "1 rows of members.email are NULL" in reason
        [record] = result.quarantine
        assert (record.kind, record.table, record.column, record.rows, record.attribute) == ("values", "donations", "currency", 1, "nullable")
        assert conn.execute(sa.text("SELECT currency FROM donations WHERE id = 4")).scalar() == "NPR"
        assert restore_quarantine(conn, record) == 1
        assert conn.execute(sa.text("SELECT currency FROM donations WHERE id = 4")).scalar() is None
        assert conn.execute(sa.text("SELECT COUNT(*) FROM donations")).scalar() == 4


def test_failed_narrowing_loses_nothing_mariadb(db_url: sa.URL, dialect: str) -> None:
    if dialect != "mariadb":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    long_phone = "+977-1-4" + "0" * 40
    run_sql(engine, "ALTER TABLE members MODIFY phone VARCHAR(60) NULL", f"UPDATE members SET phone = '{long_phone}' WHERE id = 2")
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive")
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r8")
        assert not result.ok and result.failed[0].name == "phone"
        assert "phone" in result.failed[1]
        [record] = result.quarantine  # the copy taken before the refused ALTER is kept
        assert record.rows == 3
        assert conn.execute(sa.text("SELECT phone FROM members WHERE id = 2")).scalar() == long_phone


@pytest.mark.parametrize("change", ["CONVERT TO CHARACTER SET utf8mb4", "DEFAULT CHARACTER SET utf8mb4"])
def test_collation_repair_mariadb(change: str, db_url: sa.URL, dialect: str, mariadb) -> None:
    if dialect != "mariadb":
        pytest.skip("SQLite has no table collations")
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    run_sql(engine, f"ALTER TABLE organizations {change} COLLATE utf8mb4_general_ci")
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    assert keys(differences) == {("option", "modified", "organizations", "collation", "collation")}
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive")
    with engine.connect() as conn:
        assert execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r9").ok
    assert diff_schemas(expected, snapshot(engine)) == []
    [(collation,)] = mariadb.execute(
        "SELECT COLLATION_NAME FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{db_url.database}' AND TABLE_NAME = 'organizations' AND COLUMN_NAME = 'settings'")
    assert collation == "utf8mb4_bin"


def test_sqlite_foreign_key_enforcement_does_not_cascade(db_url: sa.URL, dialect: str) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite batch mode only")
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    run_sql(engine, "ALTER TABLE members ADD COLUMN nickname VARCHAR(40)")
    actual = snapshot(engine)
    plan = plan_repair(expected, actual, diff_schemas(expected, actual), dialect, strategy="aggressive")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        result = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="r1")
        assert result.ok
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.execute(sa.text("SELECT COUNT(*) FROM committee_members")).scalar() == 3
        assert conn.execute(sa.text("SELECT COUNT(*) FROM donations WHERE member_id IS NOT NULL")).scalar() == 2


def test_quarantine_names_fit_and_stay_distinct() -> None:
    long_a, long_b = "t" * 60 + "a", "t" * 60 + "b"
    names = {quarantine_name("r1", long_a, "c" * 60), quarantine_name("r1", long_b, "c" * 60), quarantine_name("r1", long_a)}
    assert len(names) == 3 and all(len(n) <= 64 and n.startswith("_q_r1_") for n in names)
    assert quarantine_name("r1", "members", "phone") == "_q_r1_members__phone"


SINK_MARIADB = """CREATE TABLE sink (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tiny TINYINT NOT NULL DEFAULT 3, small SMALLINT UNSIGNED, med MEDIUMINT,
  flag BOOLEAN NOT NULL DEFAULT TRUE, price DECIMAL(8,3) UNSIGNED DEFAULT 1.5,
  ratio FLOAT, score DOUBLE NOT NULL DEFAULT 0, code CHAR(4) COLLATE utf8mb4_bin,
  title VARCHAR(120) NOT NULL DEFAULT 'it''s', body MEDIUMTEXT, summary TINYTEXT,
  kind ENUM('a','b''c','d') NOT NULL DEFAULT 'a', tags SET('x','y'), doc JSON, born DATE,
  at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6), seen TIMESTAMP NULL DEFAULT NULL, dur TIME,
  yr YEAR, raw VARBINARY(16), blobby BLOB, bits BIT(3), latin VARCHAR(10) CHARACTER SET latin1,
  UNIQUE KEY uq_sink_code (code), KEY ix_sink_title_kind (title(10), kind),
  KEY ix_sink_score (score DESC), FULLTEXT KEY ft_sink_body (body)
) ENGINE=InnoDB"""
SINK_SQLITE = """CREATE TABLE sink (
  id INTEGER PRIMARY KEY, tiny TINYINT NOT NULL DEFAULT 3, small SMALLINT,
  flag BOOLEAN NOT NULL DEFAULT 1, price NUMERIC(8, 3) DEFAULT '1.5', ratio REAL, code CHAR(4),
  title VARCHAR(120) NOT NULL DEFAULT 'it''s', body TEXT, doc JSON, born DATE,
  at DATETIME DEFAULT (datetime('now')), raw BLOB, CONSTRAINT uq_sink_code UNIQUE (code))"""


def test_every_table_rebuilt_from_nothing_captures_identically(db_url: sa.URL, dialect: str, tmp_path, request) -> None:
    """The round trip behind every repair: canonical dict -> Alembic DDL -> capture gives
    back the same canonical dict, for every type, default, key and index kind."""
    source = create_tenant(db_url, with_rows=False)
    run_sql(source, SINK_MARIADB if dialect == "mariadb" else SINK_SQLITE)
    if dialect == "sqlite":
        run_sql(source, "CREATE INDEX ix_sink_ratio_title ON sink (ratio DESC, title)")
        target_url = sa.make_url(f"sqlite:///{tmp_path / 'rebuilt.sqlite'}")
    else:
        server = request.getfixturevalue("mariadb")
        target_url = extra_database(server, db_url)
    try:
        target = make_engine(target_url)
        expected, empty = snapshot(source), snapshot(target)
        differences = diff_schemas(expected, empty)
        assert {d.change for d in differences} == {"removed"} and len(differences) == len(expected["tables"])
        plan = plan_repair(expected, empty, differences, dialect)
        assert plan.skipped == []
        with target.connect() as conn:
            result = execute_plan(conn, plan, include_destructive=False, quarantine_suffix="r1")
        assert result.ok, result.failed
        rebuilt = snapshot(target)
        assert diff_schemas(expected, rebuilt) == []
        assert schema_hash(rebuilt) == schema_hash(expected)
    finally:
        if dialect == "mariadb":
            server.execute(f"DROP DATABASE IF EXISTS `{target_url.database}`")


def test_what_is_left_to_people() -> None:
    def table(columns: list[str], pk: list[str]) -> dict:
        return {
            "columns": {c: {"type": "int", "nullable": False, "default": None, "autoincrement": False,
                            "collation": None, "position": i} for i, c in enumerate(columns, start=1)},
            "primary_key": pk, "indexes": {}, "foreign_keys": {},
            "options": {"engine": "innodb", "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"},
        }

    expected = {"tables": {"t": table(["a", "b", "c"], ["a"]), "n": table(["x", "y"], [])},
                "views": {"v": "1" * 64}, "triggers": {}}
    actual = {"tables": {"t": table(["a", "c", "b"], ["a", "b"]), "n": table(["x", "y"], [])},
              "views": {"v": "2" * 64}, "triggers": {}}
    actual["tables"]["n"]["columns"]["y"]["type"] = "bigint"  # narrowing, and no key to keep values by
    differences = diff_schemas(expected, actual)
    plan = plan_repair(expected, actual, differences, "mariadb", strategy="aggressive")
    assert plan.operations == []
    reasons = {(s.difference.object, s.difference.name): s.reason for s in plan.skipped}
    assert set(reasons) == {("index", "PRIMARY"), ("column", "b"), ("view", "v"), ("column", "y")}
    assert "by hand" in reasons[("index", "PRIMARY")] and "by hand" in reasons[("column", "b")]
    assert "no primary key" in reasons[("column", "y")]
    actual["tables"]["t"]["options"]["engine"] = "myisam"
    engine_plan = plan_repair(expected, actual, diff_schemas(expected, actual), "mariadb", strategy="aggressive")
    [engine_op] = engine_plan.operations
    # rebuilt with every row: not destructive, so the conservative strategy runs it too
    assert (engine_op.object, engine_op.name, engine_op.safe, engine_op.destructive) == ("option", "engine", True, False)
    assert engine_op.sql == ["ALTER TABLE t ENGINE=innodb"]
    stale = [Difference("column", "removed", "t", "ghost")]
    assert [s.reason for s in plan_repair(expected, actual, stale, "mariadb").skipped] == [
        "'ghost' is not in the schemas this plan was made from"]
    with pytest.raises(ValidationError):
        plan_repair(expected, actual, differences, "oracle")
    with pytest.raises(ValidationError):
        plan_repair(expected, actual, differences, "sqlite", strategy="yolo")


def test_preview_equals_execution_for_every_table_operation(drifted, dialect: str) -> None:
    """Every table/column/index/foreign-key operation kind (create table, add column at its
    position, quarantine table and column, narrowing with values kept aside, widening,
    default, NOT NULL, create/drop index, create foreign key): the statements the
    connection sends are exactly the previewed ones, in order. The object kinds (views,
    triggers, routines, events, checks, ...) are proven the same way in
    test_schema_objects.py."""
    from test_schema_objects import executed_ddl

    engine, expected, actual, differences = drifted
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive", quarantine_suffix="pe1")
    assert {(op.object, op.change) for op in plan.operations} >= {
        ("table", "removed"), ("table", "added"), ("column", "removed"), ("column", "added"), ("column", "modified"),
        ("index", "removed"), ("index", "added"), ("foreign_key", "removed")}
    ran = executed_ddl(engine)
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="pe1")
    assert result.ok, result.failed
    assert len(result.applied) == len(plan.operations)
    assert ran == plan.sql
    assert diff_schemas(expected, snapshot(engine)) == []
