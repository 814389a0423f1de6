"""The job-kind registry loads each kind's module on demand: its table of where each kind
lives must match what the modules declare, or a worker would fail to find a kind."""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import tenantops.engine as engine_pkg
from tenantops.engine import kinds
from tenantops.engine.errors import NotFoundError


def _declared() -> dict[str, str]:
    declared: dict[str, str] = {}
    for info in pkgutil.walk_packages(engine_pkg.__path__, "tenantops.engine."):
        if ".landlord.migrations" in info.name or info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        for kind in getattr(module, "KINDS", ()):
            if hasattr(kind, "run") and hasattr(kind, "role"):
                assert kind.name not in declared, f"{kind.name} declared twice"
                declared[kind.name] = info.name
    return declared


def test_every_declared_kind_is_in_the_table_with_its_module() -> None:
    assert _declared() == kinds.KIND_MODULES


def test_lookup_gives_the_declared_kind_and_names_the_known_ones_otherwise() -> None:
    assert kinds.kind_of("provision").role == "admin"
    assert kinds.kind_of("repair").destructive
    with pytest.raises(NotFoundError, match="unknown job kind 'provison'.*provision"):
        kinds.kind_of("provison")


def test_a_failing_viewer_of_the_timeline_does_not_fail_the_job() -> None:
    """The process running a job shows its steps through ``on_event`` (a terminal that may
    close): when showing fails, the job and its recorded timeline go on."""
    from helpers import approved
    from tenantops.engine.context import Context
    from tenantops.engine.jobs import queue as jobs
    from tenantops.engine.jobs.worker import run_claimed
    from tenantops.engine.tenants.provision import request_provision

    ctx = Context.open()
    approved(ctx, "closed-tty", template="community_group")
    job_id = request_provision(ctx, slug="closed-tty", server="local").job
    assert job_id is not None
    shown: list[str] = []

    def closed_terminal(event: dict) -> None:
        shown.append(event["name"])
        raise BrokenPipeError(32, "Broken pipe")

    assert run_claimed(ctx, job_id, on_event=closed_terminal) == "succeeded"
    assert shown == ["validate"]  # shown once, then no more tries
    steps = jobs.get_job(ctx, job_id)["steps"]
    assert [s["name"] for s in steps if not s["name"].startswith("  ")][-1] == "notify"
    assert all(s["status"] == "succeeded" for s in steps)
    ctx.close()
