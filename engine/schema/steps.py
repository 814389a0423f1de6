"""The Alembic steps repair operations are made of, runnable offline or live.

The same step code renders the preview (an offline ``MigrationContext`` writing SQL) and
changes the database (a live one); ``Runtime`` tells them apart where they must differ:
live steps read the table as it is now (never the planner's guess), offline ones the
planned state.
"""
from __future__ import annotations

import copy
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from tenantops.engine.errors import TenantopsError
from tenantops.engine.schema import sqlobjects as so
from tenantops.engine.schema.capture import capture
from tenantops.engine.schema.coltypes import sa_type
from tenantops.engine.schema.names import quarantine_name, validate_identifier
from tenantops.engine.schema.quarantine import QuarantineRecord, copy_statement, count_rows

FAMILY = {"sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql"}
# Gives unnamed SQLite constraints, when batch mode reflects them, the same names capture
# derives for them, so they can be dropped by those names.
SQLITE_NAMING = {"fk": "fk_%(table_name)s_%(column_0_N_name)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s"}
TEXT_BASES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")


class Manual(Exception):
    """This difference is not repaired automatically; the message says why."""


class AlreadyDone(Exception):
    """Live state already matches: nothing to do (re-running a plan is harmless)."""


class Skip(Exception):
    """Refused at run time (e.g. NULLs that a NOT NULL column has no default for)."""


class StatementRecorder:
    """Output buffer for offline Alembic: Alembic writes one statement per ``write``.

    With a ``format``/``pyformat`` driver (pymysql) statements are compiled with ``%``
    doubled, and the driver halves them again on the way out; the preview shows the
    statement as the server receives it, so it halves them too."""

    def __init__(self, halve_percents: bool = False) -> None:
        self.statements: list[str] = []
        self.halve_percents = halve_percents

    def write(self, text: str) -> None:
        text = text.strip()
        if text:
            text = text.removesuffix(";").rstrip()
            self.statements.append(text.replace("%%", "%") if self.halve_percents else text)

    def flush(self) -> None:
        pass


@dataclass
class Runtime:
    ops: Operations
    family: str
    live: bool
    suffix: str
    connection: sa.Connection | None = None
    records: list[QuarantineRecord] = field(default_factory=list)
    # cut text too long for a narrowed type once its originals are in quarantine (the
    # pre-flight checks counted them): the change then fits instead of stopping half-way
    fit_text: bool = False
    _captured: dict | None = None

    @property
    def dialect(self) -> sa.engine.Dialect:
        return self.ops.get_context().dialect

    def live_connection(self) -> sa.Connection:
        """The connection a live runtime works on (offline runtimes have none)."""
        if self.connection is None:
            raise AssertionError("a live runtime needs a connection")
        return self.connection

    def table(self, name: str, planned: dict | None) -> dict | None:
        """The table as it is now: captured live, or the planner's simulation offline."""
        if not self.live:
            return planned
        if self._captured is None:
            self._captured = capture(self.live_connection())
        return self._captured["tables"].get(name)

    def invalidate(self) -> None:
        self._captured = None

    @contextmanager
    def batch(self, table: str, planned: dict, recreate: Literal["auto", "always", "never"] = "auto") -> Iterator[Any]:
        """SQLite batch mode: the new table is built from the table's canonical definition
        (the planned one offline, the live capture live), so the preview shows exactly the
        statements the run sends. A table holding what the canonical dict does not express
        (CHECK, COLLATE, generated columns, AUTOINCREMENT, WITHOUT ROWID, STRICT, deferrable
        foreign keys, ON CONFLICT) is rebuilt from Alembic's reflection of the
        real table instead, so nothing that exists is ever left out of the copy; for those
        the run's CREATE TABLE can spell more than the preview's."""
        if any(col.get("generated") for col in (planned or {}).get("columns", {}).values()):
            # batch mode copies every column, generated ones included, which SQLite refuses
            raise TenantopsError(f"SQLite can't rebuild table {table}: it has generated columns; repair it by hand")
        if self.live:
            current = self.table(table, planned)
            if current is None or _sqlite_needs_reflection(self.live_connection(), table):
                kwargs: dict[str, Any] = {"naming_convention": SQLITE_NAMING}
            else:
                kwargs = {"copy_from": so.table(table, current, "sqlite")}
        else:
            kwargs = {"copy_from": so.table(table, planned, "sqlite")}
        with self.ops.batch_alter_table(table, recreate=recreate, **kwargs) as batch:
            yield batch

    def count(self, table: str) -> int | None:
        return count_rows(self.live_connection(), table) if self.live else None

    def scalar(self, statement: Any) -> Any:
        return self.live_connection().execute(statement).scalar() if self.live else None


