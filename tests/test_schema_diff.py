"""Drift detection: schemas changed behind the application's back with raw SQL, on SQLite
and MariaDB, each change reported exactly once with the right owner and weight."""
from __future__ import annotations

import copy
import re
from typing import Callable

import pytest
import sqlalchemy as sa

from test_schema_capture import MODULE_COLUMN, UNITS, create_tenant, snapshot, sqlite_rewrite
from tenantops.engine.schema import diff as diff_module
from tenantops.engine.schema.canonical import schema_hash
from tenantops.engine.schema.diff import (
    Difference,
    IgnoreRules,
    attribute_owners,
    diff_schemas,
    diff_snapshots,
    severity,
)


def unit_captures(full: dict) -> list[tuple[str, dict]]:
    """The canonical schema after each unit, as the shadow database would give it: units
    add tables, and the donations module also adds a column to a basic table."""
    captures, tables = [], []
    table, column, column_unit = MODULE_COLUMN
    for unit, unit_tables in UNITS:
        tables += unit_tables
        schema = copy.deepcopy(full)
        schema["tables"] = {t: copy.deepcopy(full["tables"][t]) for t in tables}
        if unit != column_unit:
            del schema["tables"][table]["columns"][column]
        captures.append((unit, schema))
    return captures


def _sql(*statements: str) -> Callable[[sa.Engine], None]:
    def run(engine: sa.Engine) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    return run


def _rewrite(name: str, old: str, new: str) -> Callable[[sa.Engine], None]:
    return lambda engine: sqlite_rewrite(engine, name, re.escape(old), new)


DROP_FK_SQLITE = _rewrite(
    "donations", ", \n\tCONSTRAINT fk_donations_member_id_members FOREIGN KEY(member_id) REFERENCES members (id) ON DELETE SET NULL", ""
)

