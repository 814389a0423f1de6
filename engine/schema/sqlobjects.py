"""SQLAlchemy schema objects (columns, tables, index elements) built from canonical dicts,
for Alembic operations to render. Every identifier is validated on the way in."""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from tenantops.engine.errors import ValidationError

from tenantops.engine.schema.canonical import default_kind, string_default_value
from tenantops.engine.schema.coltypes import sa_type
from tenantops.engine.schema.names import validate_identifier

FK_RULES = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")
_INDEX_COLUMN = re.compile(r"^(?P<name>[^()\s]+)(?:\((?P<length>\d+)\))?(?P<desc> desc)?$")
_UNSAFE_SQL = (";", "--", "/*", "*/")
# Defaults every dialect takes without parentheses (MySQL 8 only these, on DATETIME/TIMESTAMP).
_BARE_DEFAULT = re.compile(r"^CURRENT_TIMESTAMP(\(\d\))?$")


def server_default(canonical: str | None) -> str | sa.TextClause | None:
    """Alembic/SQLAlchemy ``server_default`` for a canonical default.

    Literals go in as Python strings so the dialect quotes and escapes them; only
    expressions (``CURRENT_TIMESTAMP``) are SQL text, and those are checked first.
    """
    if canonical is None:
        return None
    kind = default_kind(canonical)
    if kind == "string":
        return string_default_value(canonical)
    if kind == "number":
        return canonical
    if any(token in canonical for token in _UNSAFE_SQL):
        raise ValidationError(f"default expression {canonical!r} can't be replayed safely", hint="repair it by hand")
    if _BARE_DEFAULT.match(canonical):
        return sa.text(canonical)
    # MariaDB/MySQL take any other expression default only in parentheses (``SET DEFAULT
    # a * a`` is a syntax error); SQLite wants them too. Capture strips them again.
    return sa.text(f"({canonical})")


def default_value(canonical: str) -> sa.ColumnElement[Any] | sa.TextClause:
    """A canonical default as an SQL value for ``UPDATE ... SET`` (strings bound)."""
    kind = default_kind(canonical)
    if kind == "string":
        return sa.literal(string_default_value(canonical), sa.String())
    if kind == "number":
        return sa.literal_column(canonical)  # canonical numbers are digits, sign and dot only
    value = server_default(canonical)
    return value if isinstance(value, sa.TextClause) else sa.null()


def column(name: str, cdef: dict, dialect: str, *, nullable: bool | None = None, with_default: bool = True,
           autoincrement: bool | None = None, collation: str | None = None) -> sa.Column:
    validate_identifier(name, "column")
    auto = cdef.get("autoincrement", False) if autoincrement is None else autoincrement
    extra: list[Any] = []
    default = server_default(cdef.get("default")) if with_default else None
    if with_default and cdef.get("generated"):
        check_expression(cdef.get("expression") or "", "generated column expression")
        extra.append(sa.Computed(sa.text(cdef["expression"]), persisted=cdef["generated"] == "stored"))
        default = None
    elif with_default and cdef.get("on_update") and dialect == "mysql":
        check_expression(cdef["on_update"], "ON UPDATE")
        # SQLAlchemy has no ON UPDATE for DDL: MySQL's documented way is to append it to the default
        base = default.text if isinstance(default, sa.TextClause) else ("NULL" if default is None else None)
        if base is not None:
            default = sa.text(f"{base} ON UPDATE {cdef['on_update']}")
    return sa.Column(
        name,
        sa_type(cdef["type"], dialect, collation=collation if collation is not None else cdef.get("collation"), autoincrement=auto),
        *extra,
        nullable=cdef["nullable"] if nullable is None else nullable,
        server_default=default,
        # Explicit: SQLAlchemy would otherwise make any single integer PK AUTO_INCREMENT.
        autoincrement=bool(auto),
        comment=cdef.get("comment") if with_default and dialect == "mysql" else None,
    )


def check_expression(text: str, what: str) -> str:
    """An expression from a canonical dict about to go into DDL as text: refuse comment
    and statement separators (they can't be part of a captured expression)."""
    if not text or any(token in text for token in _UNSAFE_SQL):
        raise ValidationError(f"{what} {text!r} can't be replayed safely", hint="repair it by hand")
    return text


def parse_index_column(entry: str) -> tuple[str, int | None, bool]:
    """``"name"``, ``"name(10)"``, ``"name desc"`` -> (name, prefix length, descending)."""
    match = _INDEX_COLUMN.match(entry)
    if not match or entry.startswith("expr:"):
        raise ValidationError(f"index column {entry!r} can't be rebuilt from its name", hint="repair it by hand")
    name = validate_identifier(match.group("name"), "index column")
    length = int(match.group("length")) if match.group("length") else None
    return name, length, bool(match.group("desc"))


