"""Day-2 migrations of live tenants: modules on and off, approved custom migrations,
rollback by batch, and catalog sync with a canary. Every change is a job, locked per
tenant, backed up first, and restored from that backup automatically if it fails.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.tenants import backups
from tenantops.engine.jobs import queue as jobs
from tenantops.engine.migrate import driver as migrations
from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError, StateError, TenantopsError, ValidationError
from tenantops.engine.migrate.history import next_batch, record_revision
from tenantops.engine.jobs.queue import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.tenants.snapshots import take_snapshot
from tenantops.engine.migrate.units import custom_dir, module_slugs, units_for


# -- shared ------------------------------------------------------------------------


def _tenant(s, slug: str) -> m.Tenant:
    tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
    if tenant is None:
        raise NotFoundError(f"tenant {slug!r} does not exist")
    return tenant


def _live(ctx: Context, slug: str) -> tuple[m.Tenant, m.Server]:
    with ctx.session() as s:
        tenant = _tenant(s, slug)
        if tenant.status != "active":
            raise StateError(f"tenant {slug} is {tenant.status}; day-2 changes need an active tenant")
        return tenant, s.get(m.Server, tenant.server_id)


def _applied(adapter: Adapter, database: str, units: list[catalog_mod.Unit]) -> list[str]:
    with adapter.engine(database).connect() as conn:
        return migrations.applied_revisions(conn, units)


def _dialect(server: m.Server) -> str:
    return "sqlite" if server.dialect == "sqlite" else "mysql"


def _plan_json(planned: list[Any]) -> list[dict[str, Any]]:
    return [{"unit": p.unit, "layer": p.kind, "revision": p.revision, "sql": list(p.sql)} for p in planned]


def guarded_change(ctx: Context, tl: Timeline, slug: str, reason: str,
                   body: Callable[[m.Tenant, Adapter, int], dict[str, Any]]) -> dict[str, Any]:
    """Backup → change → snapshot; on failure restore the backup and say so."""
    with ctx.session() as s:
        tenant = _tenant(s, slug)
        server = s.get(m.Server, tenant.server_id)
    with tl.step("backup") as info:
        backup = backups.take_backup(ctx, slug, reason)
        info["detail"] = f"backup {backup['id']}: {backup['size_bytes']} bytes, sha256 {backup['checksum'][:12]}"
    batch = next_batch(ctx, tenant.id)
    adapter = adapter_for(server)
    try:
        result = body(tenant, adapter, batch)
    except BaseException as exc:
        adapter.dispose()
        error = jobs.format_error(exc)
        try:
            with tl.step("restore backup") as info:
                backups.restore_backup_now(ctx, slug, backup["id"])
                _mark_batch_restored(ctx, tenant.id, batch)
                info["detail"] = f"restored backup {backup['id']}: the tenant is exactly as before"
        except Exception as restore_exc:
            raise TenantopsError(
                f"{reason} failed ({error}); restoring backup {backup['id']} failed too "
                f"({jobs.format_error(restore_exc)}): when the server is back, check the tenant and restore with "
                f"`tenantops backups restore {slug} {backup['id']} --confirm {slug}`") from None
        raise TenantopsError(f"{reason} failed ({error}); backup {backup['id']} was restored") from None
    finally:
        adapter.dispose()
    with tl.step("snapshot") as info:
        snap = take_snapshot(ctx, slug, source="after-migration")
        info["detail"] = f"schema {snap['hash'][:12]}"
    return {**result, "backup": backup["id"], "batch": batch}


def _mark_batch_restored(ctx: Context, tenant_id: int, batch: int) -> None:
    """Revisions of a batch undone by a restore stop counting as applied."""
    with ctx.session() as s:
        rows = list(s.scalars(sa.select(m.MigrationHistory).where(
            m.MigrationHistory.tenant_id == tenant_id, m.MigrationHistory.batch == batch)))
        for h in rows:
            if h.action == "apply" and h.outcome == "ok":
                s.add(m.MigrationHistory(tenant_id=tenant_id, batch=batch, layer=h.layer, unit=h.unit,
                                         revision=h.revision, action="rollback", checksum=h.checksum,
                                         operator=ctx.operator, duration_s=0.0, outcome="restored",
                                         error="undone by restoring the backup taken before the batch"))


def _recorder(ctx: Context, tl: Timeline, tenant_id: int, batch: int, action: str) -> Callable[[Any], None]:
    return lambda result: record_revision(ctx, tl, tenant_id, batch, result, action=action)


# -- modules -----------------------------------------------------------------------


@mutating("modules.add", "admin", target="slug")
def request_module_add(ctx: Context, *, slug: str, module: str, dry_run: bool = False) -> dict[str, Any]:
    tenant, server = _live(ctx, slug)
    with ctx.session() as s:
        current = module_slugs(s, tenant)
    if module in current:
        raise ConflictError(f"module {module} is already installed on {slug}")
    units, resolution = units_for(ctx, tenant, current + [module])
    adapter = adapter_for(server)
    try:
        planned = migrations.render_sql(units, _dialect(server), _applied(adapter, tenant.database, units))
    finally:
        adapter.dispose()
    new = [u.slug for u in resolution.units if u.kind == "module" and u.slug not in current]
    doc = {"tenant": slug, "module": module, "installs": new,
           "auto_added": {k: v for k, v in resolution.auto_added.items() if k in new and k != module},
           "revisions": _plan_json(planned)}
    if dry_run:
        return doc
    backups.preflight(ctx)
    doc["job"] = jobs.enqueue(ctx, "modules.add", slug, {"module": module, "modules": current + [module]},
                              lock_operation="modules.add")
    return doc


def run_module_add(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, resolution = units_for(ctx, tenant, job.params["modules"])
        with tl.step(f"module {job.params['module']}") as info:
            with adapter.engine(tenant.database).connect() as conn:
                results = migrations.apply_units(conn, units, on_revision=_recorder(ctx, tl, tenant.id, batch, "apply"))
                seeded = migrations.apply_seeds(conn, units)
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) applied" + (f", seeded {seeded}" if seeded else "")
        with ctx.session() as s:
            have = set(module_slugs(s, tenant))
            for position, unit in enumerate(resolution.units):
                if unit.kind == "module" and unit.slug not in have:
                    reason = resolution.auto_added.get(unit.slug)
                    s.add(m.TenantModule(tenant_id=tenant.id, module=unit.slug, version=str(unit.version),
                                         position=position, required=bool(reason), reason=reason))
        return {"tenant": tenant.slug, "module": job.params["module"], "revisions": len(results)}
    return guarded_change(ctx, tl, job.tenant, f"modules add {job.params['module']}", body)


def _dependents_of(catalog: catalog_mod.Catalog, module: str, installed: list[str]) -> list[str]:
    out = []
    for slug in installed:
        if slug == module:
            continue
        seen, stack = set(), list(catalog.modules[slug].depends_on) if slug in catalog.modules else []
        while stack:
            dep = stack.pop()
            if dep in seen:
                continue
            seen.add(dep)
            stack.extend(catalog.modules[dep].depends_on if dep in catalog.modules else [])
        if module in seen:
            out.append(slug)
    return out


@mutating("modules.remove", "admin", target="slug")
def request_module_remove(ctx: Context, *, slug: str, module: str, dry_run: bool = False,
                          confirm: str | None = None) -> dict[str, Any]:
    from tenantops.engine.tenants.provision import catalog_for

    tenant, server = _live(ctx, slug)
    with ctx.session() as s:
        current = module_slugs(s, tenant)
    if module not in current:
        raise NotFoundError(f"module {module} is not installed on {slug}")
    catalog = catalog_for(ctx)
    template = catalog.templates.get(tenant.template)
    if template is not None and module in template.required_modules:
        raise ConflictError(f"module {module} is required by template {tenant.template} and cannot be removed")
    dependents = _dependents_of(catalog, module, current)
    if dependents:
        raise ConflictError(f"module {module} cannot be removed: installed module {', '.join(dependents)} "
                            f"depends on it (remove {dependents[0]} first)")
    unit = catalog.modules[module]
    revisions = [{"revision": r, "unit": module, "layer": "module"} for r in reversed(unit.revisions)]
    _attach_downgrade_sql(ctx, tenant, server, revisions)
    doc = {"tenant": slug, "module": module, "drops_tables": sorted(unit.tables), "revisions": revisions}
    if dry_run:
        return doc
    if confirm != slug:
        raise ConflictError(f"modules remove drops the tables of {module} ({', '.join(sorted(unit.tables))}): "
                            f"repeat the tenant's slug with --confirm {slug}")
    backups.preflight(ctx)
    doc["job"] = jobs.enqueue(ctx, "modules.remove", slug, {"module": module}, lock_operation="modules.remove")
    return doc


def run_module_remove(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    module = job.params["module"]

    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        with tl.step(f"remove module {module}") as info:
            with adapter.engine(tenant.database).connect() as conn:
                results = migrations.downgrade_unit(conn, units, module,
                                                    on_revision=_recorder(ctx, tl, tenant.id, batch, "rollback"))
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) rolled back; data kept in the backup"
        with ctx.session() as s:
            s.execute(sa.delete(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id,
                                                      m.TenantModule.module == module))
        return {"tenant": tenant.slug, "module": module, "revisions": len(results)}
    return guarded_change(ctx, tl, job.tenant, f"modules remove {module}", body)


# -- custom migrations -----------------------------------------------------------------

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# op.<call>(table, ...) -> where the table name is: position or keyword
_TABLE_ARG = {"create_table": 0, "drop_table": 0, "add_column": 0, "drop_column": 0, "alter_column": 0,
              "rename_table": 0, "batch_alter_table": 0, "create_index": 1, "create_unique_constraint": 1,
              "create_foreign_key": 1, "create_check_constraint": 1, "bulk_insert": 0,
              "drop_constraint": 1, "drop_index": None, "create_primary_key": 1}
MANAGED_HEADER = "# --- managed by tenantops: revision identifiers (do not edit below) ---"


def _touched_tables(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "op"):
            continue
        position = _TABLE_ARG.get(node.func.attr, "skip")
        if position == "skip":
            continue
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
            "submitted_by": c.submitted_by, "submitted_at": c.submitted_at.isoformat(),
            "approved_by": c.approved_by, "approved_at": c.approved_at.isoformat() if c.approved_at else None,
            "applied_at": c.applied_at.isoformat() if c.applied_at else None, "error": c.error}


@mutating("custom.submit", "dba", target="slug")
def submit_custom(ctx: Context, *, slug: str, filename: str, content: str, name: str | None = None) -> dict[str, Any]:
    from tenantops.engine.tenants.provision import catalog_for

    import hashlib

    tenant, _ = _live(ctx, slug)
    name = name or Path(filename).stem.lower()
    name = re.sub(r"^\d+_?", "", name) or name
    if not NAME_RE.fullmatch(name):
        raise ValidationError(f"custom migration name {ascii(name)} is invalid: lowercase letters, digits and _")
    # the file name only labels messages: keep them one line (no NUL, newline ... from it)
    label = filename if filename.isprintable() else ascii(filename)[1:-1]
    problems = validate_custom(content, label, catalog_for(ctx), [])
    if problems:
        raise ValidationError(problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    with ctx.session() as s:
        if s.scalar(sa.select(m.CustomMigration).where(m.CustomMigration.tenant_id == tenant.id,
                                                       m.CustomMigration.name == name)):
            raise ConflictError(f"tenant {slug} already has a custom migration named {name}")
        count = s.scalar(sa.select(sa.func.count()).select_from(m.CustomMigration)
                         .where(m.CustomMigration.tenant_id == tenant.id))
        revision = f"c_{slug.replace('-', '_')}_{count + 1:04d}"[:64]
        c = m.CustomMigration(tenant_id=tenant.id, name=name, revision=revision, content=content,
                              checksum=hashlib.sha256(content.encode()).hexdigest(), submitted_by=ctx.operator)
        s.add(c)
        s.flush()
        return _custom_json(c, slug)


def _custom(s, tenant: m.Tenant, name: str) -> m.CustomMigration:
    c = s.scalar(sa.select(m.CustomMigration).where(m.CustomMigration.tenant_id == tenant.id,
                                                    m.CustomMigration.name == name))
    if c is None:
        raise NotFoundError(f"tenant {tenant.slug} has no custom migration named {name!r}")
    return c


@mutating("custom.approve", "dba", target="slug")
def approve_custom(ctx: Context, *, slug: str, name: str) -> dict[str, Any]:
    """Four eyes: the approver must not be the submitter. The file is written to the
    tenant's custom folder with its revision identifiers managed by tenantops."""
    with ctx.session() as s:
        tenant = _tenant(s, slug)
        c = _custom(s, tenant, name)
        if c.status != "submitted":
            raise StateError(f"custom migration {name} cannot go from {c.status} to approved")
        if c.submitted_by == ctx.operator:
            raise ConflictError(f"custom migration {name} was submitted by {ctx.operator}; "
                                "another dba must approve it (four eyes)")
        folder = custom_dir(ctx, slug)
        folder.mkdir(parents=True, exist_ok=True)
        # the chain follows the files in the folder: approved, pending or applied ones
        previous = catalog_mod.custom_unit(slug, folder).head or None if any(folder.glob("*.py")) else None
        label = "custom_" + slug.replace("-", "_")
        header = "\n".join([
            "", MANAGED_HEADER,
            f"revision = {c.revision!r}",
            f"down_revision = {previous!r}",
            f"branch_labels = {(label,)!r}" if previous is None else "branch_labels = None",
            "depends_on = None", ""])
        (folder / f"{c.revision}.py").write_text(c.content.rstrip("\n") + "\n" + header)
        c.status, c.approved_by, c.approved_at = "approved", ctx.operator, utcnow()
        return _custom_json(c, slug)