# What a SQLite CREATE TABLE can hold that the canonical dict does not (or not fully)
# express: a rebuild from the canonical definition would silently drop it.
_NOT_CANONICAL = re.compile(
    r"\b(?:CHECK|COLLATE|GENERATED|AUTOINCREMENT|WITHOUT\s+ROWID|STRICT|DEFERRABLE|MATCH|ON\s+CONFLICT)\b"
    r"|\bAS\s*\(", re.IGNORECASE)


def _sqlite_needs_reflection(connection: sa.Connection, table: str) -> bool:
    sql = connection.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                             {"t": table}).scalar() or ""
    return bool(_NOT_CANONICAL.search(sql))


def offline_runtime(dialect: str, suffix: str) -> tuple[Runtime, StatementRecorder]:
    recorder = StatementRecorder()
    context = MigrationContext.configure(
        dialect_name=dialect, opts={"as_sql": True, "output_buffer": recorder, "literal_binds": True}
    )
    recorder.halve_percents = bool(getattr(context.dialect.identifier_preparer, "_double_percents", False))
    return Runtime(Operations(context), FAMILY[dialect], live=False, suffix=suffix), recorder


def drop_foreign_key(rt: Runtime, table: str, name: str, planned: dict) -> None:
    if rt.family == "sqlite":
        with rt.batch(table, planned) as batch:
            batch.drop_constraint(name, type_="foreignkey")
    else:
        rt.ops.drop_constraint(name, table, type_="foreignkey")


def drop_index(rt: Runtime, table: str, name: str, planned: dict) -> None:
    if rt.family == "sqlite" and rt.live and _sqlite_index_origin(rt.live_connection(), table, name) == "u":
        # A UNIQUE constraint inside CREATE TABLE: only a table re-creation removes it.
        with rt.batch(table, planned) as batch:
            batch.drop_constraint(name, type_="unique")
        return
    rt.ops.drop_index(name, table_name=table)


def create_index(rt: Runtime, table: str, name: str, idef: dict) -> None:
    elements = so.index_elements(idef["columns"], rt.dialect)
    if idef.get("comment") and rt.family == "mysql":
        from alembic.operations.schemaobj import SchemaObjects

        from tenantops.engine.schema.ddl import CreateIndexWithComment

        index = SchemaObjects(rt.ops.migration_context).index(
            validate_identifier(name, "index"), table, elements, unique=idef["unique"],
            **so.index_kwargs(idef, rt.dialect.name))
        rt.ops.execute(CreateIndexWithComment(index, idef["comment"]))
    else:
        rt.ops.create_index(validate_identifier(name, "index"), table, elements, unique=idef["unique"],
                            **so.index_kwargs(idef, rt.dialect.name))
    if idef.get("ignored") and rt.family == "mysql":
        # MariaDB calls it IGNORED, MySQL 8 INVISIBLE (the MySQL spelling is untested here)
        word = "IGNORED" if getattr(rt.dialect, "is_mariadb", False) else "INVISIBLE"
        rt.ops.execute(sa.text(f"ALTER TABLE {validate_identifier(table, 'table')} ALTER INDEX {name} {word}"))


def _sqlite_index_origin(connection: sa.Connection, table: str, name: str) -> str | None:
    for row in connection.execute(sa.text("SELECT name, origin FROM pragma_index_list(:t)"), {"t": table}):
        if row.name == name:
            return row.origin
    return None


def table_kwargs(tdef: dict, family: str) -> dict:
    if family != "mysql":
        return {}
    options = tdef["options"]
    kwargs = {}
    for key, option in (("engine", "engine"), ("charset", "charset"), ("collate", "collation")):
        if options.get(option):
            # both spellings: the offline MariaDB dialect (the preview) reads mariadb_*,
            # a live mysql+pymysql connection mysql_*
            kwargs[f"mysql_{key}"] = kwargs[f"mariadb_{key}"] = validate_identifier(options[option], f"table {option}")
    if options.get("row_format"):
        kwargs["mysql_row_format"] = kwargs["mariadb_row_format"] = validate_identifier(
            options["row_format"], "table row format").upper()
    if options.get("comment"):
        kwargs["comment"] = options["comment"]
    return kwargs


