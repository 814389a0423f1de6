"""Compliance (issue 20): the template manifest's rules (required tables and columns,
the 7 provinces and 77 districts) checked against the live database long after
provisioning; a violation exits 1 and is kept for `tenants show`."""
from __future__ import annotations

import json
from pathlib import Path

from cli import run
from helpers import approved, copy_catalog, execute_sql, use_catalog
from tenantops.engine.context import Context


def provision_party(slug: str, server: str) -> None:
    ctx = Context.open()
    approved(ctx, slug)
    ctx.close()
    r = run("provision", slug, "--server", server)
    assert r.code == 0, r.err


def test_a_dropped_required_table_and_a_missing_district_are_violations(server: str) -> None:
    provision_party("janata-dal", server)
    r = run("compliance", "janata-dal", "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["status"] == "ok" and doc["violations"] == []
    assert doc["authority"] == "Election Commission of Nepal"

    execute_sql("janata-dal", ["DROP TABLE audit_trails", "DELETE FROM districts WHERE id = 77"])
    r = run("compliance", "janata-dal", "--json")
    assert r.code == 1
    found = {(v["rule"], v["table"]) for v in r.json()["violations"]}
    assert found == {("required_table", "audit_trails"), ("required_rows", "districts")}
    assert "76 row(s); at least 77" in json.dumps(r.json())

    human = run("compliance", "janata-dal")
    assert human.code == 1 and "janata-dal" in human.err and "audit_trails is missing" in human.out

    fleet = run("compliance", "--all", "--json")
    assert fleet.code == 1 and [d["status"] for d in fleet.json()] == ["violation"]
    health = run("tenants", "show", "janata-dal", "--json").json()["health"]
    assert health["compliance"]["status"] == "violation"


def test_a_template_without_rules_is_no_rules_and_passes(server: str) -> None:
    ctx = Context.open()
    approved(ctx, "tole-club", template="community_group")
    ctx.close()
    assert run("provision", "tole-club", "--server", server).code == 0
    r = run("compliance", "--all", "--json")
    assert r.code == 0 and [d["status"] for d in r.json()] == ["no_rules"]


def test_compliance_usage_and_unknown_tenant() -> None:
    assert run("compliance").code == 2
    assert run("compliance", "x", "--all").code == 2
    r = run("compliance", "nobody-here")
    assert r.code == 1 and "nobody-here" in r.err


def test_malformed_compliance_rules_are_catalog_problems(tmp_path: Path) -> None:
    catalog = copy_catalog(tmp_path)
    manifest = catalog / "templates" / "political_party_nepal" / "template.json"
    data = json.loads(manifest.read_text())
    data["compliance"]["required_rows"] = {"districts": 0, "bad name!": 3}
    data["compliance"]["required_columns"] = ["not", "an", "object"]
    manifest.write_text(json.dumps(data))
    r = run("catalog", "check", str(catalog))
    assert r.code == 1
    assert "compliance.required_rows.districts" in r.out + r.err
    assert "compliance.required_columns" in r.out + r.err
