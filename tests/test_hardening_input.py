"""Hardening: hostile identifiers and malformed inputs.

Guarantee 3 (bad input gets one clear line and changes nothing) and guarantee 4 (names
that reach SQL are validated against a strict pattern and quoted by the dialect).

The bulk is property-based (hypothesis) over the engine functions; a sample goes through
the real CLI, and a smaller sample of names is driven end to end against MariaDB with the
server's general log on, to prove that no statement other than the intended ones reaches
the server.
"""
from __future__ import annotations

import hashlib
import os
import re
import string
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from cli import run
from helpers import CATALOG, approved, copy_catalog, use_catalog
from tenantops.engine import catalog as catalog_mod, names
from tenantops.engine.tenants import applications
from tenantops.engine.tenants import custom
from tenantops.engine.tenants import provision as provisioner
from tenantops.engine.servers import registry as servers
from tenantops.engine.jobs import worker
from tenantops.engine.context import Context
from tenantops.engine.errors import ConflictError, NotFoundError, TenantopsError, ValidationError
from tenantops.engine.landlord import models as m

# hypothesis keeps caches in ./.hypothesis by default: keep the work tree clean
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "tenantops-hypothesis")


@pytest.fixture
def catalog_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """submit re-reads the catalog on every call (~40 ms); the properties are about names,
    so the real catalog is parsed once and reused."""
    real = catalog_mod.load_catalog
    cache: dict = {}

    def load(path=None, *, strict=True):
        key = (str(path), strict)
        if key not in cache:
            cache[key] = real(path, strict=strict)
        return cache[key]

    monkeypatch.setattr(catalog_mod, "load_catalog", load)


# -- generators ------------------------------------------------------------------------

LOOKALIKES = [
    "\u0430", "\u0435", "\u043e", "\u0440", "\u0441", "\u0455",  # Cyrillic a e o p c s
    "\uff41", "\uff53", "\uff0d", "\uff3f", "\uff40", "\uff1b",  # fullwidth a s - _ ` ;
    "\u2010", "\u2011", "\u2212", "\u02bc", "\u2019",          # hyphens, minus, apostrophes
    "\u0131", "\u0130", "\u212a", "\u017f", "\u00df",          # dotless i, dotted I, Kelvin, long s, sharp s
    "e\u0301", "\u00e9", "\u200b", "\u200d", "\u2060", "\ufeff", "\u00a0", "\u3000",  # combining, zero-width, spaces
]
SQL_BITS = [
    "'", '"', "`", ";", "--", "-- ", "#", "/*", "*/", "\\", "%", "_", "$", "@", "=", "(", ")", ",", ".",
    "/", ":", "*", "?", "[", "]", "{", "}", "|", "&", "<", ">", "!", "~", "^", "+",
    "'; DROP DATABASE mysql; --", "`; DROP DATABASE mysql; -- ", "\" OR 1=1 --", " UNION SELECT 1",
    "*/DROP/*", "\\'", "x' OR 'x'='x", "`tenant_x`", "tenant_x`.`t", "../../etc/passwd", "${HOME}", "$(id)",
]
CONTROL = ["\x00", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", " "]
RESERVED_WORDS = [
    "select", "drop", "table", "database", "schema", "user", "grant", "union", "null", "true", "where",
    "mysql", "information_schema", "performance_schema", "sys", "root", "admin", "api", "www", "test",
    "landlord", "tenantops", "local", "tenant", "default", "key", "index", "order", "shadow", "backups",
]
SLUGGY = string.ascii_lowercase + string.digits + "-"
IDENTY = string.ascii_lowercase + string.digits + "_"


def hostile(plausible: str) -> st.SearchStrategy[str]:
    """Names an attacker or a typo would produce, around a plausible alphabet."""
    safe = st.text(alphabet=plausible, max_size=40)
    bad = st.sampled_from(LOOKALIKES + SQL_BITS + CONTROL)
    return st.one_of(
        st.tuples(safe, bad, safe).map("".join),                                  # a payload inside a name
        st.tuples(safe, bad, safe, bad, safe).map("".join),
        st.tuples(st.sampled_from(RESERVED_WORDS),
                  st.sampled_from(["", "-1", "_x", ";", "`", " ", "\x00", "\u0430", "\n", "--"])).map("".join),
        st.text(alphabet=plausible, max_size=120),                              # plausible, incl. empty/over-long
        st.text(alphabet=plausible, min_size=1, max_size=70).map(str.upper),    # case tricks
        st.text(max_size=40),                                                   # any unicode (no surrogates)
        st.sampled_from(LOOKALIKES + SQL_BITS + CONTROL + RESERVED_WORDS),
    )


CASES: dict[str, int] = {}  # generated cases per property, checked by the tests themselves


def counted(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


def examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))
SERVER_FIELD = "server name"


