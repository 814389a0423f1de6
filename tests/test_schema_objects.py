"""Every object kind and attribute drift covers beyond tables and columns, changed one at a
time behind the tool's back on a schema that holds all of them: each change is found
exactly once with the right object/change/attribute, noise (rows, AUTO_INCREMENT,
statistics) is not drift, the aggressive repair brings the schema back, what it runs
is exactly what its preview showed, and whatever it moved aside comes back from
quarantine. On SQLite where the concept exists (views, triggers), else MariaDB."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from conftest import make_engine
from test_schema_capture import snapshot
from tenantops.engine.errors import ConflictError
from tenantops.engine.schema.canonical import schema_hash
from tenantops.engine.schema.diff import diff_schemas
from tenantops.engine.schema.repair import execute_plan, plan_repair, restore_quarantine

MARIADB_SCHEMA = [
    "CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, price INT NOT NULL DEFAULT 0, "
    "qty INT NOT NULL DEFAULT (1 + 1), note VARCHAR(50) COMMENT 'free text, 100%', "
    "total INT AS (price * qty) VIRTUAL, "
    "updated TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, secret INT INVISIBLE, loc POINT NOT NULL, "
    "CONSTRAINT chk_price CHECK (price >= 0)) COMMENT 'stock items'",
    "CREATE INDEX ix_items_qty ON items (qty)",
    "CREATE INDEX ix_items_hidden ON items (price) IGNORED",
    "CREATE FULLTEXT INDEX ft_items_note ON items (note)",
    "CREATE SPATIAL INDEX sp_items_loc ON items (loc)",
    "CREATE INDEX ix_items_note_qty ON items (note(10), qty DESC)",
    "CREATE VIEW cheap_items AS SELECT id, price FROM items WHERE price < 10 AND note <> 'x'",
    "CREATE TRIGGER trg_items_qty BEFORE INSERT ON items FOR EACH ROW SET NEW.qty = GREATEST(NEW.qty, 0)",
    "CREATE PROCEDURE touch_items(IN p_id INT) MODIFIES SQL DATA UPDATE items SET qty = qty + 1 WHERE id = p_id",
    "CREATE FUNCTION half(x INT) RETURNS INT DETERMINISTIC NO SQL RETURN x DIV 2",
    "CREATE EVENT ev_cleanup ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM items WHERE qty = 0",
]
SQLITE_SCHEMA = [
    "CREATE TABLE items (id INTEGER PRIMARY KEY, price INT NOT NULL DEFAULT 0, qty INT NOT NULL DEFAULT 2, "
    "note VARCHAR(50))",
    "CREATE VIEW cheap_items AS SELECT id, price FROM items WHERE price < 10",
    "CREATE TRIGGER trg_items_qty AFTER INSERT ON items BEGIN UPDATE items SET qty = 0 WHERE id = NEW.id AND qty < 0; END",
]
NOISE = ["INSERT INTO items (price, qty, note) VALUES (5, 3, 'a'), (7, 1, 'b')"]
MARIADB_NOISE = ["INSERT INTO items (price, qty, note, loc) VALUES (5, 3, 'a', POINT(1, 2)), (7, 1, 'b', POINT(3, 4))"]

# id -> (dialects, change, (object, change, table, name, attribute)); None = no drift at all
M, S = ("mariadb",), ("sqlite",)
BOTH = M + S
CASES: dict[str, tuple[tuple[str, ...], list[str], tuple | None]] = {
    "rows, AUTO_INCREMENT, statistics": (M, MARIADB_NOISE + ["ALTER TABLE items AUTO_INCREMENT = 1000", "ANALYZE TABLE items"], None),
    "rows and statistics": (S, NOISE + ["ANALYZE"], None),
    "procedure dropped": (M, ["DROP PROCEDURE touch_items"], ("routine", "removed", None, "touch_items", None)),
    "procedure body": (M, ["DROP PROCEDURE touch_items",
                           "CREATE PROCEDURE touch_items(IN p_id INT) MODIFIES SQL DATA "
                           "UPDATE items SET qty = qty + 2 WHERE id = p_id"],
                       ("routine", "modified", None, "touch_items", "body")),
    "function deterministic": (M, ["DROP FUNCTION half", "CREATE FUNCTION half(x INT) RETURNS INT NOT DETERMINISTIC "
                                   "NO SQL RETURN x DIV 2"], ("routine", "modified", None, "half", "deterministic")),
    "function return type": (M, ["DROP FUNCTION half", "CREATE FUNCTION half(x INT) RETURNS BIGINT DETERMINISTIC "
                                 "NO SQL RETURN x DIV 2"], ("routine", "modified", None, "half", "returns")),
    "function params": (M, ["DROP FUNCTION half", "CREATE FUNCTION half(x BIGINT) RETURNS INT DETERMINISTIC "
                            "NO SQL RETURN x DIV 2"], ("routine", "modified", None, "half", "params")),
    "function added": (M, ["CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2"],
                       ("routine", "added", None, "twice", None)),
    "on update removed": (M, ["ALTER TABLE items MODIFY updated TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP"],
                          ("column", "modified", "items", "updated", "on_update")),
    "check added": (M, ["ALTER TABLE items ADD CONSTRAINT chk_qty CHECK (qty >= 0)"],
                    ("check", "added", "items", "chk_qty", None)),
    "check clause": (M, ["ALTER TABLE items DROP CONSTRAINT chk_price",
                         "ALTER TABLE items ADD CONSTRAINT chk_price CHECK (price > 0)"],
                     ("check", "modified", "items", "chk_price", "clause")),
    "check dropped": (M, ["ALTER TABLE items DROP CONSTRAINT chk_price"], ("check", "removed", "items", "chk_price", None)),
    "table comment": (M, ["ALTER TABLE items COMMENT = 'changed'"], ("option", "modified", "items", "comment", "comment")),
    "column comment": (M, ["ALTER TABLE items MODIFY note VARCHAR(50) COMMENT 'who wrote it, 100%'"],
                       ("column", "modified", "items", "note", "comment")),
    "generated expression": (M, ["ALTER TABLE items MODIFY total INT AS (price + qty) VIRTUAL"],
                             ("column", "modified", "items", "total", "expression")),
    "generated column dropped": (M, ["ALTER TABLE items DROP COLUMN total"], ("column", "removed", "items", "total", None)),
    "on update column dropped": (M, ["ALTER TABLE items DROP COLUMN updated"],
                                 ("column", "removed", "items", "updated", None)),
    "invisible column dropped": (M, ["ALTER TABLE items DROP COLUMN secret"], ("column", "removed", "items", "secret", None)),
    "row format": (M, ["ALTER TABLE items ROW_FORMAT = COMPACT"], ("option", "modified", "items", "row_format", "row_format")),
    "invisible column": (M, ["ALTER TABLE items MODIFY note VARCHAR(50) COMMENT 'free text, 100%' INVISIBLE"],
                         ("column", "modified", "items", "note", "invisible")),
    "ignored index": (M, ["ALTER TABLE items ALTER INDEX ix_items_qty IGNORED"],
                      ("index", "modified", "items", "ix_items_qty", "ignored")),
    "index made visible": (M, ["ALTER TABLE items ALTER INDEX ix_items_hidden NOT IGNORED"],
                           ("index", "modified", "items", "ix_items_hidden", "ignored")),
    "fulltext index dropped": (M, ["DROP INDEX ft_items_note ON items"], ("index", "removed", "items", "ft_items_note", None)),
    "spatial index dropped": (M, ["DROP INDEX sp_items_loc ON items"], ("index", "removed", "items", "sp_items_loc", None)),
    "prefix/desc index dropped": (M, ["DROP INDEX ix_items_note_qty ON items"],
                                  ("index", "removed", "items", "ix_items_note_qty", None)),
    "default expression": (M, ["ALTER TABLE items ALTER qty SET DEFAULT 5"], ("column", "modified", "items", "qty", "default")),
    "table collation": (M, ["ALTER TABLE items CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"],
                        ("option", "modified", "items", "collation", "collation")),
    "engine": (M, ["ALTER TABLE items ENGINE = MyISAM"], ("option", "modified", "items", "engine", "engine")),
    "view definition": (BOTH, ["DROP VIEW cheap_items", "CREATE VIEW cheap_items AS SELECT id, price FROM items WHERE price < 20"],
                        ("view", "modified", "cheap_items", "cheap_items", "definition")),
    "view security": (M, ["ALTER SQL SECURITY INVOKER VIEW cheap_items AS SELECT id, price FROM items "
                          "WHERE price < 10 AND note <> 'x'"],
                      ("view", "modified", "cheap_items", "cheap_items", "security")),
    "view dropped": (BOTH, ["DROP VIEW cheap_items"], ("view", "removed", "cheap_items", "cheap_items", None)),
    "view added": (BOTH, ["CREATE VIEW dear_items AS SELECT id FROM items WHERE price > 100"],
                   ("view", "added", "dear_items", "dear_items", None)),
    "trigger dropped": (BOTH, ["DROP TRIGGER trg_items_qty"], ("trigger", "removed", "items", "trg_items_qty", None)),
    "trigger body": (M, ["DROP TRIGGER trg_items_qty",
                         "CREATE TRIGGER trg_items_qty BEFORE INSERT ON items FOR EACH ROW SET NEW.qty = 1"],
                     ("trigger", "modified", "items", "trg_items_qty", "body")),
    "trigger body sqlite": (S, ["DROP TRIGGER trg_items_qty",
                                "CREATE TRIGGER trg_items_qty AFTER INSERT ON items BEGIN UPDATE items SET qty = 1 "
                                "WHERE id = NEW.id; END"],
                            ("trigger", "modified", "items", "trg_items_qty", "body")),
    "trigger added": (M, ["CREATE TRIGGER trg_items_note BEFORE UPDATE ON items FOR EACH ROW SET NEW.note = TRIM(NEW.note)"],
                      ("trigger", "added", "items", "trg_items_note", None)),
    "trigger added sqlite": (S, ["CREATE TRIGGER trg_items_note AFTER UPDATE ON items BEGIN "
                                 "UPDATE items SET note = trim(note) WHERE id = NEW.id; END"],
                             ("trigger", "added", "items", "trg_items_note", None)),
    "event dropped": (M, ["DROP EVENT ev_cleanup"], ("event", "removed", None, "ev_cleanup", None)),
    "event schedule": (M, ["ALTER EVENT ev_cleanup ON SCHEDULE EVERY 2 DAY"],
                       ("event", "modified", None, "ev_cleanup", "schedule")),
    "event enabled": (M, ["ALTER EVENT ev_cleanup ENABLE"], ("event", "modified", None, "ev_cleanup", "status")),
}

# What the preview of a case must say (the bugs: each was rendered wrong once).
PREVIEW_SAYS = {
    "fulltext index dropped": "CREATE FULLTEXT INDEX ft_items_note ON items (note)",
    "prefix/desc index dropped": "ON items (note(10), qty DESC)",
    "spatial index dropped": "CREATE SPATIAL INDEX sp_items_loc ON items (loc)",
    "default expression": "ALTER COLUMN qty SET DEFAULT (1 + 1)",
    "on update removed": "ON UPDATE CURRENT_TIMESTAMP",
    "column comment": "MODIFY COLUMN note VARCHAR(50) NULL COMMENT 'free text, 100%'",  # % as the server gets it
    "generated expression": "GENERATED ALWAYS AS (`price` * `qty`) VIRTUAL",
    "trigger added": "DROP TRIGGER trg_items_note",
    "index made visible": "ALTER TABLE items ALTER INDEX ix_items_hidden IGNORED",
}


def run_sql(engine: sa.Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement.replace("%", "%%") if conn.dialect.name != "sqlite" else statement)


def key(d) -> tuple:
    return (d.object, d.change, d.table, d.name, d.attribute)


_READS = ("SELECT", "SHOW", "PRAGMA")


def executed_ddl(engine: sa.Engine) -> list[str]:
    """Every statement that changes something, as the connection sends it to the server
    (tabs as Alembic's offline output spells them: four spaces; nothing else differs)."""
    seen: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().split(None, 1)[0].upper() not in _READS:
            if conn.dialect.paramstyle in ("format", "pyformat"):
                statement = statement.replace("%%", "%")  # what the driver sends: it halves them
            seen.append(statement.replace("\t", "    ").strip())

    return seen


@pytest.mark.parametrize("case", list(CASES))
def test_each_object_change_is_found_once_and_repaired_as_previewed(case: str, db_url: sa.URL, dialect: str) -> None:
    dialects, change, expected_key = CASES[case]
    if dialect not in dialects:
        pytest.skip(f"{case}: not a {dialect} concept")
    engine = make_engine(db_url)
    run_sql(engine, MARIADB_SCHEMA if dialect == "mariadb" else SQLITE_SCHEMA)
    expected = snapshot(engine)
    assert diff_schemas(expected, snapshot(engine)) == []  # the fresh schema compares clean
    run_sql(engine, change)
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    if expected_key is None:
        assert differences == [] and schema_hash(actual) == schema_hash(expected)
        return
    assert [key(d) for d in differences] == [expected_key]

    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive", quarantine_suffix="t1")
    assert plan.skipped == [] and len(plan.operations) == 1
    preview = plan.sql
    if case in PREVIEW_SAYS:
        assert any(PREVIEW_SAYS[case] in statement for statement in preview), preview
    # the label and the strategy agree: what is not destructive to repair is in the
    # conservative plan too, what is destructive only in the aggressive one
    conservative = plan_repair(expected, actual, differences, dialect, strategy="conservative")
    assert plan.operations[0].destructive == differences[0].destructive_to_repair
    assert len(conservative.operations) == (0 if differences[0].destructive_to_repair else 1)
    ran = executed_ddl(engine)
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=True, quarantine_suffix="t1")
    assert result.ok, result.failed
    assert ran == preview  # the preview is exactly what ran
    assert diff_schemas(expected, snapshot(engine)) == []

    if expected_key[1] == "added":  # moved aside, not lost: it comes back from quarantine
        [record] = result.quarantine
        assert record.definition
        with engine.connect() as conn:
            restore_quarantine(conn, record)
        assert [key(d) for d in diff_schemas(expected, snapshot(engine))] == [expected_key]
        with engine.connect() as conn, pytest.raises(ConflictError):
            restore_quarantine(conn, record)  # it exists again: refused, nothing replaced


