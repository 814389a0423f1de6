"""Worker processes: claim queued jobs from the landlord and run them.

Jobs run in processes, never in threads of one process: Alembic keeps process-wide
state and is not thread-safe (shared/STACK-NOTES.md). The only thread here is the
heartbeat, which touches nothing but the landlord.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tenantops.engine.context import Context
from tenantops.engine.documents import StepDoc
from tenantops.engine.errors import TenantopsError
from tenantops.engine.jobs.kinds import JobKind, Registry
from tenantops.engine.jobs.queue import WORKER_NAME_ENV, claim, claim_in_turn, finish, heartbeat, take_claimed
from tenantops.engine.jobs.timeline import Timeline, format_error
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow

# The registry of job kinds lives above this package (it imports every operation); the
# worker process loads it by name at start, like an entry point, so this layer stays below.
REGISTRY_MODULE = "tenantops.engine.kinds"


def registry() -> Registry:
    return importlib.import_module(REGISTRY_MODULE).KINDS


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: Context, job_id: int) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.ctx, self.job_id = ctx, job_id
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        interval = max(0.5, self.ctx.settings.lease_seconds / 3)
        while not self.stopped.wait(interval):
            try:
                if not heartbeat(self.ctx, self.job_id):
                    self.lost = True
                    return
            except Exception:  # a landlord hiccup: try again next beat
                continue


def resumed_too_late(ctx: Context, job: m.Job, kind: JobKind | None) -> str | None:
    """Why a destructive job must not run now, or None: it starts (or resumes after its
    worker died) more than ``[jobs] resume_confirm_after`` after it was asked for (or
    after the time it was scheduled for), when what it drops or rewrites may no longer
    be what anyone wants gone."""
    if kind is None or not kind.destructive:
        return None
    asked = max(job.created_at, job.not_before) if job.not_before else job.created_at
    limit = ctx.settings.jobs.resume_confirm_after
    late = utcnow() - asked
    if late <= timedelta(minutes=limit):
        return None
    target = f" of {job.tenant}" if job.tenant else ""
    confirm = f" --confirm {job.tenant}" if job.tenant else ""
    return (f"job {job.id} ({job.kind}{target}) was asked for by {job.created_by} {int(late.total_seconds() // 60)} "
            f"min ago, more than [jobs] resume_confirm_after ({limit} min); it drops or rewrites data, so it waits: "
            f"if it is still wanted, `tenantops jobs retry {job.id}{confirm}`")


def run_job(ctx: Context, job: m.Job, kinds: Registry | None = None,
            on_event: Callable[[StepDoc], None] | None = None) -> str:
    """Run one claimed job to its end; returns its final status (``needs_confirmation``
    when a destructive job comes too late, see ``resumed_too_late``). ``on_event`` is
    shown each timeline event as it is written. ``job`` ends as the landlord's row does
    (status, error, result, finished_at): the process that ran it need not read it back."""
    table = registry() if kinds is None else kinds
    waits = resumed_too_late(ctx, job, table.get(job.kind))
    if waits is not None:
        _ended(job, finish(ctx, job.id, "needs_confirmation", error=waits), "needs_confirmation", waits)
        return "needs_confirmation"
    timeline = Timeline(ctx, job.id, on_event)
    # act as the operator who requested the job: history and audit name them
    acting = dataclasses.replace(ctx, operator=job.created_by, _role=None)
    beat = _Heartbeat(ctx, job.id)
    beat.start()
    try:
        kind = table.get(job.kind)
        if kind is None:
            raise TenantopsError(f"job {job.id}: unknown kind {job.kind!r}")
        result = kind.run(acting, job, timeline)
    except BaseException as exc:  # noqa: BLE001 - the job must end as failed, whatever happened
        error = format_error(exc)
        timeline.flush()
        _ended(job, finish(ctx, job.id, "failed", error=error), "failed", error)
        if not isinstance(exc, Exception):
            raise
        return "failed"
    finally:
        beat.stopped.set()
    timeline.flush()
    _ended(job, finish(ctx, job.id, "succeeded", result=result), "succeeded", None, result)
    return "succeeded"


def _ended(job: m.Job, at: datetime, status: str, error: str | None, result: dict[str, Any] | None = None) -> None:
    job.status, job.error, job.finished_at = status, error, at
    if result is not None:
        job.result = result


def run_here(ctx: Context, job_id: int, on_event: Callable[[StepDoc], None] | None = None,
             on_wait: Callable[[str], None] | None = None) -> m.Job | None:
    """Claim one job for this process and run it here, exactly as a worker process would
    (lease, heartbeat, tenant lock, timeline, and the per-server job and load limits: it
    waits its turn, saying why through ``on_wait``): a CLI that follows its own job needs
    no second interpreter, and if it is killed the lease expires (or the job stays
    queued) and any worker resumes it. Returns the job as it ended, or None when it could
    not be claimed (another worker has it, or it ended)."""
    job = take_claimed(job_id) or claim_in_turn(ctx, job_id, on_wait)
    if job is None:
        return None
    run_job(ctx, job, on_event=on_event)
    return job


def run_claimed(ctx: Context, job_id: int, on_event: Callable[[StepDoc], None] | None = None) -> str | None:
    """``run_here``, answering the job's final status (None: not claimed)."""
    job = run_here(ctx, job_id, on_event)
    return None if job is None else job.status


def work(ctx: Context, *, once: bool = False, job_id: int | None = None, idle_sleep: float = 0.5,
         max_jobs: int | None = None) -> int:
    """Claim and run jobs. ``once``: stop when the queue is empty. Returns jobs run.
    With ``job_id`` (a worker started for one job) the job waits its turn under the
    server's limits, as any claim does."""
    kinds = registry()
    done = 0
    while True:
        job = claim(ctx) if job_id is None else claim_in_turn(ctx, job_id, _log_wait)
        if job is None:
            if once or job_id is not None:
                return done
            time.sleep(idle_sleep)
            continue
        run_job(ctx, job, kinds)
        done += 1
        if job_id is not None or (max_jobs is not None and done >= max_jobs):
            return done


def _log_wait(why: str) -> None:
    print(f"{utcnow().isoformat(timespec='seconds')}Z {why}", file=sys.stderr, flush=True)


def spawn(ctx: Context, *, job_id: int | None = None, once: bool = True) -> subprocess.Popen:
    """Start a detached worker process (it outlives the console or an SSH session)."""
    logs = ctx.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "tenantops.engine.jobs.worker", "--home", str(ctx.home),
           "--config", ctx.settings.source]
    if ctx.landlord_url:
        cmd += ["--landlord", ctx.landlord_url]
    if job_id is not None:
        cmd += ["--job", str(job_id)]
    if once:
        cmd.append("--once")
    log = open(logs / f"worker-{int(time.time() * 1000)}.log", "ab")
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                env={**os.environ, "TENANTOPS_WORKER": "1"})
    finally:
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tenantops-worker")
    parser.add_argument("--home", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--landlord")
    parser.add_argument("--job", type=int)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--name", help="this worker's name in jobs and locks (default: the host name)")
    args = parser.parse_args(argv)
    if args.name:
        os.environ[WORKER_NAME_ENV] = args.name
    try:
        # a worker acts for each job's requester, whose role was checked when it was queued
        ctx = Context.open(home=args.home, config=args.config, landlord_url=args.landlord, require_operator=False)
    except TenantopsError as exc:
        print(f"tenantops worker: {exc}", file=sys.stderr)
        return 1
    try:
        work(ctx, once=args.once, job_id=args.job)
    finally:
        ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
