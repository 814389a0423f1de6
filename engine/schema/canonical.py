"""Canonical spelling of types, defaults, collations and definitions, and the schema hash.

Servers (and versions of one server) spell the same schema differently: ``int(11)`` vs
``INTEGER``, ``'0'`` vs ``0``, ``current_timestamp()`` vs ``CURRENT_TIMESTAMP``, the string
``'NULL'`` for "no default" on MariaDB, ``utf8`` vs ``utf8mb3``. Everything captured passes
through here so that equal schemas produce equal dicts and equal hashes, and only real
differences survive into drift reports.

Canonical forms (all plain strings, so dicts stay JSON-serialisable):

* type: lower case, no spaces inside parentheses, integer display widths dropped,
  ``tinyint(1)`` and ``bool`` spelled ``boolean``, ``numeric``/``dec`` -> ``decimal(p,s)``,
  ``integer`` -> ``int``, ``real``/``double precision`` -> ``double``; enum/set values
  re-quoted with ``'`` doubled and no backslash escapes.
* default: ``None`` (no default / NULL), a number (``0``, ``1.5``), a quoted string
  literal (``'abc'``, quote doubled), or an expression (``CURRENT_TIMESTAMP``,
  ``CURRENT_TIMESTAMP(6)``, otherwise the lower-cased expression text).
"""
from __future__ import annotations

from functools import lru_cache

import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

# --- types -------------------------------------------------------------------------

_INT_TYPES = ("tinyint", "smallint", "mediumint", "int", "bigint")
_TYPE_ALIASES = {
    "integer": "int",
    "int4": "int",
    "int2": "smallint",
    "int8": "bigint",
    "middleint": "mediumint",
    "bool": "boolean",
    "double precision": "double",
    "real": "double",
    "numeric": "decimal",
    "dec": "decimal",
    "fixed": "decimal",
    "character varying": "varchar",
    "nvarchar": "varchar",
    "national varchar": "varchar",
    "national character varying": "varchar",
    "varchar2": "varchar",
    "character": "char",
    "nchar": "char",
    "national char": "char",
    "clob": "text",
}
_MULTIWORD = sorted((a for a in _TYPE_ALIASES if " " in a), key=len, reverse=True)
# Precision that the server fills in when the declaration leaves it out.
_IMPLIED_ARGS = {"decimal": "10,0", "bit": "1", "char": "1", "binary": "1"}
_ZERO_FSP = ("datetime", "timestamp", "time")
_TYPE_SHAPE = re.compile(r"^([a-z][a-z0-9_ ]*?)(?:\(([^()]*)\))?((?: [a-z]+)*)$")
_ENUM_SHAPE = re.compile(r"^\s*(enum|set)\s*\((.*)\)\s*(.*)$", re.IGNORECASE | re.DOTALL)


@lru_cache(maxsize=4096)  # fleet scans see the same few hundred spellings thousands of times
def canonical_type(raw: str, *, backslash_escapes: bool = True) -> str:
    """Canonical spelling of a column type as declared or reported by a server.

    ``backslash_escapes``: whether quoted enum values use MySQL backslash escaping (as
    information_schema does); SQLite's declared types only double quotes.
    """
    text = " ".join(raw.strip().split())
    enum = _ENUM_SHAPE.match(text)
    if enum:
        kind, body, rest = enum.groups()
        values = _split_quoted_list(body, backslash_escapes=backslash_escapes)
        suffix = f" {rest.lower()}" if rest else ""
        return f"{kind.lower()}(" + ",".join(quote_literal(v) for v in values) + ")" + suffix
    text = text.lower()
    text = re.sub(r"\s*([(),])\s*", r"\1", text)
    text = re.sub(r"\)(?=[a-z])", ") ", text)
    for alias in _MULTIWORD:
        if text.startswith(alias) and not text[len(alias) : len(alias) + 1].isalnum():
            text = _TYPE_ALIASES[alias] + text[len(alias) :]
            break
    shape = _TYPE_SHAPE.match(text)
    if not shape:
        return text
    base, args, rest = shape.group(1).strip(), shape.group(2), shape.group(3).strip()
    base = _TYPE_ALIASES.get(base, base)
    flags = rest.split()
    if base in _INT_TYPES:
        if base == "tinyint" and args == "1" and not flags:
            return "boolean"
        if "zerofill" not in flags:
            args = None  # display width is presentation only (MySQL 8 drops it too)
    elif base == "decimal" and args is not None and "," not in args:
        args = f"{args},0"
    elif base in _ZERO_FSP and args == "0":
        args = None
    elif base == "year":
        args = None
    if args is None and base in _IMPLIED_ARGS:
        args = _IMPLIED_ARGS[base]
    out = base + (f"({args})" if args is not None else "")
    return out + (" " + " ".join(flags) if flags else "")


