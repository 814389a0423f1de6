"""Custom migrations are reviewed by running them in a shadow of the tenant's schema:
what they really do (raw SQL included), whether their downgrade undoes it, and findings
with counts from the live tenant. Unsafe ones need --allow-unsafe; an irreversible one is
never "rolled back" without undoing it."""
from __future__ import annotations

from pathlib import Path

import pytest

from cli import run
from test_day2 import _as, add_rows, count_rows, provision, tables_of
from tenantops.engine.access import operators
from tenantops.engine.context import Context

EVENTS = [f"INSERT INTO events (title, event_type, starts_at) VALUES ('Meeting {i}', 'meeting', '2026-01-0{1 + i % 9}')"
          for i in range(40)]


def hostile(server: str) -> str:
    # raw SQL the static checks cannot see; MariaDB also needs the FK checks off to drop it
    fk_off = '    op.execute("SET FOREIGN_KEY_CHECKS=0")\n' if server != "local" else ""
    return ('from alembic import op\n\n\ndef upgrade():\n' + fk_off +
            '    op.execute("DROP TABLE events")\n\n\ndef downgrade():\n    op.execute("SELECT 1")\n')


BENIGN = '''
"""A notice table and a nullable column."""
from alembic import op
import sqlalchemy as sa

touches = ["events"]


def upgrade():
    op.create_table("ward_notices", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))
    op.add_column("events", sa.Column("ward", sa.String(32), nullable=True))


def downgrade():
    op.drop_column("events", "ward")
    op.drop_table("ward_notices")
'''

RISKY = '''
"""Titles become unique and short."""
from alembic import op
import sqlalchemy as sa

touches = ["events"]


def upgrade():
    with op.batch_alter_table("events") as batch:
        batch.alter_column("title", existing_type=sa.String(200), type_=sa.String(8), existing_nullable=False)
        batch.create_unique_constraint("uq_events_title", ["title"])


def downgrade():
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_title", type_="unique")
        batch.alter_column("title", existing_type=sa.String(8), type_=sa.String(200), existing_nullable=False)
'''


def _submit(tmp_path: Path, slug: str, name: str, content: str) -> dict:
    path = tmp_path / f"{name}.py"
    path.write_text(content)
    r = run("custom", "submit", slug, str(path), "--json")
    assert r.code == 0, r.err
    return r.json()


def test_raw_drop_is_reviewed_as_destructive_and_cannot_be_rolled_back(server: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    provision("cg-rev", server)
    add_rows("cg-rev", EVENTS)
    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="dba")
    ctx.close()

    doc = _submit(tmp_path, "cg-rev", "cleanup", hostile(server))
    review = run("custom", "show", "cg-rev", "cleanup", "--json").json()["review"]
    assert review == doc["review"]
    dropped = [c for c in review["changes"] if c["object"] == "table" and c["change"] == "removed"]
    assert [c["name"] for c in dropped] == ["events"] and dropped[0]["destructive"]
    codes = {f["code"]: f["message"] for f in review["findings"]}
    assert "drops table events (40 rows in the tenant)" in codes["TO101"]
    assert review["round_trip"] != "ok" and "events" in review["round_trip"] and "TO201" in codes
    assert tables_of("cg-rev") >= {"events"} and count_rows("cg-rev", "events") == {"events": 40}  # review only

    _as("bob", monkeypatch)
    r = run("custom", "approve", "cg-rev", "cleanup")
    assert r.code == 1 and "TO101" in r.err and "--allow-unsafe" in r.err
    assert run("custom", "list", "cg-rev", "--json").json()[0]["status"] == "submitted"
    assert run("custom", "approve", "cg-rev", "cleanup", "--allow-unsafe").code == 0
    r = run("custom", "apply", "cg-rev", "cleanup")
    assert r.code == 0, r.err
    assert "events" not in tables_of("cg-rev")

    history = run("history", "cg-rev", "--json").json()
    batch = max(h["batch"] for h in history) - 1
    r = run("rollback", "cg-rev", "--batch", str(batch), "--confirm", "cg-rev")
    assert r.code == 1 and "cannot undo custom migration cleanup" in r.err and "backups restore cg-rev" in r.err
    backup = r.err.split("restore backup ")[1].split()[0]
    r = run("backups", "restore", "cg-rev", backup, "--confirm", "cg-rev")
    assert r.code == 0, r.err
    assert count_rows("cg-rev", "events") == {"events": 40}


