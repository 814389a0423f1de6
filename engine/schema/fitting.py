"""Fitting values into a narrowed text column: which values are too long (counted by the
pre-flight checks) and cutting them once their originals are in quarantine (the repair's
narrowing operation). Shared by ``plan.py`` and ``preflight.py``."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantops.engine.schema.coltypes import parse_type

_TEXT_BYTES = {"tinytext": 255, "text": 65535, "mediumtext": 16777215}


def text_limit(canonical: str) -> tuple[int, bool] | None:
    """(limit, in characters?) of a text type, None when it has none worth checking."""
    spec = parse_type(canonical)
    if spec.base in ("char", "varchar"):
        return (spec.args or (1,))[0], True
    if spec.base in _TEXT_BYTES:
        return _TEXT_BYTES[spec.base], False
    return None


def _length(conn: sa.Connection, column: Any, chars: bool) -> Any:
    if chars:
        return sa.func.char_length(column) if conn.dialect.name != "sqlite" else sa.func.length(column)
    if conn.dialect.name == "sqlite":
        return sa.func.length(sa.cast(column, sa.LargeBinary))
    return sa.func.octet_length(column)


def too_long(conn: sa.Connection, table: str, column: str, target: str) -> sa.ColumnElement[bool] | None:
    """The condition matching the values of ``column`` that ``target`` cannot hold."""
    limit = text_limit(target)
    if limit is None:
        return None
    col: sa.ColumnClause[Any] = sa.column(column)
    return _length(conn, col, limit[1]) > limit[0]


def fit_text(conn: sa.Connection, table: str, column: str, target: str) -> int:
    """Cut the values longer than ``target`` allows (their originals are in quarantine
    already). Returns how many rows were cut."""
    limit = text_limit(target)
    if limit is None:
        return 0
    size, chars = limit
    # a byte limit holds at least size // 4 characters of utf8mb4
    keep = size if chars else size // 4
    col: sa.ColumnClause[Any] = sa.column(column)
    t = sa.table(table, col)
    result = conn.execute(sa.update(t).values({column: sa.func.substr(col, 1, keep)})
                          .where(_length(conn, col, chars) > size))
    return int(result.rowcount or 0)
