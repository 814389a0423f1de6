"""Drift of the objects beyond tables, end to end through the CLI on a provisioned
tenant: objects put in by a custom migration compare clean and are owned by it, a change
behind the tool's back is reported once and repaired, an unexpected trigger can be
accepted or moved aside into quarantine and restored from there."""
from __future__ import annotations

from pathlib import Path

import pytest

from cli import run
from test_day2 import _as
from test_drift import behind_the_back, provision
from test_schema_objects import MARIADB_SCHEMA
from tenantops.engine.access import operators
from tenantops.engine.context import Context


def trigger_sql(dialect: str, name: str = "trg_notices_title") -> str:
    if dialect == "mariadb":
        return f"CREATE TRIGGER {name} BEFORE INSERT ON notices FOR EACH ROW SET NEW.title = TRIM(NEW.title)"
    return (f"CREATE TRIGGER {name} AFTER INSERT ON notices BEGIN "
            "UPDATE notices SET title = trim(title) WHERE id = NEW.id; END")


def differences(slug: str) -> tuple[dict, list[tuple]]:
    r = run("drift", slug, "--json")
    assert r.code == 0, r.err
    report = r.json()
    return report, [(d["object"], d["change"], d["table"], d["name"], d["attribute"], d["unit"])
                    for d in report["differences"]]


def test_trigger_drift_can_be_accepted(server: str, dialect: str) -> None:
    provision("trig-ok", server)
    behind_the_back("trig-ok", [trigger_sql(dialect)])
    report, found = differences("trig-ok")
    assert found == [("trigger", "added", "notices", "trg_notices_title", None, "community_group")]
    assert report["severity"] == "low"
    r = run("drift", "trig-ok", "--accept", "1", "--reason", "audit trigger, ticket 7")
    assert r.code == 0, r.err
    report, _ = differences("trig-ok")
    assert report["severity"] == "none" and report["differences"][0]["accepted"] is True


def test_unexpected_trigger_is_moved_aside_by_aggressive_repair_and_restored(server: str, dialect: str) -> None:
    provision("trig-q", server)
    behind_the_back("trig-q", [trigger_sql(dialect)])
    plan = run("repair", "trig-q", "--strategy", "aggressive", "--dry-run", "--json").json()
    [op] = plan["operations"]
    assert (op["object"], op["change"], op["safe"], op["destructive"]) == ("trigger", "added", False, True)
    assert op["sql"] == ["DROP TRIGGER trg_notices_title"]

    r = run("repair", "trig-q", "--json")  # conservative: an extra trigger stays where it is
    assert r.code == 0, r.err
    assert differences("trig-q")[1] == [("trigger", "added", "notices", "trg_notices_title", None, "community_group")]

    r = run("repair", "trig-q", "--strategy", "aggressive", "--confirm", "trig-q", "--json")
    assert r.code == 0, r.err
    result = r.json()
    assert result["severity_after"] == "none"
    assert [(q["kind"], q["table"], q["column"]) for q in result["quarantine"]] == [
        ("trigger", "notices", "trg_notices_title")]

    [item] = run("quarantine", "list", "trig-q", "--json").json()
    r = run("quarantine", "restore", "trig-q", str(item["id"]))
    assert r.code == 0, r.err
    assert differences("trig-q")[1] == [("trigger", "added", "notices", "trg_notices_title", None, "community_group")]


SQLITE_OBJECTS = [
    "CREATE TABLE items (id INTEGER PRIMARY KEY, price INT NOT NULL DEFAULT 0, qty INT NOT NULL DEFAULT 2)",
    "CREATE VIEW cheap_items AS SELECT id, price FROM items WHERE price < 10",
    "CREATE TRIGGER trg_items_qty AFTER INSERT ON items BEGIN UPDATE items SET qty = 0 WHERE id = NEW.id AND qty < 0; END",
]


def custom_migration(statements: list[str]) -> str:
    body = "\n".join(f"    op.execute({s!r})" for s in statements)
    return f'"""Stock items with a view, trigger, routines, checks and an event."""\nfrom alembic import op\n\n\n' \
           f"def upgrade():\n{body}\n\n\ndef downgrade():\n    op.execute('DROP VIEW cheap_items')\n" \
           "    op.execute('DROP TABLE items')\n"


