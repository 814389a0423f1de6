"""Incremental drift scans equal full ones: 150 cheap tenants on MariaDB, hidden changes
injected into a random 1% (at least two, each of another object kind), and the
incremental report compared tenant by tenant with a full one. Only the changed tenants
are captured; a changed expectation (an acceptance) is noticed without a schema change.

The quick fingerprint (health/fingerprint.py) stands for every table's definition by its
CREATE_TIME: the second test makes every kind of change drift captures, each in its own
tenant, and requires each of them to be noticed by that fingerprint alone (the tenants
have settled before the scan, so none is recaptured merely for being recent)."""
from __future__ import annotations

import math
import random
import time

import pytest
import sqlalchemy as sa

from cli import run
from conftest import drop_tenants
from mariadb import MariaDB
from tenantops.engine.catalog import resolve
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import plans
from tenantops.engine.migrate.units import catalog_for
from tenantops.engine.health import fingerprint
from tenantops.engine.servers import registry as servers

TENANTS = 150
TEMPLATE = "community_group"
HIDDEN = [
    "CREATE INDEX ix_hidden ON notices (title)",
    "CREATE PROCEDURE hidden_proc() SELECT 1",
    "ALTER TABLE notices COMMENT = 'hidden'",
    "CREATE TRIGGER hidden_trg BEFORE INSERT ON notices FOR EACH ROW SET NEW.title = NEW.title",
]


@pytest.fixture
def fleet(dialect: str, request: pytest.FixtureRequest) -> list[str]:
    """TENANTS tenants built by replaying the engine's compiled plan (as bench_drift does),
    registered in the landlord as active tenants of server db1."""
    if dialect == "sqlite":
        pytest.skip("SQLite tenants are always captured in full: there is no incremental path to compare")
    db: MariaDB = request.getfixturevalue("mariadb")
    ctx = Context.open()
    servers.add_server(ctx, name="db1", url=db.url, capacity=100_000, password=db.admin_password)
    resolution = resolve(catalog_for(ctx), TEMPLATE, [])
    planned = plans.compiled(resolution.units, "mysql")
    names = [f"tenant_inc_{i:04d}" for i in range(TENANTS)]
    conn = db.root()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                cur.execute(f"USE {name}")
                for p in planned:
                    for statement in (*p.sql, *p.version_sql):
                        cur.execute(statement)
    finally:
        conn.close()
    with ctx.session() as s:
        server_id = s.scalar(sa.select(m.Server.id).where(m.Server.name == "db1"))
        for i, name in enumerate(names):
            t = m.Tenant(slug=f"inc-{i:04d}", organization=f"Inc {i}", server_id=server_id, database=name,
                         status="active", template=TEMPLATE, template_version=str(resolution.units[1].version))
            t.modules = [m.TenantModule(module=u.slug, version=str(u.version), position=k)
                         for k, u in enumerate(resolution.units) if u.kind == "module"]
            s.add(t)
    ctx.close()
    yield [f"inc-{i:04d}" for i in range(TENANTS)]
    drop_tenants(db)


def _settle() -> None:
    """Wait until every change made so far is older than what a quick fingerprint trusts
    (a change seconds before a scan is recaptured anyway, which would prove nothing)."""
    time.sleep(fingerprint.SETTLE.total_seconds() + 1.1)


def _database(slug: str) -> str:
    return "tenant_inc_" + slug.split("-")[1]


def _scan(*extra: str) -> dict[str, dict]:
    r = run("drift", "--all", "--json", *extra)
    assert r.code in (0, 3), r.err  # 3: drift at or above --fail-on (none given: never)
    return {x["tenant"]: x for x in r.json()}


def _verdict(report: dict) -> tuple:
    return (report["severity"], report["score"], report["expected_hash"], report["actual_hash"],
            report["differences"])


