"""Every kind of job, in one table: its name, the role it needs, how a worker runs it and
how a failed one is queued again. Each record is declared beside its operation; this
module only gathers them (workers load it by name, see jobs/worker.py)."""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from tenantops.engine.context import Context
from tenantops.engine.documents import JobDoc
from tenantops.engine.errors import ConflictError, NotFoundError, StateError, TenantopsError, ValidationError
from tenantops.engine.jobs import queue
from tenantops.engine.jobs.changes import Preview, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.landlord import models as m
from tenantops.engine.servers.placement import tenant_counts

# Where each kind is declared. A process imports only the operations it runs: importing
# all of them (drift and repair pull in deepdiff, the offline renderer Alembic) cost a CLI
# that follows one provisioning job about a quarter of a second. tests/test_job_kinds.py
# checks this table against what the modules declare.
KIND_MODULES: dict[str, str] = {
    "provision": "tenantops.engine.tenants.provision",
    "modules.add": "tenantops.engine.tenants.modules",
    "modules.remove": "tenantops.engine.tenants.modules",
    "custom.apply": "tenantops.engine.tenants.custom",
    "rollback": "tenantops.engine.tenants.rollback",
    "sync": "tenantops.engine.tenants.sync",
    "repair": "tenantops.engine.health.repair",
    "restore": "tenantops.engine.tenants.backups",
    "suspend": "tenantops.engine.tenants.lifecycle",
    "resume": "tenantops.engine.tenants.lifecycle",
    "archive": "tenantops.engine.tenants.lifecycle",
    "unarchive": "tenantops.engine.tenants.lifecycle",
    "move": "tenantops.engine.tenants.move",
    "change-template": "tenantops.engine.tenants.template",
}


class _Kinds(Mapping[str, JobKind]):
    """The registry, loading a kind's module the first time the kind is looked up."""

    def __getitem__(self, name: str) -> JobKind:
        module = importlib.import_module(KIND_MODULES[name])
        for kind in module.KINDS:
            if kind.name == name:
                return kind
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(KIND_MODULES)

    def __len__(self) -> int:
        return len(KIND_MODULES)


KINDS: Mapping[str, JobKind] = _Kinds()


def kind_of(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise NotFoundError(f"unknown job kind {name!r}; known: {', '.join(sorted(KINDS))}") from None


def takes_server(job: Mapping[str, Any]) -> bool:
    """Whether a job (a ``JobDoc`` or a row's fields) chose a database server, so that a
    retry may choose another: its parameters name one (provisioning does)."""
    return "server" in (job.get("params") or {})


def check_server_for(s: Any, name: str) -> m.Server:
    """The server a retry moves a job to, refused before anything is queued when it
    cannot take the tenant: unknown, draining, unreachable at its last check, or full."""
    server = s.scalar(sa.select(m.Server).where(m.Server.name == name))
    if server is None:
        raise NotFoundError(f"server {name!r} is not registered")
    if server.draining:
        raise ConflictError(f"server {name} is draining and takes no new tenants; choose another")
    if server.reachable is False:
        raise ConflictError(f"server {name} was unreachable at its last check; "
                            f"check it (`tenantops servers check {name}`) or choose another")
    if tenant_counts(s).get(server.id, 0) >= server.capacity:
        raise ConflictError(f"server {name} is full ({server.capacity} tenants); choose another")
    return server


def retry(ctx: Context, job_id: int, *, confirm: str | None = None, server: str | None = None) -> int:
    """Queue a failed job, or one waiting for confirmation, again as a new job, checked
    with the role its kind needs and audited; a destructive kind needs the tenant's slug
    repeated. ``server``: run it on
    another server (kinds that take one, see ``takes_server``), validated first."""
    with ctx.session() as s:
        job = s.get(m.Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} does not exist")
        s.expunge(job)
    kind = kind_of(job.kind)
    params_doc: dict[str, Any] = {"job": job_id, "kind": job.kind}
    if server is not None:
        params_doc["server"] = server
    ctx.authorize("jobs.retry", kind.role, job.tenant, params_doc)
    try:
        if job.status not in ("failed", "needs_confirmation"):
            raise StateError(f"job {job_id} is {job.status}; only failed jobs can be retried (and jobs that "
                             "need confirmation)")
        if server is not None:
            if not takes_server({"params": job.params}):
                raise ValidationError(f"job {job_id} ({job.kind}) does not run on a server you choose; "
                                      "retry it without --server")
            with ctx.session() as s:
                check_server_for(s, server)
            # the new job carries the new server; the failed one keeps its own record
            job.params = {**dict(job.params), "server": server}
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