SQLITE_TABLE_TEXT = (
    "CREATE TABLE stock (id INTEGER PRIMARY KEY, price INT NOT NULL, qty INT NOT NULL, "
    "total INT GENERATED ALWAYS AS (price * qty) VIRTUAL, CONSTRAINT ck_stock_price CHECK (price >= 0))"
)


@pytest.mark.parametrize(("pattern", "replacement", "expected_key"), [
    (r"price >= 0", "price > 0", ("check", "modified", "stock", "ck_stock_price", "clause")),
    (r", CONSTRAINT ck_stock_price CHECK \(price >= 0\)", "", ("check", "removed", "stock", "ck_stock_price", None)),
    (r"\(price \* qty\)", "(price + qty)", ("column", "modified", "stock", "total", "expression")),
], ids=["check clause", "check dropped", "generated expression"])
def test_sqlite_checks_and_generated_columns_are_read_from_create_table(
        pattern: str, replacement: str, expected_key: tuple, db_url: sa.URL, dialect: str) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite keeps these only in CREATE TABLE (MariaDB: the cases above)")
    from test_schema_capture import sqlite_rewrite

    engine = make_engine(db_url)
    run_sql(engine, [SQLITE_TABLE_TEXT])
    expected = snapshot(engine)
    assert expected["tables"]["stock"]["checks"]["ck_stock_price"]["clause"] == "price>=0"
    assert expected["tables"]["stock"]["columns"]["total"]["expression"] == "price * qty"
    sqlite_rewrite(engine, "stock", pattern, replacement)
    differences = diff_schemas(expected, snapshot(engine))
    assert [key(d) for d in differences] == [expected_key]
    plan = plan_repair(expected, snapshot(engine), differences, dialect, strategy="aggressive")
    assert plan.operations == [] and "by hand" in plan.skipped[0].reason  # a table rebuild decides: a person


