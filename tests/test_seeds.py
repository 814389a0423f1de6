"""Seed rows go in exactly as the seed file writes them, whatever they hold."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import make_engine
from tenantops.engine import mysql_driver
from tenantops.engine.catalog.model import Unit
from tenantops.engine.migrate import seeds

HOSTILE = ["O'Brien", 'say "hi"', "back\\slash", "100% %s %(x)s %%", "line\nbreak", "नेपाल 🙂",
           "`tick`", "'); DROP TABLE t; --", ""]


def _engine(db_url: sa.URL, batched: bool) -> sa.Engine:
    """On MariaDB, ``batched``: a connection that takes several statements per query, as a
    tenant's does (the seeds then go in one query); otherwise statement by statement."""
    if db_url.get_backend_name() != "mysql":
        return make_engine(db_url)
    args = {"ssl_disabled": True, **({"client_flag": mysql_driver.MULTI_STATEMENTS} if batched else {})}
    return sa.create_engine(db_url, connect_args=args, poolclass=sa.pool.NullPool)


@pytest.mark.parametrize("batched", [True, False], ids=["one-query", "per-statement"])
def test_seed_values_and_identifiers_go_in_verbatim(db_url: sa.URL, tmp_path: Path, batched: bool) -> None:
    """Quotes, backslashes, format markers, newlines, non-ASCII, NULLs, JSON and a column
    whose name holds % and a backtick: every value reads back as written, on both dialects,
    and 2,500 rows (more than one multi-row statement) all arrive."""
    if db_url.get_backend_name() != "mysql" and not batched:
        pytest.skip("SQLite has one path")
    engine = _engine(db_url, batched)
    odd = "pct%`col"
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.String(200)), sa.Column(odd, sa.String(200), nullable=True),
                     sa.Column("doc", sa.Text, nullable=True))
    table.metadata.create_all(engine)
    rows = [{"id": i + 1, "name": value, odd: value or None, "doc": {"v": value}} for i, value in enumerate(HOSTILE)]
    rows += [{"id": 100 + i, "name": f"row {i}"} for i in range(2500)]  # another column set
    seed = tmp_path / "t.json"
    seed.write_text(json.dumps({"table": "t", "rows": rows, "json_columns": ["doc"]}))
    unit = Unit(slug="basic", kind="basic", name="basic", version="1.0.0", seeds=[seed])
    with engine.connect() as conn:
        assert seeds.apply_seeds(conn, [unit], fresh=True) == {"t": len(rows)}
        conn.commit()
        got = {r.id: r for r in conn.execute(sa.select(table).order_by(table.c.id))}
    engine.dispose()
    assert len(got) == len(rows)
    for i, value in enumerate(HOSTILE):
        row = got[i + 1]
        assert row.name == value and row[2] == (value or None) and json.loads(row.doc) == {"v": value}
    assert got[2599].name == "row 2499" and got[2599][2] is None and got[2599].doc is None


def test_a_failing_seed_statement_leaves_no_seed_rows(db_url: sa.URL, tmp_path: Path) -> None:
    """Sent as one query, a seed that breaks a key fails the way a single statement does,
    and the rows of the tables seeded before it in the same query are rolled back."""
    engine = _engine(db_url, batched=True)
    meta = sa.MetaData()
    first = sa.Table("first", meta, sa.Column("id", sa.Integer, primary_key=True))
    second = sa.Table("second", meta, sa.Column("id", sa.Integer, primary_key=True))
    meta.create_all(engine)
    (tmp_path / "a.json").write_text(json.dumps({"table": "first", "rows": [{"id": 1}, {"id": 2}]}))
    (tmp_path / "b.json").write_text(json.dumps({"table": "second", "rows": [{"id": 7}, {"id": 7}]}))
    unit = Unit(slug="basic", kind="basic", name="basic", version="1.0.0",
                seeds=[tmp_path / "a.json", tmp_path / "b.json"])
    with engine.connect() as conn:
        with pytest.raises(sa.exc.IntegrityError):
            seeds.apply_seeds(conn, [unit], fresh=True)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(first)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(second)).scalar_one() == 0
        # the connection is usable afterwards
        assert seeds.apply_seeds(conn, [Unit(slug="basic", kind="basic", name="basic", version="1.0.0",
                                              seeds=[tmp_path / "a.json"])], fresh=True) == {"first": 2}
    engine.dispose()
