"""Structural fingerprints of MariaDB/MySQL tenant databases, for incremental drift scans.

A fingerprint only has to answer "has anything ``schema/capture.py`` reads changed since
the capture it was recorded with?". Two kinds answer it, each sound on its own:

* **quick** (``q…``): MariaDB writes a table's whole definition (columns, indexes, keys,
  foreign keys, checks, partitioning, options, comments) to its ``.frm`` file on every
  ALTER, instant ones included, and InnoDB reports that file's ctime as
  ``information_schema.TABLES.CREATE_TIME``. A ctime cannot be set back by any statement
  and RENAME updates it too, so (name, type, engine, CREATE_TIME) of every table stand for
  its definition. Triggers, views, routines and events live outside ``.frm`` files: their
  captured rows enter the fingerprint whole. SHA-256 over these lines, computed here from
  rows either read for the purpose (one narrow TABLES read plus the small views; no
  COLUMNS/STATISTICS/KEY_COLUMN_USAGE/... at all) or seen while a full capture reads
  them anyway, so a full scan pays nothing extra.
* **detailed** (``d…``): SHA2 computed inside the server over every row the capture
  reads, ordered and concatenated; only the digests cross the wire. As costly as the
  reads themselves, so used only where a quick one cannot vouch.

A quick fingerprint vouches only where the ctime argument holds: MariaDB (not MySQL),
every base table InnoDB (MyISAM and Aria keep their create time across definition-only
ALTERs), every ctime known and older than :data:`SETTLE` before the read began (a second
change within the same second as the recorded ctime would keep the value; as with git's
"racily clean" index entries, such a schema is not vouched for until it has settled). A
schema whose captured foreign keys reference another database is never vouched for:
renaming that database's table changes the key without touching this schema.

Where the quick kind can never vouch (MySQL, a non-InnoDB table), an incremental scan
records the detailed kind and compares with it from then on. Everything else the quick
kind cannot vouch for (unsettled, a foreign key into another database, and in a full
scan, which runs no fingerprint query, the non-InnoDB schemas too) is recorded as
:data:`UNVOUCHED`, which matches nothing: the next scan captures it again.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tenantops.engine.schema import capture as cap

# bumped whenever the lines change: fingerprints of another format never match (it is
# part of every verdict's basis)
FORMAT = 2
QUICK, DETAILED = "q", "d"
UNVOUCHED = "x" + "0" * 63  # a recorded fingerprint that no computed one ever equals
DIGEST = 63  # kind letter + 63 hex digits fit the landlord's 64-character column
# how long a ctime must lie before the read for a later change to land in another second:
# one second of CREATE_TIME resolution, the kernel's coarse file clock, and some slack
SETTLE = timedelta(seconds=2)
GROUP_CONCAT_MAX = 1 << 30

_BASE_TABLES = ("BASE TABLE", "SYSTEM VERSIONED")

# source -> (tag, schema column, the columns that make its line). The rows come from the
# capture's own queries (schema/capture.py) or, for tables, from _Q_QUICK_TABLES: the
# columns named here must be read by both.
_LINES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "tables": ("T", "TABLE_SCHEMA", ("TABLE_NAME", "TABLE_TYPE", "ENGINE", "CREATE_TIME")),
    "views": ("V", "TABLE_SCHEMA", ("TABLE_NAME", "VIEW_DEFINITION", "CHECK_OPTION", "SECURITY_TYPE")),
    "triggers": ("G", "TRIGGER_SCHEMA", ("TRIGGER_NAME", "EVENT_MANIPULATION", "EVENT_OBJECT_TABLE", "ACTION_TIMING",
                                         "ACTION_ORIENTATION", "ACTION_ORDER", "ACTION_STATEMENT")),
    "routines": ("P", "ROUTINE_SCHEMA", ("ROUTINE_NAME", "ROUTINE_TYPE", "DTD_IDENTIFIER", "ROUTINE_DEFINITION",
                                         "IS_DETERMINISTIC", "SQL_DATA_ACCESS", "SECURITY_TYPE", "ROUTINE_COMMENT")),
    "parameters": ("A", "SPECIFIC_SCHEMA", ("SPECIFIC_NAME", "ROUTINE_TYPE", "ORDINAL_POSITION", "PARAMETER_MODE",
                                            "PARAMETER_NAME", "DTD_IDENTIFIER")),
    "events": ("E", "EVENT_SCHEMA", ("EVENT_NAME", "EVENT_DEFINITION", "EVENT_TYPE", "EXECUTE_AT", "INTERVAL_VALUE",
                                     "INTERVAL_FIELD", "STATUS", "ON_COMPLETION", "EVENT_COMMENT")),
}

# TABLE_NAME and TABLE_SCHEMA alone cost MariaDB nothing; ENGINE and CREATE_TIME open each
# table's definition (cached): ~0.35 s for 28,000 tables, against ~5 s for the full read
_Q_QUICK_TABLES = sa.text(
    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, CREATE_TIME "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA IN :schemas"
).bindparams(sa.bindparam("schemas", expanding=True))


@contextmanager
def utc_session(conn: sa.Connection) -> Iterator[datetime]:
    """Run the reads inside with CREATE_TIME in UTC (a local time repeats an hour each
    autumn, two ctimes would read alike) and yield the server's UTC time before them."""
    previous = conn.exec_driver_sql("SELECT @@session.time_zone").scalar()
    conn.exec_driver_sql("SET SESSION time_zone = '+00:00'")
    try:
        now = conn.exec_driver_sql("SELECT UTC_TIMESTAMP()").scalar()
        assert isinstance(now, datetime)
        yield now
    finally:
        conn.execute(sa.text("SET SESSION time_zone = :tz"), {"tz": previous})


