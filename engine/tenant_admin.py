"""The tenant's first admin user: a random setup token, stored only as a scrypt hash."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa

from .errors import ValidationError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
ADMIN_ROLE = "tenant_admin"


def hash_secret(secret: str) -> str:
    salt = _random.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    enc = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${enc(salt)}${enc(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got, base64.b64decode(digest))


def split_name(contact: str, email: str) -> tuple[str, str]:
    parts = (contact or "").split()
    if not parts:
        return email.split("@")[0][:100], ""
    return parts[0][:100], " ".join(parts[1:])[:100]


def ensure_admin(connection: sa.Connection, *, email: str, contact: str, tenant_id: int) -> str | None:
    """Create the first admin if absent; returns the one-time setup token (None if it existed)."""
    users = sa.Table("tenant_users", sa.MetaData(), autoload_with=connection)
    existing = connection.execute(sa.select(users.c.id).where(users.c.email == email)).first()
    if existing is not None:
        return None
    token = _random.token_urlsafe(24)
    first, last = split_name(contact, email)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    row = {"uuid": str(uuid.uuid4()), "first_name": first, "last_name": last, "email": email,
           "password_hash": hash_secret(token), "must_change_password": True, "tenant_id": tenant_id,
           "status": "active", "created_at": now, "updated_at": now}
    connection.execute(users.insert().values({k: v for k, v in row.items() if k in users.c}))
    _grant_admin_role(connection, email)
    return token


def reset_setup_token(connection: sa.Connection, email: str) -> str:
    """A new one-time setup token for an existing user (the old one stops working)."""
    users = sa.Table("tenant_users", sa.MetaData(), autoload_with=connection)
    token = _random.token_urlsafe(24)
    connection.execute(users.update().where(users.c.email == email)
                       .values(password_hash=hash_secret(token), must_change_password=True))
    return token


def _grant_admin_role(connection: sa.Connection, email: str) -> None:
    """Assign the basic layer's seeded ``tenant_admin`` role to the new user."""
    meta = sa.MetaData()
    roles = sa.Table("roles", meta, autoload_with=connection)
    user_roles = sa.Table("user_roles", meta, autoload_with=connection)
    users = sa.Table("tenant_users", meta, autoload_with=connection)
    user_id = connection.execute(sa.select(users.c.id).where(users.c.email == email)).scalar_one()
    role_id = connection.execute(sa.select(roles.c.id).where(roles.c.name == ADMIN_ROLE)).scalar()
    if role_id is None:
        raise ValidationError(f"the basic layer has no {ADMIN_ROLE!r} role to give the first admin")
    connection.execute(user_roles.insert().values(user_id=user_id, role_id=role_id))