def test_incremental_scan_equals_full_scan_with_hidden_changes_in_1_percent(fleet: list[str],
                                                                            mariadb: MariaDB) -> None:
    _settle()
    baseline = _scan("--full")
    assert all(x["captured"] and x["severity"] == "none" for x in baseline.values())
    quiet = _scan()
    assert not any(x["captured"] for x in quiet.values())  # nothing changed: nothing captured
    assert {t: _verdict(x) for t, x in quiet.items()} == {t: _verdict(x) for t, x in baseline.items()}

    seed = random.randrange(1 << 30)
    victims = random.Random(seed).sample(fleet, max(2, math.ceil(TENANTS / 100)))
    for i, slug in enumerate(victims):
        mariadb.execute(HIDDEN[i % len(HIDDEN)], database=_database(slug))

    _settle()
    incremental = _scan()
    assert sorted(t for t, x in incremental.items() if x["captured"]) == sorted(victims), seed
    full = _scan("--full")
    assert {t: _verdict(x) for t, x in incremental.items()} == {t: _verdict(x) for t, x in full.items()}, seed
    assert sorted(t for t, x in full.items() if x["severity"] != "none") == sorted(victims), seed

    # the expectation changes without any schema change (an accepted difference): the
    # tenant is captured again and its verdict follows, in step with a full scan
    accepted = victims[0]
    r = run("drift", accepted, "--accept", "1", "--reason", "known and kept")
    assert r.code == 0, r.err
    after = _scan()
    assert [t for t, x in after.items() if x["captured"]] == [accepted]
    assert after[accepted]["severity"] == "none"
    assert {t: _verdict(x) for t, x in after.items()} == {t: _verdict(x) for t, x in _scan("--full").items()}


def test_full_goes_with_all() -> None:
    r = run("drift", "some-tenant", "--full")
    assert r.code == 2 and "--full goes with drift --all" in r.err and len(r.err.strip().splitlines()) == 1


