"""Shadow databases: scratch copies built from migrations, on the tenant's own server
kind, for drift expectations and custom-migration reviews."""
from __future__ import annotations

import os
import tempfile

import sqlalchemy as sa

from tenantops.engine.servers.adapters import Adapter, MysqlAdapter, translate_unreachable


def schema_name(conn: sa.Connection) -> str | None:
    if conn.dialect.name == "sqlite":
        return None
    return conn.execute(sa.text("SELECT DATABASE()")).scalar()


class Shadow:
    """A scratch database (for an expectation or a review), always dropped afterwards."""

    def __init__(self, adapter: Adapter, key: str) -> None:
        self.adapter, self.key = adapter, key
        self.name = f"shadow_{key[:16]}_{os.getpid()}"
        self.tmp: tempfile.TemporaryDirectory | None = None
        self.engine: sa.Engine | None = None

    def __enter__(self) -> sa.Engine:
        if self.adapter.dialect == "sqlite":
            self.tmp = tempfile.TemporaryDirectory(prefix="tenantops-shadow-")
            self.engine = sa.create_engine(f"sqlite:///{self.tmp.name}/shadow.sqlite", poolclass=sa.pool.NullPool)
            return self.engine
        assert isinstance(self.adapter, MysqlAdapter)  # every server that is not SQLite is MariaDB/MySQL
        self.adapter.drop_database(self.name)
        self.adapter.create_database(self.name)
        self.engine = sa.create_engine(self.adapter.tenant_url(self.name), poolclass=sa.pool.NullPool,
                                       connect_args=self.adapter._connect_args())
        translate_unreachable(self.engine, self.adapter.name)
        return self.engine

    def __exit__(self, *exc: object) -> None:
        if self.engine is not None:
            self.engine.dispose()
        if self.tmp is not None:
            self.tmp.cleanup()
        else:
            self.adapter.drop_database(self.name)