@mutating("custom.apply", "dba", target="slug")
def request_custom_apply(ctx: Context, *, slug: str, name: str) -> dict[str, Any]:
    with ctx.session() as s:
        tenant = _tenant(s, slug)
        c = _custom(s, tenant, name)
        if c.status not in ("approved", "failed"):
            raise StateError(f"custom migration {name} is {c.status}; only approved ones can be applied")
    backups.preflight(ctx)
    job = jobs.enqueue(ctx, "custom.apply", slug, {"name": name}, lock_operation="custom.apply")
    return {"tenant": slug, "name": name, "job": job}


def run_custom_apply(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    name = job.params["name"]

    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        with tl.step(f"custom {name}") as info:
            with adapter.engine(tenant.database).connect() as conn:
                results = migrations.apply_units(conn, units, on_revision=_recorder(ctx, tl, tenant.id, batch, "apply"))
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) applied"
        return {"tenant": tenant.slug, "name": name, "revisions": len(results)}
    try:
        result = guarded_change(ctx, tl, job.tenant, f"custom apply {name}", body)
    except TenantopsError as exc:
        _set_custom(ctx, job.tenant, name, "failed", str(exc))
        raise
    _set_custom(ctx, job.tenant, name, "applied", None)
    return result


def _set_custom(ctx: Context, slug: str, name: str, status: str, error: str | None) -> None:
    with ctx.session() as s:
        c = _custom(s, _tenant(s, slug), name)
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
        tenant = _tenant(s, slug)
        return [_custom_json(c, slug) for c in s.scalars(sa.select(m.CustomMigration).where(
            m.CustomMigration.tenant_id == tenant.id).order_by(m.CustomMigration.id))]


