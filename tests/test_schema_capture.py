"""Schema capture and canonicalisation, on SQLite and on the session's MariaDB.

Also home of the realistic test schema (``tenant_metadata``) and helpers that
test_schema_diff.py and test_schema_repair.py import.
"""
from __future__ import annotations

import itertools
import os
import re

import pytest
import sqlalchemy as sa

from conftest import make_engine
from tenantops.engine.schema.canonical import (
    canonical_default,
    canonical_type,
    charset_of,
    column_collation,
    schema_hash,
)
from tenantops.engine.schema.capture import QUARANTINE_PREFIX, capture, capture_mysql, row_counts
from tenantops.engine.schema.diff import diff_schemas

_names = itertools.count(1)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Which unit of the tenant's migration set creates which table (for ownership tests).
UNITS = [
    ("basic", ["organizations", "members"]),
    ("template", ["committees", "committee_members"]),
    ("donations", ["donations"]),
]
# A column the donations module adds to a basic table.
MODULE_COLUMN = ("members", "donor_level", "donations")


def tenant_metadata() -> sa.MetaData:
    """A small but realistic tenant schema: FKs (one self-referencing), composite and
    unique indexes, enum, JSON, decimals, server defaults, a composite primary key."""
    md = sa.MetaData(naming_convention=NAMING)
    sa.Table(
        "organizations", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(50), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.Enum("pending", "active", "suspended", name="org_status"),
                  nullable=False, server_default="pending"),
        sa.Column("settings", sa.JSON),
        sa.Column("balance", sa.Numeric(12, 2), nullable=False, server_default="0"),
        sa.Column("is_verified", sa.Boolean(create_constraint=False), nullable=False, server_default=sa.false()),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    sa.Table(
        "members", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("full_name", sa.String(200)),
        sa.Column("phone", sa.String(30)),
        sa.Column("role", sa.String(20), nullable=False, server_default="member"),
        sa.Column("donor_level", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("joined_on", sa.Date),
        sa.Column("notes", sa.Text),
        sa.UniqueConstraint("organization_id", "email"),
        sa.Index(None, "full_name", "phone"),
    )
    sa.Table(
        "committees", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("level", sa.String(20), nullable=False, server_default="ward"),
    )
    sa.Table(
        "committee_members", md,
        sa.Column("committee_id", sa.Integer, sa.ForeignKey("committees.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.String(50)),
    )
    sa.Table(
        "donations", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id", ondelete="SET NULL")),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column("received_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
        sa.Index(None, "member_id", "received_at"),
    )
    return md


def seed(connection: sa.Connection) -> None:
    """A few rows in every table, so repairs can be checked row for row."""
    connection.execute(sa.text(
        "INSERT INTO organizations (id, slug, name, status, settings, parent_id) VALUES "
        "(1, 'acme', 'Acme Party', 'active', '{\"color\": \"red\"}', NULL), (2, 'acme-youth', 'Acme Youth', 'pending', NULL, 1)"
    ))
    connection.execute(sa.text(
        "INSERT INTO members (id, organization_id, email, full_name, phone, notes) VALUES "
        "(1, 1, 'a@x.np', 'Asha Rai', '98000001', 'founder'), (2, 1, 'b@x.np', 'Bikash KC', NULL, NULL), "
        "(3, 2, 'c@x.np', 'Chandra Lama', '98000003', 'it''s me')"
    ))
    connection.execute(sa.text("INSERT INTO committees (id, organization_id, name) VALUES (1, 1, 'Central'), (2, 1, 'Ward 4')"))
    connection.execute(sa.text("INSERT INTO committee_members (committee_id, member_id, position) VALUES (1, 1, 'chair'), (1, 2, NULL), (2, 3, 'secretary')"))
    connection.execute(sa.text("INSERT INTO donations (id, member_id, amount) VALUES (1, 1, 1500.50), (2, 2, 20), (3, NULL, 7.25)"))


def create_tenant(url: sa.URL, *, with_rows: bool = True) -> sa.Engine:
    engine = make_engine(url)
    tenant_metadata().create_all(engine)
    if with_rows:
        with engine.begin() as conn:
            seed(conn)
    return engine


def snapshot(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        return capture(conn)


def extra_database(mariadb, url: sa.URL) -> sa.URL:
    """Another empty database on the same MariaDB server (dropped by the caller's cleanup)."""
    name = f"extra_{os.getpid()}_{next(_names)}"
    mariadb.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    return url.set(database=name)


def sqlite_rewrite(engine: sa.Engine, name: str, pattern: str, replacement: str) -> None:
    """Change an object's stored CREATE statement behind SQLite's back (the way a manual
    edit drifts a schema), for changes ALTER TABLE can't express on SQLite."""
    with engine.connect() as conn:
        sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar_one()
        new = re.sub(pattern, replacement, sql, count=1)
        assert new != sql, f"pattern {pattern!r} not found in {sql}"
        version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
        conn.exec_driver_sql("PRAGMA writable_schema = ON")
        conn.execute(sa.text("UPDATE sqlite_master SET sql = :s WHERE name = :n"), {"s": new, "n": name})
        conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")
        conn.commit()
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


# --- canonicalisation, pure -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("int(11)", "INT"),
        ("INTEGER", "int"),
        ("int(10) unsigned", "INT UNSIGNED"),
        ("bigint(20)", "BIGINT"),
        ("tinyint(1)", "BOOLEAN"),
        ("bool", "boolean"),
        ("VARCHAR (50)", "varchar(50)"),
        ("NUMERIC(10, 2)", "decimal(10,2)"),
        ("decimal", "DECIMAL(10,0)"),
        ("double precision", "DOUBLE"),
        ("datetime(0)", "DATETIME"),
        ("enum('a','it''s')", "ENUM('a', 'it\\'s')"),
        ("year(4)", "YEAR"),
    ],
)
def test_type_spellings_are_canonical(left: str, right: str) -> None:
    assert canonical_type(left) == canonical_type(right)


def test_types_that_differ_stay_different() -> None:
    assert canonical_type("tinyint(4)") != canonical_type("tinyint(1)")
    assert canonical_type("varchar(50)") != canonical_type("varchar(51)")
    assert canonical_type("int unsigned") != canonical_type("int")
    assert canonical_type("datetime(6)") != canonical_type("datetime")


@pytest.mark.parametrize(
    ("raw", "canonical", "kwargs"),
    [
        ("'0'", "0", {}),
        ("0", "0", {}),
        ("0.00", "0", {}),
        ("'1.50'", "1.5", {}),
        ("NULL", None, {}),
        (None, None, {}),
        ("'NULL'", "'NULL'", {}),
        ("current_timestamp()", "CURRENT_TIMESTAMP", {}),
        ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP", {}),
        ("now()", "CURRENT_TIMESTAMP", {}),
        ("(CURRENT_TIMESTAMP)", "CURRENT_TIMESTAMP", {}),
        ("current_timestamp(6)", "CURRENT_TIMESTAMP(6)", {}),
        ("'it''s'", "'it''s'", {}),
        ("'a\\\\b'", "'a\\b'", {"backslash_escapes": True}),
        ("true", "1", {}),
        ("abc", "'abc'", {"bare_literal": True}),
        ("(datetime('now'))", "datetime('now')", {}),
    ],
)
def test_default_spellings_are_canonical(raw, canonical, kwargs) -> None:
    assert canonical_default(raw, **kwargs) == canonical


def test_collation_relative_to_table() -> None:
    assert column_collation("utf8mb4_unicode_ci", "utf8mb4_unicode_ci") is None
    assert column_collation("utf8mb4_bin", "utf8mb4_unicode_ci") == "utf8mb4_bin"
    assert column_collation("utf8_general_ci", "utf8mb3_general_ci") is None
    assert charset_of("utf8mb4_unicode_ci") == "utf8mb4"
    assert charset_of("latin1_swedish_ci") == "latin1"


# --- capture on both dialects ---------------------------------------------------------------


def test_capture_shape_and_hash_stable(db_url: sa.URL) -> None:
    engine = create_tenant(db_url)
    with engine.connect() as conn:
        first, rows = capture(conn, with_rows=True)
        second = capture(conn)
    assert first == second and schema_hash(first) == schema_hash(second)
    assert set(first) == {"tables", "views", "triggers"}
    assert set(first["tables"]) == {"organizations", "members", "committees", "committee_members", "donations"}
    assert rows == {"organizations": 2, "members": 3, "committees": 2, "committee_members": 3, "donations": 3}
    org = first["tables"]["organizations"]
    assert org["primary_key"] == ["id"]
    assert org["columns"]["id"]["autoincrement"] is True
    assert org["columns"]["status"]["default"] == "'pending'"
    assert org["columns"]["balance"] == {"type": "decimal(12,2)", "nullable": False, "default": "0",
                                         "autoincrement": False, "collation": None, "position": 6}
    assert org["columns"]["is_verified"]["type"] == "boolean"
    assert org["columns"]["is_verified"]["default"] == "0"
    assert org["columns"]["created_at"]["default"] == "CURRENT_TIMESTAMP"
    assert org["columns"]["settings"]["type"] == "json"
    assert org["foreign_keys"]["fk_organizations_parent_id_organizations"]["ref_table"] == "organizations"
    assert org["foreign_keys"]["fk_organizations_parent_id_organizations"]["on_delete"] == "SET NULL"
    assert org["indexes"]["uq_organizations_slug"] == {"columns": ["slug"], "unique": True, "type": "btree"}
    members = first["tables"]["members"]
    assert members["indexes"]["ix_members_full_name_phone"]["columns"] == ["full_name", "phone"]
    assert members["indexes"]["uq_members_organization_id_email"]["unique"] is True
    assert first["tables"]["committee_members"]["primary_key"] == ["committee_id", "member_id"]
    assert [c for c in members["columns"]][:3] == ["id", "organization_id", "email"]
    if db_url.get_backend_name() == "mysql":
        assert org["columns"]["status"]["type"] == "enum('pending','active','suspended')"
        assert org["options"] == {"engine": "innodb", "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"}
        assert org["foreign_keys"]["fk_organizations_parent_id_organizations"]["on_update"] == "RESTRICT"
    else:
        assert org["columns"]["status"]["type"] == "varchar(9)"
    with engine.connect() as conn:
        assert row_counts(conn) == rows


def test_same_metadata_in_two_databases_hashes_equal(db_url: sa.URL, dialect: str, tmp_path, request) -> None:
    if dialect == "mariadb":
        server = request.getfixturevalue("mariadb")
        other_url = extra_database(server, db_url)
    else:
        other_url = sa.make_url(f"sqlite:///{tmp_path / 'other.sqlite'}")
    try:
        a = snapshot(create_tenant(db_url))
        b = snapshot(create_tenant(other_url, with_rows=False))  # rows never matter
        assert diff_schemas(a, b) == []
        assert schema_hash(a) == schema_hash(b)
    finally:
        if dialect == "mariadb":
            server.execute(f"DROP DATABASE IF EXISTS `{other_url.database}`")


def test_bookkeeping_and_quarantine_tables_are_not_schema(db_url: sa.URL) -> None:
    engine = create_tenant(db_url, with_rows=False)
    before = snapshot(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(sa.text(f"CREATE TABLE {QUARANTINE_PREFIX}r1_members (id INTEGER PRIMARY KEY)"))
    assert snapshot(engine) == before


def test_empty_and_missing_schemas_mariadb(mariadb, db_url: sa.URL, dialect: str) -> None:
    if dialect != "mariadb":
        pytest.skip("several schemas per query is a MariaDB/MySQL feature")
    filled = create_tenant(db_url, with_rows=False)
    empty_url = extra_database(mariadb, db_url)
    try:
        with filled.connect() as conn:
            many = capture_mysql(conn, [db_url.database, empty_url.database, "no_such_db_%"])
            single = capture(conn)
        assert set(many) == {db_url.database, empty_url.database}
        assert many[empty_url.database] == {"tables": {}, "views": {}, "triggers": {}}
        assert many[db_url.database] == single
    finally:
        mariadb.execute(f"DROP DATABASE IF EXISTS `{empty_url.database}`")


_NOISE_MARIADB = [
    ("id INT(11) NOT NULL AUTO_INCREMENT PRIMARY KEY", "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY"),
    ("qty INT DEFAULT '0'", "qty INT DEFAULT 0"),
    ("flag BOOLEAN DEFAULT FALSE", "flag TINYINT(1) DEFAULT 0"),
    ("seen TIMESTAMP NULL DEFAULT current_timestamp()", "seen TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP"),
    ("made DATETIME DEFAULT now()", "made DATETIME DEFAULT CURRENT_TIMESTAMP"),
    ("label VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", "label VARCHAR(20)"),
    ("kind ENUM('a','it''s') DEFAULT 'a'", "kind ENUM('a', 'it\\'s') DEFAULT 'a'"),
    ("price DECIMAL(10,2) DEFAULT '0.00'", "price DECIMAL(10, 2) DEFAULT 0"),
    ("note VARCHAR(10) DEFAULT NULL", "note VARCHAR(10)"),
]
_NOISE_SQLITE = [
    ("id INTEGER NOT NULL PRIMARY KEY", "id integer primary key"),
    ("qty INT DEFAULT '0'", "qty INTEGER DEFAULT 0"),
    ("flag BOOLEAN DEFAULT 0", "flag TINYINT(1) DEFAULT FALSE"),
    ("seen TIMESTAMP DEFAULT (CURRENT_TIMESTAMP)", "seen TIMESTAMP DEFAULT CURRENT_TIMESTAMP"),
    ("label VARCHAR (20)", "label varchar(20)"),
    ("price NUMERIC(10, 2) DEFAULT '0.00'", "price DECIMAL(10,2) DEFAULT 0"),
    ("note VARCHAR(10) DEFAULT NULL", "note VARCHAR(10)"),
]


def test_representation_noise_hashes_equal(db_url: sa.URL, dialect: str) -> None:
    engine = make_engine(db_url)
    pairs = _NOISE_MARIADB if dialect == "mariadb" else _NOISE_SQLITE
    left = ", ".join(a for a, _ in pairs)
    right = ", ".join(b for _, b in pairs)
    suffix = " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci" if dialect == "mariadb" else ""
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE t ({left}){suffix}"))
    a = snapshot(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE t"))
        conn.execute(sa.text(f"CREATE TABLE t ({right})"))
    b = snapshot(engine)
    assert diff_schemas(a, b) == []
    assert schema_hash(a) == schema_hash(b)


def test_views_and_triggers_are_captured_by_normalised_definition(db_url: sa.URL, dialect: str) -> None:
    engine = create_tenant(db_url, with_rows=False)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE VIEW active_orgs AS SELECT id, slug FROM organizations WHERE status = 'active'"))
        body = "SET NEW.role = LOWER(NEW.role)" if dialect == "mariadb" else "BEGIN UPDATE members SET role = lower(role) WHERE id = NEW.id; END"
        timing = "BEFORE" if dialect == "mariadb" else "AFTER"
        conn.execute(sa.text(f"CREATE TRIGGER members_role {timing} INSERT ON members FOR EACH ROW {body}"))
    schema = snapshot(engine)
    assert set(schema["views"]) == {"active_orgs"}
    assert "status='active'" in schema["views"]["active_orgs"]["definition"]
    assert set(schema["triggers"]) == {"members_role"} and schema["triggers"]["members_role"]["table"] == "members"
    assert "active_orgs" not in schema["tables"]
    with engine.begin() as conn:
        conn.execute(sa.text("DROP VIEW active_orgs"))
        conn.execute(sa.text("CREATE VIEW active_orgs AS SELECT id, slug FROM organizations WHERE status = 'pending'"))
    changed = snapshot(engine)
    [difference] = diff_schemas(schema, changed)
    assert (difference.object, difference.change, difference.name, difference.attribute) == (
        "view", "modified", "active_orgs", "definition")


def test_sqlite_expression_index_is_identified_by_its_definition(db_url: sa.URL, dialect: str) -> None:
    if dialect != "sqlite":
        pytest.skip("expression indexes: SQLite (MariaDB has none)")
    engine = create_tenant(db_url, with_rows=False)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE INDEX ix_members_lower_email ON members (lower(email))"))
    first = snapshot(engine)["tables"]["members"]["indexes"]["ix_members_lower_email"]
    assert first["columns"][0].startswith("expr:")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_members_lower_email"))
        conn.execute(sa.text("CREATE INDEX ix_members_lower_email ON members (upper(email))"))
    assert snapshot(engine)["tables"]["members"]["indexes"]["ix_members_lower_email"] != first