class QuickPrints:
    """Collects the rows of one read of many schemas; :meth:`digests` turns them into
    quick fingerprints (or :data:`UNVOUCHED` where the quick kind cannot vouch)."""

    def __init__(self, now: datetime, is_mariadb: bool, lower_case_names: bool = False) -> None:
        self.settled = now - SETTLE
        self.is_mariadb = is_mariadb
        self.fold = (lambda name: name.lower()) if lower_case_names else (lambda name: name)
        self.lines: dict[str, list[str]] = defaultdict(list)
        self.unsettled: set[str] = set()  # changed just now: vouched for once it has settled
        self.unfit: set[str] = set()  # the quick kind never vouches for these: the detailed kind must

    def observe(self, source: str, rows: Sequence[Any]) -> None:
        spec = _LINES.get(source)
        if spec is None:
            return
        if not rows:
            return
        tag, schema_column, columns = spec
        fields = list(rows[0]._fields)
        at = fields.index(schema_column)
        picks = [fields.index(c) for c in columns]
        lines, fold = self.lines, self.fold
        for row in rows:
            schema = fold(row[at])
            # NULL and '' must differ: a NULL default is not an empty-string default
            lines[schema].append(tag + "".join(["\x1f\x00" if row[i] is None else f"\x1f{row[i]}" for i in picks]))
            if source != "tables" or row.TABLE_TYPE not in _BASE_TABLES:
                continue
            if not (self.is_mariadb and (row.ENGINE or "").lower() == "innodb" and row.CREATE_TIME is not None):
                self.unfit.add(schema)
            elif row.CREATE_TIME >= self.settled:
                self.unsettled.add(schema)

    def digests(self, schemas: list[str]) -> dict[str, str]:
        out = {}
        for name in schemas:
            key = self.fold(name)
            if key in self.unfit or key in self.unsettled:
                out[name] = UNVOUCHED
                continue
            text = "\n".join(sorted(self.lines.get(key, [])))
            out[name] = QUICK + hashlib.sha256(text.encode()).hexdigest()[:DIGEST]
        return out


@dataclass
class Quick:
    prints: dict[str, str]  # {schema: quick fingerprint or UNVOUCHED}, for the schemas that exist
    unfit: set[str]  # schemas only the detailed kind can vouch for
    versioned: set[str]  # schemas holding an alembic_version table


