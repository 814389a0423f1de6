"""Jobs never strand their follower: a CLI following a job whose worker died says so in
one line naming the command that resumes it, instead of waiting forever; hostile
leftovers of input (docs/reliability.md §10)."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from cli import run
from helpers import approved
from tenantops.engine.context import Context
from tenantops.engine.jobs import queue as jobs


def _kill_worker_inside(step: str, stop: threading.Event) -> None:
    """Wait (no deadline on the test's outcome: only a bound on the wait) until some job's
    worker runs ``step``, then SIGKILL that worker."""
    ctx = Context.open()
    try:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            for job in jobs.list_jobs(ctx):
                doc = jobs.get_job(ctx, job["id"])
                if any(s["name"] == step and s["status"] == "running" for s in doc["steps"]):
                    pid = int(str(doc["claimed_by"]).rsplit(":", 1)[1])
                    os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.05)
    finally:
        ctx.close()


def test_cli_following_a_job_whose_worker_died_says_how_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(os.environ["TENANTOPS_CONFIG"]).write_text("lease_seconds = 2\n")
    ctx = Context.open()
    approved(ctx, "strand-org", template="community_group")
    ctx.close()
    monkeypatch.setenv("TENANTOPS_FAILPOINT", "pause:seed")  # the spawned worker parks in the seed step
    monkeypatch.setenv("TENANTOPS_FAILPOINT_SECONDS", "120")
    stop = threading.Event()
    killer = threading.Thread(target=_kill_worker_inside, args=("seed", stop), daemon=True)
    killer.start()
    try:
        r = run("provision", "strand-org")
    finally:
        stop.set()
        killer.join()
    assert r.code == 1 and "Traceback" not in r.err
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("tenantops: job 1 (provision of strand-org): its worker ") and "stopped" in last, r.err
    assert "run `tenantops worker --once` to resume it" in last
    monkeypatch.delenv("TENANTOPS_FAILPOINT")
    # the command it names does resume it once the lease has expired
    assert run("worker", "--once").code == 0
    assert run("tenants", "show", "strand-org", "--json").json()["status"] == "active"


def test_cli_following_a_job_left_queued_by_its_worker_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker started for the job exits without running it (here: it cannot even
    open the landlord): the follower says so instead of waiting."""
    ctx = Context.open()
    approved(ctx, "queued-org", template="community_group")
    ctx.close()
    from tenantops.engine.jobs import worker

    real_spawn = worker.spawn

    def broken_spawn(ctx, **kwargs):
        kwargs.pop("job_id", None)
        import subprocess
        import sys

        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])

    monkeypatch.setattr(worker, "spawn", broken_spawn)
    r = run("provision", "queued-org")
    monkeypatch.setattr(worker, "spawn", real_spawn)
    assert r.code == 1 and "Traceback" not in r.err
    assert r.err.strip().splitlines()[-1] == (
        "tenantops: job 1 (provision of queued-org) is still queued but the worker started for it has exited; "
        "run `tenantops worker --once` to resume it (progress: `tenantops jobs show 1`)")
    assert run("worker", "--once").code == 0
    assert run("tenants", "show", "queued-org", "--json").json()["status"] == "active"


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