def test_benign_review_is_clean_and_risky_one_counts_what_breaks(server: str, tmp_path: Path) -> None:
    provision("cg-ok", server)
    add_rows("cg-ok", EVENTS[:3] + [EVENTS[0], EVENTS[0].replace("Meeting 0", "A rather long title")])

    review = _submit(tmp_path, "cg-ok", "notices", BENIGN)["review"]
    assert review["round_trip"] == "ok"
    assert [f for f in review["findings"] if f["severity"] == "error"] == []
    assert {(c["object"], c["change"], c["name"]) for c in review["changes"]} == {
        ("table", "added", "ward_notices"), ("column", "added", "ward")}
    assert any("ward_notices" in s for s in review["sql"])

    review = _submit(tmp_path, "cg-ok", "short_titles", RISKY)["review"]
    codes = {f["code"]: f["message"] for f in review["findings"]}
    # "Meeting 0" twice (a duplicate group of 2); all five titles are longer than 8 characters
    assert "over 2 duplicated values" in codes["TO105"]
    assert "(5 values longer than 8)" in codes["TO103"]
    assert review["round_trip"] == "ok"


def test_scheduled_apply_waits_for_its_time_and_can_be_cancelled(server: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta, timezone

    provision("cg-sch", server)
    ctx = Context.open()
    operators.add_operator(ctx, user="bob", role="dba")
    ctx.close()
    _submit(tmp_path, "cg-sch", "notices", BENIGN)
    _as("bob", monkeypatch)
    assert run("custom", "approve", "cg-sch", "notices").code == 0

    r = run("custom", "apply", "cg-sch", "notices", "--at", "tomorrow")
    assert r.code == 2 and "ISO 8601" in r.err
    r = run("custom", "apply", "cg-sch", "notices", "--at", "2030-01-01T02:00:00")
    assert r.code == 2 and "no UTC offset" in r.err
    when = datetime.now(timezone.utc) + timedelta(seconds=4)
    r = run("custom", "apply", "cg-sch", "notices", "--at", when.isoformat(), "--json")
    assert r.code == 0, r.err
    job = r.json()["job"]
    assert run("worker", "--once").code == 0          # too early: nothing runs
    doc = run("jobs", "show", str(job), "--json").json()
    assert doc["status"] == "queued" and doc["not_before"] and "ward_notices" not in tables_of("cg-sch")
    # the tenant is not locked while the job waits
    assert run("snapshot", "cg-sch").code == 0
    while datetime.now(timezone.utc) < when:
        import time
        time.sleep(0.2)
    assert run("worker", "--once").code == 0
    assert run("jobs", "show", str(job), "--json").json()["status"] == "succeeded"
    assert "ward_notices" in tables_of("cg-sch")

    # a window from config; cancelled before it opens, it never runs
    (tmp_path / "config.toml").write_text('[maintenance]\nwindows = ["Sat 02:00-04:00 UTC"]\n')
    _submit(tmp_path, "cg-sch", "notices2", BENIGN.replace("ward_notices", "ward_notes").replace('"ward"', '"ward2"'))
    _as("alice", monkeypatch)
    assert run("custom", "approve", "cg-sch", "notices2").code == 0
    r = run("custom", "apply", "cg-sch", "notices2", "--in-window", "--json")
    assert r.code == 0, r.err
    assert datetime.fromisoformat(r.json()["scheduled_for"]).weekday() == 5
    job = r.json()["job"]
    assert run("jobs", "cancel", str(job)).code == 0
    assert run("jobs", "show", str(job), "--json").json()["status"] == "cancelled"
    r = run("jobs", "cancel", str(job))
    assert r.code == 1 and "only a queued or scheduled job" in r.err