# -- rollback ------------------------------------------------------------------------


def _revisions_after(ctx: Context, tenant: m.Tenant, batch: int) -> list[dict[str, Any]]:
    """Revisions applied in batches after ``batch`` and still applied, newest first."""
    with ctx.session() as s:
        rows = list(s.scalars(sa.select(m.MigrationHistory).where(m.MigrationHistory.tenant_id == tenant.id)
                              .order_by(m.MigrationHistory.id)))
    applied: dict[str, m.MigrationHistory] = {}
    for h in rows:
        if h.action == "apply" and h.outcome == "ok":
            applied[h.revision] = h
        elif h.action == "rollback" and h.outcome in ("ok", "restored"):
            applied.pop(h.revision, None)
    later = [h for h in applied.values() if h.batch > batch]
    later.sort(key=lambda h: h.id, reverse=True)
    return [{"revision": h.revision, "unit": h.unit, "layer": h.layer, "batch": h.batch} for h in later]


def _attach_downgrade_sql(ctx: Context, tenant: m.Tenant, server: m.Server, revisions: list[dict[str, Any]]) -> None:
    """Add to each revision the exact SQL its rollback runs (dry runs show it)."""
    if not revisions:
        return
    units, _ = units_for(ctx, tenant)
    adapter = adapter_for(server)
    try:
        applied = _applied(adapter, tenant.database, units)
    finally:
        adapter.dispose()
    planned = migrations.render_downgrade_sql(units, _dialect(server), applied, [r["revision"] for r in revisions])
    sql = {p.revision: list(p.sql) for p in planned}
    for r in revisions:
        r["sql"] = sql.get(r["revision"], [])


