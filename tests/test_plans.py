"""Compiled provisioning plans: MySQL-family plans build a new table's indexes inside its
CREATE TABLE, and what comes out must be the very tables Alembic's own run makes."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import make_engine
from mariadb import MariaDB
from test_migrations import TEMPLATES, allowed_combinations

from tenantops.engine.migrate import plans
from tenantops.engine.migrate.driver import apply_units
from tenantops.engine.migrate.offline import render_sql

TABLE = "CREATE TABLE t (\n    id BIGINT NOT NULL, \n    name VARCHAR(100), \n    PRIMARY KEY (id)\n)"


def test_indexes_right_after_their_table_are_built_inside_it() -> None:
    folded = plans.fold_indexes([TABLE, "CREATE INDEX ix_t_name ON t (name)",
                                 "CREATE UNIQUE INDEX uq_t_name_id ON t (name(20), id)"])
    assert folded == ["CREATE TABLE t (\n    id BIGINT NOT NULL, \n    name VARCHAR(100), \n    PRIMARY KEY (id), \n"
                      "    INDEX ix_t_name (name), \n    UNIQUE INDEX uq_t_name_id (name(20), id)\n)"]
    quoted = TABLE.replace("CREATE TABLE t", "CREATE TABLE `key`")
    assert plans.fold_indexes([quoted, "CREATE INDEX `ix` ON `key` (`name`)"]) == \
        [quoted[:-2] + ", \n    INDEX `ix` (`name`)\n)"]


@pytest.mark.parametrize("statements", [
    # something else runs between the table and the index: the order is kept
    [TABLE, "ALTER TABLE t ADD COLUMN x INTEGER", "CREATE INDEX ix ON t (x)"],
    [TABLE, "CREATE TABLE u (\n    id BIGINT\n)", "CREATE INDEX ix ON t (name)"],
    # an index on another table, or of a kind written differently inline
    [TABLE, "CREATE INDEX ix ON u (id)"],
    [TABLE, "CREATE FULLTEXT INDEX ix ON t (name)"],
    [TABLE, "CREATE INDEX ix ON t (name) USING BTREE"],
    [TABLE, "CREATE INDEX ix ON t ((concat(name, ')')))"],
    # a table with options after its columns
    [TABLE + "ENGINE=MyISAM", "CREATE INDEX ix ON t (name)"],
])
def test_anything_else_is_left_as_alembic_wrote_it(statements: list[str]) -> None:
    assert plans.fold_indexes(statements) == statements


def test_sqlite_plans_are_alembics_own() -> None:
    units = allowed_combinations("political_party_nepal")[-1].units
    assert [p.sql for p in plans.compiled(units, "sqlite")] == [p.sql for p in render_sql(units, "sqlite")]


def _definitions(connection: sa.Connection) -> dict[str, str]:
    names = [r[0] for r in connection.exec_driver_sql("SHOW TABLES")]
    return {n: connection.exec_driver_sql(f"SHOW CREATE TABLE `{n}`").one()[1] for n in names}


@pytest.mark.mariadb
@pytest.mark.parametrize("template", TEMPLATES)
def test_folded_plan_makes_the_tables_alembic_makes(template: str, mariadb: MariaDB) -> None:
    """Byte for byte, as the server prints each table, with the template's every optional
    module that fits (the widest schema it can have)."""
    resolution = max(allowed_combinations(template), key=lambda r: len(r.units))
    planned = plans.compiled(resolution.units, "mysql")
    rendered = render_sql(resolution.units, "mysql")
    assert sum(len(p.sql) for p in planned) < sum(len(p.sql) for p in rendered)  # something was folded

    made = {}
    for way in ("alembic", "plan"):
        name = f"fold_{way}_{template}"
        mariadb.execute(f"DROP DATABASE IF EXISTS `{name}`",
                        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        engine = make_engine(sa.URL.create("mysql+pymysql", username=mariadb.admin_user, password=mariadb.admin_password,
                                           host="127.0.0.1", port=mariadb.port, database=name))
        try:
            with engine.connect() as connection:
                if way == "alembic":
                    apply_units(connection, resolution.units)
                else:
                    plans.replay(connection, planned)
                made[way] = _definitions(connection)
        finally:
            engine.dispose()
            mariadb.execute(f"DROP DATABASE `{name}`")
    assert set(made["plan"]) == {t for u in resolution.units for t in u.tables} | {"alembic_version"}
    assert made["plan"] == made["alembic"]
