"""The tenant's first admin user: a random setup token, stored only as a scrypt hash."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa

from tenantops.engine.errors import ValidationError

# The hashed secret is a one-time token of 192 random bits (``new_setup_token``), not a
# password someone chose: there is no guessing for a work factor to slow down (2**192
# candidates at any cost per try), so the cost only has to be a valid scrypt one. At
# 2**14 (~60-85 ms of a core on the 2-core machine) it competed with the server building
# the tenant's schema and cost a provisioning ~28 ms (bench/README.md §1). The stored
# string records its own parameters, so a verifier reads them from the hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**10, 8, 1
SETUP_TOKEN_BYTES = 24
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


# The columns this module writes, from the basic layer's Universal Core Schema (seed 004);
# named here rather than reflected: reflection costs a dozen round trips per tenant.
USERS = sa.table("tenant_users", *(sa.column(c) for c in (
    "id", "uuid", "first_name", "last_name", "email", "password_hash", "must_change_password", "tenant_id",
    "status", "created_at", "updated_at")))
# The first admin's statements as text: one provisioning runs each once, and SQLAlchemy
# compiles a Core statement anew in every process (~0.5-1 ms each, text a fifth of that).
# The same SQL on SQLite and MariaDB/MySQL; values are bound, as with Core.
_FIND_USER = sa.text("SELECT id FROM tenant_users WHERE email = :email")
_ADD_USER = sa.text(
    "INSERT INTO tenant_users (uuid, first_name, last_name, email, password_hash, must_change_password, "
    "tenant_id, status, created_at, updated_at) VALUES (:uuid, :first_name, :last_name, :email, :password_hash, "
    ":must_change_password, :tenant_id, 'active', :now, :now)")
# the role by name, in the same statement that grants it
_GRANT_ROLE = sa.text("INSERT INTO user_roles (user_id, role_id) SELECT :user_id, id FROM roles WHERE name = :role")


def new_setup_token() -> tuple[str, str]:
    """A one-time setup token and its scrypt hash (hashlib.scrypt releases the GIL:
    provisioning computes it in a thread while the schema is being built)."""
    token = _random.token_urlsafe(SETUP_TOKEN_BYTES)
    return token, hash_secret(token)


def ensure_admin(connection: sa.Connection, *, email: str, contact: str, tenant_id: int,
                 setup: tuple[str, str] | None = None) -> str | None:
    """Create the first admin if absent; returns the one-time setup token (None if it
    existed). ``setup``: a token and hash from ``new_setup_token``, made in advance."""
    existing = connection.execute(_FIND_USER, {"email": email}).first()
    if existing is not None:
        return None
    token, hashed = setup if setup is not None else new_setup_token()
    first, last = split_name(contact, email)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    # the id the server gave the row (the basic layer's tenant_users.id is AUTO_INCREMENT)
    user_id = connection.execute(_ADD_USER, {
        "uuid": str(uuid.uuid4()), "first_name": first, "last_name": last, "email": email,
        "password_hash": hashed, "must_change_password": True, "tenant_id": tenant_id, "now": now}).lastrowid
    # the caller's transaction leaves no user behind without the role (it does not commit
    # on the error below)
    granted = connection.execute(_GRANT_ROLE, {"user_id": user_id, "role": ADMIN_ROLE})
    if granted.rowcount != 1:
        raise ValidationError(f"the basic layer has no {ADMIN_ROLE!r} role to give the first admin")
    return token


def reset_setup_token(connection: sa.Connection, email: str) -> str:
    """A new one-time setup token for an existing user (the old one stops working)."""
    token = _random.token_urlsafe(SETUP_TOKEN_BYTES)
    connection.execute(USERS.update().where(USERS.c.email == email)
                       .values(password_hash=hash_secret(token), must_change_password=True))
    return token
