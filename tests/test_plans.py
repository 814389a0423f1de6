"""Compiled provisioning plans: MySQL-family plans build a new table's indexes inside its
CREATE TABLE, and what comes out must be the very tables Alembic's own run makes."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import make_engine
from mariadb import MariaDB
from test_migrations import TEMPLATES, allowed_combinations

from tenantops.engine.migrate import plans
from tenantops.engine.migrate.results import MigrationFailed, PlannedRevision
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


def _replayed(mariadb: MariaDB, name: str, planned: list, *, batched: bool) -> tuple[str | None, dict, list]:
    from tenantops.engine import mysql_driver

    mariadb.execute(f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    url = sa.URL.create("mysql+pymysql", username=mariadb.admin_user, password=mariadb.admin_password,
                        host="127.0.0.1", port=mariadb.port, database=name)
    args = {"ssl_disabled": True, **({"client_flag": mysql_driver.MULTI_STATEMENTS} if batched else {})}
    engine = sa.create_engine(url, connect_args=args, poolclass=sa.pool.NullPool)
    error = None
    try:
        with engine.connect() as connection:
            try:
                plans.replay(connection, planned)
            except MigrationFailed as exc:
                error = str(exc)
            # the connection is in step afterwards: nothing of the failed batch is left to read
            assert connection.exec_driver_sql("SELECT 41 + 1").scalar() == 42
            tables = _definitions(connection)
            rows = connection.exec_driver_sql("SELECT note FROM b").scalars().all()
            procs = connection.exec_driver_sql(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()").scalars().all()
    finally:
        engine.dispose()
        mariadb.execute(f"DROP DATABASE `{name}`")
    return error, tables, [*rows, *procs]


@pytest.mark.mariadb
def test_a_batched_revision_does_what_one_statement_at_a_time_does(mariadb: MariaDB) -> None:
    """A tenant's connection sends each revision in one query: the same tables, rows and
    routines as statement by statement; a % and a routine's own ; go through intact; a
    failing statement stops its revision at the same place with the same error, and the
    connection answers the next query."""
    def rev(revision: str, sql: list[str]) -> PlannedRevision:
        return PlannedRevision(unit="u", kind="module", revision=revision, path=Path("x.py"), checksum="0",
                               message=revision, sql=tuple(sql), version_sql=(f"-- {revision}",))

    planned = [
        rev("r1", ["CREATE TABLE a (id INT PRIMARY KEY)",
                   "CREATE TABLE b (id INT PRIMARY KEY, note VARCHAR(20) DEFAULT '100%')",
                   "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT '%s;'; END",
                   "INSERT INTO b (id) VALUES (1)",
                   "INSERT INTO b (id, note) VALUES (2, 'semi;colon %d')"]),
        rev("r2", ["CREATE TABLE c (id INT)", "CREATE TABLE a (id INT)", "CREATE TABLE d (id INT)"]),
    ]
    batched = _replayed(mariadb, "batch_yes", planned, batched=True)
    one_by_one = _replayed(mariadb, "batch_no", planned, batched=False)
    assert batched == one_by_one
    error, tables, rest = batched
    assert error is not None and "r2" in error and "already exists" in error
    assert set(tables) == {"a", "b", "c"}
    assert rest == ["100%", "semi;colon %d", "p"]


def _rev(unit: str, revision: str, sql: list[str]) -> PlannedRevision:
    return PlannedRevision(unit=unit, kind="module", revision=revision, path=Path("x.py"), checksum="0",
                           message=revision, sql=tuple(sql), version_sql=())


def _scratch(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> sa.Engine:
    if dialect == "sqlite":
        return make_engine(sa.URL.create("sqlite", database=str(tmp_path / "ahead.db")))
    from tenantops.engine import mysql_driver

    mariadb: MariaDB = request.getfixturevalue("mariadb")
    mariadb.execute("DROP DATABASE IF EXISTS `ahead`", "CREATE DATABASE `ahead`")
    request.addfinalizer(lambda: mariadb.execute("DROP DATABASE IF EXISTS `ahead`"))
    url = sa.URL.create("mysql+pymysql", username=mariadb.admin_user, password=mariadb.admin_password,
                        host="127.0.0.1", port=mariadb.port, database="ahead")
    return sa.create_engine(url, connect_args={"ssl_disabled": True, "client_flag": mysql_driver.MULTI_STATEMENTS},
                            poolclass=sa.pool.NullPool)


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_replay_ahead_hands_each_unit_its_own_results_and_stops_at_a_failure(
        dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Ahead of its caller (a thread on MariaDB) or when asked (SQLite): each unit gets
    exactly its revisions' results, in order, with the time each ended; a failing revision
    raises in its own unit after the ones before it were handed over, and nothing after it
    runs."""
    engine = _scratch(dialect, tmp_path, request)
    planned = [_rev("b", "b1", ["CREATE TABLE b1 (id INT)"]),
               _rev("a", "a1", ["CREATE TABLE a1 (id INT)"]), _rev("a", "a2", ["CREATE TABLE a2 (id INT)"]),
               _rev("b", "b2", ["CREATE TABLE a1 (id INT)"]),
               _rev("c", "c1", ["CREATE TABLE c1 (id INT)"])]
    got: dict[str, list] = {"a": [], "b": []}
    try:
        with plans.replay_ahead(engine, planned, ["a", "b", "c"], threaded=dialect != "sqlite") as unit_done:
            unit_done("a", got["a"].append)
            with pytest.raises(MigrationFailed, match="b2"):
                unit_done("b", got["b"].append)
        assert [(r.revision, r.outcome) for r in got["a"]] == [("a1", "ok"), ("a2", "ok")]
        assert [(r.revision, r.outcome) for r in got["b"]] == [("b1", "ok"), ("b2", "failed")]
        ended = [r.ended_at for r in got["a"] + got["b"]]
        assert None not in ended and ended == sorted(ended)
        assert _tables(engine) == {"a1", "a2", "b1"}
    finally:
        engine.dispose()


