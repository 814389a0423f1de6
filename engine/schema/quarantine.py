"""Quarantine: where repair moves data it would otherwise destroy, and how it comes back.

* ``table``: an unexpected table is renamed to ``_q_<suffix>_<table>`` (nothing copied).
* ``column``: an unexpected column's values are copied, keyed by the primary key, into
  ``_q_<suffix>_<table>__<column>`` before the column is dropped.
* ``values``: before a narrowing change (type, NULL -> NOT NULL) the affected values are
  copied the same way into ``_q_<suffix>_<table>__<column>__<attribute>``.
* ``view``, ``trigger``, ``procedure``, ``function``, ``event``, ``check``: an unexpected
  object holds no data, only its definition: the CREATE statement is kept in the record
  (``definition``) and run again on restore. ``quarantined_as`` names the record only.

Records are plain dataclasses; the landlord persists them (``quarantine list``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from tenantops.engine.errors import ConflictError, NotFoundError, ValidationError

from tenantops.engine.schema.guards import ddl_guard
from tenantops.engine.schema.names import QUARANTINE_PREFIX, validate_identifier

QuarantineKind = Literal["table", "column", "values", "view", "trigger", "procedure", "function", "event", "check"]
OBJECT_KINDS = ("view", "trigger", "procedure", "function", "event", "check")


@dataclass
class QuarantineRecord:
    kind: QuarantineKind
    table: str
    column: str | None
    rows: int | None
    quarantined_as: str
    # Primary-key columns the copied values are keyed by (column/values kinds).
    key: list[str] = field(default_factory=list)
    # For ``values``: which attribute was narrowed ("type" | "nullable") and its value
    # before the repair, so a restore can undo the narrowing before putting values back.
    attribute: str | None = None
    previous: Any = None
    # For object kinds: the statement that re-creates the object.
    definition: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "QuarantineRecord":
        known: dict[str, Any] = {k: data.get(k) for k in ("kind", "table", "column", "rows", "quarantined_as", "attribute", "previous",
                                                          "definition")}
        return cls(key=list(data.get("key") or []), **known)


def copy_statement(source: str, target: str, key: list[str], column: str, where: str | None = None) -> sa.Insert:
    """``INSERT INTO target (key..., column) SELECT key..., column FROM source [WHERE ...]``.

    ``where``: ``"null"`` copies only rows whose value is NULL, ``"not_null"`` the others.
    """
    names = [*key, column]
    src = sa.table(source, *[sa.column(n) for n in names])
    dst = sa.table(target, *[sa.column(n) for n in names])
    select = sa.select(*[src.c[n] for n in names])
    if where == "null":
        select = select.where(src.c[column].is_(None))
    elif where == "not_null":
        select = select.where(src.c[column].is_not(None))
    return sa.insert(dst).from_select(names, select)


def count_rows(connection: sa.Connection, table: str) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())


def restore_quarantine(connection: sa.Connection, record: QuarantineRecord | dict) -> int:
    """Bring quarantined data back, row for row; returns the number of rows restored.

    ``table``: renames the quarantine table back (refused if the name is taken again).
    ``column``: re-adds the column if it is missing (nullable, the quarantined type) and
    sets every row's value from the quarantine table by primary key.
    ``values``: first undoes the narrowing (the quarantined type, or nullable again), then
    puts the values back by primary key. The quarantine table is kept for column/values
    restores (the copy stays until the operator drops it).

    Commits; pass a connection without pending work.
    """
    rec = record if isinstance(record, QuarantineRecord) else QuarantineRecord.from_json(record)
    if rec.kind in OBJECT_KINDS:
        return _restore_object(connection, rec)
    table = validate_identifier(rec.table, "table")
    qtable = validate_identifier(rec.quarantined_as, "quarantine table")
    if not qtable.startswith(QUARANTINE_PREFIX):
        raise ValidationError(f"{qtable!r} is not a quarantine table")
    if connection.in_transaction():
        connection.commit()
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    if qtable not in tables:
        raise NotFoundError(f"quarantine table {qtable!r} does not exist")
    with ddl_guard(connection):
        return _restore(connection, rec, table, qtable, tables, inspector)


def _restore_object(connection: sa.Connection, rec: QuarantineRecord) -> int:
    from tenantops.engine.schema import sqldefs

    if connection.in_transaction():
        connection.commit()
    if rec.kind == "check":
        name = validate_identifier(rec.column or "", "check constraint")
        if _check_exists(connection, rec.table, name):
            raise ConflictError(f"check {name!r} exists again on {rec.table}", hint="drop it before restoring")
        if not rec.definition:
            raise ValidationError(f"quarantine holds no definition of check {name}")
        connection.execute(sqldefs.verbatim(rec.definition))
        connection.commit()
        return 0
    sqldefs.restore_definition(connection, rec.kind, validate_identifier(rec.column or "", rec.kind), rec.definition)
    return 0


def _check_exists(connection: sa.Connection, table: str, name: str) -> bool:
    return connection.execute(sa.text(
        "SELECT 1 FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
        "AND TABLE_NAME = :t AND CONSTRAINT_NAME = :n"), {"t": table, "n": name}).first() is not None


def _restore(connection: sa.Connection, rec: QuarantineRecord, table: str, qtable: str, tables: set[str], inspector: Any) -> int:
    ops = Operations(MigrationContext.configure(connection=connection))
    sqlite = connection.dialect.name == "sqlite"

    if rec.kind == "table":
        if table in tables:
            raise ConflictError(f"table {table!r} exists again", hint="rename or drop it before restoring")
        ops.rename_table(qtable, table)
        connection.commit()
        return count_rows(connection, table)

    if rec.kind not in ("column", "values"):
        raise ValidationError(f"unknown quarantine kind {rec.kind!r}")
    column = validate_identifier(rec.column or "", "column")
    if table not in tables:
        raise NotFoundError(f"table {table!r} does not exist", hint="restore the table first")
    key = [validate_identifier(k, "key column") for k in (rec.key or inspector.get_pk_constraint(qtable)["constrained_columns"])]
    if not key:
        raise ValidationError(f"quarantine table {qtable!r} has no key to match rows by")
    quarantined = {c["name"]: c for c in inspector.get_columns(qtable)}
    current = {c["name"]: c for c in inspector.get_columns(table)}
    qtype = quarantined[column]["type"]

    if column not in current:
        ops.add_column(table, sa.Column(column, qtype, nullable=True))
    elif rec.kind == "values":
        existing = current[column]
        default = existing.get("default")
        kwargs: dict[str, Any] = {
            "existing_type": existing["type"],
            "existing_nullable": existing["nullable"],
            "existing_server_default": sa.text(default) if default else None,
        }
        if rec.attribute == "type":
            kwargs["type_"] = qtype
        else:
            kwargs["nullable"] = True
        if sqlite:
            with ops.batch_alter_table(table) as batch:
                batch.alter_column(column, **kwargs)
        else:
            ops.alter_column(table, column, **kwargs)

    names = [*key, column]
    target = sa.table(table, *[sa.column(n) for n in names])
    source = sa.table(qtable, *[sa.column(n) for n in names])
    match = sa.and_(*[source.c[k] == target.c[k] for k in key])
    update = (
        sa.update(target)
        .values({column: sa.select(source.c[column]).where(match).scalar_subquery()})
        .where(sa.select(sa.literal(1)).select_from(source).where(match).exists())
    )
    restored = connection.execute(update).rowcount
    connection.commit()
    return int(restored)