# every kind of change a capture records: (what, statements run before the baseline, the
# change); each in its own tenant's database
KINDS: list[tuple[str, list[str], list[str]]] = [
    ("column type", [], ["ALTER TABLE notices MODIFY title VARCHAR(250) NOT NULL"]),
    ("column default", [], ["ALTER TABLE notices ALTER is_pinned SET DEFAULT 1"]),
    ("nullability", [], ["ALTER TABLE notices MODIFY content TEXT NULL"]),
    ("column rename", [], ["ALTER TABLE notices RENAME COLUMN expires_at TO expires_on"]),
    ("instant column add", [], ["ALTER TABLE notices ADD COLUMN extra INT, ALGORITHM=INSTANT"]),
    ("column drop", [], ["ALTER TABLE notices DROP COLUMN expires_at"]),
    ("column order", [], ["ALTER TABLE notices MODIFY expires_at DATETIME NULL AFTER id"]),
    ("column comment", [], ["ALTER TABLE notices MODIFY title VARCHAR(200) NOT NULL COMMENT 'hidden'"]),
    ("column collation", [], ["ALTER TABLE notices MODIFY title VARCHAR(200) COLLATE utf8mb4_bin NOT NULL"]),
    ("generated column", [], ["ALTER TABLE notices ADD COLUMN title_len INT AS (CHAR_LENGTH(title)) VIRTUAL"]),
    ("invisible column", [], ["ALTER TABLE notices MODIFY expires_at DATETIME NULL INVISIBLE"]),
    ("index add", [], ["CREATE INDEX ix_hidden ON notices (title)"]),
    ("index drop", [], ["DROP INDEX ix_notices_is_pinned_published_at ON notices"]),
    ("index rename", [], ["ALTER TABLE notices RENAME INDEX ix_notices_is_pinned_published_at TO ix_renamed"]),
    ("index ignored", [], ["ALTER TABLE notices ALTER INDEX ix_notices_is_pinned_published_at IGNORED"]),
    ("unique index", [], ["ALTER TABLE notices ADD UNIQUE INDEX uq_hidden (title)"]),
    ("foreign key drop", [], ["ALTER TABLE notices DROP FOREIGN KEY fk_notices_posted_by"]),
    ("foreign key rule", [], ["ALTER TABLE notices DROP FOREIGN KEY fk_notices_posted_by",
                              "ALTER TABLE notices ADD CONSTRAINT fk_notices_posted_by FOREIGN KEY (posted_by) "
                              "REFERENCES tenant_users (id) ON DELETE CASCADE"]),
    ("referenced column rename", [], ["ALTER TABLE tenant_users RENAME COLUMN id TO uid"]),
    ("check add", [], ["ALTER TABLE notices ADD CONSTRAINT ck_hidden CHECK (CHAR_LENGTH(title) > 0)"]),
    ("check drop", ["ALTER TABLE notices ADD CONSTRAINT ck_pre CHECK (CHAR_LENGTH(title) > 0)"],
     ["ALTER TABLE notices DROP CONSTRAINT ck_pre"]),
    ("table comment", [], ["ALTER TABLE notices COMMENT = 'hidden'"]),
    ("table collation", [], ["ALTER TABLE notices DEFAULT COLLATE utf8mb4_bin"]),
    ("row format", [], ["ALTER TABLE notices ROW_FORMAT=COMPACT"]),
    ("partitioning", ["CREATE TABLE parts (id INT PRIMARY KEY) PARTITION BY HASH (id) PARTITIONS 4"],
     ["ALTER TABLE parts COALESCE PARTITION 2"]),
    ("engine", ["ALTER TABLE settings DROP FOREIGN KEY fk_settings_updated_by"], ["ALTER TABLE settings ENGINE=Aria"]),
    ("table add", [], ["CREATE TABLE hidden_extra (id INT PRIMARY KEY)"]),
    ("table drop", [], ["DROP TABLE event_feedback"]),
    ("table rename", [], ["RENAME TABLE notices TO notices_old"]),
    ("tables swapped", [], ["RENAME TABLE settings TO swap_tmp, audit_logs TO settings, swap_tmp TO audit_logs"]),
    ("trigger add", [], ["CREATE TRIGGER hidden_trg BEFORE INSERT ON notices FOR EACH ROW SET NEW.title = NEW.title"]),
    ("trigger replace", ["CREATE TRIGGER pre_trg BEFORE INSERT ON notices FOR EACH ROW SET NEW.title = NEW.title"],
     ["CREATE OR REPLACE TRIGGER pre_trg BEFORE INSERT ON notices FOR EACH ROW SET NEW.title = UPPER(NEW.title)"]),
    ("trigger drop", ["CREATE TRIGGER pre_trg BEFORE INSERT ON notices FOR EACH ROW SET NEW.title = NEW.title"],
     ["DROP TRIGGER pre_trg"]),
    ("view add", [], ["CREATE VIEW hidden_view AS SELECT id FROM notices"]),
    ("view replace", ["CREATE VIEW pre_view AS SELECT id FROM notices"],
     ["CREATE OR REPLACE VIEW pre_view AS SELECT id, title FROM notices"]),
    ("procedure add", [], ["CREATE PROCEDURE hidden_proc() SELECT 1"]),
    ("procedure replace", ["CREATE PROCEDURE pre_proc(IN n INT) SELECT n"],
     ["CREATE OR REPLACE PROCEDURE pre_proc(IN n BIGINT) SELECT n"]),
    ("function add", [], ["CREATE FUNCTION hidden_fn(x INT) RETURNS INT DETERMINISTIC RETURN x + 1"]),
    ("event add", [], ["CREATE EVENT hidden_evt ON SCHEDULE EVERY 1 DAY DO SELECT 1"]),
    ("event alter", ["CREATE EVENT pre_evt ON SCHEDULE EVERY 1 DAY DO SELECT 1"],
     ["ALTER EVENT pre_evt ON SCHEDULE EVERY 2 DAY"]),
    # MyISAM keeps its create time across an ALTER that only rewrites the definition: the
    # quick kind does not vouch for such a tenant, the detailed kind (computed in MariaDB
    # over every row a capture reads) does
    ("definition-only change of a MyISAM table",
     ["ALTER TABLE settings DROP FOREIGN KEY fk_settings_updated_by", "ALTER TABLE settings ENGINE=MyISAM"],
     ["ALTER TABLE settings COMMENT = 'hidden'"]),
]
XREF = "xref_inc"