def test_partitioning_change_is_reported_once_and_repaired_as_previewed(db_url: sa.URL, dialect: str) -> None:
    if dialect != "mariadb":
        pytest.skip("partitioning: MariaDB/MySQL")
    engine = make_engine(db_url)
    run_sql(engine, ["CREATE TABLE readings (id INT NOT NULL, taken YEAR NOT NULL, PRIMARY KEY (id, taken)) "
                     "PARTITION BY RANGE (taken) (PARTITION p2024 VALUES LESS THAN (2025), "
                     "PARTITION p2025 VALUES LESS THAN (2026))"])
    expected = snapshot(engine)
    assert expected["tables"]["readings"]["options"]["partitioning"] == "range(taken): p2024 2025, p2025 2026"
    run_sql(engine, ["INSERT INTO readings VALUES (1, 2024)", "ANALYZE TABLE readings"])
    assert diff_schemas(expected, snapshot(engine)) == []
    run_sql(engine, ["ALTER TABLE readings ADD PARTITION (PARTITION p2026 VALUES LESS THAN (2027))"])
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    assert [key(d) for d in differences] == [("partition", "modified", "readings", "readings", "partitioning")]
    assert differences[0].weight == 2
    plan = plan_repair(expected, actual, differences, dialect, strategy="conservative")
    assert plan.skipped == [] and plan.sql == [
        "ALTER TABLE readings PARTITION BY RANGE (`taken`) (PARTITION `p2024` VALUES LESS THAN (2025), "
        "PARTITION `p2025` VALUES LESS THAN (2026))"]
    ran = executed_ddl(engine)
    with engine.connect() as conn:
        assert execute_plan(conn, plan, include_destructive=False, quarantine_suffix="t5").ok
    assert ran == plan.sql
    assert diff_schemas(expected, snapshot(engine)) == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM readings").scalar() == 1  # the row moved along

    run_sql(engine, ["ALTER TABLE readings REMOVE PARTITIONING"])
    actual = snapshot(engine)
    plan = plan_repair(expected, actual, diff_schemas(expected, actual), dialect)
    with engine.connect() as conn:
        assert execute_plan(conn, plan, include_destructive=False, quarantine_suffix="t6").ok
    assert diff_schemas(expected, snapshot(engine)) == []

    run_sql(engine, ["DROP TABLE readings"])  # a missing partitioned table comes back partitioned
    actual = snapshot(engine)
    plan = plan_repair(expected, actual, diff_schemas(expected, actual), dialect)
    ran = executed_ddl(engine)
    with engine.connect() as conn:
        assert execute_plan(conn, plan, include_destructive=False, quarantine_suffix="t7").ok
    assert ran == plan.sql
    assert diff_schemas(expected, snapshot(engine)) == []


