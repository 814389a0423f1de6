"""Names the schema-health code treats specially, and the rules DDL identifiers obey.

Everything that decides "is this table part of the tenant schema?" or "may this name go
into DDL?" lives here, so capture, diff and repair can never disagree about it.
"""
from __future__ import annotations

import hashlib
import re

from tenantops.engine.errors import ValidationError

# Quarantine tables hold data moved aside by repair; they are never part of a schema.
QUARANTINE_PREFIX = "_q_"

# Bookkeeping tables that migrations create but that are not the tenant's schema.
EXCLUDED_TABLES = frozenset({"alembic_version"})

# MySQL/MariaDB's identifier limit; SQLite has none, but one rule for both keeps a
# schema portable and quarantine names predictable.
MAX_IDENTIFIER = 64

# Deliberately narrower than what servers accept: anything reaching DDL must match it.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
_SUFFIX = re.compile(r"^[a-z0-9]{1,24}$")


def is_schema_table(name: str) -> bool:
    """True for tables that belong to the captured schema (not bookkeeping/quarantine)."""
    return name.lower() not in EXCLUDED_TABLES and not name.lower().startswith(QUARANTINE_PREFIX)


def validate_identifier(name: str | None, what: str = "identifier") -> str:
    """Return ``name`` if it may be used as a DDL identifier, else raise ValidationError."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or name.isdigit():
        raise ValidationError(
            f"{what} {name!r} is not a valid identifier",
            hint="letters, digits, _ and $ only, at most 64 characters",
        )
    return name


def validate_suffix(suffix: str) -> str:
    if not isinstance(suffix, str) or not _SUFFIX.match(suffix):
        raise ValidationError(
            f"quarantine suffix {suffix!r} is invalid", hint="1-24 lowercase letters or digits"
        )
    return suffix


def quarantine_name(suffix: str, table: str, column: str | None = None) -> str:
    """``_q_<suffix>_<table>`` or ``_q_<suffix>_<table>__<column>``, at most 64 chars.

    Too-long names are cut and end in a hash of the full name, so two different long
    tables never share a quarantine table.
    """
    validate_suffix(suffix)
    full = f"{QUARANTINE_PREFIX}{suffix}_{table}" + (f"__{column}" if column else "")
    if len(full) <= MAX_IDENTIFIER:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{full[: MAX_IDENTIFIER - len(digest) - 1]}_{digest}"