def enum_values(canonical: str) -> list[str]:
    """Values of a canonical ``enum(...)``/``set(...)`` type (canonical = no backslash escapes)."""
    match = _ENUM_SHAPE.match(canonical)
    if not match:
        raise ValueError(f"not an enum/set type: {canonical!r}")
    return _split_quoted_list(match.group(2), backslash_escapes=False)


def _split_quoted_list(body: str, *, backslash_escapes: bool) -> list[str]:
    values: list[str] = []
    i, n = 0, len(body)
    while i < n:
        while i < n and body[i] in " ,":
            i += 1
        if i >= n:
            break
        if body[i] != "'":
            # Unquoted item (should not happen for enums): take it up to the next comma.
            j = body.find(",", i)
            j = n if j < 0 else j
            values.append(body[i:j].strip())
            i = j
            continue
        value, i = _read_quoted(body, i, backslash_escapes=backslash_escapes)
        values.append(value)
    return values


_BACKSLASH = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def _read_quoted(text: str, start: int, *, backslash_escapes: bool) -> tuple[str, int]:
    """Read a single-quoted SQL literal starting at ``text[start] == "'"``."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if backslash_escapes and ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_BACKSLASH.get(nxt, nxt))
            i += 2
            continue
        if ch == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i


def quote_literal(value: str) -> str:
    """Canonical quoting of a string value: single quotes, quote doubled, nothing else."""
    return "'" + value.replace("'", "''") + "'"


# --- defaults ------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$", re.IGNORECASE)
_NOW = re.compile(
    r"^(current_timestamp|now|localtime|localtimestamp|sysdate)(?:\((\d*)\))?$"
)
_TODAY = re.compile(r"^(current_date|curdate)(?:\(\))?$")
_TIME = re.compile(r"^(current_time|curtime)(?:\((\d*)\))?$")


@lru_cache(maxsize=4096)
def canonical_default(
    raw: str | None, *, backslash_escapes: bool = False, bare_literal: bool = False
) -> str | None:
    """Canonical form of a column default.

    ``raw`` is SQL text (SQLite's ``dflt_value``, MariaDB's ``COLUMN_DEFAULT``: literals
    quoted, ``NULL`` unquoted for "none") unless ``bare_literal`` is set (MySQL 8 reports a
    literal's bare value and flags expressions separately).
    """
    if raw is None:
        return None
    if bare_literal:
        return _canonical_literal(raw)
    text = _strip_parens(raw.strip())
    if not text or text.upper() == "NULL":
        return None
    if text.startswith("'"):
        value, end = _read_quoted(text, 0, backslash_escapes=backslash_escapes)
        if end >= len(text):
            return _canonical_literal(value)
    return canonical_expression(text)


def _canonical_literal(value: str) -> str:
    if _NUMBER.match(value.strip()):
        return canonical_number(value.strip())
    return quote_literal(value)


def canonical_number(text: str) -> str:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def canonical_expression(text: str) -> str | None:
    """Canonical spelling of an expression default (``now()`` == ``CURRENT_TIMESTAMP``)."""
    text = _strip_parens(text.strip())
    if _NUMBER.match(text):
        return canonical_number(text)
    folded = re.sub(r"\s*([(),])\s*", r"\1", _fold_outside_quotes(text))
    if folded in ("true", "false"):
        return "1" if folded == "true" else "0"
    if folded == "null":
        return None
    match = _NOW.match(folded)
    if match:
        fsp = match.group(2)
        return f"CURRENT_TIMESTAMP({fsp})" if fsp and fsp != "0" else "CURRENT_TIMESTAMP"
    if _TODAY.match(folded):
        return "CURRENT_DATE"
    match = _TIME.match(folded)
    if match:
        fsp = match.group(2)
        return f"CURRENT_TIME({fsp})" if fsp and fsp != "0" else "CURRENT_TIME"
    return folded


def default_kind(canonical: str | None) -> str | None:
    """``None``, ``"number"``, ``"string"`` or ``"expression"`` for a canonical default."""
    if canonical is None:
        return None
    if canonical.startswith("'") and canonical.endswith("'") and len(canonical) >= 2:
        return "string"
    if _NUMBER.match(canonical):
        return "number"
    return "expression"


def string_default_value(canonical: str) -> str:
    """The Python value of a canonical string default (``'it''s'`` -> ``it's``)."""
    value, _ = _read_quoted(canonical, 0, backslash_escapes=False)
    return value


def _strip_parens(text: str) -> str:
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def _fold_outside_quotes(text: str, *, strip_identifier_quotes: bool = False) -> str:
    """Lower-case and collapse whitespace outside string literals."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and not (j + 1 < n and text[j + 1] == "'"):
                    break
                j += 2 if text[j] == "'" else 1
            out.append(text[i : j + 1])
            i = j + 1
            continue
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            i += 1
            continue
        if strip_identifier_quotes and ch in '`"[]':
            i += 1
            continue
        out.append(ch.lower())
        i += 1
    return "".join(out).strip()


# --- collations ------------------------------------------------------------------------


def canonical_collation(name: str | None) -> str | None:
    """Collation name with the server-version alias ``utf8`` spelled ``utf8mb3``."""
    if not name:
        return None
    name = name.lower()
    if name.startswith("utf8_"):
        name = "utf8mb3_" + name[len("utf8_") :]
    return name


def charset_of(collation: str | None) -> str | None:
    """The character set a collation belongs to (``utf8mb4_unicode_ci`` -> ``utf8mb4``)."""
    collation = canonical_collation(collation)
    if collation is None:
        return None
    if collation == "binary":
        return "binary"
    return collation.split("_", 1)[0]


def column_collation(column: str | None, table: str | None) -> str | None:
    """A column's collation, or ``None`` when it just follows the table's default."""
    column = canonical_collation(column)
    return None if column is None or column == canonical_collation(table) else column


# --- definitions (views, triggers) and hashing ----------------------------------------------


_INTRODUCER = re.compile(
    r"(?<![\w`])_(?:utf8mb4|utf8mb3|utf8|latin1|binary|ascii|ucs2|utf16|utf16le|utf32)\s*(?=')", re.IGNORECASE
)
_SPACE_AFTER = re.compile(r"\s*([(),;=<>+*/-])\s*")


def strip_schema(sql: str, schema: str | None) -> str:
    """Remove the own-schema qualifier (`` `tenant_x`. ``): two tenants differ only in it."""
    if schema:
        # Only quoted qualifiers: MariaDB always quotes them, and a bare ``name.`` could
        # just as well be a table alias.
        for quoted in (f"`{schema.replace('`', '``')}`.", f'"{schema}".'):
            sql = sql.replace(quoted, "")
    return sql


def normalise_definition(sql: str, *, schema: str | None = None) -> str:
    """View/trigger/routine body with the own-schema qualifier, identifier quotes, charset
    introducers (``_utf8mb4'x'``), case and whitespace differences removed (two tenant
    databases differ only in their names; server versions in how they print the rest)."""
    sql = _INTRODUCER.sub("", strip_schema(sql, schema))
    folded = _fold_outside_quotes(sql, strip_identifier_quotes=True)
    return _squeeze_outside_quotes(folded).rstrip(";").strip()


def _squeeze_outside_quotes(text: str) -> str:
    """``a = b`` == ``a=b``, ``f( x )`` == ``f(x)``: no space around operators and
    punctuation (outside string literals)."""
    parts = re.split(r"('(?:[^']|'')*')", text)
    return "".join(p if i % 2 else _SPACE_AFTER.sub(r"\1", p) for i, p in enumerate(parts))


def definition_hash(sql: str, *, schema: str | None = None) -> str:
    """Identity of an expression index (its CREATE INDEX text). Kept on the original,
    coarser normalisation so existing snapshots keep their expression index names."""
    text = _fold_outside_quotes(strip_schema(sql, schema), strip_identifier_quotes=True)
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


SQL_OBJECT_KINDS = ("views", "triggers", "routines", "events")


def without_sql(canonical: dict) -> dict:
    """The canonical dict without the re-creation statements (``sql``): those are how a
    server prints an object, not what it is, so they never count in a hash."""
    out = dict(canonical)
    for plural in SQL_OBJECT_KINDS:
        objects = canonical.get(plural)
        if objects:
            out[plural] = {n: {k: v for k, v in o.items() if k != "sql"} if isinstance(o, dict) else o
                           for n, o in objects.items()}
    tables = canonical.get("tables")
    if tables and any("checks" in t or "partition_sql" in t for t in tables.values()):
        out["tables"] = {n: _table_without_sql(t) for n, t in tables.items()}
    return out


def _table_without_sql(table: dict) -> dict:
    if "checks" not in table and "partition_sql" not in table:
        return table
    out = {k: v for k, v in table.items() if k != "partition_sql"}
    if "checks" in table:
        out["checks"] = {n: {k: v for k, v in c.items() if k != "sql"} for n, c in table["checks"].items()}
    return out


def schema_hash(canonical: dict) -> str:
    """sha256 of the canonical dict's JSON (sorted keys, compact separators), without the
    ``sql`` re-creation statements."""
    return hashlib.sha256(canonical_json(without_sql(canonical)).encode("utf-8")).hexdigest()


def fk_rule(rule: str | None, *, dialect: str) -> str:
    """Canonical ON UPDATE/ON DELETE rule.

    InnoDB treats NO ACTION as RESTRICT and reports either depending on version; SQLite
    distinguishes them (deferred vs immediate check), so it keeps NO ACTION as its default.
    """
    rule = " ".join((rule or "").upper().split())
    if dialect == "sqlite":
        return rule or "NO ACTION"
    return "RESTRICT" if rule in ("", "NO ACTION") else rule
