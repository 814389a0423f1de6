"""Kept pre-restore databases (issue 14): a MariaDB restore moves the tables it replaces
into a kept `tenantops_pre_…` database; `backups kept` lists them and `backups drop-kept`
drops one (dba, --confirm, audited). Every refusal changes nothing. SQLite restores keep
no such database (the pinned backup taken before the restore is the copy)."""
from __future__ import annotations

from cli import run
from test_nothing_lost import backups_of, execute, provision, state_of
from tenantops.engine.context import Context
from tenantops.engine.tenants import backups


def _restore_once(slug: str, server: str) -> dict:
    provision(slug, server, modules=["social_media"])
    execute(slug, "INSERT INTO social_accounts (platform, handle) VALUES ('facebook', 'kept')")
    ctx = Context.open()
    doc = backups.take_backup(ctx, slug, "manual")
    ctx.close()
    execute(slug, "CREATE TABLE later_notes (id INTEGER PRIMARY KEY)")
    r = run("backups", "restore", slug, str(doc["id"]), "--confirm", slug, "--json")
    assert r.code == 0, r.err
    return r.json()


def test_kept_databases_are_listed_and_dropped(server: str, dialect: str, as_operator) -> None:
    result = _restore_once("keep-org", server)
    provision("other-org", server)
    kept = run("backups", "kept", "keep-org", "--json")
    assert kept.code == 0, kept.err
    if dialect == "sqlite":
        assert result["kept_as"] is None and kept.json() == []
        assert run("backups", "kept", "--json").json() == []
        r = run("backups", "drop-kept", "keep-org", "tenantops_pre_0000", "--confirm", "keep-org")
        assert r.code == 1 and "no kept database tenantops_pre_0000 of tenant keep-org" in r.err, r.err
        return
    name = result["kept_as"]
    [row] = kept.json()
    assert row["name"] == name and row["tenant"] == "keep-org" and row["database"] == "tenant_keep_org"
    assert row["tables"] >= 1 and row["server"] == server and row["kept_at"]
    assert [k["name"] for k in run("backups", "kept", "--json").json()] == [name]   # every tenant's
    assert run("backups", "kept", "other-org", "--json").json() == []
    table = run("backups", "kept", "keep-org")
    assert table.code == 0 and name in table.out

    # refusals: one line, exit 1 (2 for usage), nothing dropped, nothing changed
    state, backups_before = state_of("keep-org"), backups_of("keep-org")
    refused = [
        (("backups", "drop-kept", "keep-org", name), 1, "--confirm keep-org"),
        (("backups", "drop-kept", "keep-org", name, "--confirm", "other-org"), 1, "--confirm keep-org"),
        (("backups", "drop-kept", "other-org", name, "--confirm", "other-org"), 1, "no kept database"),
        (("backups", "drop-kept", "keep-org", "tenant_keep_org", "--confirm", "keep-org"), 1, "not a kept"),
        (("backups", "drop-kept", "keep-org", "tenantops_pre_ffff", "--confirm", "keep-org"), 1, "no kept database"),
        (("backups", "drop-kept", "no-such", name, "--confirm", "no-such"), 1, "does not exist"),
        (("backups", "drop-kept", "keep-org", "--confirm", "keep-org"), 2, "NAME"),
        (("backups", "restore", "keep-org", "abc", "--confirm", "keep-org"), 2, "invalid int value: 'abc'"),
        (("backups", "list"), 2, "required: slug"),
    ]
    for argv, code, message in refused:
        r = run(*argv)
        assert r.code == code and message in r.err, (argv, r.code, r.err)
        assert "Traceback" not in r.err and r.out == "" and len(r.err.strip().splitlines()) == 1, (argv, r.err)
    as_operator("bob")   # not an operator with the dba role
    r = run("backups", "drop-kept", "keep-org", name, "--confirm", "keep-org")
    assert r.code == 1, r.err
    as_operator("alice")
    assert [k["name"] for k in run("backups", "kept", "keep-org", "--json").json()] == [name]
    assert state_of("keep-org") == state and backups_of("keep-org") == backups_before

    r = run("backups", "drop-kept", "keep-org", name, "--confirm", "keep-org", "--json")
    assert r.code == 0, r.err
    assert r.json()["dropped"] is True and r.json()["name"] == name
    assert run("backups", "kept", "keep-org", "--json").json() == []
    assert state_of("keep-org") == state and backups_of("keep-org") == backups_before
    audit = [a for a in run("audit", "--json").json() if a["action"] == "backups.drop-kept"]
    assert audit[-1]["outcome"] == "ok" and audit[-1]["target"] == "keep-org"
    assert "failed" in [a["outcome"] for a in audit]