def quick(conn: sa.Connection, schemas: list[str]) -> Quick:
    """Quick fingerprints of many schemas, from one narrow TABLES read and the capture's
    own reads of triggers, routines, parameters, events and (where there are any) views."""
    if not schemas:
        return Quick({}, set(), set())
    is_mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    lower = bool(int(conn.exec_driver_sql("SELECT @@lower_case_table_names").scalar() or 0))
    params = {"schemas": schemas}
    with utc_session(conn) as now:
        prints = QuickPrints(now, is_mariadb, lower)
        present = {prints.fold(r[0]) for r in cap._rows(conn, cap._Q_SCHEMATA, params)}
        tables = cap._rows(conn, _Q_QUICK_TABLES, params)
        prints.observe("tables", tables)
        with_views = sorted({r.TABLE_SCHEMA for r in tables if r.TABLE_TYPE == "VIEW"})
        if with_views:
            prints.observe("views", cap._rows(conn, cap._Q_VIEWS, {"schemas": with_views}))
        prints.observe("triggers", cap._rows(conn, cap._Q_TRIGGERS, params))
        routines = cap._rows(conn, cap._Q_ROUTINES, params)
        prints.observe("routines", routines)
        if routines:
            prints.observe("parameters", cap._rows(conn, cap._Q_PARAMETERS, params))
        prints.observe("events", cap._rows(conn, cap._Q_EVENTS, params))
    versioned = {prints.fold(r.TABLE_SCHEMA) for r in tables if r.TABLE_NAME == "alembic_version"}
    existing = [s for s in schemas if prints.fold(s) in present]
    return Quick(prints.digests(existing), {s for s in existing if prints.fold(s) in prints.unfit},
                 {s for s in existing if prints.fold(s) in versioned})


def vouchable(canonical: dict) -> bool:
    """False where a captured schema depends on another database (a foreign key into it:
    capture names such a table ``schema.table``), which no fingerprint of this one sees."""
    return not any("." in fk["ref_table"] for table in canonical["tables"].values()
                   for fk in table["foreign_keys"].values())


# -- detailed -----------------------------------------------------------------------------

# (tag, information_schema view, its schema column, the column MariaDB looks rows up by,
#  the columns that make a line, extra WHERE)
_SOURCES: list[tuple[str, str, str, str, list[str], str]] = [
    ("T", "TABLES", "TABLE_SCHEMA", "TABLE_SCHEMA",
     ["TABLE_NAME", "TABLE_TYPE", "ENGINE", "TABLE_COLLATION", "CREATE_OPTIONS", "TABLE_COMMENT"], ""),
    ("C", "COLUMNS", "TABLE_SCHEMA", "TABLE_SCHEMA",
     ["TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "COLUMN_DEFAULT", "IS_NULLABLE", "COLUMN_TYPE",
      "COLLATION_NAME", "EXTRA", "COLUMN_COMMENT", "GENERATION_EXPRESSION"], ""),
    ("S", "STATISTICS", "TABLE_SCHEMA", "TABLE_SCHEMA",
     ["TABLE_NAME", "INDEX_NAME", "NON_UNIQUE", "SEQ_IN_INDEX", "COLUMN_NAME", "SUB_PART", "INDEX_TYPE",
      "COLLATION", "INDEX_COMMENT", "{hidden}"], ""),
    ("K", "KEY_COLUMN_USAGE", "TABLE_SCHEMA", "TABLE_SCHEMA",
     ["TABLE_NAME", "CONSTRAINT_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "REFERENCED_TABLE_SCHEMA",
      "REFERENCED_TABLE_NAME", "REFERENCED_COLUMN_NAME"], ""),
    ("R", "REFERENTIAL_CONSTRAINTS", "CONSTRAINT_SCHEMA", "CONSTRAINT_SCHEMA",
     ["TABLE_NAME", "CONSTRAINT_NAME", "UPDATE_RULE", "DELETE_RULE"], ""),
    ("V", "VIEWS", "TABLE_SCHEMA", "TABLE_SCHEMA",
     ["TABLE_NAME", "VIEW_DEFINITION", "CHECK_OPTION", "SECURITY_TYPE"], ""),
    ("G", "TRIGGERS", "TRIGGER_SCHEMA", "EVENT_OBJECT_SCHEMA",
     ["TRIGGER_NAME", "EVENT_MANIPULATION", "EVENT_OBJECT_TABLE", "ACTION_TIMING", "ACTION_ORIENTATION",
      "ACTION_ORDER", "ACTION_STATEMENT"], ""),
    ("P", "ROUTINES", "ROUTINE_SCHEMA", "ROUTINE_SCHEMA",
     ["ROUTINE_NAME", "ROUTINE_TYPE", "DTD_IDENTIFIER", "ROUTINE_DEFINITION", "IS_DETERMINISTIC",
      "SQL_DATA_ACCESS", "SECURITY_TYPE", "ROUTINE_COMMENT"], ""),
    ("A", "PARAMETERS", "SPECIFIC_SCHEMA", "SPECIFIC_SCHEMA",
     ["SPECIFIC_NAME", "ROUTINE_TYPE", "ORDINAL_POSITION", "PARAMETER_MODE", "PARAMETER_NAME", "DTD_IDENTIFIER"],
     "ORDINAL_POSITION > 0"),
    ("E", "EVENTS", "EVENT_SCHEMA", "EVENT_SCHEMA",
     ["EVENT_NAME", "EVENT_DEFINITION", "EVENT_TYPE", "EXECUTE_AT", "INTERVAL_VALUE", "INTERVAL_FIELD", "STATUS",
      "ON_COMPLETION", "EVENT_COMMENT"], ""),
    ("Q", "PARTITIONS", "TABLE_SCHEMA", "TABLE_SCHEMA",
     ["TABLE_NAME", "PARTITION_NAME", "PARTITION_METHOD", "PARTITION_EXPRESSION", "PARTITION_DESCRIPTION",
      "SUBPARTITION_METHOD", "SUBPARTITION_EXPRESSION"], "PARTITION_NAME IS NOT NULL"),
]


