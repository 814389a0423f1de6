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
from pathlib import Path
from typing import Any

from tenantops.engine.context import Context
from tenantops.engine.errors import TenantopsError
from tenantops.engine.jobs.queue import Timeline, claim, finish, format_error, heartbeat
from tenantops.engine.landlord import models as m

Handler = Callable[[Context, m.Job, Timeline], dict[str, Any] | None]
# Modules that define HANDLERS = {kind: handler}; imported lazily to keep start-up light.
HANDLER_MODULES = ("tenantops.engine.tenants.provision", "tenantops.engine.tenants.day2", "tenantops.engine.health.repair")


def handlers() -> dict[str, Handler]:
    table: dict[str, Handler] = {}
    for name in HANDLER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        table.update(getattr(module, "HANDLERS", {}))
    return table


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


def run_job(ctx: Context, job: m.Job) -> str:
    """Run one claimed job to its end; returns its final status."""
    table = handlers()
    timeline = Timeline(ctx, job.id)
    # act as the operator who requested the job: history and audit name them
    acting = dataclasses.replace(ctx, operator=job.created_by, _role=None)
    beat = _Heartbeat(ctx, job.id)
    beat.start()
    try:
        handler = table.get(job.kind)
        if handler is None:
            raise TenantopsError(f"job {job.id}: unknown kind {job.kind!r}")
        result = handler(acting, job, timeline)
    except BaseException as exc:  # noqa: BLE001 - the job must end as failed, whatever happened
        finish(ctx, job.id, "failed", error=format_error(exc))
        if not isinstance(exc, Exception):
            raise
        return "failed"
    finally:
        beat.stopped.set()
    finish(ctx, job.id, "succeeded", result=result)
    return "succeeded"


def work(ctx: Context, *, once: bool = False, job_id: int | None = None, idle_sleep: float = 0.5,
         max_jobs: int | None = None) -> int:
    """Claim and run jobs. ``once``: stop when the queue is empty. Returns jobs run."""
    done = 0
    while True:
        job = claim(ctx, job_id=job_id)
        if job is None:
            if once or job_id is not None:
                return done
            time.sleep(idle_sleep)
            continue
        run_job(ctx, job)
        done += 1
        if job_id is not None or (max_jobs is not None and done >= max_jobs):
            return done


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
    args = parser.parse_args(argv)
    try:
        ctx = Context.open(home=args.home, config=args.config, landlord_url=args.landlord)
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
