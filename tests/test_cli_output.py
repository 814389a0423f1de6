"""Human output a user reads: tables never cut identifiers (piped or on a narrow terminal),
`--output wide` shows whole cells, JSON times carry their UTC offset, a clean doctor is
quiet."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from datetime import datetime

import pytest

from cli import run
from helpers import approved
from tenantops.engine.context import Context

LONG = "ward-committee-of-kathmandu-metropolitan-city-16"  # a valid slug, far wider than a cell


@pytest.fixture
def long_application() -> str:
    ctx = Context.open()
    approved(ctx, LONG)
    ctx.close()
    return LONG


def test_piped_tables_are_as_wide_as_their_content(long_application: str) -> None:
    r = run("applications", "list")
    assert r.code == 0
    assert LONG in r.out
    assert max(len(line) for line in r.out.splitlines()) > 80  # not cut to an 80-column pipe


def test_a_narrow_terminal_folds_other_cells_but_keeps_slugs_whole(long_application: str) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 70, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    # the child is another process: it acts as the account the tests register here
    code = ("import sys; from tenantops.engine import identity; identity.process_operator = lambda service_account='': "
            "'alice'; from tenantops.console.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "applications", "list"], stdin=subprocess.DEVNULL,
                          stdout=slave, stderr=subprocess.PIPE, env=env, timeout=120)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode())
    assert proc.returncode == 0, proc.stderr
    assert LONG in screen


def test_output_wide_shows_whole_errors_and_hashes() -> None:
    ctx = Context.open()
    approved(ctx, "wide-org")
    ctx.close()
    run("jobs", "list")  # nothing yet
    from tenantops.console import output

    assert output.clip("x" * 100, 12) == "x" * 12
    r = run("applications", "list", "--output", "wide")
    assert r.code == 0 and "wide-org" in r.out
    assert output.WIDE is True
    run("applications", "list")
    assert output.WIDE is False
    assert run("applications", "list", "--output", "narrow").code == 2


def _times(doc, found):
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key.endswith("_at") or key in ("at", "checked_at", "lease_until", "not_before"):
                if value is not None:
                    found.append((key, value))
            _times(value, found)
    elif isinstance(doc, list):
        for item in doc:
            _times(item, found)
    return found


def test_json_times_carry_their_utc_offset(server: str) -> None:
    ctx = Context.open()
    approved(ctx, "time-org")
    ctx.close()
    assert run("provision", "time-org", "--server", server).code == 0
    docs = [run(*argv, "--json").json() for argv in (
        ["applications", "list"], ["tenants", "show", "time-org"], ["tenants", "list"], ["jobs", "list"],
        ["jobs", "show", "1"], ["history", "time-org"], ["audit"], ["operators", "list"], ["servers", "list"],
        ["drift", "time-org"], ["snapshots", "list", "time-org"])]
    found = _times(docs, [])
    assert len(found) > 20
    for key, value in found:
        assert value.endswith(("Z", "+00:00")), (key, value)
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).utcoffset() is not None


def test_a_clean_doctor_prints_nothing() -> None:
    r = run("doctor")
    assert r.code == 0 and r.out == "" and r.err == ""
    assert run("doctor", "--json").json() == {"findings": []}


def test_provision_shows_each_step_as_the_job_writes_it(server: str) -> None:
    """The CLI that runs its own job prints the timeline from the job itself: every step
    starts, then ends, in the landlord's order, with each revision under its layer."""
    ctx = Context.open()
    approved(ctx, "live-steps")
    ctx.close()
    r = run("provision", "live-steps", "--server", server)
    assert r.code == 0, r.err
    lines = [" ".join(line.split()) for line in r.err.splitlines()]
    job = run("jobs", "list", "--json").json()[0]
    steps = run("jobs", "show", str(job["id"]), "--json").json()["steps"]
    shown = [line for line in lines if line.startswith(("▶", "✓", "✗"))]
    expected = []
    for step in steps:
        if not step["name"].startswith("  "):
            expected.append(f"▶ run {step['name']}")
    # each top-level step appears running, then done, and the revision lines follow the
    # layer they belong to, as `jobs show` lists them
    assert [s for s in shown if s.startswith("▶")] == expected
    done = [re.sub(r" \d+\.\d\ds.*", "", s.removeprefix("✓ ok ")) for s in shown if s.startswith("✓")]
    assert sorted(done) == sorted(" ".join(step["name"].split()) for step in steps)
    first_revision = next(i for i, s in enumerate(done) if "·" in s)
    assert done[first_revision - 1] == "basic basic"
    assert all(step["status"] == "succeeded" for step in steps)
    tenant = run("tenants", "show", "live-steps", "--json").json()
    said = " ".join(r.err.split())
    assert f"tenant live-steps is active on {server} ({tenant['database']})" in said
    assert "setup link for admin@live-steps.example.org (shown once" in said
    assert "[dim]" not in r.err and "[/]" not in r.err  # piped: the text, without rich's markup


def test_a_step_error_is_shown_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """An error is text, not markup: brackets in it (SQL, a list) reach the terminal."""
    from tenantops.console.commands.tenancy import print_event

    print_event({"id": 1, "name": "seed [x]", "status": "failed", "started_at": None, "finished_at": None,
                 "duration_s": 0.5, "detail": "[bold]rows[/bold]", "error": "(1146) [SQL: INSERT INTO [roles]]"})
    err = capsys.readouterr().err
    assert "✗ FAIL seed [x] 0.50s — [bold]rows[/bold]" in " ".join(err.split())
    assert "(1146) [SQL: INSERT INTO [roles]]" in err