@pytest.mark.parametrize(("a", "b"), [
    ("select `t`.`id` AS `id` from `tenant_a`.`t`", "SELECT t.id AS id FROM t"),
    ("select _utf8mb4'x' AS `v`", "select 'x' as v"),
    ("SET NEW.qty = GREATEST( NEW.qty , 0 )", "set new.qty=greatest(new.qty,0)"),
    ("BEGIN\n  UPDATE t SET a = 1;\nEND", "begin update t set a=1; end"),
])
def test_what_servers_rewrite_is_normalised_away(a: str, b: str) -> None:
    from tenantops.engine.schema.canonical import normalise_definition

    assert normalise_definition(a, schema="tenant_a") == normalise_definition(b, schema="tenant_b")


def test_definer_and_default_algorithm_are_not_part_of_a_definition() -> None:
    from tenantops.engine.schema.sqldefs import strip_definer

    assert strip_definer("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS "
                         "select 1") == "CREATE SQL SECURITY DEFINER VIEW `v` AS select 1"
    assert strip_definer("CREATE DEFINER=`admin`@`%` TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1") == \
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1"


def test_index_comment_change_is_reported_once_and_repaired_as_previewed(db_url: sa.URL, dialect: str) -> None:
    if dialect != "mariadb":
        pytest.skip("index comments: MariaDB/MySQL")
    engine = make_engine(db_url)
    run_sql(engine, ["CREATE TABLE tags (id INT PRIMARY KEY, label VARCHAR(20))",
                     "CREATE INDEX ix_tags_label ON tags (label) COMMENT 'search by label'"])
    expected = snapshot(engine)
    assert expected["tables"]["tags"]["indexes"]["ix_tags_label"]["comment"] == "search by label"
    run_sql(engine, ["DROP INDEX ix_tags_label ON tags", "CREATE INDEX ix_tags_label ON tags (label) COMMENT 'other'"])
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    assert [key(d) for d in differences] == [("index", "modified", "tags", "ix_tags_label", "comment")]
    plan = plan_repair(expected, actual, differences, dialect, strategy="conservative")
    assert plan.skipped == [] and any("COMMENT 'search by label'" in s for s in plan.sql), plan.sql
    ran = executed_ddl(engine)
    with engine.connect() as conn:
        assert execute_plan(conn, plan, include_destructive=False, quarantine_suffix="t3").ok
    assert ran == plan.sql
    assert diff_schemas(expected, snapshot(engine)) == []