def index_elements(columns: list[str], dialect: sa.engine.Dialect) -> list[str | sa.TextClause]:
    """Index column list for ``create_index``: plain names stay names; prefixes and DESC
    become text built from the dialect-quoted name."""
    out: list[str | sa.TextClause] = []
    quote = dialect.identifier_preparer.quote
    for entry in columns:
        name, length, desc = parse_index_column(entry)
        if length is None and not desc:
            out.append(name)
            continue
        text = quote(name)
        if length is not None and dialect.name in ("mysql", "mariadb"):
            text += f"({length})"
        out.append(sa.text(text + (" DESC" if desc else "")))
    return out


def index_kwargs(idef: dict, dialect_name: str) -> dict:
    if dialect_name not in ("mysql", "mariadb"):
        return {}
    kind = (idef.get("type") or "btree").lower()
    # Both spellings: an offline MariaDB dialect (the preview) reads mariadb_*, a live
    # mysql+pymysql connection mysql_*; with one only, the preview and the run differ.
    if kind in ("fulltext", "spatial"):
        return {"mysql_prefix": kind.upper(), "mariadb_prefix": kind.upper()}
    if kind == "hash":
        return {"mysql_using": "hash", "mariadb_using": "hash"}
    return {}


def fk_rule_arg(rule: str | None) -> str | None:
    """ON UPDATE/DELETE argument: the server's default rule is left out (``None``)."""
    if rule is None or rule in ("RESTRICT", "NO ACTION"):
        # RESTRICT is MySQL's default and NO ACTION SQLite's: spelling it would be noise,
        # except RESTRICT on SQLite, which differs from its default.
        return None
    if rule not in FK_RULES:
        raise ValidationError(f"foreign key rule {rule!r} is not valid")
    return rule


def fk_args(fk: dict, dialect: str) -> dict:
    ref = fk["ref_table"]
    schema = None
    if "." in ref:
        schema, ref = ref.split(".", 1)
        validate_identifier(schema, "schema")
    validate_identifier(ref, "table")
    for name in fk["columns"] + fk["ref_columns"]:
        validate_identifier(name, "column")
    on_update, on_delete = fk.get("on_update"), fk.get("on_delete")
    keep_restrict = dialect == "sqlite"
    return {
        "referent_table": ref,
        "referent_schema": schema,
        "local_cols": list(fk["columns"]),
        "remote_cols": list(fk["ref_columns"]),
        "onupdate": on_update if keep_restrict and on_update == "RESTRICT" else fk_rule_arg(on_update),
        "ondelete": on_delete if keep_restrict and on_delete == "RESTRICT" else fk_rule_arg(on_delete),
    }


def foreign_key_constraint(name: str, fk: dict, dialect: str) -> sa.ForeignKeyConstraint:
    args = fk_args(fk, dialect)
    prefix = f"{args['referent_schema']}." if args["referent_schema"] else ""
    return sa.ForeignKeyConstraint(
        args["local_cols"],
        [f"{prefix}{args['referent_table']}.{c}" for c in args["remote_cols"]],
        name=validate_identifier(name, "foreign key"),
        onupdate=args["onupdate"],
        ondelete=args["ondelete"],
    )


def ordered_columns(tdef: dict) -> list[str]:
    return sorted(tdef["columns"], key=lambda n: tdef["columns"][n]["position"])


def table(name: str, tdef: dict, dialect: str, metadata: sa.MetaData | None = None, *, with_indexes: bool = True) -> sa.Table:
    """A full Table (columns, keys, indexes) for Alembic's offline batch ``copy_from``.

    Referenced tables get stub definitions in the same MetaData so the foreign keys
    resolve when rendered.
    """
    metadata = metadata if metadata is not None else sa.MetaData()
    validate_identifier(name, "table")
    for fk in tdef["foreign_keys"].values():
        ref = fk["ref_table"].split(".")[-1]
        if ref != name and ref not in metadata.tables:
            sa.Table(ref, metadata, *[sa.Column(c, sa.Integer) for c in fk["ref_columns"]])
        elif ref in metadata.tables and ref != name:
            for c in fk["ref_columns"]:
                if c not in metadata.tables[ref].c:
                    metadata.tables[ref].append_column(sa.Column(c, sa.Integer))
    items: list[Any] = [column(c, tdef["columns"][c], dialect) for c in ordered_columns(tdef)]
    if tdef["primary_key"]:
        items.append(sa.PrimaryKeyConstraint(*tdef["primary_key"]))
    items += [foreign_key_constraint(n, fk, dialect) for n, fk in sorted(tdef["foreign_keys"].items())]
    result = sa.Table(name, metadata, *items)
    if with_indexes:
        for iname, idef in sorted(tdef["indexes"].items()):
            try:
                cols = [parse_index_column(c) for c in idef["columns"]]
            except ValidationError:
                continue  # expression index: not reproducible from the canonical dict
            elements = [result.c[n].desc() if desc else result.c[n] for n, _, desc in cols]
            sa.Index(validate_identifier(iname, "index"), *elements, unique=idef["unique"])
    return result
