"""Staged rollouts: `sync --all --stages "canary:2,pilot:10%,rest"`, and
`modules add --all MODULE --stages ...` (a rollout's ``kind`` says which job each
tenant gets; ``params`` holds what that job needs besides the slug).

A rollout is a landlord record (``rollouts``) with its stages and one row per tenant
(``rollout_tenants``) holding that tenant's outcome. The process driving it writes each
outcome as it lands, so a rollout whose driver crashed, was paused or halted continues
where it stopped with `rollouts resume` (a tenant whose job was in flight is followed to
its end, never synced twice). Pause and cancel are read between tenants: a tenant already
started finishes, no new one starts.

Stages take tenants in slug order from those not yet in an earlier stage:
``NAME:N`` (N tenants), ``NAME:P%`` (P% of all the rollout's tenants, at least one),
``label:KEY=VALUE`` (the tenants carrying that label) and ``rest`` (all the others).
Tenants no stage takes are left out of the rollout, and the document says so.

``--on-error``: ``halt`` stops at the first failure (the stage's tenants in flight
finish); ``continue`` never stops; ``threshold:P%`` stops once more than P% of a stage's
tenants failed.
"""
from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tenantops.engine.timestamps import iso
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import NotFoundError, StateError, TenantopsError, UsageError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs import worker
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.tenants import labels as tenant_labels
from tenantops.engine.tenants import sync as tenant_sync

STATUSES = ("running", "paused", "halted", "cancelled", "completed")
# a tenant's outcome in a rollout; pending: not started yet
OUTCOMES = ("pending", "running", "upgraded", "up-to-date", "failed", "cancelled")
STAGE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")

# called with (tenant, outcome) after each tenant's end, before the next one starts
AfterTenant = Callable[[str, str], None] | None


@dataclass(frozen=True)
class StageSpec:
    name: str
    count: int | None = None      # NAME:N
    percent: float | None = None  # NAME:P%
    label: tuple[str, str] | None = None
    rest: bool = False


def parse_stages(spec: str) -> list[StageSpec]:
    """``canary:2,pilot:10%,label:region=east,rest`` → stage specs; UsageError naming the
    part that is wrong."""
    stages: list[StageSpec] = []
    parts = [p.strip() for p in spec.split(",")]
    if not spec.strip() or any(not p for p in parts):
        raise UsageError(f"--stages {spec!r}: give stages separated by commas, e.g. canary:2,pilot:10%,rest")
    for i, part in enumerate(parts):
        if part == "rest":
            if i != len(parts) - 1:
                raise UsageError(f"--stages: 'rest' takes every remaining tenant, so it must come last")
            stages.append(StageSpec("rest", rest=True))
            continue
        name, colon, size = part.partition(":")
        if not colon or not size:
            raise UsageError(f"--stages: stage {part!r}: expected NAME:N, NAME:P%, label:KEY=VALUE or rest")
        if name == "label":
            key, value = tenant_labels.parse_pair(size)
            assert value is not None  # parse_pair without removal always yields a value
            stages.append(StageSpec(f"{key}={value}", label=(key, value)))
            continue
        if not STAGE_NAME.fullmatch(name):
            raise UsageError(f"--stages: stage name {name!r}: a lowercase word (letters, digits, '_', '-')")
        try:
            if size.endswith("%"):
                percent = float(size[:-1])
                if not 0 < percent <= 100:
                    raise ValueError
                stages.append(StageSpec(name, percent=percent))
            else:
                count = int(size)
                if count < 1:
                    raise ValueError
                stages.append(StageSpec(name, count=count))
        except ValueError:
            raise UsageError(f"--stages: stage {part!r}: the size must be a whole number ≥ 1 or a "
                             "percentage in (0, 100]") from None
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise UsageError(f"--stages: stage names repeat ({', '.join(names)})")
    return stages


def parse_on_error(text: str) -> str:
    if text in ("halt", "continue"):
        return text
    match = re.fullmatch(r"threshold:(\d+(?:\.\d+)?)%", text)
    if match and 0 <= float(match.group(1)) < 100:
        return text
    raise UsageError(f"--on-error {text!r}: use halt, continue or threshold:P% (0 ≤ P < 100)")


