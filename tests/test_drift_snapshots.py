"""Snapshot retention keeps the provisioning baseline and every snapshot taken by hand
(pinned); `snapshot --all` run by hand is labelled manual."""
from __future__ import annotations

import os
from pathlib import Path

from cli import run
from test_drift import provision
from tenantops.engine.context import Context
from tenantops.engine.tenants.snapshots import take_snapshot


def test_retention_never_prunes_the_baseline_or_hand_taken_snapshots(server: str) -> None:
    config = Path(os.environ["TENANTOPS_CONFIG"])
    config.write_text((config.read_text() if config.exists() else "") + "\nsnapshot_retention = 2\n")
    provision("keepy", server)
    assert run("snapshot", "keepy").code == 0
    r = run("snapshot", "--all", "--json")
    assert r.code == 0, r.err
    ctx = Context.open()
    for _ in range(4):
        take_snapshot(ctx, "keepy", source="scheduled")
    ctx.close()
    listed = run("snapshots", "list", "keepy", "--json").json()
    assert [(s["source"], s["pinned"]) for s in listed] == [
        ("scheduled", False), ("scheduled", False), ("manual", True), ("manual", True), ("provision", True)]


def test_a_stored_snapshot_is_described_as_it_is_listed(server: str) -> None:
    """The document `snapshot` prints is made while storing (not read back): it says what
    `snapshots list` says about the same snapshot, and the tenant's hash is the new one."""
    provision("descry", server)
    taken = run("snapshot", "descry", "--json")
    assert taken.code == 0, taken.err
    doc = taken.json()
    listed = {s["id"]: s for s in run("snapshots", "list", "descry", "--json").json()}
    assert {k: v for k, v in doc.items() if k != "tenant"} == listed[doc["id"]]
    assert doc["tenant"] == "descry" and doc["source"] == "manual" and doc["pinned"] is True
    assert run("tenants", "show", "descry", "--json").json()["schema_hash"] == doc["hash"]
