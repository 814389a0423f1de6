"""Tenant labels: `tenants label SLUG key=value...` (admin, audited; `key=` removes),
`tenants list --label k=v`, labels in `tenants show`; on a SQLite and a MariaDB landlord."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli import run
from helpers import approved
from mariadb import MariaDB
from tenantops.engine.access import operators
from tenantops.engine.context import Context


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def landlord(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tenantops_env: Path):
    if request.param == "sqlite":
        yield "sqlite"
        return
    db: MariaDB = request.getfixturevalue("mariadb")
    name = f"tenantops_landlord_labels_{os.getpid()}"
    db.execute(f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    monkeypatch.setenv("TENANTOPS_LANDLORD_URL", f"{db.url}/{name}")
    r = run("init", "--password-stdin", stdin=db.admin_password + "\n")
    assert r.code == 0, r.err
    yield "mariadb"
    db.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _tenants(*slugs: str) -> None:
    ctx = Context.open()
    for slug in slugs:
        approved(ctx, slug, template="community_group")
    ctx.close()
    for slug in slugs:
        r = run("provision", slug, "--server", "local")
        assert r.code == 0, r.err


def test_labels_set_filter_show_remove_and_audit(landlord: str, as_operator) -> None:
    _tenants("east-a", "east-b", "west-a")
    r = run("tenants", "label", "east-a", "region=east", "tier=gold", "--json")
    assert r.code == 0, r.err
    assert r.json() == {"tenant": "east-a", "labels": {"region": "east", "tier": "gold"}}
    assert run("tenants", "label", "east-b", "region=east").code == 0
    assert run("tenants", "label", "west-a", "region=west", "tier=gold").code == 0

    listed = run("tenants", "list", "--label", "region=east", "--json").json()
    assert [t["slug"] for t in listed] == ["east-a", "east-b"]
    assert listed[0]["labels"] == {"region": "east", "tier": "gold"}
    assert [t["slug"] for t in run("tenants", "list", "--label", "tier=gold", "--json").json()] == ["east-a", "west-a"]
    assert run("tenants", "list", "--label", "region=north", "--json").json() == []
    assert "region=east" in run("tenants", "list").out
    assert run("tenants", "show", "west-a", "--json").json()["labels"] == {"region": "west", "tier": "gold"}
    assert "region" in run("tenants", "show", "west-a").out

    # a value changes in place, `key=` removes
    r = run("tenants", "label", "east-a", "tier=", "region=central", "--json")
    assert r.code == 0 and r.json()["labels"] == {"region": "central"}, r.err
    assert run("tenants", "show", "east-a", "--json").json()["labels"] == {"region": "central"}

    audit = [(a["operator"], a["outcome"], a["target"]) for a in run("audit", "--json").json()
             if a["action"] == "tenants.label"]
    assert len(audit) == 4 and set(audit) == {("alice", "ok", "east-a"), ("alice", "ok", "east-b"),
                                             ("alice", "ok", "west-a")}

    # only an admin labels (a viewer is refused and audited), and nothing changes
    ctx = Context.open()
    operators.add_operator(ctx, user="vera", role="viewer")
    ctx.close()
    as_operator("vera")
    r = run("tenants", "label", "east-b", "region=west")
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1 and "admin" in r.err, r.err
    assert run("tenants", "show", "east-b", "--json").json()["labels"] == {"region": "east"}
    assert ("vera", "denied", "east-b") in [(a["operator"], a["outcome"], a["target"])
                                            for a in run("audit", "--json").json() if a["action"] == "tenants.label"]


@pytest.mark.parametrize("args, complaint", [
    (["tenants", "label", "east-a"], "required: KEY=VALUE"),
    (["tenants", "label", "east-a", "region"], "expected key=value"),
    (["tenants", "label", "east-a", "Region=east"], "label key 'Region'"),
    (["tenants", "label", "east-a", "region=east west"], "label value 'east west'"),
    (["tenants", "label", "east-a", "region=" + "x" * 64], "at most 63"),
    (["tenants", "label", "east-a", "region=a", "region=b"], "label region is given twice"),
    (["tenants", "list", "--label", "region="], "label value ''"),
    (["tenants", "list", "--label", "region"], "expected key=value"),
])
def test_bad_labels_are_refused_with_one_line_and_change_nothing(args: list[str], complaint: str) -> None:
    _tenants("east-a")
    assert run("tenants", "label", "east-a", "region=east").code == 0
    r = run(*args)
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, (r.code, r.err)
    assert complaint in r.err and "Traceback" not in r.err, r.err
    assert run("tenants", "show", "east-a", "--json").json()["labels"] == {"region": "east"}


def test_labelling_an_unknown_tenant_names_it() -> None:
    r = run("tenants", "label", "ghost", "region=east")
    assert r.code == 1 and "tenant 'ghost' does not exist" in r.err and len(r.err.strip().splitlines()) == 1