def assert_clear(exc: BaseException, field: str, *values: str) -> str:
    """A refusal: a TenantopsError subclass, one line, naming the field and the value."""
    assert isinstance(exc, TenantopsError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    # splitlines() also splits at \x0b \x0c \x1c-\x1e \x85 \u2028 \u2029: none may get through
    assert len(message.splitlines()) == 1 and message.isprintable(), repr(message)
    assert field in message, message
    if values:
        assert any(ascii(v) in message or (v.isascii() and v.isprintable() and v in message) for v in values), \
            (message, values)
    return message


# -- slugs -------------------------------------------------------------------------------


def test_hostile_slugs_are_refused_or_safe(tenantops_env: Path, catalog_parsed_once: None) -> None:
    """applications submit over 3,000 hostile slugs: each is refused with one line naming
    the slug, or it is a strict-pattern slug whose database and user names are safe; no
    database is ever created by a submission, and the landlord holds exactly the accepted."""
    ctx = Context.open()
    accepted: list[str] = []

    @examples(3000)
    @given(slug=hostile(SLUGGY))
    def check(slug: str) -> None:
        counted("slugs")
        try:
            doc = applications.submit(ctx, organization="Hostile Org", slug=slug, email="ops@example.org",
                                      template="community_group")
        except (ValidationError, ConflictError) as exc:
            assert_clear(exc, "slug", slug)
            return
        assert names.SLUG_RE.fullmatch(slug) and doc["slug"] == slug
        assert slug.lower() not in {r.lower() for r in ctx.settings.reserved_slugs}
        assert names.IDENT_RE.fullmatch(names.database_name(slug)) and len(names.database_name(slug)) <= 64
        assert names.IDENT_RE.fullmatch(names.user_name(slug)) and len(names.user_name(slug)) <= 32
        accepted.append(slug)

    check()
    assert CASES["slugs"] >= 3000
    assert accepted, "the generator should also produce some acceptable slugs"
    with ctx.session() as s:
        stored = sorted(s.scalars(sa.select(m.Application.slug)))
        assert s.scalar(sa.select(sa.func.count()).select_from(m.Tenant)) == 0
    assert stored == sorted(accepted)
    assert len({names.database_name(x) for x in accepted}) == len(accepted)
    assert len({names.user_name(x) for x in accepted}) == len(accepted)
    assert sorted(p.name for p in (tenantops_env / "tenants").iterdir()) == []  # submit never creates a database
    ctx.close()


def test_slugs_that_map_to_another_tenants_database_or_user_are_taken(tenantops_env: Path) -> None:
    """Long slugs are shortened with a hash; a short slug spelling out that shortened name
    would share the other tenant's database (or its database user, and with it a GRANT on
    the newcomer's database): it is refused as taken."""
    ctx = Context.open()
    long = "a" * 40 + "-" + "b" * 22  # 63 characters: both names are shortened
    applications.submit(ctx, organization="Long", slug=long, email="l@example.org", template="community_group")
    db_twin = names.database_name(long)[len("tenant_"):].replace("_", "-")
    user_twin = names.user_name(long)[len("tu_"):].replace("_", "-")
    assert db_twin != long and names.database_name(db_twin) == names.database_name(long)
    assert user_twin != long and names.user_name(user_twin) == names.user_name(long)
    for twin, what in ((db_twin, "database name"), (user_twin, "user name")):
        with pytest.raises(ConflictError) as refused:
            applications.submit(ctx, organization="Twin", slug=twin, email="t@example.org",
                                template="community_group")
        message = assert_clear(refused.value, "slug", twin)
        assert "already taken" in message and what in message and long in message
    with ctx.session() as s:
        assert list(s.scalars(sa.select(m.Application.slug))) == [long]
    ctx.close()


# -- templates and modules ------------------------------------------------------------------


def test_hostile_template_and_module_names_are_refused_or_safe(tenantops_env: Path,
                                                               catalog_parsed_once: None) -> None:
    """The resolver behind applications submit (and provision, modules add) over 3,000
    hostile template/module names: refused with one line naming the bad name, or every
    name is a catalog name. A smaller sample goes through submit itself."""
    catalog = catalog_mod.load_catalog()
    known_modules = sorted(catalog.modules)
    module_names = st.one_of(hostile(IDENTY), st.sampled_from(known_modules))

    @examples(3000)
    @given(template=st.one_of(hostile(IDENTY), st.sampled_from(sorted(catalog.templates))),
           modules=st.lists(module_names, max_size=4))
    def check(template: str, modules: list[str]) -> None:
        counted("resolve")
        try:
            resolution = catalog_mod.resolve(catalog, template, modules)
        except (ValidationError, ConflictError) as exc:
            message = assert_clear(exc, "")
            if template not in catalog.templates:
                assert "template" in message and ascii(template) in message
            else:
                assert "module" in message
                unknown = [x for x in modules if x not in catalog.modules]
                if unknown:
                    assert ascii(unknown[0]) in message
            return
        assert template in catalog.templates and set(modules) <= set(catalog.modules)
        assert resolution.units[1].slug == template

    check()
    assert CASES["resolve"] >= 3000

    ctx = Context.open()
    seen: list[str] = []

    @examples(400)
    @given(template=hostile(IDENTY), modules=st.lists(hostile(IDENTY), max_size=3))
    def through_submit(template: str, modules: list[str]) -> None:
        slug = f"mod-{len(seen)}"
        seen.append(slug)
        try:
            applications.submit(ctx, organization="Org", slug=slug, email="a@example.org", template=template,
                                modules=modules)
        except (ValidationError, ConflictError) as exc:
            assert_clear(exc, "", template, *[x.strip() for x in modules])
            return
        assert template in catalog.templates and {x.strip() for x in modules if x.strip()} <= set(catalog.modules)

    through_submit()
    assert len(seen) >= 400
    with ctx.session() as s:
        for app in s.scalars(sa.select(m.Application)):
            assert app.template in catalog.templates and set(app.modules) <= set(catalog.modules)
    ctx.close()


# -- server names ----------------------------------------------------------------------------


def test_hostile_server_names_are_refused_or_safe(tenantops_env: Path, tmp_path: Path) -> None:
    """servers add over 1,500 hostile names: refused with one line naming the name, or a
    strict-pattern name; no server is registered under anything else."""
    ctx = Context.open()
    directory = tmp_path / "srv"
    directory.mkdir()
    accepted: list[str] = []

    @examples(1500)
    @given(name=hostile(string.ascii_lowercase + string.digits + "_-"))
    def check(name: str) -> None:
        counted("servers")
        try:
            doc = servers.add_server(ctx, name=name, url=f"sqlite:///{directory}", capacity=5)
        except (ValidationError, ConflictError) as exc:
            assert_clear(exc, "server", name)
            return
        assert names.SERVER_NAME_RE.fullmatch(name) and doc["name"] == name
        accepted.append(name)

    check()
    assert CASES["servers"] >= 1500
    registered = {s["name"] for s in servers.list_servers(ctx)}
    assert registered == {"local", *accepted}
    ctx.close()


# -- custom migration names -------------------------------------------------------------------

CUSTOM_OK = '''"""A table of our own."""
from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table("ward_notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("ward_notes")
'''


def _active_tenant(ctx: Context, slug: str, server: str = "local") -> None:
    approved(ctx, slug, template="community_group")
    job = provisioner.request_provision(ctx, slug=slug, server=server).job
    worker.work(ctx, job_id=job)
    with ctx.session() as s:
        assert s.scalar(sa.select(m.Tenant.status).where(m.Tenant.slug == slug)) == "active"


def test_hostile_custom_migration_names_are_refused_or_safe(tenantops_env: Path) -> None:
    """custom submit over 2,000 hostile --name values and 600 hostile file names: refused
    with one line naming the name, or a strict-pattern name; nothing is written to the
    tenant's custom folder by a submission."""
    ctx = Context.open()
    _active_tenant(ctx, "cust-org")
    accepted: list[str] = []

    @examples(2000)
    @given(name=hostile(IDENTY))
    def by_name(name: str) -> None:
        counted("custom names")
        try:
            doc = custom.submit_custom(ctx, slug="cust-org", filename="notes.py", content=CUSTOM_OK, name=name)
        except (ValidationError, ConflictError) as exc:
            assert_clear(exc, "custom migration", re.sub(r"^\d+_?", "", name) or name)
            return
        assert custom.NAME_RE.fullmatch(doc["name"])
        accepted.append(doc["name"])

    @examples(600)
    @given(stem=hostile(IDENTY))
    def by_file_name(stem: str) -> None:
        counted("custom files")
        filename = f"{stem}.py"
        try:
            doc = custom.submit_custom(ctx, slug="cust-org", filename=filename, content=CUSTOM_OK)
        except (ValidationError, ConflictError) as exc:
            assert_clear(exc, "custom migration")
            return
        assert custom.NAME_RE.fullmatch(doc["name"])
        accepted.append(doc["name"])

    by_name()
    by_file_name()
    assert CASES["custom names"] >= 2000 and CASES["custom files"] >= 600
    listed = custom.list_custom(ctx, "cust-org")
    assert sorted(c["name"] for c in listed) == sorted(accepted)
    assert all(c["status"] == "submitted" for c in listed)
    assert not (tenantops_env / "custom").exists() or not any((tenantops_env / "custom").rglob("*.py"))
    with pytest.raises(NotFoundError) as refused:
        custom.approve_custom(ctx, slug="cust-org", name="x`; DROP TABLE members; --")
    assert_clear(refused.value, "custom migration")
    ctx.close()


# -- the same through the real CLI --------------------------------------------------------------

CLI_SAMPLES = ["x`; DROP DATABASE mysql; --", "acme\x00", "acme\n--", "\u0430cme", "ａｃｍｅ", "acme;", "ac'me",
               "a" * 64, " acme", "--acme", "ACME", "tenant_acme;", "a/*x*/b"]


@pytest.mark.parametrize("value", CLI_SAMPLES, ids=range(len(CLI_SAMPLES)))
def test_cli_refuses_hostile_names_with_one_line(value: str, tmp_path: Path) -> None:
    """The CLI faces of the same checks: exit 1 (or 2 for a value argparse takes for an
    option), exactly one line on stderr, nothing on stdout, no traceback, nothing stored."""
    results = [
        run("applications", "submit", "--org", "Org", "--slug", value, "--email", "a@example.org",
            "--template", "community_group"),
        run("applications", "submit", "--org", "Org", "--slug", "fine-org", "--email", "a@example.org",
            "--template", value),
        run("applications", "submit", "--org", "Org", "--slug", "fine-org", "--email", "a@example.org",
            "--template", "community_group", "--modules", f"event_management,{value}"),
        run("servers", "add", value, f"sqlite:///{tmp_path}"),
    ]
    for r in results:
        assert r.code in (1, 2), (value, r)
        lines = r.err.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("tenantops: "), (value, r.err)
        assert "Traceback" not in r.err and "internal error" not in r.err and r.out == ""
    assert run("applications", "list", "--json").json() == []
    assert [s["name"] for s in run("servers", "list", "--json").json()] == ["local"]


# -- end to end on MariaDB, general log on -------------------------------------------------------

E2E_ACCEPTED = ["select", "0-0", "a--b-", "x" * 63, "drop-database-mysql"]
E2E_REFUSED = ["x`; DROP DATABASE mysql; -- ", "evil'; DROP USER ops@'%'; --", "a`.`b", "acme\x00x",
               "\u0430cme", "ａｃｍｅ", "tenant_x", "a/*c*/b", "a\nb", "ops@'%'"]


@pytest.mark.mariadb
def test_only_intended_statements_reach_mariadb(mariadb, tenantops_env: Path) -> None:
    """With MariaDB's general log on: hostile slugs are refused before any statement is
    sent; accepted edge-case slugs (reserved words, '--', 63 characters) are provisioned,
    and every logged statement naming a tenant database or user names exactly the
    validated, quoted name."""
    from conftest import drop_tenants

    ctx = Context.open()
    servers.add_server(ctx, name="db1", url=mariadb.url, password=mariadb.admin_password)
    mariadb.execute("SET GLOBAL general_log = 0", "TRUNCATE TABLE mysql.general_log",
                    "SET GLOBAL log_output = 'TABLE'", "SET GLOBAL general_log = 1")
    try:
        for slug in E2E_REFUSED:
            with pytest.raises(TenantopsError) as refused:
                applications.submit(ctx, organization="Evil", slug=slug, email="e@example.org",
                                    template="community_group")
            assert_clear(refused.value, "slug", slug)
        for slug in E2E_ACCEPTED:
            applications.submit(ctx, organization="Edge", slug=slug, email="admin@example.org",
                                template="community_group")
            applications.approve(ctx, slug)
            job = provisioner.request_provision(ctx, slug=slug, server="db1").job
            worker.work(ctx, job_id=job)
            with ctx.session() as s:
                assert s.scalar(sa.select(m.Tenant.status).where(m.Tenant.slug == slug)) == "active", slug
        mariadb.execute("SET GLOBAL general_log = 0")
        log = [(kind, arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg))
               for kind, arg in mariadb.execute("SELECT command_type, argument FROM mysql.general_log")]
    finally:
        mariadb.execute("SET GLOBAL general_log = 0", "SET GLOBAL log_output = 'FILE'",
                        "TRUNCATE TABLE mysql.general_log")
        drop_tenants(mariadb)
        ctx.close()

    databases = {names.database_name(s) for s in E2E_ACCEPTED}
    users = {names.user_name(s) for s in E2E_ACCEPTED}
    assert any("CREATE DATABASE" in a for _, a in log), "the general log recorded nothing"
    # words that legitimately start with tenant_: tables, columns and seed values of the
    # catalog and the engine's own statements
    catalog_words = set()
    for path in [*CATALOG.rglob("*.py"), *CATALOG.rglob("*.json"), *(CATALOG.parent / "engine").rglob("*.py")]:
        catalog_words |= set(re.findall(r"\btenant_[a-z0-9_]+", path.read_text()))
    for kind, statement in log:
        for payload in ("DROP DATABASE mysql", "DROP USER ops", "/*c*/", "\u0430cme", "ａｃｍｅ", "\x00",
                        "evil'", "a`.`b"):
            assert payload not in statement, (kind, statement)
        for quoted in re.findall(r"`([^`]*)`", statement):
            assert re.fullmatch(r"[A-Za-z0-9_$]+", quoted), (kind, statement)  # every quoted name is plain
        for word in re.findall(r"\btenant_[a-z0-9_]+", statement):
            assert word in databases or word in catalog_words, (word, statement)
        for word in re.findall(r"\btu_[a-z0-9_]+", statement):
            assert word in users, (word, statement)
        if re.match(r"\s*(CREATE|DROP) DATABASE", statement, re.I):
            target = re.search(r"DATABASE (?:IF EXISTS )?`([^`]+)`", statement)
            assert target and target.group(1) in databases, statement  # always quoted, always ours
        if re.match(r"\s*(CREATE|DROP) USER", statement, re.I):
            target = re.search(r"USER (?:IF EXISTS )?'([^']+)'@'%'", statement)
            assert target and target.group(1) in users, statement
        if re.match(r"\s*GRANT", statement, re.I):
            # least privilege: data only (docs/reliability.md §8)
            grant = re.fullmatch(r"GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE ON `([^`]+)`\.\* TO '([^']+)'@'%'",
                                 statement.strip())
            assert grant and grant.group(1) in databases and grant.group(2) in users, statement
        if kind == "Init DB":
            assert statement in databases or statement in ("mysql", "information_schema"), statement
    created = {re.search(r"`([^`]+)`", a).group(1) for _, a in log if a.startswith("CREATE DATABASE")}
    assert created == databases
    granted = {re.search(r"TO '([^']+)'", a).group(1) for _, a in log if a.startswith("GRANT")}
    assert granted == users
    print(f"{len(log)} logged statements checked")