def invisible_columns(rt: Runtime, table: str, tdef: dict) -> None:
    """Make the expected INVISIBLE columns invisible (SQLAlchemy can't declare them)."""
    from tenantops.engine.schema.ddl import ModifyColumn

    if rt.family != "mysql":
        return
    for name in so.ordered_columns(tdef):
        cdef = tdef["columns"][name]
        if cdef.get("invisible"):
            rt.ops.execute(ModifyColumn(
                table, so.column(name, {**cdef, "generated": None, "on_update": None}, rt.family),
                on_update=cdef.get("on_update"), generated=cdef.get("generated"), expression=cdef.get("expression"),
                invisible=True, comment=cdef.get("comment")))


def copy_aside(rt: Runtime, table: str, current: dict, column: str, target: str, where: str | None) -> int | None:
    """Create ``target`` (primary key + ``column``) and copy the values into it."""
    key = current["primary_key"]
    col = current["columns"][column]
    collation = col["collation"] or current["options"].get("collation")
    items: list[Any] = [
        so.column(k, current["columns"][k], rt.family, nullable=False, with_default=False, autoincrement=False)
        for k in key
    ]
    text_type = col["type"].split("(")[0] in TEXT_BASES
    items.append(so.column(column, col, rt.family, nullable=True, with_default=False, autoincrement=False,
                           collation=collation if text_type and rt.family == "mysql" else None))
    items.append(sa.PrimaryKeyConstraint(*key))
    rt.ops.create_table(target, *items)
    rt.ops.execute(copy_statement(table, target, key, column, where))
    return rt.count(target)


def make_not_null(rt: Runtime, table: str, current: dict, name: str, default: str | None) -> None:
    """NULL -> NOT NULL: keep the NULL rows' keys aside, give them the default, then alter."""
    if rt.live:
        source = sa.table(table, sa.column(name))
        nulls = rt.scalar(sa.select(sa.func.count()).select_from(source).where(source.c[name].is_(None)))
        if nulls and default is None:
            raise Skip(f"{nulls} rows of {table}.{name} are NULL and the column has no default to give them")
        if not nulls:
            return
    target = quarantine_name(rt.suffix, table, f"{name}__nullable")
    rows = copy_aside(rt, table, current, name, target, where="null")
    rt.records.append(QuarantineRecord("values", table, name, rows, target, key=list(current["primary_key"]),
                                       attribute="nullable", previous=True))
    if default is not None:
        target_table = sa.table(table, sa.column(name))
        rt.ops.execute(sa.update(target_table).values({name: so.default_value(default)}).where(target_table.c[name].is_(None)))


def alter_column(rt: Runtime, table: str, current: dict, name: str, attribute: str, target: Any) -> None:
    col = current["columns"][name]
    family = rt.family
    existing = {
        "existing_type": sa_type(col["type"], family, collation=col["collation"], autoincrement=col["autoincrement"]),
        "existing_nullable": col["nullable"],
        "existing_server_default": so.server_default(col["default"]),
        "existing_autoincrement": col["autoincrement"],
    }
    kwargs: dict[str, Any] = dict(existing)
    if attribute == "type":
        collation = col["collation"] if target.split("(")[0] in TEXT_BASES else None
        kwargs["type_"] = sa_type(target, family, collation=collation, autoincrement=col["autoincrement"])
    elif attribute == "collation":
        kwargs["type_"] = sa_type(col["type"], family, collation=target)
    elif attribute == "nullable":
        kwargs["nullable"] = target
    elif attribute == "default":
        kwargs["server_default"] = so.server_default(target)
    elif attribute == "autoincrement":
        kwargs["autoincrement"] = target
    if family == "sqlite":
        with rt.batch(table, current) as batch:
            batch.alter_column(name, **kwargs)
    else:
        rt.ops.alter_column(table, name, **kwargs)
    rt.invalidate()
    current["columns"][name] = {**col, attribute: target}


def anchor(expected_table: dict, name: str, current: dict) -> str | None:
    """The column ``name`` should follow: the nearest expected predecessor that exists."""
    before = [c for c in so.ordered_columns(expected_table) if expected_table["columns"][c]["position"] < expected_table["columns"][name]["position"]]
    for candidate in reversed(before):
        if candidate in current["columns"]:
            return candidate
    return None


def renumber(tdef: dict, order: list[str]) -> None:
    for position, cname in enumerate(order, start=1):
        tdef["columns"][cname]["position"] = position


def converted(tdef: dict, options: dict) -> dict:
    """A table after CONVERT TO: every text column follows the new table collation."""
    converted = copy.deepcopy(tdef)
    converted["options"] = {**converted["options"], "charset": options["charset"], "collation": options["collation"]}
    for col in converted["columns"].values():
        if col["type"].split("(")[0] in TEXT_BASES:
            col["collation"] = None
    return converted


def index_column_name(entry: str) -> str:
    return entry.split("(")[0].removesuffix(" desc")