def test_incremental_scan_notices_every_kind_of_change(fleet: list[str], mariadb: MariaDB) -> None:
    kinds = {slug: kind for slug, kind in zip(fleet, KINDS)}
    myisam = next(slug for slug, k in kinds.items() if k[0].endswith("MyISAM table"))
    # a foreign key into another database: renaming that table changes this tenant's
    # capture without touching its own schema, so no fingerprint of it can vouch for it
    xref = fleet[len(KINDS)]
    mariadb.execute(f"CREATE DATABASE {XREF}", f"CREATE TABLE {XREF}.parent (id BIGINT PRIMARY KEY)")
    mariadb.execute(f"ALTER TABLE notices ADD CONSTRAINT fk_xref FOREIGN KEY (posted_by) REFERENCES {XREF}.parent (id)",
                    database=_database(xref))
    racy = fleet[len(KINDS) + 1]
    try:
        for slug, (_, before, _) in kinds.items():
            if before:
                mariadb.execute(*before, database=_database(slug))
        _settle()
        baseline = _scan("--full")
        assert all(x["captured"] for x in baseline.values())
        # what the full scan could not vouch for is captured once, and recorded with the
        # detailed kind where that one can; the foreign key into XREF is captured every time
        first = _scan()
        assert sorted(t for t, x in first.items() if x["captured"]) == sorted([myisam, xref])
        quiet = _scan()
        assert [t for t, x in quiet.items() if x["captured"]] == [xref]
        assert {t: _verdict(x) for t, x in quiet.items()} == {t: _verdict(x) for t, x in baseline.items()}

        for slug, (_, _, change) in kinds.items():
            mariadb.execute(*change, database=_database(slug))
        mariadb.execute(f"RENAME TABLE {XREF}.parent TO {XREF}.parent2")
        _settle()
        incremental = _scan()
        missed = sorted(kinds[t][0] for t in kinds if not incremental[t]["captured"])
        assert missed == [], f"changes the incremental scan did not notice: {missed}"
        assert sorted(t for t, x in incremental.items() if x["captured"]) == sorted([*kinds, xref])
        full = _scan("--full")
        assert {t: _verdict(x) for t, x in incremental.items()} == {t: _verdict(x) for t, x in full.items()}
        assert full[xref]["differences"] != baseline[xref]["differences"]  # the renamed target shows

        # two changes within one second, a scan between them: CREATE_TIME (whole seconds)
        # may read alike before and after the second one, so no scan vouches for a table
        # changed so recently
        mariadb.execute("ALTER TABLE notices COMMENT = 'one'", database=_database(racy))
        engine = sa.create_engine(f"mysql+pymysql://root@localhost/?unix_socket={mariadb.socket}")
        try:
            with engine.connect() as conn:
                assert fingerprint.quick(conn, [_database(racy)]).prints == {_database(racy): fingerprint.UNVOUCHED}
        finally:
            engine.dispose()
        _scan("--full")
        mariadb.execute("ALTER TABLE notices ALTER is_pinned SET DEFAULT 1", database=_database(racy))
        _settle()
        after = _scan()
        assert after[racy]["captured"] and after[racy]["severity"] != "none"
        assert {t: _verdict(x) for t, x in after.items()} == {t: _verdict(x) for t, x in _scan("--full").items()}
    finally:
        mariadb.execute(f"ALTER TABLE notices DROP FOREIGN KEY fk_xref", database=_database(xref))
        mariadb.execute(f"DROP DATABASE {XREF}")