@mutating("rollback", "dba", target="slug")
def request_rollback(ctx: Context, *, slug: str, batch: int, dry_run: bool = False,
                     confirm: str | None = None) -> dict[str, Any]:
    tenant, server = _live(ctx, slug)
    with ctx.session() as s:
        batches = set(s.scalars(sa.select(m.MigrationHistory.batch).where(m.MigrationHistory.tenant_id == tenant.id)))
    if batch not in batches:
        raise NotFoundError(f"tenant {slug} has no batch {batch} (batches: {', '.join(map(str, sorted(batches)))})")
    revisions = _revisions_after(ctx, tenant, batch)
    _attach_downgrade_sql(ctx, tenant, server, revisions)
    doc = {"tenant": slug, "batch": batch, "revisions": revisions}
    if dry_run or not revisions:
        return doc
    if confirm != slug:
        raise ConflictError(f"rollback undoes {len(revisions)} revision(s) of {slug}: repeat the slug with --confirm {slug}")
    backups.preflight(ctx)
    doc["job"] = jobs.enqueue(ctx, "rollback", slug, {"batch": batch}, lock_operation="rollback")
    return doc


def run_rollback(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    batch = job.params["batch"]

    def body(tenant: m.Tenant, adapter: Adapter, new_batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        revisions = [r["revision"] for r in _revisions_after(ctx, tenant, batch)]
        with tl.step(f"rollback after batch {batch}") as info:
            with adapter.engine(tenant.database).connect() as conn:
                results = migrations.downgrade_revisions(
                    conn, units, revisions, on_revision=_recorder(ctx, tl, tenant.id, new_batch, "rollback"))
                installed = set(migrations.installed_units(conn, units))
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) rolled back"
        with ctx.session() as s:
            s.execute(sa.delete(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id,
                                                      m.TenantModule.module.not_in(installed)))
            rolled = list(s.scalars(sa.select(m.CustomMigration).where(
                m.CustomMigration.tenant_id == tenant.id, m.CustomMigration.revision.in_(revisions))))
            for c in rolled:
                c.status = "rolled_back"
        for c in rolled:
            retire_custom_file(ctx, tenant.slug, c.revision, "rolled_back")
        return {"tenant": tenant.slug, "batch": batch, "revisions": revisions}
    return guarded_change(ctx, tl, job.tenant, f"rollback after batch {batch}", body)


# -- sync ----------------------------------------------------------------------------


def _edited_units(ctx: Context, tenant: m.Tenant, units: list[catalog_mod.Unit]) -> dict[str, str]:
    """Units with an applied revision whose file changed since, not acknowledged by a dba."""
    owners = {rev: u for u in units for rev in u.revisions}
    edited: dict[str, str] = {}
    with ctx.session() as s:
        rows = s.execute(sa.select(m.MigrationHistory.revision, m.MigrationHistory.checksum)
                         .where(m.MigrationHistory.tenant_id == tenant.id, m.MigrationHistory.action == "apply",
                                m.MigrationHistory.outcome == "ok", m.MigrationHistory.acknowledged_by.is_(None)))
        for revision, checksum in rows:
            unit = owners.get(revision)
            if unit is None or checksum is None:
                continue
            if migrations.revision_checksum(unit.revision_path(revision)) != checksum:
                edited[unit.slug] = revision
    return edited


def plan_sync(ctx: Context, slug: str) -> dict[str, Any]:
    with ctx.session() as s:
        tenant = _tenant(s, slug)
        server = s.get(m.Server, tenant.server_id)
    units, _ = units_for(ctx, tenant)
    edited = _edited_units(ctx, tenant, units)
    adapter = adapter_for(server)
    try:
        applied = _applied(adapter, tenant.database, units)
    finally:
        adapter.dispose()
    planned = migrations.render_sql(units, _dialect(server), applied)
    return {"tenant": slug, "status": tenant.status, "pending": _plan_json(planned),
            "blocked": [f"unit {u}: applied revision {r} was edited on disk (acknowledge with "
                        f"`tenantops doctor --acknowledge {slug}`)" for u, r in edited.items()],
            "versions": versions_of(units, applied)}


def versions_of(units: list[catalog_mod.Unit], applied: list[str]) -> dict[str, str | None]:
    done = set(applied)
    return {u.slug: next((r for r in reversed(u.revisions) if r in done), None) for u in units}


@mutating("sync", "admin", target="slug")
def request_sync(ctx: Context, *, slug: str) -> int | None:
    plan = plan_sync(ctx, slug)
    if plan["blocked"]:
        raise ConflictError(f"sync of {slug} is blocked: {plan['blocked'][0]}")
    if not plan["pending"]:
        return None
    backups.preflight(ctx)
    return jobs.enqueue(ctx, "sync", slug, {}, lock_operation="sync")


def run_sync(ctx: Context, job: m.Job, tl: Timeline) -> dict[str, Any]:
    def body(tenant: m.Tenant, adapter: Adapter, batch: int) -> dict[str, Any]:
        units, _ = units_for(ctx, tenant)
        with tl.step("apply pending revisions") as info:
            with adapter.engine(tenant.database).connect() as conn:
                results = migrations.apply_units(conn, units, on_revision=_recorder(ctx, tl, tenant.id, batch, "apply"))
                applied = migrations.applied_revisions(conn, units)
                conn.commit()
            info["detail"] = f"{len(results)} revision(s) applied"
        with ctx.session() as s:
            for tm in s.scalars(sa.select(m.TenantModule).where(m.TenantModule.tenant_id == tenant.id)):
                unit = next((u for u in units if u.slug == tm.module), None)
                if unit is not None:
                    tm.version = str(unit.version)
            t = s.get(m.Tenant, tenant.id)
            template = next(u for u in units if u.kind == "template")
            t.template_version = str(template.version)
        return {"tenant": tenant.slug, "revisions": len(results), "versions": versions_of(units, applied)}
    return guarded_change(ctx, tl, job.tenant, "sync", body)


def change_template(ctx: Context, slug: str, template: str) -> None:
    """Refused by design (seed 001): a template shapes every table a tenant has."""
    raise ConflictError(f"changing the template of {slug} to {template} after provisioning is not supported: "
                        "provision a new tenant with the new template and migrate its data")


HANDLERS = {"modules.add": run_module_add, "modules.remove": run_module_remove, "custom.apply": run_custom_apply,
            "rollback": run_rollback, "sync": run_sync}