# -- malformed inputs -------------------------------------------------------------------------


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_catalog_check_lists_every_broken_file(tmp_path: Path, tenantops_env: Path) -> None:
    """catalog check DIR lists each broken manifest and revision file (invalid JSON,
    absurdly nested JSON, syntax errors, NUL bytes, bad encoding), exit 1, no traceback;
    with that catalog configured, submit refuses with one line; nothing is changed."""
    catalog = copy_catalog(tmp_path)
    broken = {
        "modules/social_media/module.json": b'{"slug": "social_media", "name": "Social",',
        "templates/community_group/template.json": b"[" * 100_000,
        "modules/simple_donations/versions/donations_0001_register.py": b"def upgrade(:\n    pass\n",
        "modules/event_management/versions/events_0002_feedback.py": b"revision = 'events_0002'\x00\n",
        "basic/versions/basic_0002_settings.py": b"# \xff\xfe not utf-8\nrevision = 'basic_0002'\n",
    }
    for rel, content in broken.items():
        (catalog / rel).write_bytes(content)
    before = _tree_digest(catalog)

    r = run("catalog", "check", str(catalog))
    assert r.code == 1 and r.out == "" and "Traceback" not in r.err and "internal error" not in r.err, r.err
    lines = r.err.strip().splitlines()
    for rel in broken:
        assert any(line.startswith(rel + ":") for line in lines), (rel, lines)
    r = run("catalog", "check", str(catalog), "--json")
    assert r.code == 1
    doc = r.json()
    assert doc["ok"] is False and all(any(p.startswith(rel) for p in doc["problems"]) for rel in broken)

    use_catalog(Path(os.environ["TENANTOPS_CONFIG"]), catalog)
    r = run("applications", "submit", "--org", "Org", "--slug", "cat-org", "--email", "a@example.org",
            "--template", "political_party_nepal")
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1 and "more)" in r.err, r.err
    assert run("applications", "list", "--json").json() == []
    assert _tree_digest(catalog) == before


