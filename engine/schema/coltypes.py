"""Column types as repair needs them: does a change narrow the data, and which SQLAlchemy
type renders a canonical type string on a dialect.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import UserDefinedType

from tenantops.engine.errors import ValidationError

from tenantops.engine.schema.canonical import enum_values

_INT_BITS = {"boolean": 8, "tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}
_INT_DIGITS = {"boolean": 3, "tinyint": 3, "smallint": 5, "mediumint": 8, "int": 10, "bigint": 20}
_TEXT_CAP = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295, "json": 4294967295}
_BLOB_CAP = {"tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": 4294967295}
_TEMPORAL = ("datetime", "timestamp", "time")
_COLLATION = re.compile(r"^[a-z0-9_]{1,64}$")
_DECLARED = re.compile(r"^[a-z][a-z0-9_ ]*(\(\d+(,\d+)?\))?( [a-z]+)*$")


@dataclass(frozen=True)
class TypeSpec:
    base: str
    args: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.flags


def parse_type(canonical: str) -> TypeSpec:
    if canonical.startswith(("enum(", "set(")):
        base = canonical.split("(", 1)[0]
        tail = canonical.rsplit(")", 1)[1].split()
        return TypeSpec(base, (), tuple(tail), tuple(enum_values(canonical)))
    match = re.match(r"^([a-z][a-z0-9_ ]*?)(?:\(([\d,]*)\))?((?: [a-z]+)*)$", canonical)
    if not match:
        return TypeSpec(canonical)
    args = tuple(int(a) for a in match.group(2).split(",") if a) if match.group(2) else ()
    return TypeSpec(match.group(1), args, tuple(match.group(3).split()))


def repair_narrows(actual: str, expected: str) -> bool:
    """True when changing a column from ``actual`` to ``expected`` may lose or alter data.

    Anything not provably a widening counts as narrowing: an unknown conversion is not
    safe to run unattended.
    """
    if actual == expected:
        return False
    return not _widens(parse_type(actual), parse_type(expected))


def _widens(a: TypeSpec, e: TypeSpec) -> bool:
    if a.base in _INT_BITS and e.base in _INT_BITS:
        if a.unsigned == e.unsigned:
            return _INT_BITS[e.base] >= _INT_BITS[a.base]
        return a.unsigned and _INT_BITS[e.base] > _INT_BITS[a.base]
    if a.base in _INT_BITS and e.base == "decimal":
        precision, scale = e.args or (10, 0)
        return precision - scale >= _INT_DIGITS[a.base] and (not e.unsigned or a.unsigned)
    if a.base in _INT_BITS and e.base == "double":
        return _INT_BITS[a.base] <= 32
    if a.base == "decimal" and e.base == "decimal":
        (p1, s1), (p2, s2) = (a.args or (10, 0)), (e.args or (10, 0))
        return s2 >= s1 and p2 - s2 >= p1 - s1 and (a.unsigned or not e.unsigned)
    if a.base == "float" and e.base == "double":
        return True
    if a.base in ("char", "varchar") or a.base in _TEXT_CAP:
        if a.base == "json" and e.base != "json":
            return _capacity(e) >= _TEXT_CAP["longtext"]
        if e.base == "json":
            return False  # existing text need not be valid JSON
        if e.base == "char" and a.base != "char":
            return False  # CHAR strips trailing spaces
        return _capacity(e) >= _capacity(a) > 0
    if a.base in ("binary", "varbinary") or a.base in _BLOB_CAP:
        if e.base == "binary" and a.base != "binary":
            return False  # BINARY pads with zero bytes
        return _bin_capacity(e) >= _bin_capacity(a) > 0
    if a.base in ("enum", "set") and e.base == a.base:
        return set(a.values) <= set(e.values)
    if a.base in _TEMPORAL and e.base in _TEMPORAL:
        fsp_a, fsp_e = (a.args or (0,))[0], (e.args or (0,))[0]
        same_kind = a.base == e.base or (a.base == "timestamp" and e.base == "datetime")
        return same_kind and fsp_e >= fsp_a
    if a.base == "date" and e.base in ("datetime",):
        return True
    return False


def _capacity(t: TypeSpec) -> int:
    if t.base in ("char", "varchar"):
        return (t.args or (1,))[0]
    return _TEXT_CAP.get(t.base, 0)


def _bin_capacity(t: TypeSpec) -> int:
    if t.base in ("binary", "varbinary"):
        return (t.args or (1,))[0]
    return _BLOB_CAP.get(t.base, 0)


class DeclaredType(UserDefinedType):
    """A column type rendered exactly as declared (validated) when no SQLAlchemy type
    spells it the same way (SQLite keeps declared type names verbatim)."""

    cache_ok = True

    def __init__(self, declared: str, collation: str | None = None) -> None:
        self.declared = declared
        self.collation = collation

    def get_col_spec(self, **kw: object) -> str:
        return self.declared.upper() + (f" COLLATE {self.collation}" if self.collation else "")


def sa_type(canonical: str, dialect: str, *, collation: str | None = None, autoincrement: bool = False) -> sa.types.TypeEngine:
    """The SQLAlchemy type that renders ``canonical`` on ``dialect`` ("sqlite"/"mysql"/"mariadb").

    Captures of the result are canonically equal to ``canonical`` (tested round trip).
    """
    if collation is not None and not _COLLATION.match(collation):
        raise ValidationError(f"collation {collation!r} is not a valid collation name")
    spec = parse_type(canonical)
    if dialect == "sqlite":
        return _sqlite_type(canonical, spec, autoincrement)
    return _mysql_type(canonical, spec, collation)


def _sqlite_type(canonical: str, spec: TypeSpec, autoincrement: bool) -> sa.types.TypeEngine:
    if spec.base == "int" and autoincrement:
        return sa.Integer()  # renders INTEGER: the rowid alias that autoincrements
    if spec.base == "boolean":
        return sa.Boolean(create_constraint=False)
    if spec.base == "json":
        return sa.JSON()
    return _declared(canonical)


def _mysql_type(canonical: str, spec: TypeSpec, collation: str | None) -> sa.types.TypeEngine:
    base, args, unsigned = spec.base, spec.args, spec.unsigned
    zerofill = "zerofill" in spec.flags
    ints = {"tinyint": mysql.TINYINT, "smallint": mysql.SMALLINT, "mediumint": mysql.MEDIUMINT, "int": mysql.INTEGER, "bigint": mysql.BIGINT}
    if base in ints:
        return ints[base](*args[:1], unsigned=unsigned, zerofill=zerofill)
    if base == "boolean":
        return sa.Boolean(create_constraint=False)
    if base == "decimal":
        precision, scale = args or (10, 0)
        return mysql.DECIMAL(precision, scale, unsigned=unsigned)
    if base in ("float", "double") and not args:
        return (mysql.FLOAT if base == "float" else mysql.DOUBLE)(unsigned=unsigned)
    if base == "varchar" and args:
        return mysql.VARCHAR(args[0], collation=collation)
    if base == "char":
        return mysql.CHAR((args or (1,))[0], collation=collation)
    texts = {"tinytext": mysql.TINYTEXT, "text": mysql.TEXT, "mediumtext": mysql.MEDIUMTEXT, "longtext": mysql.LONGTEXT}
    if base in texts and not args:
        return texts[base](collation=collation)
    if base == "enum":
        return mysql.ENUM(*spec.values, collation=collation)
    if base == "set":
        return mysql.SET(*spec.values, collation=collation)
    if base == "json":
        return mysql.JSON()
    if base in ("datetime", "timestamp", "time"):
        times: dict[str, Callable[..., sa.types.TypeEngine[Any]]] = {
            "datetime": mysql.DATETIME, "timestamp": mysql.TIMESTAMP, "time": mysql.TIME}
        cls = times[base]
        return cls(fsp=args[0]) if args else cls()
    if base == "date":
        return sa.DATE()
    if base == "year":
        return mysql.YEAR()
    if base in ("binary", "varbinary") and args:
        return (mysql.BINARY if base == "binary" else mysql.VARBINARY)(args[0])
    blobs = {"tinyblob": mysql.TINYBLOB, "blob": mysql.BLOB, "mediumblob": mysql.MEDIUMBLOB, "longblob": mysql.LONGBLOB}
    if base in blobs and not args:
        return blobs[base]()
    if base == "bit":
        return mysql.BIT((args or (1,))[0])
    return _declared(canonical, collation)


def _declared(canonical: str, collation: str | None = None) -> DeclaredType:
    if not _DECLARED.match(canonical):
        raise ValidationError(f"column type {canonical!r} can't be declared safely", hint="repair it by hand")
    return DeclaredType(canonical, collation)
