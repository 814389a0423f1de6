"""The tenant's first admin: made once, with the tenant_admin role, or not at all."""
from __future__ import annotations

import base64

import sqlalchemy as sa

from conftest import make_engine
from tenantops.engine.errors import ValidationError
from tenantops.engine.tenants.first_admin import ensure_admin, new_setup_token, verify_secret


def _tables(conn: sa.Connection, *, with_role: bool) -> None:
    conn.exec_driver_sql("CREATE TABLE roles (id INTEGER PRIMARY KEY, name VARCHAR(50))")
    conn.exec_driver_sql(
        "CREATE TABLE tenant_users (id INTEGER PRIMARY KEY AUTO_INCREMENT, uuid VARCHAR(36), first_name VARCHAR(100), "
        "last_name VARCHAR(100), email VARCHAR(255), password_hash VARCHAR(255), must_change_password BOOLEAN, "
        "tenant_id INTEGER, status VARCHAR(20), created_at DATETIME, updated_at DATETIME)"
        .replace("AUTO_INCREMENT", "AUTO_INCREMENT" if conn.dialect.name != "sqlite" else ""))
    conn.exec_driver_sql("CREATE TABLE user_roles (user_id INTEGER, role_id INTEGER)")
    conn.exec_driver_sql("INSERT INTO roles (id, name) VALUES (1, 'member')")
    if with_role:
        conn.exec_driver_sql("INSERT INTO roles (id, name) VALUES (7, 'tenant_admin')")


def test_the_first_admin_gets_the_role_once(db_url: sa.URL) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        _tables(conn, with_role=True)
        conn.exec_driver_sql("INSERT INTO tenant_users (id, email) VALUES (40, 'earlier@x.example.org')")
        token = ensure_admin(conn, email="ram@x.example.org", contact="Ram Bahadur Thapa", tenant_id=3)
        assert token is not None
        assert ensure_admin(conn, email="ram@x.example.org", contact="Ram", tenant_id=3) is None  # already there
        conn.commit()
        user = conn.execute(sa.text("SELECT id, first_name, last_name, password_hash FROM tenant_users "
                                    "WHERE email = 'ram@x.example.org'")).one()
        assert (user.first_name, user.last_name) == ("Ram", "Bahadur Thapa") and verify_secret(token, user.password_hash)
        assert conn.execute(sa.text("SELECT user_id, role_id FROM user_roles")).all() == [(user.id, 7)]
    engine.dispose()


def test_without_the_role_no_admin_is_left_behind(db_url: sa.URL) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        _tables(conn, with_role=False)
        conn.commit()
        try:
            ensure_admin(conn, email="ram@x.example.org", contact="Ram", tenant_id=3)
        except ValidationError as exc:
            assert "tenant_admin" in str(exc)
        else:
            raise AssertionError("an admin without the tenant_admin role was made")
        conn.rollback()  # what the provisioning step does with an error: no commit
        assert conn.execute(sa.text("SELECT COUNT(*) FROM tenant_users")).scalar() == 0
        assert conn.execute(sa.text("SELECT COUNT(*) FROM user_roles")).scalar() == 0
    engine.dispose()


def test_the_setup_token_is_random_enough_that_its_hash_cost_does_not_matter() -> None:
    """The scrypt cost of the setup token is low on purpose (engine/tenants/first_admin.py):
    that holds only while the token carries at least 128 random bits and each hash has
    its own salt and records its own parameters, so a verifier reads them from the hash."""
    tokens = [new_setup_token() for _ in range(50)]
    assert len({t for t, _ in tokens}) == 50 and len({h for _, h in tokens}) == 50
    for token, hashed in tokens:
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128
        scheme, n, r, p, salt, _ = hashed.split("$")
        assert scheme == "scrypt" and int(n) >= 2**10 and verify_secret(token, hashed)
        assert not verify_secret(token[:-1] + ("A" if token[-1] != "A" else "B"), hashed)