CONFIG_CASES = [
    ('lease_seconds = "thirty"\n', "lease_seconds", "expected an integer"),
    ("backup_retention = true\n", "backup_retention", "expected an integer"),
    ('reserved_slugs = "admin"\n', "reserved_slugs", "expected a list of strings"),
    ("cleanup_on_failure = 1\n", "cleanup_on_failure", "expected true or false"),
    ("environment = 3\n", "environment", "expected a string"),
    ('[smtp]\nport = "25"\n', "smtp.port", "expected an integer"),
    ("drift_ignore = 5\n", "drift_ignore", "expected a table"),
    ("concurrency_per_server = -2\n", "concurrency_per_server", "must not be negative"),
    ("lease_seconds = 0\n", "lease_seconds", "at least 1"),
    ("backup_retention = 0\n", "backup_retention", "at least 1"),
    ('theme = "neon"\n', "theme", "must be one of"),
    ('password = "hunter2"\n', "password", "secrets do not belong"),
    ("lease_seconds = = 3\n", "not valid TOML", ""),
]


@pytest.mark.parametrize("content, key, reason", CONFIG_CASES, ids=[c[1] for c in CONFIG_CASES])
def test_config_with_wrong_types_gets_one_line_naming_file_and_key(content: str, key: str, reason: str,
                                                                   tenantops_env: Path) -> None:
    config = Path(os.environ["TENANTOPS_CONFIG"])
    config.write_text(content)
    for argv in (["applications", "list"], ["init"]):
        r = run(*argv)
        assert r.code == 1 and r.out == "", r
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and str(config) in lines[0] and key in lines[0] and reason in lines[0], r.err
        assert "hunter2" not in r.err
    assert not (tenantops_env / "landlord.db").exists()  # nothing was created or changed
    assert config.read_text() == content


