"""Jobs never strand their follower: a CLI following a job whose worker died says so in
one line naming the command that resumes it, instead of waiting forever; hostile
leftovers of input (docs/reliability.md §10)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import run
from helpers import approved
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs


def _as_alice_cli(*argv: str) -> list[str]:
    """The real CLI in its own process, acting as the operator the tests registered."""
    code = ("import sys; from tenantops.engine import identity; "
            "identity.process_operator = lambda service_account='': 'alice'; "
            "from tenantops.console.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, *argv]


def _wait_for(predicate, what: str, bound: float = 120) -> None:
    """Only a bound on a wait, never an assertion on how long it took."""
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_killed_cli_leaves_its_job_to_any_worker() -> None:
    """The CLI runs the job it follows in its own process, as a claimed worker: SIGKILL it
    inside a step and the lease expires, and `tenantops worker --once` finishes the job."""
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("lease_seconds = 2\n")
    ctx = Context.open()
    approved(ctx, "strand-org", template="community_group")

    def in_seed() -> bool:
        found = jobs.list_jobs(ctx)
        return bool(found) and any(s["name"] == "seed" and s["status"] == "running"
                                   for s in jobs.get_job(ctx, found[0]["id"])["steps"])

    env = {**os.environ, "TENANTOPS_FAILPOINT": "pause:seed", "TENANTOPS_FAILPOINT_SECONDS": "120"}
    cli = subprocess.Popen(_as_alice_cli("provision", "strand-org"), env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(in_seed, "the CLI's job to reach the seed step")
        job = jobs.get_job(ctx, jobs.list_jobs(ctx)[0]["id"])
        # no second interpreter: the CLI process itself holds the job
        assert str(job["claimed_by"]).rsplit(":", 1)[1] == str(cli.pid)
    finally:
        cli.kill()
        cli.wait()
    assert jobs.get_job(ctx, job["id"])["status"] == "running"  # left as a crashed worker leaves it
    # before the lease expires a worker finds nothing to claim; after, it resumes the job
    _wait_for(lambda: run("worker", "--once").code == 0 and jobs.get_job(ctx, job["id"])["status"] != "running",
              "the lease to expire and a worker to resume the job")
    ctx.close()
    assert run("jobs", "show", str(job["id"]), "--json").json()["status"] == "succeeded"
    assert run("tenants", "show", "strand-org", "--json").json()["status"] == "active"


def test_the_cli_runs_the_job_it_follows_in_its_own_process() -> None:
    ctx = Context.open()
    approved(ctx, "own-org", template="community_group")
    ctx.close()
    r = run("provision", "own-org")
    assert r.code == 0, r.err
    job = run("jobs", "show", str(run("jobs", "list", "--json").json()[0]["id"]), "--json").json()
    assert job["status"] == "succeeded"
    assert str(job["claimed_by"]).rsplit(":", 1)[1] == str(os.getpid())
    assert [s["name"] for s in job["steps"]][:2] == ["validate", "place"]
    assert "validate" in r.err  # the timeline was shown while it ran


def test_custom_files_too_large_or_not_utf8_get_one_line(tmp_path: Path) -> None:
    ctx = Context.open()
    approved(ctx, "files-org", template="community_group")
    ctx.close()
    assert run("provision", "files-org").code == 0
    big = tmp_path / "big_one.py"
    big.write_bytes(b"# padding\n" * 110_000)  # 1.1 MB
    latin = tmp_path / "latin_one.py"
    latin.write_bytes('"""Caf\xe9"""\nfrom alembic import op\n\n\ndef upgrade():\n    pass\n'.encode("latin-1"))
    for path, expected in ((big, f"tenantops: {big}: larger than 1 MiB"),
                           (latin, f"tenantops: {latin}: not UTF-8 text (byte 6: b'\\xe9')")):
        r = run("custom", "submit", "files-org", str(path))
        assert r.code == 1 and r.out == "" and "Traceback" not in r.err
        assert len(r.err.strip().splitlines()) == 1 and r.err.startswith(expected), r.err
    assert run("custom", "list", "files-org", "--json").json() == []
    failed = [e for e in run("audit", "--json").json() if e["action"] == "custom.submit"]
    assert [e["outcome"] for e in failed] == ["failed", "failed"]


@pytest.mark.parametrize("field", ["organization", "contact", "notes"])
def test_bidi_controls_are_refused_in_names_shown_on_screen(field: str) -> None:
    hostile = "Acme \u202egro.live\u202c Party"
    args = {"organization": "Acme Party", "contact": "Sita"}
    if field != "notes":
        args[field] = hostile
    r = run("applications", "submit", "--org", args["organization"], "--contact", args["contact"], "--slug", "bidi-org",
            "--email", "a@bidi.example.org", "--template", "community_group")
    if field != "notes":
        assert r.code == 1 and "Traceback" not in r.err
        assert r.err.strip() == f"tenantops: {field} contains bidirectional control characters (U+202C, U+202E)"
        assert run("applications", "list", "--json").json() == []
        return
    assert r.code == 0, r.err
    r = run("applications", "approve", "bidi-org", "--notes", "ok \u2066x\u2069")
    assert r.code == 1 and r.err.strip() == "tenantops: notes contains bidirectional control characters (U+2066, U+2069)"
    assert run("applications", "show", "bidi-org", "--json").json()["status"] == "pending"
