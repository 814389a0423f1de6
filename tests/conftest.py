"""Shared fixtures: an isolated tenantops home per test, a private MariaDB server per
session, and the ``dialect`` parametrization that runs SQL tests on both SQLite and
MariaDB.
"""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from mariadb import MariaDB, mariadbd_path, start_mariadb  # noqa: E402
from helpers import switch_operator  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_counter = itertools.count(1)


def _need_mariadb() -> None:
    if mariadbd_path() is None:
        if IN_CI:
            pytest.fail("mariadbd is not installed, and CI=true forbids skipping MariaDB tests")
        pytest.skip("mariadbd is not installed: MariaDB half skipped (install mariadb-server)")


@pytest.fixture(scope="session")
def mariadb() -> MariaDB:
    """One private MariaDB server for the whole session (loopback port, private dir)."""
    _need_mariadb()
    server = start_mariadb()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def expected_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Expected schemas are cached by content hash: one cache serves every test."""
    return tmp_path_factory.mktemp("expected-cache")


@pytest.fixture
def as_operator(monkeypatch: pytest.MonkeyPatch):
    """``as_operator("bob")`` switches the acting operator for the rest of the test."""
    return lambda user: switch_operator(monkeypatch, user)


@pytest.fixture(autouse=True)
def tenantops_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expected_cache: Path) -> Path:
    """Every test gets its own home, config, keyring file, and acts as operator alice."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # tenantops state is private (doctor: loose_permissions)
    monkeypatch.setenv("TENANTOPS_HOME", str(home))
    monkeypatch.setenv("TENANTOPS_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("TENANTOPS_CACHE_DIR", str(expected_cache))
    monkeypatch.delenv("TENANTOPS_LANDLORD_URL", raising=False)
    switch_operator(monkeypatch, "alice")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    import keyring.core

    # keyring caches the backend per process: forget it so this test's file is used.
    keyring.core._keyring_backend = None
    return home


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def dialect(request: pytest.FixtureRequest) -> str:
    if request.param == "mariadb":
        request.getfixturevalue("mariadb")
    return request.param


@pytest.fixture
def db_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> sa.URL:
    """A fresh, empty database on the dialect under test, as a SQLAlchemy URL."""
    if dialect == "sqlite":
        yield sa.make_url(f"sqlite:///{tmp_path / 'scratch.sqlite'}")
        return
    server: MariaDB = request.getfixturevalue("mariadb")
    name = f"scratch_{os.getpid()}_{next(_counter)}"
    server.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    yield sa.URL.create(
        "mysql+pymysql", username=server.admin_user, password=server.admin_password,
        host="127.0.0.1", port=server.port, database=name,
        query={"charset": "utf8mb4"},
    )
    server.execute(f"DROP DATABASE IF EXISTS `{name}`")


def make_engine(url: sa.URL) -> sa.Engine:
    """Test helper: an engine for a scratch URL without TLS cost on loopback."""
    if url.get_backend_name() == "mysql":
        return sa.create_engine(url, connect_args={"ssl_disabled": True}, poolclass=sa.pool.NullPool)
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


@pytest.fixture
def server(dialect: str, request: pytest.FixtureRequest) -> str:
    """The server tenants go to in this test: `local` (SQLite) or a registered MariaDB.

    On MariaDB every tenant database and user the test made is dropped afterwards, so
    tests sharing the session's server never see each other's tenants.
    """
    if dialect == "sqlite":
        yield "local"
        return
    db: MariaDB = request.getfixturevalue("mariadb")
    from tenantops.engine.servers import registry as servers
    from tenantops.engine.context import Context

    ctx = Context.open()
    servers.add_server(ctx, name="db1", url=db.url, capacity=100, password=db.admin_password)
    ctx.close()
    yield "db1"
    drop_tenants(db)


def drop_tenants(db: MariaDB) -> None:
    names = [r[0] for r in db.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")]
    users = db.execute("SELECT User, Host FROM mysql.user WHERE User LIKE 'tu\\_%'")
    statements = [f"DROP DATABASE `{n}`" for n in names if n.startswith(("tenant_", "shadow_", "tenantops_"))]
    statements += [f"DROP USER `{u}`@'{h}'" for u, h in users]
    if statements:
        db.execute(*statements)