def assign(ctx: Context, stages: list[StageSpec], slugs: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Split ``slugs`` (in order) over the stages; returns the stages with their tenants
    and the tenants no stage took."""
    remaining = list(slugs)
    total = len(slugs)
    out: list[dict[str, Any]] = []
    for stage in stages:
        if stage.rest:
            chosen = remaining
        elif stage.label is not None:
            with ctx.session() as s:
                carrying = set(s.scalars(sa.select(m.Tenant.slug).where(
                    m.Tenant.id.in_(tenant_labels.labelled(*stage.label)))))
            chosen = [t for t in remaining if t in carrying]
        elif stage.percent is not None:
            chosen = remaining[:max(1, math.ceil(total * stage.percent / 100))] if total else []
        else:
            chosen = remaining[:stage.count]
        taken = set(chosen)
        remaining = [t for t in remaining if t not in taken]
        out.append({"name": stage.name, "tenants": list(chosen)})
    return out, remaining


KINDS = ("sync", "modules.add")


def create(ctx: Context, *, spec: str, parallel: int, on_error: str, strategy: str | None,
           slugs: list[str], kind: str = "sync", params: dict[str, Any] | None = None) -> int:
    """Record a rollout over ``slugs`` (its stages assigned now, so a resume after a crash
    works on the very same tenants); returns its id."""
    if parallel < 1:
        raise UsageError(f"--parallel {parallel}: must be at least 1")
    if kind not in KINDS:
        raise UsageError(f"a rollout runs one of {', '.join(KINDS)}, not {kind!r}")
    on_error = parse_on_error(on_error)
    stages, left_out = assign(ctx, parse_stages(spec), slugs)
    with ctx.session() as s:
        rollout = m.Rollout(kind=kind, strategy=strategy, params=params, spec=spec, parallel=parallel,
                            on_error=on_error,
                            status="running", created_by=ctx.operator, updated_at=utcnow(),
                            stages=[{"name": st["name"]} for st in stages] + ([{"left_out": left_out}] if left_out else []))
        s.add(rollout)
        s.flush()
        for i, stage in enumerate(stages):
            for position, slug in enumerate(stage["tenants"]):
                s.add(m.RolloutTenant(rollout_id=rollout.id, stage=i, position=position, tenant=slug,
                                      outcome="pending"))
        return rollout.id


# -- driving ---------------------------------------------------------------------------------


def _status(ctx: Context, rollout_id: int) -> str:
    with ctx.session() as s:
        rollout = s.get(m.Rollout, rollout_id)
        if rollout is None:
            raise NotFoundError(f"rollout {rollout_id} does not exist (see `tenantops rollouts list`)")
        return rollout.status


def _set(ctx: Context, rollout_id: int, **values: Any) -> None:
    with ctx.session() as s:
        s.execute(sa.update(m.Rollout).where(m.Rollout.id == rollout_id).values(updated_at=utcnow(), **values))


def _record(ctx: Context, row_id: int, **values: Any) -> None:
    with ctx.session() as s:
        s.execute(sa.update(m.RolloutTenant).where(m.RolloutTenant.id == row_id).values(**values))


def _too_many_failures(on_error: str, failed: int, stage_size: int) -> bool:
    if on_error == "continue" or not failed:
        return False
    if on_error == "halt":
        return True
    limit = float(on_error.split(":")[1].rstrip("%"))
    return failed / max(1, stage_size) * 100 > limit


def drive(ctx: Context, rollout_id: int, *, progress: Callable[[str], None] | None = None,
          after_tenant: AfterTenant = None) -> dict[str, Any]:
    """Run the rollout's pending tenants stage by stage until it completes, halts, or is
    paused or cancelled; returns its document."""
    say = progress or (lambda _m: None)
    with ctx.session() as s:
        rollout = s.get(m.Rollout, rollout_id)
        if rollout is None:
            raise NotFoundError(f"rollout {rollout_id} does not exist (see `tenantops rollouts list`)")
        parallel, on_error, strategy = rollout.parallel, rollout.on_error, rollout.strategy
        kind, params = rollout.kind, dict(rollout.params or {})
        rows = list(s.scalars(sa.select(m.RolloutTenant).where(m.RolloutTenant.rollout_id == rollout_id)
                              .order_by(m.RolloutTenant.stage, m.RolloutTenant.position)))
        names = [st["name"] for st in rollout.stages if "name" in st]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for stage in sorted({r.stage for r in rows}):
            members = [r for r in rows if r.stage == stage]
            todo = [r for r in members if r.outcome == "pending"]
            # a tenant started by a driver that crashed: follow its job, never start it again
            in_flight = {r.job_id: r for r in members if r.outcome == "running" and r.job_id is not None}
            if not todo and not in_flight:
                continue
            say(f"stage {names[stage]}: {len(todo) + len(in_flight)} tenant(s)")
            failed, halt = 0, False
            while todo or in_flight:
                status = _status(ctx, rollout_id)
                while status == "running" and not halt and todo and len(in_flight) < parallel:
                    row = todo.pop(0)
                    job_id = _start(ctx, row, kind, strategy, params)
                    if job_id is None:
                        failed += row.outcome == "failed"
                        halt = halt or _too_many_failures(on_error, failed, len(members))
                        if after_tenant:
                            after_tenant(row.tenant, row.outcome)
                        status = _status(ctx, rollout_id)
                        continue
                    in_flight[job_id] = row
                if status != "running" or halt:
                    todo = []  # nothing new starts; what is in flight finishes
                _ensure_workers(ctx, procs, in_flight, parallel)
                for job_id in list(in_flight):
                    doc = jobs.get_job(ctx, job_id)
                    if doc["status"] in jobs.ACTIVE:
                        continue
                    row = in_flight.pop(job_id)
                    outcome = "upgraded" if doc["status"] == "succeeded" else "failed"
                    row.outcome = outcome
                    _record(ctx, row.id, outcome=outcome, error=doc["error"], finished_at=utcnow())
                    say(f"{row.tenant}: {outcome}" + (f" — {doc['error']}" if doc["error"] else ""))
                    failed += outcome == "failed"
                    halt = halt or _too_many_failures(on_error, failed, len(members))
                    if after_tenant:
                        after_tenant(row.tenant, outcome)
                if in_flight:
                    time.sleep(0.1)
            status = _status(ctx, rollout_id)
            if halt and status == "running":
                _set(ctx, rollout_id, status="halted",
                     reason=f"stage {names[stage]}: {failed} of {len(members)} tenant(s) failed (--on-error {on_error})")
            if halt or status != "running":
                return show(ctx, rollout_id)
        _set(ctx, rollout_id, status="completed", finished_at=utcnow(), reason=None)
        return show(ctx, rollout_id)
    finally:
        for p in procs:
            p.wait(timeout=120)


def _start(ctx: Context, row: m.RolloutTenant, kind: str, strategy: str | None,
           params: dict[str, Any]) -> int | None:
    """Queue the tenant's job; None when it ends at once (nothing to do, or refused)."""
    try:
        if kind == "modules.add":
            from tenantops.engine.tenants import modules

            if params["module"] in installed_modules(ctx, row.tenant):
                job_id = None  # added since the rollout was planned: nothing to do
            else:
                job_id = modules.request_module_add(ctx, slug=row.tenant, module=params["module"]).job
        else:
            job_id = tenant_sync.request_sync(ctx, slug=row.tenant, strategy=strategy).job
    except TenantopsError as exc:
        row.outcome = "failed"
        _record(ctx, row.id, outcome="failed", error=str(exc), finished_at=utcnow())
        return None
    if job_id is None:
        row.outcome = "up-to-date"
        _record(ctx, row.id, outcome="up-to-date", finished_at=utcnow())
        return None
    row.outcome, row.job_id = "running", job_id
    _record(ctx, row.id, outcome="running", job_id=job_id)
    return job_id


def installed_modules(ctx: Context, slug: str) -> set[str]:
    with ctx.session() as s:
        return set(s.scalars(sa.select(m.TenantModule.module).join(m.Tenant, m.Tenant.id == m.TenantModule.tenant_id)
                          .where(m.Tenant.slug == slug)))


def _ensure_workers(ctx: Context, procs: list[subprocess.Popen[bytes]], in_flight: dict[int, m.RolloutTenant],
                    parallel: int) -> None:
    """Enough worker processes for the queued jobs in flight (at most ``parallel``); the
    claim keeps each server within ``concurrency_per_server``."""
    if not in_flight:
        return
    waiting = sum(1 for j in in_flight if jobs.get_job(ctx, j)["status"] == "queued" or _stranded(ctx, j))
    alive = [p for p in procs if p.poll() is None]
    for _ in range(min(parallel, waiting) - len(alive)):
        procs.append(worker.spawn(ctx, once=True))


def _stranded(ctx: Context, job_id: int) -> bool:
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        return job is not None and job.status == "running" and job.lease_until is not None \
            and job.lease_until < utcnow()


# -- operator verbs --------------------------------------------------------------------------


def show(ctx: Context, rollout_id: int) -> dict[str, Any]:
    with ctx.session() as s:
        rollout = s.get(m.Rollout, rollout_id)
        if rollout is None:
            raise NotFoundError(f"rollout {rollout_id} does not exist (see `tenantops rollouts list`)")
        rows = list(s.scalars(sa.select(m.RolloutTenant).where(m.RolloutTenant.rollout_id == rollout_id)
                              .order_by(m.RolloutTenant.stage, m.RolloutTenant.position)))
        return _doc(rollout, rows)


def _doc(rollout: m.Rollout, rows: list[m.RolloutTenant]) -> dict[str, Any]:
    stages = []
    left_out: list[str] = []
    for i, st in enumerate(rollout.stages):
        if "left_out" in st:
            left_out = st["left_out"]
            continue
        members = [r for r in rows if r.stage == i]
        counts = {o: sum(1 for r in members if r.outcome == o) for o in OUTCOMES}
        stages.append({"name": st["name"], "total": len(members),
                       "done": sum(counts[o] for o in ("upgraded", "up-to-date", "failed")),
                       "failed": counts["failed"], "pending": counts["pending"], "running": counts["running"],
                       "tenants": [{"tenant": r.tenant, "outcome": r.outcome, "job": r.job_id, "error": r.error}
                                   for r in members]})
    return {"id": rollout.id, "kind": rollout.kind, "params": dict(rollout.params or {}),
            "strategy": rollout.strategy, "spec": rollout.spec,
            "parallel": rollout.parallel, "on_error": rollout.on_error, "status": rollout.status,
            "reason": rollout.reason, "created_by": rollout.created_by, "created_at": iso(rollout.created_at),
            "updated_at": iso(rollout.updated_at), "finished_at": iso(rollout.finished_at),
            "stages": stages, "left_out": left_out}


def list_rollouts(ctx: Context, limit: int = 100) -> list[dict[str, Any]]:
    with ctx.session() as s:
        found = list(s.scalars(sa.select(m.Rollout).order_by(m.Rollout.id.desc()).limit(limit)))
        rows = list(s.scalars(sa.select(m.RolloutTenant).where(
            m.RolloutTenant.rollout_id.in_([r.id for r in found])))) if found else []
    docs = []
    for rollout in found:
        doc = _doc(rollout, [r for r in rows if r.rollout_id == rollout.id])
        doc["stages"] = [{k: v for k, v in st.items() if k != "tenants"} for st in doc["stages"]]
        docs.append(doc)
    return docs


@mutating("rollouts.pause", "admin", target="rollout_id")
def pause(ctx: Context, *, rollout_id: int) -> dict[str, Any]:
    """Stop starting tenants; the ones in flight finish. `rollouts resume` goes on."""
    with ctx.session() as s:
        rollout = _get(s, rollout_id)
        if rollout.status != "running":
            raise StateError(f"rollout {rollout_id} is {rollout.status}; only a running rollout can be paused")
        rollout.status, rollout.updated_at, rollout.reason = "paused", utcnow(), f"paused by {ctx.operator}"
    return show(ctx, rollout_id)


@mutating("rollouts.cancel", "admin", target="rollout_id")
def cancel(ctx: Context, *, rollout_id: int) -> dict[str, Any]:
    """End the rollout: its tenants not started yet are never started."""
    with ctx.session() as s:
        rollout = _get(s, rollout_id)
        if rollout.status in ("cancelled", "completed"):
            raise StateError(f"rollout {rollout_id} is already {rollout.status}")
        rollout.status, rollout.updated_at, rollout.finished_at = "cancelled", utcnow(), utcnow()
        rollout.reason = f"cancelled by {ctx.operator}"
        s.execute(sa.update(m.RolloutTenant).where(m.RolloutTenant.rollout_id == rollout_id,
                                                   m.RolloutTenant.outcome == "pending")
                  .values(outcome="cancelled"))
    return show(ctx, rollout_id)


@mutating("rollouts.resume", "admin", target="rollout_id")
def resume(ctx: Context, *, rollout_id: int) -> dict[str, Any]:
    """Mark a paused or halted rollout (or one whose driver crashed: still `running`)
    running again; the caller then drives it (``drive``). Failed tenants stay failed:
    fix them and `tenantops sync SLUG`."""
    with ctx.session() as s:
        rollout = _get(s, rollout_id)
        if rollout.status in ("cancelled", "completed"):
            raise StateError(f"rollout {rollout_id} is {rollout.status}; it cannot be resumed")
        rollout.status, rollout.updated_at, rollout.reason = "running", utcnow(), None
    return show(ctx, rollout_id)


def _get(s: Any, rollout_id: int) -> m.Rollout:
    rollout = s.get(m.Rollout, rollout_id, with_for_update=True)
    if rollout is None:
        raise NotFoundError(f"rollout {rollout_id} does not exist (see `tenantops rollouts list`)")
    return rollout


def entries_outcome(outcome: str) -> str:
    """A rollout tenant's outcome as the sync report names it."""
    return {"pending": "untouched", "cancelled": "untouched"}.get(outcome, outcome)



# -- reads for a screen that polls ----------------------------------------------------------


def summaries(ctx: Context, limit: int = 100) -> list[dict[str, Any]]:
    """``list_rollouts`` counted by the database: the same documents (stages without their
    tenants), read without a row per tenant, as a console polling every second while a
    rollout of thousands of tenants runs cannot afford that."""
    with ctx.session() as s:
        found = list(s.scalars(sa.select(m.Rollout).order_by(m.Rollout.id.desc()).limit(limit)))
        counted = s.execute(
            sa.select(m.RolloutTenant.rollout_id, m.RolloutTenant.stage, m.RolloutTenant.outcome, sa.func.count())
            .where(m.RolloutTenant.rollout_id.in_([r.id for r in found]))
            .group_by(m.RolloutTenant.rollout_id, m.RolloutTenant.stage, m.RolloutTenant.outcome)).all() if found else []
    counts: dict[tuple[int, int], dict[str, int]] = {}
    for rollout_id, stage, outcome, n in counted:
        counts.setdefault((rollout_id, stage), {})[outcome] = n
    docs = []
    for rollout in found:
        doc = _doc(rollout, [])
        named = [st for st in rollout.stages if "name" in st]
        doc["stages"] = [_counted(st["name"], counts.get((rollout.id, i), {})) for i, st in enumerate(named)]
        docs.append(doc)
    return docs


def _counted(name: str, by_outcome: dict[str, int]) -> dict[str, Any]:
    return {"name": name, "total": sum(by_outcome.values()),
            "done": sum(by_outcome.get(o, 0) for o in ("upgraded", "up-to-date", "failed")),
            "failed": by_outcome.get("failed", 0), "pending": by_outcome.get("pending", 0),
            "running": by_outcome.get("running", 0)}


def stage_tenants(ctx: Context, rollout_id: int, stage: int) -> list[dict[str, Any]]:
    """One stage's tenants in order with their outcomes (``show`` reads every stage's)."""
    with ctx.session() as s:
        rows = list(s.scalars(sa.select(m.RolloutTenant).where(m.RolloutTenant.rollout_id == rollout_id,
                                                               m.RolloutTenant.stage == stage)
                              .order_by(m.RolloutTenant.position)))
    return [{"tenant": r.tenant, "outcome": r.outcome, "job": r.job_id, "error": r.error} for r in rows]
