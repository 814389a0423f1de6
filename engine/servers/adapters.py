"""Database servers: one adapter per dialect behind one interface.

The embedded ``local`` server is a directory of SQLite files; real servers are
MariaDB/MySQL reached through PyMySQL with an admin account whose password is in the
keyring.
"""
from __future__ import annotations

import hashlib
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from tenantops.engine import mysql_driver, secrets
from tenantops.engine.config import tenant_user_host, timeouts
from tenantops.engine.errors import ServerError
from tenantops.engine.names import check_identifier

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# what a tenant's application user may do in its own database: data, not schema
TENANT_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, EXECUTE"


# driver errors that mean "the server did not answer", not "the server said no":
# can't connect, gone away, lost connection (a read/write timeout ends as this), packet lost
_UNREACHABLE_CODES = {2003, 2006, 2013, 2055}
# information_schema's GRANTEE: 'user'@'host'
_GRANTEE = re.compile(r"'(.*)'@'(.*)'")


class ServerUnreachable(ServerError):
    """A server did not answer (dead, frozen, black-holed) within its timeouts."""


class DatabaseExists(ServerError):
    """CREATE DATABASE found the name taken: nothing was created or changed."""


_DB_CREATE_EXISTS = 1007  # ER_DB_CREATE_EXISTS


def unreachable_message(server: str, detail: str) -> str:
    return f"server {server} is unreachable: {detail} (see `tenantops servers check {server}`)"


def translate_unreachable(engine: sa.Engine, server: str) -> None:
    """The one place a connection failure becomes one line naming the server: every
    command that talks to this server (and its tenants) reports it the same way."""

    @sa.event.listens_for(engine, "handle_error")
    def _unreachable(context: sa.engine.ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects; a real failure shows on the next attempt
        orig = context.original_exception
        code = orig.args[0] if getattr(orig, "args", None) else None
        if context.is_disconnect or code in _UNREACHABLE_CODES:
            detail = re.sub(r"\s+", " ", str(orig.args[1])) if len(orig.args) > 1 else type(orig).__name__
            raise ServerUnreachable(unreachable_message(server, detail)) from None


class Adapter(ABC):
    dialect: str

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self._engines: dict[str, sa.Engine] = {}

    @abstractmethod
    def check(self) -> str:
        """Return the server version or raise ServerError."""

    @abstractmethod
    def create_database(self, name: str) -> None: ...

    @abstractmethod
    def drop_database(self, name: str) -> None: ...

    @abstractmethod
    def database_exists(self, name: str) -> bool: ...

    @abstractmethod
    def list_databases(self, prefix: str = "tenant_") -> list[str]: ...

    @abstractmethod
    def tenant_url(self, database: str) -> sa.URL: ...

    def create_user(self, user: str, database: str) -> str | None:
        """Create a user allowed only on ``database``; return its password (None: no users)."""
        return None

    def drop_user(self, user: str) -> None:
        return None

    def list_users(self, prefix: str = "tu_") -> list[str]:
        return []

    def excess_privileges(self, user: str, database: str) -> dict[str, list[str]]:
        """{host: privileges beyond data in its own database} of a tenant user ({}: none)."""
        return self.excess_privileges_of({user: database}).get(user, {})

    def excess_privileges_of(self, users: dict[str, str]) -> dict[str, dict[str, list[str]]]:
        """``excess_privileges`` of many tenant users ({user: database}) at once."""
        return {}

    def reduce_privileges(self, user: str, database: str) -> None:
        """Leave a tenant user with data privileges on its own database only (idempotent)."""
        return None

    def user_url(self, database: str, user: str, password: str) -> sa.URL:
        return self.tenant_url(database)

    def lock_user(self, user: str | None, database: str) -> None:
        """Refuse the tenant application's logins (suspend); admin access stays."""

    def unlock_user(self, user: str | None, database: str) -> None:
        """Let the tenant application log in again (resume)."""

    def user_locked(self, user: str | None, database: str) -> bool:
        return False

    def engine(self, database: str) -> sa.Engine:
        """A pooled engine on a tenant database (admin credentials)."""
        check_identifier(database, "database name")
        if database not in self._engines:
            self._engines[database] = self._make_engine(self.tenant_url(database))
        return self._engines[database]

    def _make_engine(self, url: sa.URL) -> sa.Engine:
        return sa.create_engine(url)

    def definitions_engine(self, database: str) -> sa.Engine:
        """An engine that reads ``database``'s definitions (its schema, never its rows)."""
        return self.engine(database)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


class SqliteAdapter(Adapter):
    dialect = "sqlite"

    def __init__(self, name: str, url: str) -> None:
        super().__init__(name, url)
        self.directory = Path(sa.make_url(url).database or ".")

    def path(self, database: str) -> Path:
        return self.directory / f"{check_identifier(database, 'database name')}.sqlite"

    def check(self) -> str:
        if not self.directory.is_dir():
            raise ServerError(f"server {self.name}: directory {self.directory} does not exist")
        return sqlite3.sqlite_version

    def create_database(self, name: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(name)
        if path.exists():
            raise DatabaseExists(f"server {self.name}: database {name} already exists")
        sqlite3.connect(path).close()

    def drop_database(self, name: str) -> None:
        engine = self._engines.pop(name, None)
        if engine is not None:
            engine.dispose()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path(name)}{suffix}").unlink(missing_ok=True)

    def database_exists(self, name: str) -> bool:
        return self.path(name).exists()

    def list_databases(self, prefix: str = "tenant_") -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob(f"{prefix}*.sqlite"))

    def tenant_url(self, database: str) -> sa.URL:
        return sa.make_url(f"sqlite:///{self.path(database)}")

    # SQLite has no accounts: a suspended tenant is a marker file beside its database,
    # and the application's URL (user_url) is refused while it exists.
    def _lock_marker(self, database: str) -> Path:
        return self.path(database).with_suffix(".suspended")

    def lock_user(self, user: str | None, database: str) -> None:
        self._lock_marker(database).touch(mode=0o600)

    def unlock_user(self, user: str | None, database: str) -> None:
        self._lock_marker(database).unlink(missing_ok=True)

    def user_locked(self, user: str | None, database: str) -> bool:
        return self._lock_marker(database).exists()

    def user_url(self, database: str, user: str, password: str) -> sa.URL:
        if self.user_locked(user, database):
            raise ServerError(f"server {self.name}: the application account of {database} is locked (suspended)")
        return self.tenant_url(database)

    def _make_engine(self, url: sa.URL) -> sa.Engine:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        return engine