@pytest.mark.mariadb
def test_leaving_replay_ahead_early_waits_for_the_revision_in_flight_and_sends_no_more(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A caller that fails before taking the results (the user could not be created, say)
    leaves only once the revision the server is running has ended, and no later revision
    is sent: the cleanup that follows may drop the database without a DDL running in it."""
    engine = _scratch("mariadb", tmp_path, request)
    planned = [_rev("a", "slow", ["CREATE TABLE slow (id INT)", "DO SLEEP(0.4)"]),
               _rev("b", "later", ["CREATE TABLE later (id INT)"])]
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError):
            with plans.replay_ahead(engine, planned, ["a", "b"], threaded=True):
                time.sleep(0.1)  # the slow revision is on the server now
                raise RuntimeError("the caller's own step failed")
        assert time.monotonic() - started >= 0.4
        assert not [t for t in threading.enumerate() if t.name == "replay-ahead"]
        time.sleep(0.2)
        assert _tables(engine) == {"slow"}
    finally:
        engine.dispose()


def test_prompt_helpers_shortens_switching_only_while_some_block_runs() -> None:
    """Nested and overlapping blocks (two jobs in one worker process) keep the short
    interval until the last one ends, and the interpreter's own comes back then."""
    from tenantops.engine.switching import HELPER_INTERVAL_S, prompt_helpers

    before = sys.getswitchinterval()
    first, second = prompt_helpers(), prompt_helpers()
    first.__enter__()
    assert sys.getswitchinterval() == pytest.approx(min(before, HELPER_INTERVAL_S))
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(min(before, HELPER_INTERVAL_S))
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(before)
    with pytest.raises(RuntimeError), prompt_helpers():
        raise RuntimeError("a failed step")
    assert sys.getswitchinterval() == pytest.approx(before)
