"""Tenant-specific custom migrations: submit (checked without running it), approve (four
eyes; the file joins the tenant's own Alembic branch), apply as a guarded job, list."""
from __future__ import annotations

import ast
import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.catalog.revisions import AST_LOCK
from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError, StateError, TenantopsError, ValidationError
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.jobs.changes import Preview, Queued
from tenantops.engine.jobs.kinds import JobKind
from tenantops.engine.jobs.schedule import next_window
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.migrate import offline
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.migrate.units import catalog_for, custom_dir, units_for
from tenantops.engine.servers.adapters import Adapter
from tenantops.engine.tenants import backups
from tenantops.engine.tenants import review
from tenantops.engine.tenants.guarded import applied_on, dialect, guarded_change, live, plan_json, recorder
from tenantops.engine.tenants.records import get_tenant_row, tenant_database
from tenantops.engine.timestamps import iso

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# op.<call>(table, ...) -> where the table name is: position or keyword
_TABLE_ARG: dict[str, int | None] = {"create_table": 0, "drop_table": 0, "add_column": 0, "drop_column": 0, "alter_column": 0,
              "rename_table": 0, "batch_alter_table": 0, "create_index": 1, "create_unique_constraint": 1,
              "create_foreign_key": 1, "create_check_constraint": 1, "bulk_insert": 0,
              "drop_constraint": 1, "drop_index": None, "create_primary_key": 1}


def _touched_tables(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "op"):
            continue
        if node.func.attr not in _TABLE_ARG:
            continue
        position = _TABLE_ARG[node.func.attr]
        candidates = []
        if position is not None and len(node.args) > position:
            candidates.append(node.args[position])
        candidates += [kw.value for kw in node.keywords if kw.arg in ("table_name", "source_table", "table")]
        for arg in candidates:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            elif isinstance(arg, ast.Call) and getattr(arg.func, "attr", None) == "table" and arg.args:
                inner = arg.args[0]
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    found.add(inner.value)
    return found


def validate_custom(content: str, filename: str, catalog: catalog_mod.Catalog, units: list[str]) -> list[str]:
    """Problems with a custom revision file (empty when it is acceptable)."""
    try:
        with AST_LOCK:  # see catalog/revisions.py
            tree = ast.parse(content, filename)
    except SyntaxError as exc:
        return [f"{filename}:{exc.lineno}: does not parse: {exc.msg}"]
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes (older Pythons), absurd nesting
        return [f"{filename}: does not parse: {type(exc).__name__}"]
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    problems = []
    for name in ("upgrade", "downgrade"):
        fn = functions.get(name)
        if fn is None:
            problems.append(f"{filename}: has no {name}() function")
        elif all(isinstance(st, ast.Pass) or (isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant))
                 for st in fn.body):
            problems.append(f"{filename}: {name}() does nothing; a custom migration needs a working {name}")
    declared: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "touches" for t in node.targets):
            try:
                declared = set(ast.literal_eval(node.value))
            except ValueError:
                problems.append(f"{filename}: touches must be a literal list of table names")
    owners = {table: unit.slug for unit in [catalog.basic, *catalog.templates.values(), *catalog.modules.values()]
              for table in unit.tables}
    for table in sorted(_touched_tables(tree)):
        owner = owners.get(table)
        if owner and table not in declared:
            problems.append(f"{filename}: touches table {table} owned by unit {owner}; "
                            f"declare it with touches = [{table!r}] if that is intended")
    return problems


def _custom_json(c: m.CustomMigration, slug: str) -> dict[str, Any]:
    return {"tenant": slug, "name": c.name, "revision": c.revision, "status": c.status, "checksum": c.checksum,
            "submitted_by": c.submitted_by, "submitted_at": iso(c.submitted_at),
            "approved_by": c.approved_by, "approved_at": iso(c.approved_at),
            "applied_at": iso(c.applied_at), "error": c.error}


MAX_CUSTOM_BYTES = 1 << 20  # 1 MiB: a migration, not a data dump


def read_custom_file(path: Path) -> bytes:
    """The file's bytes, at most one more than the limit (so an endless file costs nothing)."""
    with path.open("rb") as fh:
        return fh.read(MAX_CUSTOM_BYTES + 1)


def _decoded(content: str | bytes, label: str) -> str:
    if isinstance(content, str):
        raw = content.encode("utf-8", "surrogatepass")
    else:
        raw = content
    if len(raw) > MAX_CUSTOM_BYTES:
        raise ValidationError(f"{label}: larger than 1 MiB; a custom migration changes schema, it does not carry data")
    if isinstance(content, str):
        return content
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{label}: not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from None


