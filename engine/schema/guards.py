"""Connection settings a schema change needs for the duration of a run."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa


@contextmanager
def ddl_guard(connection: sa.Connection) -> Iterator[None]:
    """On SQLite, make batch mode (drop and re-create a table) harmless; elsewhere nothing.

    With foreign keys enforced, dropping the old copy of a table would cascade deletes
    into its child tables, so enforcement is off for the run (the pragma only takes
    effect outside a transaction). And renaming the new copy into place must not re-check
    views over the momentarily missing table (SQLite >= 3.26 fails with "error in view").
    Both settings are restored afterwards.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    enforced = bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())
    legacy = bool(connection.exec_driver_sql("PRAGMA legacy_alter_table").scalar())
    connection.commit()
    if enforced:
        connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
    if not legacy:
        connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    connection.commit()
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        if enforced:
            connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        if not legacy:
            connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
        connection.commit()
