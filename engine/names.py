"""Names that reach SQL: validated against strict patterns before any dialect quoting."""
from __future__ import annotations

import hashlib
import re

from tenantops.engine.errors import ValidationError

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
SERVER_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
IDENT_RE = re.compile(r"^[a-z0-9_]{1,64}$")
MAX_DB_NAME = 64
MAX_USER_NAME = 32  # MySQL's limit; MariaDB allows 80


def check_slug_format(slug: str) -> None:
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        # ascii(): quoted, one line, control characters and look-alike letters (Cyrillic, fullwidth) escaped
        raise ValidationError(
            f"slug {ascii(slug)} is invalid: use 2-63 characters, lowercase letters, digits and '-', "
            "starting with a letter or digit")


def check_server_name(name: str) -> None:
    if not isinstance(name, str) or not SERVER_NAME_RE.fullmatch(name):
        raise ValidationError(
            f"server name {ascii(name)} is invalid: use up to 63 lowercase letters, digits, '_' and '-', "
            "starting with a letter")


def check_identifier(name: str, what: str = "identifier") -> str:
    if not IDENT_RE.fullmatch(name or ""):
        raise ValidationError(f"{what} {name!r} is not a safe SQL identifier")
    return name


def _fit(prefix: str, body: str, limit: int) -> str:
    name = prefix + body
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(body.encode()).hexdigest()[:8]
    return f"{prefix}{body[: limit - len(prefix) - 9]}_{digest}"


def database_name(slug: str) -> str:
    """``tenant_<slug>``; '-' becomes '_' (slugs have no '_', so this is injective)."""
    check_slug_format(slug)
    return check_identifier(_fit("tenant_", slug.replace("-", "_"), MAX_DB_NAME), "database name")


def user_name(slug: str) -> str:
    check_slug_format(slug)
    return check_identifier(_fit("tu_", slug.replace("-", "_"), MAX_USER_NAME), "user name")