# dialect -> (the changes, what drift reports for each, severity score). Independent
# changes at once: each is reported exactly once, every one owned by the custom unit.
CHANGES = {
    "mariadb": (["DROP PROCEDURE touch_items",
                 "ALTER TABLE items DROP CONSTRAINT chk_price",
                 "ALTER TABLE items ADD CONSTRAINT chk_price CHECK (price > 0)",
                 "ALTER TABLE items COMMENT = 'changed'",
                 "ALTER TABLE items MODIFY updated TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP",
                 "CREATE TRIGGER trg_items_note BEFORE UPDATE ON items FOR EACH ROW SET NEW.note = TRIM(NEW.note)",
                 "ALTER EVENT ev_cleanup ON SCHEDULE EVERY 2 DAY",
                 "INSERT INTO items (price, qty, loc) VALUES (3, 4, POINT(0, 0))",
                 "ALTER TABLE items AUTO_INCREMENT = 500"],
                {("routine", "removed", None, "touch_items", None),
                 ("check", "modified", "items", "chk_price", "clause"),
                 ("option", "modified", "items", "comment", "comment"),
                 ("column", "modified", "items", "updated", "on_update"),
                 ("trigger", "added", "items", "trg_items_note", None),
                 ("event", "modified", None, "ev_cleanup", "schedule")},
                3 + 2 + 1 + 3 + 2 + 2),
    "sqlite": (["DROP TRIGGER trg_items_qty", "INSERT INTO items (price, qty) VALUES (3, 4)"],
               {("trigger", "removed", "items", "trg_items_qty", None)}, 2),
}


def test_objects_from_a_custom_migration_compare_clean_and_are_owned(server: str, dialect: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    provision("objs", server)
    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="dba")
    ctx.close()
    path = tmp_path / "stock_items.py"
    path.write_text(custom_migration(MARIADB_SCHEMA if dialect == "mariadb" else SQLITE_OBJECTS))
    r = run("custom", "submit", "objs", str(path), "--json")
    assert r.code == 0, r.err
    _as("bob", monkeypatch)
    r = run("custom", "approve", "objs", "stock_items", "--allow-unsafe")
    assert r.code == 0, r.err
    r = run("custom", "apply", "objs", "stock_items")
    assert r.code == 0, r.err

    report, found = differences("objs")
    assert found == [] and report["expected_hash"] == report["actual_hash"]

    change, expected, score = CHANGES[dialect]
    behind_the_back("objs", [c.replace("%", "%%") for c in change] if dialect == "mariadb" else change)
    report, found = differences("objs")
    assert sorted(found, key=str) == sorted(((*e, "custom_objs") for e in expected), key=str)
    assert report["score"] == score

    r = run("repair", "objs", "--strategy", "aggressive", "--confirm", "objs", "--json")
    assert r.code == 0, r.err
    assert r.json()["severity_after"] == "none"

    # the same changes again, now accepted one by one: every object kind can be accepted
    behind_the_back("objs", [c.replace("%", "%%") for c in change] if dialect == "mariadb" else change)
    report, found = differences("objs")
    for number in range(1, len(found) + 1):
        r = run("drift", "objs", "--accept", str(number), "--reason", "known, ticket 9")
        assert r.code == 0, r.err
    report, _ = differences("objs")
    assert report["severity"] == "none" and all(d["accepted"] for d in report["differences"])
    assert len(report["differences"]) == len(expected)


def test_manual_repair_script_runs_compound_bodies_in_a_sql_client(server: str, dialect: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    provision("scripty", server)
    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="dba")
    ctx.close()
    if dialect == "sqlite":
        trigger = ("CREATE TRIGGER trg_notices_pin AFTER INSERT ON notices BEGIN "
                   "UPDATE notices SET is_pinned = 0 WHERE id = NEW.id; END")
    else:
        trigger = ("CREATE TRIGGER trg_notices_pin BEFORE INSERT ON notices FOR EACH ROW "
                   "BEGIN SET NEW.title = TRIM(NEW.title); SET NEW.is_pinned = 0; END")
    path = tmp_path / "pin_trigger.py"
    path.write_text('"""Unpin new notices."""\nfrom alembic import op\n\n\ndef upgrade():\n'
                    f"    op.execute({trigger!r})\n\n\ndef downgrade():\n    op.execute('DROP TRIGGER trg_notices_pin')\n")
    assert run("custom", "submit", "scripty", str(path)).code == 0
    _as("bob", monkeypatch)
    assert run("custom", "approve", "scripty", "pin_trigger", "--allow-unsafe").code == 0
    assert run("custom", "apply", "scripty", "pin_trigger").code == 0
    behind_the_back("scripty", ["DROP TRIGGER trg_notices_pin"])

    r = run("repair", "scripty", "--strategy", "manual", "--json")
    assert r.code == 0, r.err
    script = Path(r.json()["script"]).read_text()
    if dialect == "mariadb":  # the mysql client needs another delimiter around BEGIN ... END
        assert "DELIMITER $$\nCREATE TRIGGER `trg_notices_pin` BEFORE INSERT ON `notices` FOR EACH ROW BEGIN" in script
        assert "END$$\nDELIMITER ;" in script
    else:  # sqlite3 reads a trigger's BEGIN ... END; as one statement
        assert "DELIMITER" not in script and script.rstrip().endswith("END;")