def test_a_dropped_table_comes_back_with_everything_it_held(db_url: sa.URL, dialect: str) -> None:
    """Generated, ON UPDATE, commented, invisible columns, checks, fulltext/prefix/desc/
    ignored indexes, comment and row format; its trigger (dropped with it) too."""
    if dialect != "mariadb":
        pytest.skip("the SQLite table has none of these")
    engine = make_engine(db_url)
    run_sql(engine, MARIADB_SCHEMA + ["ALTER TABLE items ROW_FORMAT = DYNAMIC"])
    expected = snapshot(engine)
    run_sql(engine, ["DROP VIEW cheap_items", "DROP TABLE items"])
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    assert {key(d) for d in differences} == {("table", "removed", "items", "items", None),
                                             ("view", "removed", "cheap_items", "cheap_items", None),
                                             ("trigger", "removed", "items", "trg_items_qty", None)}
    plan = plan_repair(expected, actual, differences, dialect, strategy="conservative")
    assert plan.skipped == []
    ran = executed_ddl(engine)
    with engine.connect() as conn:
        result = execute_plan(conn, plan, include_destructive=False, quarantine_suffix="t2")
    assert result.ok, result.failed
    assert ran == plan.sql
    assert diff_schemas(expected, snapshot(engine)) == []


def test_sqlite_rebuild_keeps_what_the_canonical_dict_does_not_hold(db_url: sa.URL, dialect: str) -> None:
    """A table with a CHECK is rebuilt from the real table, so an aggressive repair of an
    extra column keeps the check; a table with a generated column (which batch mode
    can't copy) is left to a person."""
    if dialect != "sqlite":
        pytest.skip("SQLite table rebuilds")
    engine = make_engine(db_url)
    run_sql(engine, ["CREATE TABLE prices (id INTEGER PRIMARY KEY, price INT NOT NULL, "
                     "CONSTRAINT ck_prices_price CHECK (price >= 0))", "INSERT INTO prices (price) VALUES (2)",
                     SQLITE_TABLE_TEXT])
    expected = snapshot(engine)
    run_sql(engine, ["ALTER TABLE prices ADD COLUMN mood TEXT", "ALTER TABLE stock ADD COLUMN mood TEXT"])
    actual = snapshot(engine)
    differences = diff_schemas(expected, actual)
    assert [key(d) for d in differences] == [("column", "added", "prices", "mood", None),
                                             ("column", "added", "stock", "mood", None)]
    plan = plan_repair(expected, actual, differences, dialect, strategy="aggressive", quarantine_suffix="t4")
    assert [(s.difference.table, "by hand" in s.reason) for s in plan.skipped] == [("stock", True)]
    with engine.connect() as conn:
        assert execute_plan(conn, plan, include_destructive=True, quarantine_suffix="t4").ok
    assert [key(d) for d in diff_schemas(expected, snapshot(engine))] == [("column", "added", "stock", "mood", None)]
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.exec_driver_sql("INSERT INTO prices (price) VALUES (-1)")  # the check survived the rebuild