def test_config_env_override_with_wrong_type(monkeypatch: pytest.MonkeyPatch, tenantops_env: Path) -> None:
    monkeypatch.setenv("TENANTOPS_LEASE_SECONDS", "soon")
    r = run("applications", "list")
    assert r.code == 1 and r.err.strip() == ("tenantops: environment TENANTOPS_LEASE_SECONDS: expected an integer, "
                                             "got 'soon'")
    assert not (tenantops_env / "landlord.db").exists()


CUSTOM_FILES = {
    "no_down.py": ('from alembic import op\n\n\ndef upgrade():\n    op.execute("SELECT 1")\n',
                   "has no downgrade() function"),
    "empty_down.py": ('from alembic import op\n\n\ndef upgrade():\n    op.execute("SELECT 1")\n\n\n'
                      'def downgrade():\n    pass\n', "downgrade() does nothing"),
    "broken.py": ("def upgrade(:\n    pass\n", "does not parse"),
    "nul.py": ("def upgrade():\n    pass\x00\n", "does not parse"),
    "deep.py": ("x = " + "(" * 5000 + ")" * 5000 + "\n", "does not parse"),
}


def test_custom_migration_files_that_cannot_be_rolled_back_are_refused(tmp_path: Path,
                                                                      tenantops_env: Path) -> None:
    """custom submit refuses a file without a (working) downgrade, or that does not parse,
    with one line naming the file and the problem; nothing is stored or written."""
    ctx = Context.open()
    _active_tenant(ctx, "cf-org")
    ctx.close()
    for filename, (content, problem) in CUSTOM_FILES.items():
        path = tmp_path / filename
        path.write_text(content)
        r = run("custom", "submit", "cf-org", str(path))
        assert r.code == 1 and r.out == "", r
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and filename in lines[0] and problem in lines[0], r.err
    assert run("custom", "list", "cf-org", "--json").json() == []
    assert not (tenantops_env / "custom").exists()
    audit = [a for a in run("audit", "--json").json() if a["action"] == "custom.submit"]
    assert len(audit) == len(CUSTOM_FILES) and {a["outcome"] for a in audit} == {"failed"}


