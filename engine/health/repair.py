"""Guarded repair of drift, and the quarantine where repairs move data instead of
dropping it. A repair is a job (locked per tenant, timeline), takes a backup first,
re-checks drift afterwards and stores an after-repair snapshot."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine.documents import QuarantineDoc
from tenantops.engine.tenants import backups
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.servers.adapters import adapter_for
from tenantops.engine.context import Context, mutating
from tenantops.engine.jobs.changes import Preview, Queued, require_confirmation
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.health.drift import _tenant_and_server, compare, current, store_report, tenant_database
from tenantops.engine.errors import NotFoundError, StateError, TenantopsError, ValidationError
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.schema import preflight
from tenantops.engine.schema.capture import capture
from tenantops.engine.schema.diff import Difference
from tenantops.engine.schema.quarantine import QuarantineRecord, restore_quarantine
from tenantops.engine.schema.repair import STRATEGIES, execute_plan, plan_repair
from tenantops.engine.tenants.guarded import restore_after_failure
from tenantops.engine.tenants.snapshots import store_snapshot
from tenantops.engine.timestamps import iso


def _differences(report: dict[str, Any]) -> list[Difference]:
    return [Difference(**d) for d in report["differences"] if not d.get("accepted")]


def _preflight(tenant: m.Tenant, server: m.Server, repair_plan: Any, report: dict[str, Any],
               strategy: str) -> list[preflight.Check]:
    """The pre-flight counts of the operations this strategy runs (manual: all of them,
    for the person who will run the script)."""
    if not repair_plan.operations:
        return []
    adapter = adapter_for(server)
    try:
        with adapter.engine(tenant_database(tenant)).connect() as conn:
            return preflight.preflight(conn, repair_plan, report["_actual"], report["_expected"],
                                       include_destructive=strategy != "conservative")
    finally:
        adapter.dispose()


def preview_repair(ctx: Context, *, slug: str, strategy: str = "conservative") -> Preview:
    """The repair plan (every operation, safe or DESTRUCTIVE, with its exact SQL)."""
    if strategy not in STRATEGIES:
        raise ValidationError(f"unknown repair strategy {strategy!r}; use {', '.join(STRATEGIES)}")
    tenant, server, report = current(ctx, slug)
    repair_plan = plan_repair(report["_expected"], report["_actual"], _differences(report),
                              server.dialect, strategy=strategy)
    checks = _preflight(tenant, server, repair_plan, report, strategy)
    doc = {"tenant": slug, "strategy": strategy, "dry_run": True,
           "operations": [{**op.to_json(), "preflight": [c.to_json() for c in checks if c.operation == i]}
                          for i, op in enumerate(repair_plan.operations)],
           "preflight": [c.to_json() for c in checks], "refused": preflight.refusal(slug, checks),
           "skipped": [s.to_json() for s in repair_plan.skipped],
           "severity": report["severity"], "differences": report["differences"],
           "applied": [], "backup": None, "quarantine": [], "severity_after": report["severity"]}
    # only the aggressive strategy runs destructive operations; the others skip them
    destructive = strategy == "aggressive" and any(not op.safe for op in repair_plan.operations)
    return Preview("repair", slug, doc, destructive=destructive, pending=bool(repair_plan.operations))


@mutating("repair", "dba", target="slug")
def request_repair(ctx: Context, *, slug: str, strategy: str = "conservative", confirm: str | None = None) -> Queued:
    """Queue the repair; ``manual`` writes the reviewed script for a person to run instead."""
    preview = preview_repair(ctx, slug=slug, strategy=strategy)
    doc = preview.document
    if strategy == "manual":
        path = _write_script(ctx, slug, doc)
        return Queued("repair", slug, None, preview, extra={"script": str(path)})
    if doc["refused"]:
        raise StateError(doc["refused"])
    destructive = [op for op in doc["operations"] if not op["safe"]]
    require_confirmation(preview, confirm, f"aggressive repair of {slug} has {len(destructive)} DESTRUCTIVE "
                                           "operation(s) (data moves to quarantine)")
    if not preview.pending:
        return Queued("repair", slug, None, preview, extra={"dry_run": False, "job": None})
    backups.preflight(ctx)
    job_id = jobs.enqueue(ctx, "repair", slug, {"strategy": strategy}, lock_operation="repair")
    return Queued("repair", slug, job_id, preview, extra={"dry_run": False})


def _write_script(ctx: Context, slug: str, doc: dict[str, Any]) -> Path:
    folder = ctx.home / "repairs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}-{utcnow().strftime('%Y%m%dT%H%M%S')}.sql"
    mysql = _tenant_and_server(ctx, slug)[1].dialect != "sqlite"
    lines = [f"-- manual repair plan for {slug}; review, back up, then run by hand", ""]
    for op in doc["operations"]:
        lines.append(f"-- {'safe' if op['safe'] else 'DESTRUCTIVE'}: {op['description']}")
        lines += [_script_statement(s, mysql) for s in op["sql"]]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _script_statement(statement: str, mysql: bool) -> str:
    """One statement for a SQL client script. A routine/trigger/event body with ``;`` of
    its own (BEGIN ... END) needs another delimiter in the mysql client (sqlite3 reads a
    trigger's BEGIN ... END; as one statement)."""
    statement = statement.rstrip().rstrip(";")
    if mysql and ";" in statement:
        return f"DELIMITER $$\n{statement}$$\nDELIMITER ;"
    return statement + ";"


def run_repair(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    slug, strategy = job.tenant, job.params["strategy"]
    if slug is None:
        raise ValidationError(f"job {job.id} ({job.kind}) names no tenant to repair")
    with tl.step("plan") as info:
        tenant, server, report = current(ctx, slug)
        suffix = f"r{job.id}"
        repair_plan = plan_repair(report["_expected"], report["_actual"], _differences(report), server.dialect,
                                  strategy=strategy, quarantine_suffix=suffix)
        # counted again: the data may have changed since the request (a scheduled run)
        checks = _preflight(tenant, server, repair_plan, report, strategy)
        refused = preflight.refusal(slug, checks)
        if refused:
            raise StateError(refused)
        info["detail"] = (f"{len(repair_plan.operations)} operation(s), "
                          f"{sum(not op.safe for op in repair_plan.operations)} destructive; severity {report['severity']}"
                          + "".join(f"; {c.detail}" for c in checks))
    with tl.step("backup") as info:
        pinned = strategy == "aggressive"
        backup = backups.take_backup(ctx, slug, f"before repair (job {job.id})", pinned=pinned)
        info["detail"] = f"backup {backup['id']}" + (" (pinned)" if pinned else "")
    adapter = adapter_for(server)
    try:
        with tl.step("repair") as info:
            with adapter.engine(tenant_database(tenant)).connect() as conn:
                result = execute_plan(conn, repair_plan, include_destructive=strategy == "aggressive",
                                      quarantine_suffix=suffix, fit_text=True)
            info["detail"] = "\n".join(f"{op.description}: " + "; ".join(op.sql) for op in result.applied) or "nothing applied"
            if result.failed is not None:
                raise TenantopsError(f"repair stopped at {result.failed[0].description}: {result.failed[1]}")
            info["rows"] += quarantine_rows(tenant.id, job.id, result.quarantine)
    except BaseException as exc:
        # all or restore: a repair that stopped part-way puts the tenant back as it was
        # (the quarantine tables it made go with the restore, so none are recorded unless
        # the restore failed too and they are still there)
        adapter.dispose()
        moved = result.quarantine if "result" in locals() else []

        def keep_quarantine() -> None:
            with ctx.session() as s:
                s.add_all(quarantine_rows(tenant.id, job.id, moved))
        restore_after_failure(ctx, tl, slug, f"repair (job {job.id})", exc, backup["id"], not_restored=keep_quarantine)
    try:
        with tl.step("re-check") as info:
            database = tenant_database(tenant)
            with adapter.engine(database).connect() as conn:
                actual = capture(conn, None if adapter.dialect == "sqlite" else database)
            after = compare(ctx, tenant, adapter, actual)
            public = store_report(ctx, tenant.id, after)
            snap = store_snapshot(ctx, tenant.id, actual, None, "after-repair", tenant.slug)
            info["detail"] = f"severity now {public['severity']}; snapshot {snap['id']}"
    finally:
        adapter.dispose()
    with ctx.session() as s:
        quarantine = [quarantine_json(q, slug) for q in s.scalars(
            sa.select(m.QuarantineItem).where(m.QuarantineItem.repair_id == job.id))]
    return {"tenant": slug, "strategy": strategy, "dry_run": False,
            "operations": [op.to_json() for op in repair_plan.operations],
            "applied": [op.to_json() for op in result.applied],
            "skipped": [{**op.to_json(), "reason": why} for op, why in result.skipped]
            + [s.to_json() for s in repair_plan.skipped],
            "backup": backup["id"], "quarantine": quarantine, "severity_after": public["severity"],
            "differences_after": public["differences"]}


# -- quarantine ---------------------------------------------------------------------------


def quarantine_rows(tenant_id: int, job_id: int, records: list[QuarantineRecord]) -> list[m.QuarantineItem]:
    return [m.QuarantineItem(tenant_id=tenant_id, kind=r.kind, table=r.table, column=r.column, rows=r.rows or 0,
                             quarantined_as=r.quarantined_as, detail=r.to_json(), repair_id=job_id) for r in records]


def quarantine_json(q: m.QuarantineItem, slug: str) -> QuarantineDoc:
    return {"id": q.id, "tenant": slug, "kind": q.kind, "table": q.table, "column": q.column, "rows": q.rows,
            "quarantined_as": q.quarantined_as, "created_at": iso(q.created_at), "repair_id": q.repair_id,
            "restored_at": iso(q.restored_at)}


def list_quarantine(ctx: Context, slug: str) -> list[QuarantineDoc]:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        return [quarantine_json(q, slug) for q in s.scalars(
            sa.select(m.QuarantineItem).where(m.QuarantineItem.tenant_id == tenant.id).order_by(m.QuarantineItem.id))]


@mutating("quarantine.restore", "dba", target="slug")
def restore(ctx: Context, *, slug: str, item_id: int) -> dict[str, Any]:
    """Bring quarantined data back row for row (under the tenant's lock)."""
    from tenantops.engine.jobs.locks import acquire, release

    tenant, server = _tenant_and_server(ctx, slug)
    with ctx.session() as s:
        q = s.get(m.QuarantineItem, item_id)
        if q is None or q.tenant_id != tenant.id:
            raise NotFoundError(f"quarantine item {item_id} of tenant {slug!r} does not exist")
        if q.restored_at is not None:
            raise StateError(f"quarantine item {item_id} was already restored at {iso(q.restored_at)}")
        record = QuarantineRecord.from_json(q.detail or {})
    with ctx.session() as s:
        acquire(s, slug, holder=ctx.operator, operation="quarantine.restore", job_id=None,
                lease_seconds=ctx.settings.lease_seconds * 10)
    adapter = adapter_for(server)
    try:
        with adapter.engine(tenant_database(tenant)).connect() as conn:
            restored = restore_quarantine(conn, record)
            conn.commit()
    finally:
        adapter.dispose()
        with ctx.session() as s:
            release(s, slug, None)
    with ctx.session() as s:
        q = s.get(m.QuarantineItem, item_id)
        if q is None:  # removed while it was being restored
            raise NotFoundError(f"quarantine item {item_id} of tenant {slug!r} does not exist")
        q.restored_at = utcnow()
        return {**quarantine_json(q, slug), "restored_rows": restored}


KINDS = (JobKind("repair", "dba", run_repair, destructive=True),)
