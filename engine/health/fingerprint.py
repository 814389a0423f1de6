"""Raw structural fingerprints of many MariaDB/MySQL tenant databases in one query.

Computed inside the server: every row ``schema/capture.py`` reads for a schema (tables,
columns, indexes, keys and foreign keys, checks, views, triggers, routines and their
parameters, events, partitions) becomes one tagged line, and a schema's fingerprint is
SHA2-256 over its lines ordered and concatenated (GROUP_CONCAT, with the session's
``group_concat_max_len`` raised so nothing is cut). Only the 64-character digests cross
the wire, which is what makes an incremental scan cheaper than the bulk read it skips.

Raw, not canonical: any change, even one the canonical capture would ignore, changes
the fingerprint, so the fingerprint may send a tenant to capture needlessly but never
keeps a verdict it should not.
"""
from __future__ import annotations

import sqlalchemy as sa

# bumped whenever the lines change: fingerprints of another format never match
FORMAT = 1
GROUP_CONCAT_MAX = 1 << 30

# (tag, information_schema view, its schema column, the columns that make a line, extra WHERE)
_SOURCES: list[tuple[str, str, str, list[str], str]] = [
    ("T", "TABLES", "TABLE_SCHEMA",
     ["TABLE_NAME", "TABLE_TYPE", "ENGINE", "TABLE_COLLATION", "CREATE_OPTIONS", "TABLE_COMMENT"], ""),
    ("C", "COLUMNS", "TABLE_SCHEMA",
     ["TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "COLUMN_DEFAULT", "IS_NULLABLE", "COLUMN_TYPE",
      "COLLATION_NAME", "EXTRA", "COLUMN_COMMENT", "GENERATION_EXPRESSION"], ""),
    ("S", "STATISTICS", "TABLE_SCHEMA",
     ["TABLE_NAME", "INDEX_NAME", "NON_UNIQUE", "SEQ_IN_INDEX", "COLUMN_NAME", "SUB_PART", "INDEX_TYPE",
      "COLLATION", "INDEX_COMMENT", "{hidden}"], ""),
    ("K", "KEY_COLUMN_USAGE", "TABLE_SCHEMA",
     ["TABLE_NAME", "CONSTRAINT_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "REFERENCED_TABLE_SCHEMA",
      "REFERENCED_TABLE_NAME", "REFERENCED_COLUMN_NAME"], ""),
    ("R", "REFERENTIAL_CONSTRAINTS", "CONSTRAINT_SCHEMA",
     ["TABLE_NAME", "CONSTRAINT_NAME", "UPDATE_RULE", "DELETE_RULE"], ""),
    ("V", "VIEWS", "TABLE_SCHEMA", ["TABLE_NAME", "VIEW_DEFINITION", "CHECK_OPTION", "SECURITY_TYPE"], ""),
    ("G", "TRIGGERS", "TRIGGER_SCHEMA",
     ["TRIGGER_NAME", "EVENT_MANIPULATION", "EVENT_OBJECT_TABLE", "ACTION_TIMING", "ACTION_ORIENTATION",
      "ACTION_ORDER", "ACTION_STATEMENT"], ""),
    ("P", "ROUTINES", "ROUTINE_SCHEMA",
     ["ROUTINE_NAME", "ROUTINE_TYPE", "DTD_IDENTIFIER", "ROUTINE_DEFINITION", "IS_DETERMINISTIC",
      "SQL_DATA_ACCESS", "SECURITY_TYPE", "ROUTINE_COMMENT"], ""),
    ("A", "PARAMETERS", "SPECIFIC_SCHEMA",
     ["SPECIFIC_NAME", "ROUTINE_TYPE", "ORDINAL_POSITION", "PARAMETER_MODE", "PARAMETER_NAME", "DTD_IDENTIFIER"],
     "ORDINAL_POSITION > 0"),
    ("E", "EVENTS", "EVENT_SCHEMA",
     ["EVENT_NAME", "EVENT_DEFINITION", "EVENT_TYPE", "EXECUTE_AT", "INTERVAL_VALUE", "INTERVAL_FIELD", "STATUS",
      "ON_COMPLETION", "EVENT_COMMENT"], ""),
    ("Q", "PARTITIONS", "TABLE_SCHEMA",
     ["TABLE_NAME", "PARTITION_NAME", "PARTITION_METHOD", "PARTITION_EXPRESSION", "PARTITION_DESCRIPTION",
      "SUBPARTITION_METHOD", "SUBPARTITION_EXPRESSION"], "PARTITION_NAME IS NOT NULL"),
]


def _checks(is_mariadb: bool) -> tuple[str, str, str, list[str], str]:
    if is_mariadb:
        return ("X", "CHECK_CONSTRAINTS", "CONSTRAINT_SCHEMA", ["TABLE_NAME", "CONSTRAINT_NAME", "CHECK_CLAUSE"], "")
    # MySQL 8: CHECK_CONSTRAINTS has no TABLE_NAME; the clause and name are enough to notice a change
    return ("X", "CHECK_CONSTRAINTS", "CONSTRAINT_SCHEMA", ["CONSTRAINT_NAME", "CHECK_CLAUSE"], "")


def _line(tag: str, columns: list[str]) -> str:
    # NULL and '' must differ: a NULL default is not an empty-string default
    parts = [f"IFNULL(CAST({c} AS CHAR), CHAR(0))" for c in columns]
    return f"CONCAT_WS(CHAR(31), '{tag}', {', '.join(parts)})"


def query(is_mariadb: bool, mysql_version: tuple[int, ...]) -> sa.TextClause:
    hidden = "IGNORED" if is_mariadb else ("IS_VISIBLE" if mysql_version >= (8,) else "0")
    sources = list(_SOURCES)
    if is_mariadb or mysql_version >= (8, 0, 16):
        sources.append(_checks(is_mariadb))
    selects = []
    for tag, view, schema_col, columns, extra in sources:
        cols = [hidden if c == "{hidden}" else c for c in columns]
        where = f"{schema_col} IN :schemas" + (f" AND {extra}" if extra else "")
        selects.append(f"SELECT {schema_col} AS s, {_line(tag, cols)} AS line "
                       f"FROM information_schema.{view} WHERE {where}")
    sql = (f"SELECT x.s, SHA2(GROUP_CONCAT(x.line ORDER BY x.line SEPARATOR '\\n'), 256) "
           f"FROM ({' UNION ALL '.join(selects)}) x GROUP BY x.s")
    return sa.text(sql).bindparams(sa.bindparam("schemas", expanding=True))


def fingerprints(conn: sa.Connection, schemas: list[str]) -> dict[str, str]:
    """{schema: fingerprint} for the requested schemas that exist (an existing schema
    without any object gets the fingerprint of nothing)."""
    if not schemas:
        return {}
    conn.exec_driver_sql(f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX}")
    is_mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    version = tuple(int(v) for v in (conn.dialect.server_version_info or ()) if isinstance(v, int))
    found = {s: d for s, d in conn.execute(query(is_mariadb, version), {"schemas": schemas})}
    empty = "0" * 64
    present = {r[0] for r in conn.execute(
        sa.text("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN :schemas")
        .bindparams(sa.bindparam("schemas", expanding=True)), {"schemas": schemas})}
    return {s: found.get(s, empty) for s in schemas if s in present}