def native_password_hash(password: str) -> str:
    """MariaDB's mysql_native_password hash, so the clear password never crosses the wire
    (and never lands in a general or slow log)."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


class MysqlAdapter(Adapter):
    dialect = "mariadb"

    def __init__(self, name: str, url: str, password: str | None = None) -> None:
        super().__init__(name, url)
        self._url = sa.make_url(url)
        self._password = password
        self._admin: sa.Engine | None = None

    @property
    def password(self) -> str | None:
        if self._password is None:
            self._password = secrets.get_secret(secrets.server_key(self.name), required=False)
        return self._password

    def _connect_args(self, *, probe: bool = False) -> dict:
        # TLS negotiation costs ~70 ms per connection; loopback gains nothing from it.
        args: dict[str, Any] = {"ssl_disabled": True} if self._url.host in _LOOPBACK else {}
        # a dead or frozen server costs a bounded wait, never a hang (config: *_timeout)
        args.update(timeouts().pymysql_args(probe=probe))
        return args

    def _make_engine(self, url: sa.URL) -> sa.Engine:
        mysql_driver.load()
        args = self._connect_args()
        if url.database:
            # a tenant's connections may carry several statements in one query: a compiled
            # plan sends each revision in one round trip (migrate/plans.py, replay); every
            # other statement on them binds its values or quotes its identifiers
            args["client_flag"] = mysql_driver.MULTI_STATEMENTS
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4,
                                  pool_recycle=1800, connect_args=args)
        translate_unreachable(engine, self.name)
        return engine

    def admin(self) -> sa.Engine:
        if self._admin is None:
            url = self._url.set(password=self.password, database=None, query={"charset": "utf8mb4"})
            self._admin = self._make_engine(url)
        return self._admin

    def definitions_engine(self, database: str) -> sa.Engine:
        """The admin engine: information_schema names the database in every query, and
        the admin connection that created the database is already open (a tenant
        connection would log in again; both use the admin account)."""
        check_identifier(database, "database name")
        return self.admin()

    def _exec(self, sql: str, params: tuple = ()) -> list[sa.Row[Any]]:
        with self._admin_connection() as run:
            return run(sql, params)

    @contextmanager
    def _admin_connection(self) -> Iterator[Callable[[str, tuple], list[sa.Row[Any]]]]:
        """Several admin statements on one connection (one checkout, one commit), each
        run as ``_exec`` runs one; a server error is a ServerError naming the server."""
        try:
            with self.admin().connect() as conn:

                def run(sql: str, params: tuple = ()) -> list[sa.Row[Any]]:
                    result = conn.exec_driver_sql(sql, params)
                    return list(result.fetchall()) if result.returns_rows else []

                yield run
                conn.commit()
        except sa.exc.DBAPIError as exc:
            raise ServerError(f"server {self.name}: {_short(exc)}") from None

    def check(self) -> str:
        """The version, answered within the connect timeout (doctor, servers check)."""
        url = self._url.set(password=self.password, database=None)
        mysql_driver.load()
        probe = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=self._connect_args(probe=True))
        try:
            with probe.connect() as conn:
                version = str(conn.exec_driver_sql("SELECT VERSION()").scalar())
        except sa.exc.DBAPIError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code in _UNREACHABLE_CODES or exc.connection_invalidated:
                raise ServerUnreachable(unreachable_message(self.name, _short(exc))) from None
            raise ServerError(f"server {self.name} refused the connection: {_short(exc)}") from None
        finally:
            probe.dispose()
        if "mariadb" not in version.lower():
            self.dialect = "mysql"
        return version

    def _q(self, name: str) -> str:
        return self.admin().dialect.identifier_preparer.quote_identifier(check_identifier(name))

    def create_database(self, name: str) -> None:
        """Refuses a name that is taken (DatabaseExists): a caller that may reuse its own
        database tries this first and looks closer only on that refusal."""
        try:
            with self.admin().connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {self._q(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        except sa.exc.DBAPIError as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            kind = DatabaseExists if code == _DB_CREATE_EXISTS else ServerError
            raise kind(f"server {self.name}: {_short(exc)}") from None

    def drop_database(self, name: str) -> None:
        engine = self._engines.pop(name, None)
        if engine is not None:
            engine.dispose()
        self._exec(f"DROP DATABASE IF EXISTS {self._q(name)}")

    def database_exists(self, name: str) -> bool:
        rows = self._exec("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
        return bool(rows)

    def list_databases(self, prefix: str = "tenant_") -> list[str]:
        rows = self._exec("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        return sorted(r[0] for r in rows if r[0].startswith(prefix))

    def tenant_url(self, database: str) -> sa.URL:
        return self._url.set(password=self.password, database=database, query={"charset": "utf8mb4"})

    def create_user(self, user: str, database: str) -> str:
        check_identifier(user, "user name")
        # never adopt an existing account: it may belong to another tenant, and the grant
        # below would open this database to it (plain CREATE USER also fails on a race)
        host = tenant_user_host()
        with self._admin_connection() as run:
            if run("SELECT 1 FROM mysql.user WHERE User = %s", (user,)):
                raise ServerError(f"server {self.name}: database user {user} already exists; refusing to share it "
                                  f"(see `tenantops doctor`)")
            password = secrets.new_password()
            if self.dialect == "mysql":
                run("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
            else:
                run("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", (user, host, native_password_hash(password)))
            # least privilege: data only, in its own database; schema changes (migrations,
            # repairs) run as the server's admin account. No GRANT OPTION, nothing global.
            run(f"GRANT {TENANT_PRIVILEGES} ON {self._q(database)}.* TO %s@%s", (user, host))
        return password

    def drop_user(self, user: str) -> None:
        check_identifier(user, "user name")
        for (host,) in self._exec("SELECT Host FROM mysql.user WHERE User = %s", (user,)):
            self._exec("DROP USER IF EXISTS %s@%s", (user, host))

    def list_users(self, prefix: str = "tu_") -> list[str]:
        rows = self._exec("SELECT DISTINCT User FROM mysql.user WHERE Host = %s", (tenant_user_host(),))
        return sorted(r[0] for r in rows if r[0].startswith(prefix))

    def user_url(self, database: str, user: str, password: str) -> sa.URL:
        return self._url.set(username=user, password=password, database=database)

    def excess_privileges_of(self, users: dict[str, str]) -> dict[str, dict[str, list[str]]]:
        """{user: {host: excess}} for tenant users given as {user: their database}, in two
        queries whatever the count. Older versions granted tenant users ALL PRIVILEGES on
        their database; any privilege outside ``TENANT_PRIVILEGES`` there, on any other
        database, any global one but USAGE, and any right to grant is excess."""
        allowed = {p.strip() for p in TENANT_PRIVILEGES.split(",")}
        excess: dict[str, dict[str, list[str]]] = {}

        def add(grantee: str, what: str) -> None:
            parsed = _GRANTEE.fullmatch(grantee)
            if parsed is None or parsed.group(1) not in users:
                return
            found = excess.setdefault(parsed.group(1), {}).setdefault(parsed.group(2), [])
            if what not in found:
                found.append(what)

        like = "'tu\\_%"  # tenant users only (they all start tu_)
        schema_rows = self._exec(
            "SELECT GRANTEE, PRIVILEGE_TYPE, TABLE_SCHEMA, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES "
            "WHERE GRANTEE LIKE %s ORDER BY GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE", (like,))
        for grantee, privilege, schema, grantable in (tuple(row) for row in schema_rows):
            parsed = _GRANTEE.fullmatch(grantee)
            own = parsed is not None and users.get(parsed.group(1)) == schema
            if not own or privilege not in allowed:
                add(grantee, f"{privilege} ON {schema}")
            if grantable == "YES":
                add(grantee, f"GRANT OPTION ON {schema}")
        global_rows = self._exec(
            "SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES "
            "WHERE GRANTEE LIKE %s ORDER BY GRANTEE, PRIVILEGE_TYPE", (like,))
        for grantee, privilege, grantable in (tuple(row) for row in global_rows):
            if privilege != "USAGE":
                add(grantee, f"{privilege} (global)")
            if grantable == "YES":
                add(grantee, "GRANT OPTION (global)")
        return excess

    def reduce_privileges(self, user: str, database: str) -> None:
        check_identifier(user, "user name")
        for host in self.excess_privileges(user, database):
            self._exec("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", (user, host))
            self._exec(f"GRANT {TENANT_PRIVILEGES} ON {self._q(database)}.* TO %s@%s", (user, host))

    def _hosts(self, user: str) -> list[str]:
        check_identifier(user, "user name")
        return [r[0] for r in self._exec("SELECT Host FROM mysql.user WHERE User = %s", (user,))]

    def lock_user(self, user: str | None, database: str) -> None:
        if not user:
            return
        for host in self._hosts(user):
            self._exec("ALTER USER %s@%s ACCOUNT LOCK", (user, host))
        # a lock refuses new logins only: end the sessions already open too
        for (pid,) in self._exec("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,)):
            try:
                self._exec(f"KILL CONNECTION {int(pid)}")
            except ServerError:
                pass  # it ended on its own meanwhile

    def unlock_user(self, user: str | None, database: str) -> None:
        if not user:
            return
        for host in self._hosts(user):
            self._exec("ALTER USER %s@%s ACCOUNT UNLOCK", (user, host))

    def user_locked(self, user: str | None, database: str) -> bool:
        if not user:
            return False
        hosts = self._hosts(user)
        return bool(hosts) and all("ACCOUNT LOCK" in str(self._exec("SHOW CREATE USER %s@%s", (user, h))[0][0]).upper()
                                   for h in hosts)

    def dispose(self) -> None:
        super().dispose()
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None


def short_error(exc: sa.exc.DBAPIError) -> str:
    """One line from a driver error, never the statement or its parameters."""
    return _short(exc)


def _short(exc: sa.exc.DBAPIError) -> str:
    """One line from a driver error, never the statement or its parameters."""
    orig = exc.orig
    if orig is not None and getattr(orig, "args", None):
        args = orig.args
        text = args[1] if len(args) > 1 else args[0]
        return re.sub(r"\s+", " ", str(text))
    return type(exc).__name__


class ServerRow(Protocol):
    """What an adapter needs of a landlord ``Server`` row."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def dialect(self) -> str: ...


def adapter_for(server: ServerRow, password: str | None = None) -> Adapter:
    """An adapter for a landlord ``Server`` row."""
    dialect = server.dialect
    if dialect == "sqlite":
        return SqliteAdapter(server.name, server.url)
    adapter = MysqlAdapter(server.name, server.url, password)
    adapter.dialect = dialect
    return adapter
