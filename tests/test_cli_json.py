"""Runbooks chain commands: every command accepts --json, and a command that changes
something prints one JSON document saying what it did, with the job id when it made one."""
from __future__ import annotations

import argparse
import json

from cli import run
from helpers import approved
from tenantops.console.cli import build_parser
from tenantops.engine.context import Context
from test_cli_parsers import LEAVES

NO_STORE = {("completion",)}


def test_every_command_accepts_json() -> None:
    for path, parser in LEAVES:
        if path in NO_STORE:
            continue
        assert any("--json" in a.option_strings for a in parser._actions), f"tenantops {' '.join(path)}"


def one_document(*argv: str) -> dict:
    r = run(*argv, "--json")
    assert r.code == 0, (argv, r.err)
    doc = json.loads(r.out)  # exactly one document: json.loads refuses trailing text
    assert isinstance(doc, dict), argv
    return doc


def made_job(*argv: str) -> dict:
    doc = one_document(*argv)
    assert isinstance(doc.get("job"), int), (argv, doc)
    job = run("jobs", "show", str(doc["job"]), "--json").json()
    assert job["status"] == "succeeded", job
    return doc


def test_mutating_commands_describe_what_they_did(server: str) -> None:
    submitted = one_document("applications", "submit", "--org", "Chain Org", "--slug", "chain-org", "--email",
                             "ops@chain.example.org", "--template", "community_group")
    assert submitted["slug"] == "chain-org" and submitted["status"] == "pending"
    assert one_document("applications", "approve", "chain-org")["status"] == "approved"

    tenant = made_job("provision", "chain-org", "--server", server)
    assert tenant["slug"] == "chain-org" and tenant["status"] == "active"

    added = made_job("modules", "add", "chain-org", "social_media")
    assert added["status"] == "succeeded"
    removed = made_job("modules", "remove", "chain-org", "social_media", "--confirm", "chain-org")
    assert removed["status"] == "succeeded"

    backup = run("backups", "list", "chain-org", "--json").json()[0]
    restored = made_job("backups", "restore", "chain-org", str(backup["id"]), "--confirm", "chain-org")
    assert restored["id"] == backup["id"]

    snap = one_document("snapshot", "chain-org")
    assert snap["tables"] > 0

    history = run("history", "chain-org", "--json").json()
    batch = max(h["batch"] for h in history)
    rolled = one_document("rollback", "chain-org", "--batch", str(batch - 1), "--confirm", "chain-org")
    assert "job" in rolled or rolled.get("revisions") == []

    added_op = one_document("operators", "add", "bob", "--role", "viewer")
    assert (added_op["user"], added_op["role"]) == ("bob", "viewer")
    assert one_document("operators", "remove", "bob") == {"removed": "bob"}
    assert one_document("servers", "drain", server) == {"name": server, "draining": True}
    assert one_document("servers", "undrain", server) == {"name": server, "draining": False}
    assert one_document("worker", "--once") == {"jobs_run": 0}
    assert "findings" in run("doctor", "--json").json()

    ctx = Context.open()
    approved(ctx, "later-org")
    ctx.close()
    queued = run("provision", "--all-approved", "--json").json()
    assert [(t["tenant"], t["status"]) for t in queued["tenants"]] == [("later-org", "succeeded")]
    assert isinstance(queued["tenants"][0]["job"], int)


def test_the_parser_tree_knows_json_for_the_chained_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(["provision", "x-org", "--json"])
    assert isinstance(args, argparse.Namespace) and args.json
