"""Opening the landlord store and keeping its schema current.

Embedded default: a SQLite file in the home directory (WAL, foreign keys on). Real: any
MariaDB/MySQL URL, its password taken from the keyring.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from tenantops.engine.alembic_lock import ALEMBIC_LOCK
from tenantops.engine import mysql_driver, secrets
from tenantops.engine.config import timeouts
from tenantops.engine.errors import ConfigError, ServerError, TenantopsError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.M)


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
    mysql_driver.load()
    return sa.create_engine(parsed.set(password=password), pool_pre_ping=True, pool_recycle=3600,
                            connect_args=connect_args)


def _alembic_config(connection: sa.Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest landlord revision, read from the revision files' ``revision`` and
    ``down_revision`` lines: opening the store for a read command must not import Alembic
    (~60% of a `tenants list --json`). A test checks it against Alembic's own answer."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(text)
        if down is not None:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = revisions - parents
    if len(heads) != 1:  # several heads (a merge still to write): let Alembic decide and complain
        from alembic.script import ScriptDirectory

        return ScriptDirectory(str(MIGRATIONS)).get_current_head()
    return heads.pop()


def current_revision(conn: sa.Connection) -> str | None:
    """The store's revision from ``alembic_version``, without Alembic; None when empty."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def schema_state(engine: sa.Engine) -> tuple[str | None, str | None]:
    """(current revision of the store, newest revision this tenantops knows)."""
    with engine.connect() as conn:
        current = current_revision(conn)
    return current, head_revision()


def upgrade(engine: sa.Engine) -> bool:
    """Bring the landlord schema to head; True if anything was applied.

    Refuses a store written by a newer tenantops rather than guessing at its schema.
    Alembic is imported only when there is something to apply.
    """
    try:
        current, head = schema_state(engine)
    except sa.exc.OperationalError as exc:
        raise ServerError(f"landlord store unreachable: {exc.orig.args[-1] if exc.orig and exc.orig.args else exc}") from None
    if current == head:
        return False
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
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
