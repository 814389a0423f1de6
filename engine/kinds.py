"""Every kind of job, in one table: its name, the role it needs, how a worker runs it and
how a failed one is queued again. Each record is declared beside its operation; this
module only gathers them (workers load it by name, see jobs/worker.py)."""
from __future__ import annotations

from tenantops.engine.context import Context
from tenantops.engine.documents import JobDoc
from tenantops.engine.errors import NotFoundError, StateError, TenantopsError
from tenantops.engine.health import repair
from tenantops.engine.jobs import queue
from tenantops.engine.jobs.changes import Preview, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.landlord import models as m
from tenantops.engine.tenants import backups, custom, lifecycle, modules, move, provision, rollback, sync, template

KINDS: dict[str, JobKind] = {kind.name: kind for kind in (
    *provision.KINDS, *modules.KINDS, *custom.KINDS, *rollback.KINDS, *sync.KINDS, *repair.KINDS,
    *backups.KINDS, *lifecycle.KINDS, *move.KINDS, *template.KINDS)}


def kind_of(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise NotFoundError(f"unknown job kind {name!r}; known: {', '.join(sorted(KINDS))}") from None


def retry(ctx: Context, job_id: int, *, confirm: str | None = None) -> int:
    """Queue a failed job, or one waiting for confirmation, again as a new job, checked
    with the role its kind needs and audited; a destructive kind needs the tenant's slug
    repeated."""
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist")
        s.expunge(job)
    kind = kind_of(job.kind)
    params_doc = {"job": job_id, "kind": job.kind}
    ctx.authorize("jobs.retry", kind.role, job.tenant, params_doc)
    try:
        if job.status not in ("failed", "needs_confirmation"):
            raise StateError(f"job {job_id} is {job.status}; only failed jobs can be retried (and jobs that "
                             "need confirmation)")
        if kind.destructive and job.tenant:
            require_confirmation(Preview(job.kind, job.tenant, {}, destructive=True), confirm,
                                 f"job {job_id} ({job.kind}) changes data of {job.tenant}")
        if kind.requeue is not None:
            new_id = kind.requeue(ctx, job)
        else:
            new_id = queue.enqueue(ctx, job.kind, job.tenant, dict(job.params), lock_operation=job.kind)
    except TenantopsError as exc:
        ctx.audit("jobs.retry", job.tenant, params_doc, "failed", str(exc))
        raise
    ctx.audit("jobs.retry", job.tenant, {**params_doc, "new_job": new_id}, "ok", job=new_id)
    return new_id


def cancel(ctx: Context, job_id: int) -> JobDoc:
    """Cancel a queued or scheduled job, with the role its kind needs; audited."""
    doc = queue.get_job(ctx, job_id)
    kind = kind_of(doc["kind"])
    params_doc = {"job": job_id, "kind": doc["kind"]}
    ctx.authorize("jobs.cancel", kind.role, doc["tenant"], params_doc)
    try:
        cancelled = queue.cancel(ctx, job_id)
    except TenantopsError as exc:
        ctx.audit("jobs.cancel", doc["tenant"], params_doc, "failed", str(exc))
        raise
    ctx.audit("jobs.cancel", doc["tenant"], params_doc, "ok")
    return cancelled
