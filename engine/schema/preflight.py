"""Pre-flight data checks of a repair plan: before anything runs, count the rows each
operation would not carry over, so a plan is either run whole or refused up front,
never stopped half-way by ``Data truncated`` or a duplicate key.

Per operation that narrows a column, makes it NOT NULL, creates a UNIQUE index or
converts a collation, a :class:`Check` says how many rows are affected and what the
plan does about them:

* ``quarantine``: the values are copied to quarantine first and the change then fits
  them (too-long text is cut to the new length; NULLs get the column's default).
* ``refuse``: the plan cannot make them fit without choosing which rows to lose
  (duplicates under a UNIQUE index, numbers out of the new range, NULLs with no
  default); the repair is refused with the count and nothing is changed.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import sqlalchemy as sa

from tenantops.engine.schema import sqlobjects as so
from tenantops.engine.schema.coltypes import parse_type, repair_narrows
from tenantops.engine.schema.fitting import text_limit, too_long
from tenantops.engine.schema.plan import Operation, RepairPlan

Action = Literal["quarantine", "refuse"]

_COLLATION = re.compile(r"^[a-z0-9_]{1,64}$")
_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}


@dataclass
class Check:
    operation: int          # index in the plan's operations
    table: str
    name: str               # column or index
    check: str              # too_long | out_of_range | null | duplicates | collation_duplicates
    rows: int
    action: Action
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _count(conn: sa.Connection, table: str, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table)).where(where)).scalar_one())


def _duplicates(conn: sa.Connection, table: str, columns: list[Any]) -> int:
    """Rows sharing their (non-NULL) key with another row."""
    t = sa.table(table)
    groups = (sa.select(sa.func.count().label("n")).select_from(t)
              .where(sa.and_(*[c.is_not(None) for c in columns]))
              .group_by(*columns).having(sa.func.count() > 1).subquery())
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(groups.c.n), 0))).scalar_one())


def _int_range(target: str) -> tuple[int, int] | None:
    spec = parse_type(target)
    bits = _INT_BITS.get(spec.base)
    if bits is None:
        return None
    return (0, 2 ** bits - 1) if spec.unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _column_check(conn: sa.Connection, index: int, op: Operation, actual: dict, expected: dict) -> Check | None:
    table, name = op.table or "", op.name
    col = actual["tables"].get(table, {}).get("columns", {}).get(name)
    want = expected["tables"].get(table, {}).get("columns", {}).get(name)
    if col is None or want is None:
        return None
    if op.attribute == "nullable" and not want["nullable"] and col["nullable"]:
        nulls = _count(conn, table, sa.column(name).is_(None))
        if not nulls:
            return None
        if want["default"] is None:
            return Check(index, table, name, "null", nulls, "refuse",
                         f"{nulls} row(s) of {table}.{name} are NULL and the column has no default to give them")
        return Check(index, table, name, "null", nulls, "quarantine",
                     f"{nulls} row(s) of {table}.{name} are NULL: their keys go to quarantine, they get the default")
    if op.attribute == "type" and repair_narrows(col["type"], want["type"]):
        condition = too_long(conn, table, name, want["type"])
        if condition is not None:
            rows = _count(conn, table, condition)
            if not rows:
                return None
            return Check(index, table, name, "too_long", rows, "quarantine",
                         f"{rows} value(s) of {table}.{name} are longer than {want['type']}: the originals go to "
                         "quarantine, the column keeps them cut to fit")
        bounds = _int_range(want["type"])
        if bounds is not None:
            c: sa.ColumnClause[Any] = sa.column(name)
            rows = _count(conn, table, sa.or_(c < bounds[0], c > bounds[1]))
            if rows:
                return Check(index, table, name, "out_of_range", rows, "refuse",
                             f"{rows} value(s) of {table}.{name} are out of the range of {want['type']}")
    return None


def _unique_columns(idef: dict) -> list[str] | None:
    try:
        return [so.parse_index_column(c)[0] for c in idef["columns"]]
    except Exception:  # noqa: BLE001 - expression indexes are left to people by the planner
        return None


def _index_check(conn: sa.Connection, index: int, op: Operation, actual: dict, expected: dict) -> Check | None:
    table = op.table or ""
    idef = expected["tables"].get(table, {}).get("indexes", {}).get(op.name)
    if not idef or not idef.get("unique") or table not in actual["tables"]:
        return None
    names = _unique_columns(idef)
    if not names or any(n not in actual["tables"][table]["columns"] for n in names):
        return None
    rows = _duplicates(conn, table, [sa.column(n) for n in names])
    if not rows:
        return None
    return Check(index, table, op.name, "duplicates", rows, "refuse",
                 f"{rows} row(s) of {table} share their ({', '.join(names)}) with another row: "
                 f"the unique index {op.name} cannot be created")


def _collation_checks(conn: sa.Connection, index: int, op: Operation, actual: dict, expected: dict) -> list[Check]:
    """A collation conversion may make distinct values equal: count the rows that would
    collide under each unique index of the table."""
    if conn.dialect.name == "sqlite":
        return []
    table = op.table or ""
    tdef, want = actual["tables"].get(table), expected["tables"].get(table)
    if not tdef or not want:
        return []
    checks = []
    for iname, idef in sorted(tdef["indexes"].items()):
        names = _unique_columns(idef) if idef.get("unique") else None
        if not names or not any((tdef["columns"].get(n) or {}).get("collation") for n in names):
            continue
        keys: list[Any] = []
        for n in names:
            target = (want["columns"].get(n) or {}).get("collation") or want["options"].get("collation")
            if (tdef["columns"].get(n) or {}).get("collation") and target and _COLLATION.match(target):
                keys.append(sa.literal_column(f"CONVERT({conn.dialect.identifier_preparer.quote(n)} "
                                              f"USING utf8mb4) COLLATE {target}"))
            else:
                keys.append(sa.column(n))
        try:
            rows = _duplicates(conn, table, keys)
        except sa.exc.DBAPIError:
            conn.rollback()
            continue
        if rows:
            checks.append(Check(index, table, iname, "collation_duplicates", rows, "refuse",
                                f"{rows} row(s) of {table} would share their ({', '.join(names)}) under the new "
                                f"collation: the unique index {iname} cannot hold them"))
    return checks


def preflight(conn: sa.Connection, plan: RepairPlan, actual: dict, expected: dict,
              *, include_destructive: bool) -> list[Check]:
    """Count, per operation that will run, the rows it would not carry over."""
    checks: list[Check] = []
    for index, op in enumerate(plan.operations):
        if not op.safe and not include_destructive:
            continue
        if op.object == "column" and op.change == "modified":
            check = _column_check(conn, index, op, actual, expected)
            checks += [check] if check else []
            if op.attribute == "collation":
                checks += _collation_checks(conn, index, op, actual, expected)
        elif op.object == "index" and op.change in ("removed", "modified"):
            check = _index_check(conn, index, op, actual, expected)
            checks += [check] if check else []
        elif op.object == "option" and op.name in ("collation", "charset"):
            checks += _collation_checks(conn, index, op, actual, expected)
    return checks


def refusal(slug: str, checks: list[Check]) -> str | None:
    """The one line refusing a repair (None when every check has a way through)."""
    refused = [c for c in checks if c.action == "refuse"]
    if not refused:
        return None
    return (f"repair of {slug} refused before it started: " + "; ".join(c.detail for c in refused)
            + " (fix or remove those rows first; `tenantops repair " + slug
            + " --dry-run` shows every count); nothing was changed")
