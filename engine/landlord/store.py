"""Opening the landlord store and keeping its schema current.

Embedded default: a SQLite file in the home directory (WAL, foreign keys on). Real: any
MariaDB/MySQL URL, its password taken from the keyring.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import sessionmaker

from tenantops.engine.alembic_lock import ALEMBIC_LOCK
from tenantops.engine import secrets
from tenantops.engine.config import timeouts
from tenantops.engine.errors import ConfigError, ServerError, TenantopsError

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # WAL + NORMAL never corrupts the store; a power cut may lose the last commits only
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def public_url(url: sa.URL) -> str:
    """The URL as it may be shown and stored: never with a password."""
    return url.set(password=None).render_as_string(hide_password=False)


def open_engine(url: str | None, home: Path) -> sa.Engine:
    """An engine on the landlord: the embedded SQLite file unless a URL is given."""
    if not url:
        home.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(f"sqlite:///{home / 'landlord.db'}")
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"landlord URL {url!r} is not a database URL") from None
    if parsed.password:
        raise ConfigError("landlord URL must not contain a password; store it with `tenantops init --password-stdin`")
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend not in ("mysql", "mariadb"):
        raise ConfigError(f"landlord URL: unsupported database {backend!r} (use sqlite or mysql+pymysql)")
    password = secrets.get_secret(secrets.landlord_key(public_url(parsed)), required=False)
    connect_args: dict[str, Any] = {"ssl_disabled": True} if parsed.host in ("127.0.0.1", "localhost", "::1") else {}
    connect_args.update(timeouts().pymysql_args())
    return sa.create_engine(parsed.set(password=password), pool_pre_ping=True, pool_recycle=3600,
                            connect_args=connect_args)


def _alembic_config(connection: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


def schema_state(engine: sa.Engine) -> tuple[str | None, str | None]:
    """(current revision of the store, newest revision this tenantops knows)."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head


def upgrade(engine: sa.Engine) -> bool:
    """Bring the landlord schema to head; True if anything was applied.

    Refuses a store written by a newer tenantops rather than guessing at its schema.
    """
    script = ScriptDirectory(str(MIGRATIONS))
    try:
        current, head = schema_state(engine)
    except sa.exc.OperationalError as exc:
        raise ServerError(f"landlord store unreachable: {exc.orig.args[-1] if exc.orig and exc.orig.args else exc}") from None
    if current == head:
        return False
    if current is not None:
        try:
            script.get_revision(current)
        except Exception:
            raise TenantopsError(
                f"landlord store is at revision {current}, which this tenantops does not know "
                f"(newest known: {head}); upgrade tenantops before using this store") from None
    with ALEMBIC_LOCK, engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    return True


def session_factory(engine: sa.Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
