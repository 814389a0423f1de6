"""Seed rows of the catalog units (provinces, roles, ledger accounts ...), inserted
idempotently after the unit's tables exist."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine.catalog import Unit
from tenantops.engine.errors import ValidationError
from tenantops.engine.migrate import plans


def apply_seeds(connection: sa.Connection, units: Sequence[Unit], *, fresh: bool = False) -> dict[str, int]:
    """Insert the units' seed rows; returns rows inserted per table.

    Idempotent: rows whose primary key (or, failing that, a unique key given in every
    row) is already present are skipped; a table with neither is seeded only while empty.
    ``fresh``: the caller just created these tables (a new tenant), so nothing is looked up.
    """
    inserted: dict[str, int] = {}
    if connection.in_transaction():
        _seed_all(connection, units, inserted, fresh)
    else:
        with connection.begin():
            _seed_all(connection, units, inserted, fresh)
    return inserted


def _seed_all(connection: sa.Connection, units: Sequence[Unit], inserted: dict[str, int], fresh: bool) -> None:
    # a new tenant's seed rows reach MariaDB/MySQL in one query, every table's INSERTs
    # together (a tenant connection takes several statements: plans.send_batched); an
    # existing tenant's are looked up table by table, so they go as they are made
    pending: list[str] | None = [] if fresh and plans.multi_statements(connection) else None
    for unit in units:
        for seed_path in unit.seeds:
            try:
                data = json.loads(Path(seed_path).read_text(encoding="utf-8"))
                table_name, rows = data["table"], data["rows"]
                json_columns = set(data.get("json_columns", ()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValidationError(f"seed file {seed_path} of unit {unit.slug} is unreadable: {exc}") from None
            count = _seed_table(connection, unit, table_name, rows, json_columns, fresh, pending)
            inserted[table_name] = inserted.get(table_name, 0) + count
    if pending:
        try:
            plans.send_batched(connection, pending)
        except plans.DriverError as exc:  # as the statement-by-statement path reports it
            raise sa.exc.DBAPIError.instance(None, None, exc.orig, connection.dialect.loaded_dbapi.Error) from None


def _seed_table(connection: sa.Connection, unit: Unit, table_name: str, rows: list[dict[str, Any]],
                json_columns: set[str], fresh: bool = False, pending: list[str] | None = None) -> int:
    if not rows:
        return 0
    if fresh:
        _insert_rows(connection, table_name, rows, json_columns, pending)
        return len(rows)
    inspector = sa.inspect(connection)
    if not inspector.has_table(table_name):
        raise ValidationError(f"cannot seed {table_name} for unit {unit.slug}: the table does not exist",
                              hint="apply the unit's migrations first")
    keys: list[list[str]] = [inspector.get_pk_constraint(table_name).get("constrained_columns") or []]
    keys += [uc["column_names"] for uc in inspector.get_unique_constraints(table_name)]
    for ix in inspector.get_indexes(table_name):
        columns = [c for c in ix["column_names"] if c is not None]
        # an expression index names None for its expressions: no row can match it as a key
        if ix.get("unique") and len(columns) == len(ix["column_names"]):
            keys.append(columns)
    key = next((k for k in keys if k and all(c in row for row in rows for c in k)), None)

    columns = list(dict.fromkeys(c for row in rows for c in row))
    # an untyped table(): values go to the driver as written in JSON (dates as ISO strings)
    table = sa.table(table_name, *(sa.column(c) for c in columns))
    if key is not None:
        existing = {tuple(r) for r in connection.execute(sa.select(*(table.c[c] for c in key)))}
        new_rows = [row for row in rows if tuple(row[c] for c in key) not in existing]
    else:
        present = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        new_rows = [] if present else rows

    _insert_rows(connection, table_name, new_rows, json_columns)
    return len(new_rows)


def _insert_rows(connection: sa.Connection, table_name: str, rows: list[dict[str, Any]],
                 json_columns: set[str], pending: list[str] | None = None) -> None:
    # rows are inserted grouped by their column set: filling gaps with NULL would defeat
    # the server defaults of the columns a row leaves out
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        values = {c: json.dumps(v) if c in json_columns and v is not None else v for c, v in row.items()}
        groups.setdefault(tuple(sorted(values)), []).append(values)
    for names, group in groups.items():
        if connection.dialect.name in ("mysql", "mariadb"):
            _insert_mysql(connection, table_name, names, group, pending)
        else:
            connection.execute(sa.insert(sa.table(table_name, *(sa.column(c) for c in names))), group)


_BATCH = 1000  # rows per statement: far below max_allowed_packet for seed-sized rows


def _insert_mysql(connection: sa.Connection, table_name: str, names: tuple[str, ...],
                  rows: list[dict[str, Any]], pending: list[str] | None = None) -> None:
    """One multi-row INSERT per batch, its values escaped by the driver as in any query;
    with ``pending``, the statements are rendered by the driver and kept to be sent later.

    Not SQLAlchemy's executemany: a new tenant's seed rows went through its per-row
    parameter handling and a first compile per table in every process (a third of the
    seed step); identifiers are quoted by the dialect's own preparer all the same."""
    # the preparer of a %-format driver doubles a % in an identifier, as the driver expects
    quote = connection.dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table_name)} ({', '.join(quote(n) for n in names)}) VALUES "
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    for start in range(0, len(rows), _BATCH):
        batch = rows[start:start + _BATCH]
        sql, values = head + ", ".join([row] * len(batch)), tuple(r[n] for r in batch for n in names)
        if pending is None:
            connection.exec_driver_sql(sql, values)
            continue
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            pending.append(cursor.mogrify(sql, values))  # the driver's own escaping, as execute does
        finally:
            cursor.close()