@mutating("custom.submit", "dba", target="slug")
def submit_custom(ctx: Context, *, slug: str, filename: str, content: str | bytes,
                  name: str | None = None) -> dict[str, Any]:
    """Check the file, then review it by running it in a shadow of the tenant's schema
    (tenants/review.py); the review is stored with the submission for the approver."""
    # the file name only labels messages: keep them one line (no NUL, newline ... from it)
    label = filename if filename.isprintable() else ascii(filename)[1:-1]
    content = _decoded(content, label)
    tenant, server = live(ctx, slug)
    name = name or Path(filename).stem.lower()
    name = re.sub(r"^\d+_?", "", name) or name
    if not NAME_RE.fullmatch(name):
        raise ValidationError(f"custom migration name {ascii(name)} is invalid: lowercase letters, digits and _")
    problems = validate_custom(content, label, catalog_for(ctx), [])
    if problems:
        raise ValidationError(problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    with ctx.session() as s:
        if s.scalar(sa.select(m.CustomMigration).where(m.CustomMigration.tenant_id == tenant.id,
                                                       m.CustomMigration.name == name)):
            raise ConflictError(f"tenant {slug} already has a custom migration named {name}")
        count = s.execute(sa.select(sa.func.count()).select_from(m.CustomMigration)
                          .where(m.CustomMigration.tenant_id == tenant.id)).scalar_one()
        revision = f"c_{slug.replace('-', '_')}_{count + 1:04d}"[:64]
    found = review.review(ctx, tenant, server, content=content, revision=revision)
    with ctx.session() as s:
        c = m.CustomMigration(tenant_id=tenant.id, name=name, revision=revision, content=content,
                              checksum=hashlib.sha256(content.encode()).hexdigest(), submitted_by=ctx.operator,
                              review=found)
        s.add(c)
        s.flush()
        return {**_custom_json(c, slug), "review": found}


def _custom(s: Session, tenant: m.Tenant, name: str) -> m.CustomMigration:
    c = s.scalar(sa.select(m.CustomMigration).where(m.CustomMigration.tenant_id == tenant.id,
                                                    m.CustomMigration.name == name))
    if c is None:
        raise NotFoundError(f"tenant {tenant.slug} has no custom migration named {name!r}")
    return c


@mutating("custom.approve", "dba", target="slug")
def approve_custom(ctx: Context, *, slug: str, name: str, allow_unsafe: bool = False) -> dict[str, Any]:
    """Four eyes: the approver must not be the submitter. A migration whose review found
    destructive changes needs ``allow_unsafe`` said out loud. The file is written to the
    tenant's custom folder with its revision identifiers managed by tenantops."""
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        c = _custom(s, tenant, name)
        if c.status != "submitted":
            raise StateError(f"custom migration {name} cannot go from {c.status} to approved")
        if c.submitted_by == ctx.operator:
            raise ConflictError(f"custom migration {name} was submitted by {ctx.operator}; "
                                "another dba must approve it (four eyes)")
        unsafe = review.destructive(c.review)
        if unsafe and not allow_unsafe:
            more = f" (+{len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
            raise ConflictError(f"custom migration {name} is unsafe: {unsafe[0]['code']} {unsafe[0]['message']}{more}; "
                                f"see `tenantops custom show {slug} {name}`, approve with --allow-unsafe if intended")
        folder = custom_dir(ctx, slug)
        folder.mkdir(parents=True, exist_ok=True)
        # the chain follows the files in the folder: approved, pending or applied ones
        previous = catalog_mod.custom_unit(slug, folder).head or None if any(folder.glob("*.py")) else None
        (folder / f"{c.revision}.py").write_text(review.managed_file(c.content, slug, c.revision, previous))
        c.status, c.approved_by, c.approved_at = "approved", ctx.operator, utcnow()
        return _custom_json(c, slug)


def show_custom(ctx: Context, *, slug: str, name: str) -> dict[str, Any]:
    """One custom migration with its review (CLI `custom show`, the console's approval)."""
    with ctx.session() as s:
        c = _custom(s, get_tenant_row(s, slug), name)
        doc = _custom_json(c, slug)
        return {**doc, "review": c.review or {"changes": [], "round_trip": "not reviewed (submitted before reviews)",
                                              "findings": [], "sql": []}}


def preview_custom_apply(ctx: Context, *, slug: str, name: str) -> Preview:
    """The approved migration's revisions still to apply, with their SQL."""
    tenant, server = live(ctx, slug)
    with ctx.session() as s:
        c = _custom(s, tenant, name)
        if c.status not in ("approved", "failed"):
            raise StateError(f"custom migration {name} is {c.status}; only approved ones can be applied")
        revision = c.revision
    units, _ = units_for(ctx, tenant)
    planned = offline.render_sql(units, dialect(server), applied_on(server, tenant_database(tenant), units))
    doc = {"tenant": slug, "name": name, "revision": revision, "revisions": plan_json(planned)}
    return Preview("custom.apply", slug, doc)


@mutating("custom.apply", "dba", target="slug")
def request_custom_apply(ctx: Context, *, slug: str, name: str, confirm: str | None = None,
                         at: datetime | None = None, in_window: bool = False) -> Queued:
    """Queue the apply now, at ``at`` (UTC), or at the next maintenance window."""
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        c = _custom(s, tenant, name)
        if c.status not in ("approved", "failed"):
            raise StateError(f"custom migration {name} is {c.status}; only approved ones can be applied")
    if in_window:
        at = next_window(ctx.settings.maintenance.windows, datetime.now(timezone.utc),
                         source=ctx.settings.source or "config")
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "custom.apply", slug, {"name": name}, lock_operation="custom.apply", not_before=at)
    doc: dict[str, Any] = {"tenant": slug, "name": name}
    if at is not None:
        doc["scheduled_for"] = iso(at)
    return Queued("custom.apply", slug, job, Preview("custom.apply", slug, doc))


