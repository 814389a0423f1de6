"""Schema health end to end: snapshots, drift against the shadow-built expectation,
accepted drift, and guarded repair with quarantine — on SQLite and MariaDB, starting
from a freshly provisioned tenant changed behind the engine's back with raw SQL."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from cli import run
from helpers import provision_via_cli, tenant_engine
from tenantops.engine.context import Context

NOTICE_ROWS = [f"INSERT INTO notices (title, content, is_pinned) VALUES ('n{i}', 'body {i}', 0)" for i in range(5)]


provision = provision_via_cli


def behind_the_back(slug: str, statements: list[str]) -> None:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()
    ctx.close()


def sqlite_rebuild(slug: str, table: str, old: str, new: str) -> None:
    """What someone does by hand on SQLite to change a column: rebuild the table."""
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).scalar()
        indexes = [r[0] for r in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type = 'index' AND sql IS NOT NULL", (table,))]
        assert old in ddl, ddl
        conn.exec_driver_sql(ddl.replace(old, new).replace(f"CREATE TABLE {table}", "CREATE TABLE _rebuild", 1))
        conn.exec_driver_sql(f"INSERT INTO _rebuild SELECT * FROM {table}")
        conn.exec_driver_sql(f"DROP TABLE {table}")
        conn.exec_driver_sql(f"ALTER TABLE _rebuild RENAME TO {table}")
        for index in indexes:
            conn.exec_driver_sql(index)
    engine.dispose()
    ctx.close()


def rows(slug: str, table: str) -> list[tuple]:
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.connect() as conn:
        result = [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))]
    engine.dispose()
    ctx.close()
    return result


def test_fresh_tenant_has_no_drift_and_equal_hashes(server: str) -> None:
    provision("fresh", server)
    r = run("drift", "fresh", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["severity"] == "none" and report["score"] == 0 and report["differences"] == []
    assert report["expected_hash"] == report["actual_hash"]
    shown = run("tenants", "show", "fresh", "--json").json()
    assert shown["last_drift"]["severity"] == "none"
    assert shown["schema_hash"] == report["actual_hash"]  # the provision snapshot agrees too


# case id -> (MariaDB statements, SQLite change, expected (object, change, table, name, attribute, unit), score).
# An extra object inside a unit's table is attributed to that unit; an extra table to none.
CASES = {
    "dropped column": (["ALTER TABLE notices DROP COLUMN expires_at"],
                       ["ALTER TABLE notices DROP COLUMN expires_at"],
                       ("column", "removed", "notices", "expires_at", None, "community_group"), 5),
    "added column": (["ALTER TABLE notices ADD COLUMN mood VARCHAR(20)"],
                     ["ALTER TABLE notices ADD COLUMN mood VARCHAR(20)"],
                     ("column", "added", "notices", "mood", None, "community_group"), 5),
    "changed type": (["ALTER TABLE notices MODIFY title VARCHAR(100) NOT NULL"],
                     ("notices", "title VARCHAR(200) NOT NULL", "title VARCHAR(100) NOT NULL"),
                     ("column", "modified", "notices", "title", "type", "community_group"), 3),
    "changed nullability": (["ALTER TABLE notices MODIFY content TEXT NULL"],
                            ("notices", "content TEXT NOT NULL", "content TEXT"),
                            ("column", "modified", "notices", "content", "nullable", "community_group"), 3),
    "changed default": (["ALTER TABLE project_volunteers ALTER hours SET DEFAULT 1"],
                        ("project_volunteers", "hours NUMERIC(8, 2) DEFAULT 0 NOT NULL",
                         "hours NUMERIC(8, 2) DEFAULT 1 NOT NULL"),
                        ("column", "modified", "project_volunteers", "hours", "default", "community_group"), 3),
    "dropped index": (["DROP INDEX ix_notices_is_pinned_published_at ON notices"],
                      ["DROP INDEX ix_notices_is_pinned_published_at"],
                      ("index", "removed", "notices", "ix_notices_is_pinned_published_at", None, "community_group"), 2),
    "added index": (["CREATE INDEX ix_notices_title ON notices (title)"],
                    ["CREATE INDEX ix_notices_title ON notices (title)"],
                    ("index", "added", "notices", "ix_notices_title", None, "community_group"), 2),
    "index column order": (["DROP INDEX ix_notices_is_pinned_published_at ON notices",
                            "CREATE INDEX ix_notices_is_pinned_published_at ON notices (published_at, is_pinned)"],
                           ["DROP INDEX ix_notices_is_pinned_published_at",
                            "CREATE INDEX ix_notices_is_pinned_published_at ON notices (published_at, is_pinned)"],
                           ("index", "modified", "notices", "ix_notices_is_pinned_published_at", "columns",
                            "community_group"), 2),
    "dropped foreign key": (["ALTER TABLE notices DROP FOREIGN KEY fk_notices_posted_by"],
                            ("notices", ", \n    CONSTRAINT fk_notices_posted_by FOREIGN KEY(posted_by) REFERENCES "
                                        "tenant_users (id) ON DELETE SET NULL", ""),
                            ("foreign_key", "removed", "notices", "fk_notices_posted_by", None, "community_group"), 2),
    "extra table": (["CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))"],
                    ["CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))"],
                    ("table", "added", "scratch_notes", "scratch_notes", None, None), 10),
    "missing table": (["DROP TABLE notices"], ["DROP TABLE notices"],
                      ("table", "removed", "notices", "notices", None, "community_group"), 10),
    "table collation": (["ALTER TABLE notices COLLATE utf8mb4_general_ci"], None,
                        ("option", "modified", "notices", "collation", "collation", "community_group"), 1),
}
LEVEL = {1: "low", 2: "low", 3: "low", 5: "medium", 10: "high"}


@pytest.mark.parametrize("case", list(CASES))
def test_each_change_is_reported_once_with_owner_and_weight(case: str, server: str, dialect: str) -> None:
    mariadb_sql, sqlite_change, expected, score = CASES[case]
    if dialect == "sqlite" and sqlite_change is None:
        pytest.skip("SQLite has no table collation")
    provision("drifty", server)
    if dialect == "mariadb":
        behind_the_back("drifty", mariadb_sql)
    elif isinstance(sqlite_change, tuple):
        sqlite_rebuild("drifty", *sqlite_change)
    else:
        behind_the_back("drifty", sqlite_change)
    r = run("drift", "drifty", "--json")
    assert r.code == 0, r.err
    report = r.json()
    got = [(d["object"], d["change"], d["table"], d["name"], d["attribute"], d["unit"]) for d in report["differences"]]
    obj, change, table, name, attribute, unit = expected
    assert len(got) == 1, got
    assert got[0][:5] == (obj, change, table, name if obj != "option" else got[0][3], attribute) or \
        (obj == "option" and got[0][:3] == (obj, change, table) and got[0][4] == attribute), got
    assert got[0][5] == unit
    assert report["score"] == score and report["severity"] == LEVEL[score]
    assert report["expected_hash"] != report["actual_hash"]
    r = run("drift", "drifty", "--fail-on", LEVEL[score])
    assert r.code == 3 and "at or above" in r.err


def test_conservative_then_aggressive_repair_with_quarantine(server: str, dialect: str) -> None:
    provision("fixme", server)
    behind_the_back("fixme", NOTICE_ROWS)
    behind_the_back("fixme", [
        "ALTER TABLE notices ADD COLUMN mood VARCHAR(20)",
        "UPDATE notices SET mood = 'sunny' WHERE title IN ('n1', 'n3')",
        "CREATE TABLE scratch_notes (id INT PRIMARY KEY, note VARCHAR(50))",
        "INSERT INTO scratch_notes VALUES (1, 'keep me'), (2, 'me too')",
        "DROP INDEX ix_notices_is_pinned_published_at" + (" ON notices" if dialect == "mariadb" else ""),
        "ALTER TABLE project_volunteers DROP COLUMN volunteer_role" if dialect == "mariadb"
        else "ALTER TABLE project_volunteers DROP COLUMN volunteer_role",
    ])
    notices_before = rows("fixme", "notices")
    report = run("drift", "fixme", "--json").json()
    assert report["severity"] == "critical" and report["score"] == 10 + 5 + 5 + 2

    plan = run("repair", "fixme", "--strategy", "aggressive", "--dry-run", "--json").json()
    kinds = {(op["object"], op["change"], op["name"], op["safe"]) for op in plan["operations"]}
    assert ("index", "removed", "ix_notices_is_pinned_published_at", True) in kinds
    assert ("table", "added", "scratch_notes", False) in kinds
    assert all(op["sql"] for op in plan["operations"])

    r = run("repair", "fixme", "--json")  # conservative
    assert r.code == 0, r.err
    result = r.json()
    assert result["strategy"] == "conservative" and result["backup"] is not None
    assert result["quarantine"] == []
    after = run("drift", "fixme", "--json").json()
    assert {(d["object"], d["change"], d["name"]) for d in after["differences"]} == {
        ("column", "added", "mood"), ("table", "added", "scratch_notes")}  # extras left in place
    assert rows("fixme", "scratch_notes") == [(1, "keep me"), (2, "me too")]
    assert len(rows("fixme", "notices")) == len(notices_before)

    r = run("repair", "fixme", "--strategy", "aggressive")
    assert r.code == 1 and "--confirm fixme" in r.err
    assert rows("fixme", "scratch_notes") == [(1, "keep me"), (2, "me too")]  # nothing changed

    r = run("repair", "fixme", "--strategy", "aggressive", "--confirm", "fixme", "--json")
    assert r.code == 0, r.err
    result = r.json()
    assert result["severity_after"] == "none"
    assert {(q["kind"], q["table"]) for q in result["quarantine"]} == {("table", "scratch_notes"), ("column", "notices")}
    assert run("drift", "fixme", "--json").json()["severity"] == "none"
    assert len(rows("fixme", "notices")) == len(notices_before)
    sources = [s["source"] for s in run("snapshots", "list", "fixme", "--json").json()]
    assert sources.count("after-repair") == 2

    items = run("quarantine", "list", "fixme", "--json").json()
    for item in items:
        r = run("quarantine", "restore", "fixme", str(item["id"]))
        assert r.code == 0, r.err
    assert rows("fixme", "scratch_notes") == [(1, "keep me"), (2, "me too")]
    restored = rows("fixme", "notices")
    assert [r[-1] if len(r) > len(notices_before[0]) - 1 else None for r in restored]  # mood is back
    ctx = Context.open()
    engine = tenant_engine(ctx, "fixme")
    with engine.connect() as conn:
        moods = dict(conn.execute(sa.text("SELECT title, mood FROM notices ORDER BY id")).all())
    engine.dispose()
    ctx.close()
    assert moods == {"n0": None, "n1": "sunny", "n2": None, "n3": "sunny", "n4": None}


def test_accepted_drift_is_shown_but_not_counted(server: str) -> None:
    provision("accepty", server)
    behind_the_back("accepty", ["CREATE INDEX ix_notices_title ON notices (title)"])
    report = run("drift", "accepty", "--json").json()
    assert report["severity"] == "low"
    r = run("drift", "accepty", "--accept", "1", "--reason", "hot fix for slow search, ticket 42")
    assert r.code == 0, r.err
    report = run("drift", "accepty", "--json").json()
    assert report["severity"] == "none" and report["differences"][0]["accepted"] is True
    assert any(e["action"] == "drift.accept" for e in run("audit", "--json").json())


def test_drift_all_reports_each_tenant_and_clusters(server: str) -> None:
    for slug in ("fleet-a", "fleet-b", "fleet-c"):
        provision(slug, server)
    behind_the_back("fleet-b", ["CREATE INDEX ix_notices_title ON notices (title)"])
    r = run("drift", "--all", "--json")
    assert r.code == 0, r.err
    reports = {x["tenant"]: x for x in r.json()}
    assert set(reports) == {"fleet-a", "fleet-b", "fleet-c"}
    assert reports["fleet-b"]["severity"] == "low" and reports["fleet-a"]["severity"] == "none"
    r = run("drift", "--all", "--json", "--fail-on", "low")
    assert r.code == 3
    doc = run("drift", "--all", "--json", "--clusters").json()
    clusters = doc["clusters"]
    assert [sorted(c["tenants"]) for c in clusters] == [["fleet-a", "fleet-c"], ["fleet-b"]]
    assert clusters[0]["summary"] == "2 identical to expected"
    assert "ix_notices_title" in clusters[1]["summary"]


def test_snapshots_compare(server: str) -> None:
    provision("snappy", server)
    first = run("snapshot", "snappy", "--json").json()
    behind_the_back("snappy", ["ALTER TABLE notices ADD COLUMN mood VARCHAR(20)"])
    second = run("snapshot", "snappy", "--json").json()
    assert first["hash"] != second["hash"]
    diffs = run("snapshots", "diff", "snappy", str(first["id"]), str(second["id"]), "--json").json()
    assert [(d["object"], d["change"], d["name"]) for d in diffs] == [("column", "added", "mood")]
    assert run("snapshots", "diff", "snappy", str(second["id"]), "--json").json() == []