def test_undecodable_bytes_in_argv_get_a_clear_line_and_an_audit_row() -> None:
    """`tenantops applications submit --slug $'\\xff'` hands Python a lone surrogate."""
    r = run("applications", "submit", "--org", "Org", "--slug", "ab\udcff", "--email", "a@example.org",
            "--template", "community_group")
    assert r.code == 1 and "internal error" not in r.err and "slug" in r.err, r.err
    audit = [a for a in run("audit", "--json").json() if a["action"] == "applications.submit"]
    assert [a["outcome"] for a in audit] == ["failed"]


@pytest.mark.mariadb
def test_provisioning_never_adopts_an_existing_database_user(mariadb, tenantops_env: Path) -> None:
    """A user named like the new tenant's already exists (another tenant's, or anyone's):
    provisioning refuses with one line instead of granting that account the new database,
    and leaves the account as it was."""
    from conftest import drop_tenants

    ctx = Context.open()
    servers.add_server(ctx, name="db1", url=mariadb.url, password=mariadb.admin_password)
    user = names.user_name("pre-existing")
    mariadb.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'theirs-{os.getpid()}'")
    try:
        grants_before = mariadb.execute(f"SHOW GRANTS FOR '{user}'@'%'")
        applications.submit(ctx, organization="Pre", slug="pre-existing", email="p@example.org",
                            template="community_group")
        applications.approve(ctx, "pre-existing")
        r = run("provision", "pre-existing", "--server", "db1")
        assert r.code == 1
        assert r.err.strip().splitlines()[-1].startswith("tenantops: provisioning pre-existing failed: ")
        assert f"database user {user} already exists; refusing to share it" in r.err, r.err
        assert mariadb.execute(f"SHOW GRANTS FOR '{user}'@'%'") == grants_before
        assert not mariadb.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "
                                   f"'{names.database_name('pre-existing')}'")
    finally:
        drop_tenants(mariadb)
        ctx.close()
