"""Schema objects that live as SQL text: views, triggers, routines, events.

Repair re-creates a missing one from the expected definition (the canonical dict keeps a
``sql`` statement for each, own-schema qualifiers and DEFINER removed) and moves an
unexpected one aside by saving its live definition (``SHOW CREATE``/``sqlite_master``)
in quarantine before dropping it, so ``quarantine restore`` can put it back.
"""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from tenantops.engine.errors import ConflictError, NotFoundError, ValidationError
from tenantops.engine.schema.names import validate_identifier

# kind -> (DROP keyword, SHOW CREATE keyword, column of SHOW CREATE holding the statement)
KINDS: dict[str, tuple[str, str, str]] = {
    "view": ("VIEW", "VIEW", "Create View"),
    "trigger": ("TRIGGER", "TRIGGER", "SQL Original Statement"),
    "procedure": ("PROCEDURE", "PROCEDURE", "Create Procedure"),
    "function": ("FUNCTION", "FUNCTION", "Create Function"),
    "event": ("EVENT", "EVENT", "Create Event"),
}

_DEFINER = re.compile(
    r"\s+DEFINER\s*=\s*(?:CURRENT_USER(?:\(\))?|(?:`[^`]*`|'[^']*'|\"[^\"]*\"|[^\s@]+)"
    r"(?:@(?:`[^`]*`|'[^']*'|\"[^\"]*\"|[^\s]+))?)",
    re.IGNORECASE,
)
_ALGORITHM = re.compile(r"\s+ALGORITHM\s*=\s*UNDEFINED", re.IGNORECASE)
_BIND = re.compile(r"(?<![:\w\\]):(?=\w)")


def strip_definer(sql: str) -> str:
    """``CREATE DEFINER=`u`@`h` TRIGGER ...`` -> ``CREATE TRIGGER ...``: the definer is an
    account on one server, never part of the schema, and re-creating with it needs SUPER."""
    return _ALGORITHM.sub("", _DEFINER.sub("", sql, count=1), count=1)


def verbatim(sql: str) -> sa.TextClause:
    """SQL text that reaches the server exactly as written (``:word`` is no bind)."""
    return sa.text(_BIND.sub(r"\\:", sql))


def drop_statement(kind: str, name: str) -> sa.TextClause:
    keyword = KINDS[kind][0]
    return sa.text(f"DROP {keyword} {_quote(name)}")


def live_definition(connection: sa.Connection, kind: str, name: str) -> str:
    """The object's CREATE statement as the server holds it now, DEFINER removed."""
    validate_identifier(name, kind)
    if connection.dialect.name == "sqlite":
        sql = connection.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = :k AND name = :n"),
                                 {"k": kind, "n": name}).scalar()
        if sql is None:
            raise NotFoundError(f"{kind} {name} does not exist")
        return str(sql)
    _, keyword, column = KINDS[kind]
    row = connection.execute(sa.text(f"SHOW CREATE {keyword} `{name}`")).mappings().first()
    if row is None or row.get(column) is None:
        raise NotFoundError(f"{kind} {name} does not exist (or its definition is not readable)")
    return strip_definer(str(row[column]))


def exists(connection: sa.Connection, kind: str, name: str) -> bool:
    if connection.dialect.name == "sqlite":
        return connection.execute(sa.text("SELECT 1 FROM sqlite_master WHERE type = :k AND name = :n"),
                                  {"k": kind, "n": name}).first() is not None
    query = {
        "view": "SELECT 1 FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :n",
        "trigger": "SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = :n",
        "procedure": "SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
                     "AND ROUTINE_TYPE = 'PROCEDURE' AND ROUTINE_NAME = :n",
        "function": "SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
                    "AND ROUTINE_TYPE = 'FUNCTION' AND ROUTINE_NAME = :n",
        "event": "SELECT 1 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = :n",
    }[kind]
    return connection.execute(sa.text(query), {"n": name}).first() is not None


def restore_definition(connection: sa.Connection, kind: str, name: str, definition: str | None) -> None:
    """Put a quarantined object back by running its saved definition."""
    if kind not in KINDS:
        raise ValidationError(f"unknown quarantined object kind {kind!r}")
    if not definition:
        raise ValidationError(f"quarantine holds no definition of {kind} {name}")
    if exists(connection, kind, name):
        raise ConflictError(f"{kind} {name!r} exists again", hint="drop or rename it before restoring")
    connection.execute(verbatim(definition))
    connection.commit()


def _quote(name: str) -> str:
    # validated names only: letters, digits, _ and $ need no quoting on either dialect
    return validate_identifier(name, "object")


def routine_kind(definition: dict[str, Any]) -> str:
    return "function" if definition.get("kind") == "function" else "procedure"
