"""Seed rows go in exactly as the seed file writes them, whatever they hold."""
from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from conftest import make_engine
from tenantops.engine.catalog.model import Unit
from tenantops.engine.migrate import seeds

HOSTILE = ["O'Brien", 'say "hi"', "back\\slash", "100% %s %(x)s %%", "line\nbreak", "नेपाल 🙂",
           "`tick`", "'); DROP TABLE t; --", ""]


def test_seed_values_and_identifiers_go_in_verbatim(db_url: sa.URL, tmp_path: Path) -> None:
    """Quotes, backslashes, format markers, newlines, non-ASCII, NULLs, JSON and a column
    whose name holds % and a backtick: every value reads back as written, on both dialects,
    and 2,500 rows (more than one multi-row statement) all arrive."""
    engine = make_engine(db_url)
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