# name: (sqlite change | None, mariadb change, expected (object, change, table, name,
# attribute, unit, destructive_to_repair), expected / actual values or None)
SCENARIOS = {
    "dropped column": (
        _sql("ALTER TABLE members DROP COLUMN joined_on"),
        _sql("ALTER TABLE members DROP COLUMN joined_on"),
        ("column", "removed", "members", "joined_on", None, "basic", False), None,
    ),
    "dropped module column": (
        _sql("ALTER TABLE members DROP COLUMN donor_level"),
        _sql("ALTER TABLE members DROP COLUMN donor_level"),
        ("column", "removed", "members", "donor_level", None, "donations", False), None,
    ),
    "added column": (
        _sql("ALTER TABLE members ADD COLUMN nickname VARCHAR(40)"),
        _sql("ALTER TABLE members ADD COLUMN nickname VARCHAR(40)"),
        ("column", "added", "members", "nickname", None, "basic", True), None,
    ),
    "narrowed type": (
        _rewrite("members", "full_name VARCHAR(200)", "full_name VARCHAR(100)"),
        _sql("ALTER TABLE members MODIFY full_name VARCHAR(100) NULL"),
        ("column", "modified", "members", "full_name", "type", "basic", False), ("varchar(200)", "varchar(100)"),
    ),
    "widened type": (
        _rewrite("members", "full_name VARCHAR(200)", "full_name VARCHAR(300)"),
        _sql("ALTER TABLE members MODIFY full_name VARCHAR(300) NULL"),
        ("column", "modified", "members", "full_name", "type", "basic", True), ("varchar(200)", "varchar(300)"),
    ),
    "changed nullability": (
        _rewrite("members", "full_name VARCHAR(200)", "full_name VARCHAR(200) NOT NULL"),
        _sql("ALTER TABLE members MODIFY full_name VARCHAR(200) NOT NULL"),
        ("column", "modified", "members", "full_name", "nullable", "basic", False), (True, False),
    ),
    "changed default": (
        _rewrite("members", "DEFAULT 'member'", "DEFAULT 'guest'"),
        _sql("ALTER TABLE members ALTER COLUMN role SET DEFAULT 'guest'"),
        ("column", "modified", "members", "role", "default", "basic", False), ("'member'", "'guest'"),
    ),
    "dropped index": (
        _sql("DROP INDEX ix_members_full_name_phone"),
        _sql("DROP INDEX ix_members_full_name_phone ON members"),
        ("index", "removed", "members", "ix_members_full_name_phone", None, "basic", False), None,
    ),
    "added index": (
        _sql("CREATE INDEX ix_members_phone ON members (phone)"),
        _sql("CREATE INDEX ix_members_phone ON members (phone)"),
        ("index", "added", "members", "ix_members_phone", None, "basic", False), None,
    ),
    "index column order": (
        _sql("DROP INDEX ix_members_full_name_phone", "CREATE INDEX ix_members_full_name_phone ON members (phone, full_name)"),
        _sql("DROP INDEX ix_members_full_name_phone ON members", "CREATE INDEX ix_members_full_name_phone ON members (phone, full_name)"),
        ("index", "modified", "members", "ix_members_full_name_phone", "columns", "basic", False),
        (["full_name", "phone"], ["phone", "full_name"]),
    ),
    "dropped foreign key": (
        DROP_FK_SQLITE,
        _sql("ALTER TABLE donations DROP FOREIGN KEY fk_donations_member_id_members"),
        ("foreign_key", "removed", "donations", "fk_donations_member_id_members", None, "donations", False), None,
    ),
    "extra table": (
        _sql("CREATE TABLE scratch_notes (id INTEGER PRIMARY KEY, body TEXT)", "INSERT INTO scratch_notes VALUES (1, 'x')"),
        _sql("CREATE TABLE scratch_notes (id INTEGER PRIMARY KEY, body TEXT)", "INSERT INTO scratch_notes VALUES (1, 'x')"),
        ("table", "added", "scratch_notes", "scratch_notes", None, None, True), None,
    ),
    "missing table": (
        _sql("DROP TABLE committee_members"),
        _sql("DROP TABLE committee_members"),
        ("table", "removed", "committee_members", "committee_members", None, "template", False), None,
    ),
    "converted table collation": (
        None,
        _sql("ALTER TABLE committees CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
        ("option", "modified", "committees", "collation", "collation", "template", False),
        ("utf8mb4_unicode_ci", "utf8mb4_general_ci"),
    ),
    "changed table default collation": (
        None,
        _sql("ALTER TABLE committees COLLATE utf8mb4_general_ci"),
        ("option", "modified", "committees", "collation", "collation", "template", False),
        ("utf8mb4_unicode_ci", "utf8mb4_general_ci"),
    ),
    "changed column collation": (
        None,
        _sql("ALTER TABLE committees MODIFY name VARCHAR(100) COLLATE utf8mb4_bin NOT NULL"),
        ("column", "modified", "committees", "name", "collation", "template", False),
        (None, "utf8mb4_bin"),
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_drift_reported_exactly_once(scenario: str, db_url: sa.URL, dialect: str) -> None:
    on_sqlite, on_mariadb, want, values = SCENARIOS[scenario]
    change = on_mariadb if dialect == "mariadb" else on_sqlite
    if change is None:
        pytest.skip(f"SQLite can't express: {scenario}")
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    change(engine)
    actual = snapshot(engine)

    differences = diff_schemas(expected, actual, owners=attribute_owners(unit_captures(expected)))

    got = [(d.object, d.change, d.table, d.name, d.attribute, d.unit, d.destructive_to_repair) for d in differences]
    assert got == [want]
    [difference] = differences
    if values is not None:
        assert (difference.expected, difference.actual) == values
    score, level = severity(differences)
    assert score == difference.weight == diff_module.WEIGHTS[(want[0], want[1])]
    assert level == ("high" if score >= 10 else "medium" if score >= 5 else "low")
    assert schema_hash(expected) != schema_hash(actual)
    report = difference.to_json()
    assert set(report) == {"object", "change", "table", "name", "attribute", "expected", "actual",
                           "destructive_to_repair", "unit", "accepted"}


def test_no_change_no_differences(db_url: sa.URL) -> None:
    engine = create_tenant(db_url)
    before = snapshot(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO committees (id, organization_id, name) VALUES (9, 1, 'New')"))
    after = snapshot(engine)
    assert diff_schemas(before, after) == []
    assert severity([]) == (0, "none")
    assert schema_hash(before) == schema_hash(after)


def test_several_changes_add_up(db_url: sa.URL, dialect: str) -> None:
    engine = create_tenant(db_url)
    expected = snapshot(engine)
    _sql(
        "DROP TABLE committee_members",
        "ALTER TABLE members ADD COLUMN nickname VARCHAR(40)",
        "CREATE INDEX ix_members_phone ON members (phone)",
    )(engine)
    differences = diff_schemas(expected, snapshot(engine))
    assert severity(differences) == (10 + 5 + 2, "high")
    _sql("ALTER TABLE donations ADD COLUMN receipt VARCHAR(20)")(engine)
    assert severity(diff_schemas(expected, snapshot(engine))) == (22, "critical")


# --- pure rules -----------------------------------------------------------------------------


def _table(columns: list[str], **extra) -> dict:
    return {
        "columns": {c: {"type": "int", "nullable": True, "default": None, "autoincrement": False, "collation": None,
                        "position": i} for i, c in enumerate(columns, start=1)},
        "primary_key": ["a"],
        "indexes": {},
        "foreign_keys": {},
        "options": {"engine": None, "charset": None, "collation": None},
        **extra,
    }


def _schema(**tables: dict) -> dict:
    return {"tables": tables, "views": {}, "triggers": {}}


def test_removed_column_does_not_shift_the_others() -> None:
    expected = _schema(t=_table(["a", "b", "c", "d"]))
    actual = _schema(t=_table(["a", "c", "d"]))
    assert [(d.object, d.change, d.name) for d in diff_schemas(expected, actual)] == [("column", "removed", "b")]


def test_moved_column_is_one_position_difference() -> None:
    expected = _schema(t=_table(["a", "b", "c", "d"]))
    actual = _schema(t=_table(["a", "c", "d", "b"]))
    [moved] = diff_schemas(expected, actual)
    assert (moved.change, moved.name, moved.attribute, moved.expected, moved.actual) == ("modified", "b", "position", 2, 4)


def test_primary_key_is_index_primary() -> None:
    expected = _schema(t=_table(["a", "b"]))
    actual = copy.deepcopy(expected)
    actual["tables"]["t"]["primary_key"] = ["b", "a"]
    [changed] = diff_schemas(expected, actual)
    assert (changed.object, changed.change, changed.name, changed.attribute) == ("index", "modified", "PRIMARY", "columns")
    actual["tables"]["t"]["primary_key"] = []
    [removed] = diff_schemas(expected, actual)
    assert (removed.object, removed.change, removed.name) == ("index", "removed", "PRIMARY")


def test_fast_path_diffs_only_changed_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = diff_module.DeepDiff

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(diff_module, "DeepDiff", counting)
    expected = _schema(**{f"t{i}": _table(["a", "b"]) for i in range(50)})
    actual = copy.deepcopy(expected)
    actual["tables"]["t7"]["columns"]["b"]["type"] = "bigint"
    [difference] = diff_schemas(expected, actual)
    assert difference.table == "t7" and len(calls) == 1


def test_ignore_rules_drop_differences() -> None:
    expected = _schema(t=_table(["a", "b"]), audit_log=_table(["a"]))
    actual = copy.deepcopy(expected)
    actual["tables"]["t"]["columns"]["b"]["collation"] = "utf8mb4_bin"
    actual["tables"]["t"]["columns"]["x"] = dict(expected["tables"]["t"]["columns"]["b"], position=3)
    del actual["tables"]["audit_log"]
    assert len(diff_schemas(expected, actual)) == 3
    assert diff_schemas(expected, actual, ignore=IgnoreRules(tables=["audit_*"], columns=["t.x"], attributes=["collation"])) == []
    only_qualified = IgnoreRules(attributes=["t.b.coll*"])
    assert {d.name for d in diff_schemas(expected, actual, ignore=only_qualified)} == {"x", "audit_log"}
    assert diff_schemas(expected, actual, ignore=IgnoreRules(objects=["column", "table"])) == []


def test_accepted_differences_do_not_count() -> None:
    expected = _schema(t=_table(["a", "b"]))
    actual = copy.deepcopy(expected)
    actual["tables"]["t"]["columns"]["b"]["type"] = "bigint"
    accepted = [{"object": "column", "table": "t", "name": "b", "attribute": "type", "actual": "bigint"}]
    [difference] = diff_schemas(expected, actual, accepted=accepted)
    assert difference.accepted and severity([difference]) == (0, "none")
    actual["tables"]["t"]["columns"]["b"]["type"] = "varchar(5)"  # drifted further: no longer accepted
    [difference] = diff_schemas(expected, actual, accepted=accepted)
    assert not difference.accepted and severity([difference]) == (3, "low")


def test_severity_levels() -> None:
    def diffs(*kinds):
        return [Difference(o, c, "t", f"n{i}") for i, (o, c) in enumerate(kinds)]

    assert severity(diffs(("option", "modified"))) == (1, "low")
    assert severity(diffs(("column", "added"))) == (5, "medium")
    assert severity(diffs(("table", "removed"))) == (10, "high")
    assert severity(diffs(("table", "removed"), ("table", "added"))) == (20, "critical")
    assert severity(diffs(("index", "modified"), ("foreign_key", "modified"), ("column", "modified"))) == (7, "medium")


def test_attribute_owners_follow_units() -> None:
    basic = _schema(t=_table(["a", "b"]))
    module = copy.deepcopy(basic)
    module["tables"]["t"]["columns"]["c"] = dict(basic["tables"]["t"]["columns"]["a"], position=3)
    module["tables"]["t"]["columns"]["b"]["type"] = "bigint"
    module["tables"]["u"] = _table(["a"])
    owners = attribute_owners([("basic", basic), ("mod", module)])
    assert owners[("t",)] == "basic" and owners[("u",)] == "mod"
    assert owners[("t", "column", "c")] == "mod"
    assert owners[("t", "column", "b")] == "basic"
    assert owners[("t", "column", "b", "type")] == "mod"
    # A type change of b is blamed on the module that set the type; a missing b on basic.
    actual = copy.deepcopy(module)
    actual["tables"]["t"]["columns"]["b"]["type"] = "int"
    [changed] = diff_schemas(module, actual, owners=owners)
    assert changed.unit == "mod"
    del actual["tables"]["t"]["columns"]["b"]
    [removed] = diff_schemas(module, actual, owners=owners)
    assert removed.unit == "basic"
    # Dropped by one unit and re-created by a later one: the later unit owns it.
    dropped = copy.deepcopy(module)
    del dropped["tables"]["u"]
    owners = attribute_owners([("basic", basic), ("mod", module), ("drop", dropped), ("again", module)])
    assert owners[("u",)] == "again"


def test_diff_snapshots_reports_what_changed_since() -> None:
    old = _schema(t=_table(["a"]))
    new = _schema(t=_table(["a", "b"]), u=_table(["a"]))
    changes = diff_snapshots(old, new)
    assert [(d.object, d.change, d.name) for d in changes] == [("column", "added", "b"), ("table", "added", "u")]