def _checks(is_mariadb: bool) -> tuple[str, str, str, str, list[str], str]:
    if is_mariadb:
        return ("X", "CHECK_CONSTRAINTS", "CONSTRAINT_SCHEMA", "CONSTRAINT_SCHEMA",
                ["TABLE_NAME", "CONSTRAINT_NAME", "CHECK_CLAUSE"], "")
    # MySQL 8: CHECK_CONSTRAINTS has no TABLE_NAME; the clause and name are enough to notice a change
    return ("X", "CHECK_CONSTRAINTS", "CONSTRAINT_SCHEMA", "CONSTRAINT_SCHEMA", ["CONSTRAINT_NAME", "CHECK_CLAUSE"], "")


def _line(tag: str, columns: list[str]) -> str:
    parts = [f"IFNULL(CAST({c} AS CHAR), CHAR(0))" for c in columns]
    return f"CONCAT_WS(CHAR(31), '{tag}', {', '.join(parts)})"


def query(is_mariadb: bool, mysql_version: tuple[int, ...]) -> sa.TextClause:
    hidden = "IGNORED" if is_mariadb else ("IS_VISIBLE" if mysql_version >= (8,) else "0")
    sources = list(_SOURCES)
    if is_mariadb or mysql_version >= (8, 0, 16):
        sources.append(_checks(is_mariadb))
    selects = []
    for tag, view, schema_col, lookup_col, columns, extra in sources:
        cols = [hidden if c == "{hidden}" else c for c in columns]
        where = f"{lookup_col} IN :schemas" + (f" AND {extra}" if extra else "")
        selects.append(f"SELECT {schema_col} AS s, {_line(tag, cols)} AS line "
                       f"FROM information_schema.{view} WHERE {where}")
    sql = (f"SELECT x.s, SHA2(GROUP_CONCAT(x.line ORDER BY x.line SEPARATOR '\\n'), 256) "
           f"FROM ({' UNION ALL '.join(selects)}) x GROUP BY x.s")
    return sa.text(sql).bindparams(sa.bindparam("schemas", expanding=True))


def detailed(conn: sa.Connection, schemas: list[str]) -> dict[str, str]:
    """{schema: detailed fingerprint} for the requested schemas that exist (an existing
    schema without any object gets the fingerprint of nothing). A few schemas are read one
    by one, where MariaDB looks each up instead of walking every database per view."""
    if not schemas:
        return {}
    conn.exec_driver_sql(f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX}")
    is_mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    version = tuple(int(v) for v in (conn.dialect.server_version_info or ()) if isinstance(v, int))
    sql = query(is_mariadb, version)
    batches = [[s] for s in schemas] if len(schemas) <= cap.ONE_BY_ONE else [schemas]
    found = {s: d for batch in batches for s, d in conn.execute(sql, {"schemas": batch})}
    present = {r[0] for r in cap._rows(conn, cap._Q_SCHEMATA, {"schemas": schemas})}
    return {s: DETAILED + found.get(s, "0" * 64)[:DIGEST] for s in schemas if s in present}