_DESTRUCTIVE = re.compile(r"\b(DROP|TRUNCATE|DELETE|RENAME|MODIFY|CHANGE)\b|ALTER\s+COLUMN", re.IGNORECASE)


def destructive_sql(revisions: list[dict[str, Any]]) -> bool:
    """Could the planned SQL lose data (drops, deletes, renames, type changes)? Then the
    backup taken before it is pinned."""
    return any(_DESTRUCTIVE.search(sql) for rev in revisions for sql in rev["sql"])


def run_custom_apply(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    name, slug = job.params["name"], job.tenant
    assert slug is not None  # day-2 jobs are queued with the tenant's slug

    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        with tl.step(f"custom {name}") as info:
            with adapter.engine(tenant_database(tenant)).connect() as conn:
                results = migrations.apply_units(conn, units, on_revision=recorder(ctx, tl, tenant.id, batch, "apply"))
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) applied"
        return {"tenant": tenant.slug, "name": name, "revisions": len(results)}
    with ctx.session() as s:
        found = _custom(s, get_tenant_row(s, slug), name).review
    try:
        # the review ran it: unsafe findings pin the backup; so does SQL that reads as lossy
        pinned = bool(review.destructive(found)) or destructive_sql(
            preview_custom_apply(ctx, slug=slug, name=name).document["revisions"])
    except Exception:  # noqa: BLE001 - SQL that cannot be rendered offline: pin to be safe
        pinned = True
    try:
        result = guarded_change(ctx, tl, slug, f"custom apply {name}", body, pinned=pinned)
    except TenantopsError as exc:
        _set_custom(ctx, slug, name, "failed", str(exc))
        raise
    _set_custom(ctx, slug, name, "applied", None)
    return result


def _set_custom(ctx: Context, slug: str, name: str, status: str, error: str | None) -> None:
    with ctx.session() as s:
        c = _custom(s, get_tenant_row(s, slug), name)
        c.status, c.error = status, error
        if status == "applied":
            c.applied_at = utcnow()
        revision = c.revision
    if status in ("failed", "rolled_back"):
        retire_custom_file(ctx, slug, revision, status)


def retire_custom_file(ctx: Context, slug: str, revision: str, why: str) -> None:
    """Take a failed or rolled-back revision out of the tenant's chain (kept aside, and
    its content stays in the landlord) so later applies and syncs don't run it again."""
    source = custom_dir(ctx, slug) / f"{revision}.py"
    if source.exists():
        target = custom_dir(ctx, slug).parent / why
        target.mkdir(parents=True, exist_ok=True)
        source.replace(target / source.name)


def list_custom(ctx: Context, slug: str) -> list[dict[str, Any]]:
    with ctx.session() as s:
        tenant = get_tenant_row(s, slug)
        return [_custom_json(c, slug) for c in s.scalars(sa.select(m.CustomMigration).where(
            m.CustomMigration.tenant_id == tenant.id).order_by(m.CustomMigration.id))]


KINDS = (JobKind("custom.apply", "dba", run_custom_apply),)
