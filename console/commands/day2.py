"""modules, custom, rollback, sync, backups."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TYPE_CHECKING

from tenantops.engine.errors import TenantopsError, UsageError
from tenantops.engine.vocab import SYNC_STRATEGIES

from .. import output
from ..lazy import lazy
from .verbs import confirm, dry_run, group, iso_time, positive_int, verb

if TYPE_CHECKING:
    from tenantops.engine.tenants import custom, modules, rollback
    from tenantops.engine.tenants import backups
    from tenantops.engine.jobs import schedule
    from tenantops.engine.health import fleet
    from tenantops.engine.context import Context
else:
    custom = lazy("tenantops.engine.tenants.custom")
    modules = lazy("tenantops.engine.tenants.modules")
    rollback = lazy("tenantops.engine.tenants.rollback")
    backups = lazy("tenantops.engine.tenants.backups")
    schedule = lazy("tenantops.engine.jobs.schedule")
    fleet = lazy("tenantops.engine.health.fleet")
from .tenancy import run_job_to_end


def _print_revisions(doc: dict[str, Any]) -> None:
    for r in doc.get("revisions", []):
        if isinstance(r, dict):
            output.sql_block(f"{r.get('layer', '')} {r['unit']} · {r['revision']}", r.get("sql", []))
        else:
            output.out.print(f"-- {r}", highlight=False, markup=False)


def _finish(ctx: Context, args: argparse.Namespace, doc: dict[str, Any], what: str) -> int:
    job_id = doc.get("job")
    if job_id is None:
        output.show(args, doc, lambda d: output.note(f"{what}: nothing to do"))
        return 0
    output.note(f"{what}: job {job_id}")
    result = run_job_to_end(ctx, job_id, quiet=args.json)
    doc = {**doc, "status": result["status"], "result": result.get("result"), "error": result.get("error")}
    if args.json:
        output.emit_json(doc)
    if result["status"] != "succeeded":
        raise TenantopsError(f"{what} failed: {result['error']} (see `tenantops jobs show {job_id}`)")
    if not args.json:
        output.note(f"{what}: done")
    return 0


def _modules(ctx: Context, args: argparse.Namespace, action: str) -> int:
    preview, request = ((modules.preview_module_add, modules.request_module_add) if action == "add"
                        else (modules.preview_module_remove, modules.request_module_remove))
    if args.dry_run:
        doc = preview(ctx, slug=args.slug, module=args.module).to_json()

        def render(d: dict[str, Any]) -> None:
            output.note(f"would {action} {args.module} on {args.slug}")
            _print_revisions(d)
        output.show(args, doc, render)
        return 0
    doc = request(ctx, slug=args.slug, module=args.module, confirm=getattr(args, "confirm", None)).to_json()
    return _finish(ctx, args, doc, f"modules {action} {args.module} on {args.slug}")


FLEET_ONLY = ("stages", "parallel", "on_error", "label", "template")


def cmd_modules_add(ctx: Context, args: argparse.Namespace) -> int:
    if not args.all:
        given = [f"--{name.replace('_', '-')}" for name in FLEET_ONLY if getattr(args, name) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} go(es) with --all")
        if args.slug is None:
            raise UsageError("give the tenant's slug and the module, or --all and the module")
        return _modules(ctx, args, "add")
    if args.slug is not None:
        raise UsageError(f"--all adds {args.module} to every tenant: give no slug (got {args.slug!r})")
    report = fleet.add_module(ctx, module=args.module, stages=args.stages or "rest",
                              parallel=1 if args.parallel is None else args.parallel,
                              on_error=args.on_error or "halt", label=args.label, template=args.template,
                              dry_run=args.dry_run, progress=None if args.json else output.note)

    def render(d: dict) -> None:
        output.table(f"Add {d['module']}", ["tenant", "outcome", "stage", "installs", "error"],
                     [(t["tenant"], t["outcome"], t.get("stage"), ", ".join(t.get("installs") or []), t.get("error"))
                      for t in d["tenants"]])
        for st in d.get("stages", []):
            output.note(f"stage {st['name']}: {', '.join(st['tenants']) or 'no tenants'}")
        if d.get("rollout"):
            from .rollouts import render_rollout
            render_rollout(d["rollout"])
    output.show(args, report, render)
    return 1 if any(t["outcome"] in ("failed", "blocked") for t in report["tenants"]) else 0


def cmd_modules_remove(ctx: Context, args: argparse.Namespace) -> int:
    return _modules(ctx, args, "remove")


def _print_review(review: dict[str, Any]) -> None:
    """Destructive changes first, then the findings, the round trip and the exact SQL."""
    output.table("What it changes (run in a shadow of the tenant's schema)",
                 ["change", "object", "table", "name", "destructive"],
                 [(c["change"], c["object"], c["table"], c["name"], "DESTRUCTIVE" if c["destructive"] else "")
                  for c in review["changes"]])
    for f in review["findings"]:
        output.note(f"{f['severity']} {f['code']}: {f['message']}")
    output.note(f"round trip (upgrade then downgrade): {review['round_trip']}")
    output.sql_block("upgrade SQL", review.get("sql", []))


def cmd_custom_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = custom.list_custom(ctx, args.slug)
    output.show(args, rows, lambda rs: output.table(
        f"Custom migrations of {args.slug}", ["name", "revision", "status", "submitted by", "approved by", "error"],
        [(r["name"], r["revision"], r["status"], r["submitted_by"], r["approved_by"], r["error"]) for r in rs]))
    return 0


def cmd_custom_submit(ctx: Context, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        content = custom.read_custom_file(path)  # bytes: the engine checks size and UTF-8
    except OSError as exc:
        raise UsageError(f"custom submit: cannot read {path}: {exc.strerror}") from None
    doc = custom.submit_custom(ctx, slug=args.slug, filename=str(path), content=content, name=args.name)

    def submitted(d: dict[str, Any]) -> None:
        _print_review(d["review"])
        output.note(f"custom migration {d['name']} submitted; another dba must approve it")
    output.show(args, doc, submitted)
    return 0


def cmd_custom_show(ctx: Context, args: argparse.Namespace) -> int:
    doc = custom.show_custom(ctx, slug=args.slug, name=args.name)

    def shown(d: dict[str, Any]) -> None:
        output.note(f"custom migration {d['name']} of {args.slug}: {d['status']}, submitted by "
                    f"{d['submitted_by']}" + (f", approved by {d['approved_by']}" if d["approved_by"] else ""))
        _print_review(d["review"])
    output.show(args, doc, shown)
    return 0


def cmd_custom_approve(ctx: Context, args: argparse.Namespace) -> int:
    doc = custom.approve_custom(ctx, slug=args.slug, name=args.name, allow_unsafe=args.allow_unsafe)
    output.show(args, doc, lambda d: output.note(f"custom migration {d['name']} approved"))
    return 0


def cmd_custom_apply(ctx: Context, args: argparse.Namespace) -> int:
    at = schedule.parse_at(args.at) if args.at else None
    doc = custom.request_custom_apply(ctx, slug=args.slug, name=args.name, at=at, in_window=args.in_window).to_json()
    if "scheduled_for" in doc:
        # a worker that is running then starts it (`tenantops worker`); nothing to follow now
        output.show(args, doc, lambda d: output.note(
            f"custom apply {args.name} on {args.slug}: job {d['job']} scheduled for {d['scheduled_for']} "
            f"(cancel with `tenantops jobs cancel {d['job']}`)"))
        return 0
    return _finish(ctx, args, doc, f"custom apply {args.name} on {args.slug}")


def cmd_rollback(ctx: Context, args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = rollback.preview_rollback(ctx, slug=args.slug, batch=args.batch).to_json()
    else:
        doc = rollback.request_rollback(ctx, slug=args.slug, batch=args.batch, confirm=args.confirm).to_json()
    if args.dry_run or "job" not in doc:
        def render(d: dict[str, Any]) -> None:
            output.note(f"rollback of {args.slug} after batch {args.batch}: {len(d['revisions'])} revision(s), "
                        "newest first")
            _print_revisions(d)
        output.show(args, doc, render)
        return 0
    return _finish(ctx, args, doc, f"rollback of {args.slug} after batch {args.batch}")


def cmd_sync(ctx: Context, args: argparse.Namespace) -> int:
    if (args.parallel is not None or args.on_error is not None) and args.stages is None:
        raise UsageError("--parallel and --on-error go with --stages")
    report = fleet.sync(ctx, slug=None if args.all else args.slug, dry_run=args.dry_run, canary=args.canary,
                        strategy=args.strategy, progress=None if args.json else output.note, stages=args.stages,
                        parallel=1 if args.parallel is None else args.parallel, on_error=args.on_error or "halt")

    def render(d: dict) -> None:
        output.table(f"Sync ({d['strategy']})", ["tenant", "outcome", "pending", "held", "versions", "error"],
                     [(t["tenant"], t["outcome"], len(t.get("pending", [])), len(t.get("held", [])),
                       ", ".join(f"{u}={v or '-'}" for u, v in (t.get("versions") or {}).items()), t.get("error"))
                      for t in d["tenants"]])
        for t in d["tenants"]:
            for h in t.get("held", []):
                output.note(f"{t['tenant']}: held {h['unit']} {h['revision']}: {h['reason']} "
                            f"(apply with `tenantops sync {t['tenant']} --strategy aggressive`)")
            if t.get("plan_file"):
                output.note(f"{t['tenant']}: SQL plan written to {t['plan_file']} (nothing applied)")
        if d.get("stopped"):
            output.note(f"rollout stopped after {d['stopped']} failed; the remaining tenants were left untouched")
        if d.get("rollout"):
            from .rollouts import render_rollout
            render_rollout(d["rollout"])
    output.show(args, report, render)
    return 1 if any(t["outcome"] in ("failed", "blocked") for t in report["tenants"]) else 0


def cmd_backups_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = backups.list_backups(ctx, args.slug)
    output.show(args, rows, lambda rs: output.table(
        f"Backups of {args.slug}", ["id", "created", "reason", "pinned", "size", "sha256", "path"],
        [(r["id"], r["created_at"][:19], r["reason"], "pinned" if r["pinned"] else "", r["size_bytes"],
          output.clip(r["checksum"], 12), r["path"]) for r in rs]))
    return 0


def cmd_backups_kept(ctx: Context, args: argparse.Namespace) -> int:
    kept = backups.list_kept(ctx, args.slug)
    output.show(args, kept, lambda rs: output.table(
        "Kept pre-restore databases" + (f" of {args.slug}" if args.slug else ""),
        ["name", "tenant", "kept at", "tables", "bytes"],
        [(r["name"], r["tenant"] or "?", (r["kept_at"] or "")[:16], r["tables"], r["size_bytes"]) for r in rs]))
    return 0


def cmd_backups_drop_kept(ctx: Context, args: argparse.Namespace) -> int:
    dropped = backups.drop_kept(ctx, slug=args.slug, name=args.name, confirm=args.confirm)
    output.show(args, dropped, lambda d: output.note(f"kept database {d['name']} of {args.slug} dropped"))
    return 0


def cmd_backups_unpin(ctx: Context, args: argparse.Namespace) -> int:
    doc = backups.unpin_backup(ctx, slug=args.slug, backup_id=args.backup, confirm=args.confirm)
    output.show(args, doc, lambda d: output.note(f"backup {d['id']} of {args.slug} is no longer pinned; "
                                                 "retention may now remove it"))
    return 0


def cmd_backups_restore(ctx: Context, args: argparse.Namespace) -> int:
    job_id = backups.request_restore(ctx, slug=args.slug, backup_id=args.backup, confirm=args.confirm).job
    assert job_id is not None
    output.note(f"restore of {args.slug}: job {job_id}")
    job = run_job_to_end(ctx, job_id, quiet=args.json)
    if job["status"] != "succeeded":
        if args.json:
            output.emit_json({"job": job_id, "tenant": args.slug, "backup": args.backup, "status": job["status"],
                              "error": job["error"]})
        raise TenantopsError(f"restoring backup {args.backup} into {args.slug} failed: {job['error']} "
                             f"(see `tenantops jobs show {job_id}`)")
    output.show(args, {**job["result"], "job": job_id},
                lambda d: output.note(f"backup {d['id']} restored into {args.slug}"))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    verbs = group(sub, "modules", help="add or remove a tenant's modules")
    p = verb(verbs, "add", common, help="add a catalog module to a tenant, or to the fleet as a staged rollout",
             handler=cmd_modules_add,
             example=["tenantops modules add nc-ktm donations --dry-run",
                      "tenantops modules add --all simple_donations --template community_group "
                      "--stages canary:2,pilot:10%,rest --parallel 2"])
    p.add_argument("slug", nargs="?", help="the tenant's slug (not with --all)")
    p.add_argument("module", help="the catalog module's slug (`tenantops catalog list`)")
    p.add_argument("--all", action="store_true",
                   help="every active tenant without the module (narrow with --label/--template), as a rollout")
    p.add_argument("--label", metavar="KEY=VALUE", help="with --all: only tenants carrying this label")
    p.add_argument("--template", metavar="SLUG", help="with --all: only tenants of this template")
    p.add_argument("--stages", metavar="SPEC",
                   help="with --all: the rollout's stages, e.g. canary:2,pilot:10%%,label:region=east,rest "
                        "(default rest: one stage)")
    p.add_argument("--parallel", type=positive_int, metavar="N",
                   help="with --all: tenants at once per stage (default 1)")
    p.add_argument("--on-error", metavar="halt|continue|threshold:P%",
                   help="with --all: what a failure does (default halt)")
    dry_run(p)
    p = verb(verbs, "remove", common, help="remove a module from a tenant (drops its tables: destructive)",
             handler=cmd_modules_remove, example="tenantops modules remove nc-ktm donations --confirm nc-ktm")
    _slug_module(p)
    dry_run(p)
    confirm(p)

    verbs = group(sub, "custom", help="tenant-specific custom migrations (dba)")
    p = verb(verbs, "submit", common, help="submit a migration file for review", handler=cmd_custom_submit,
             example="tenantops custom submit nc-ktm ./add_ward_index.py --name ward-index")
    _slug(p)
    p.add_argument("file", metavar="FILE", help="the Alembic-style revision file (upgrade and downgrade)")
    p.add_argument("--name", help="name for the submitted migration (default: the file name)")
    p = verb(verbs, "show", common, help="a custom migration and its review", handler=cmd_custom_show,
             example="tenantops custom show nc-ktm ward-index --json")
    _slug_name(p)
    p = verb(verbs, "approve", common, help="approve another dba's custom migration", handler=cmd_custom_approve,
             example="tenantops custom approve nc-ktm ward-index")
    _slug_name(p)
    p.add_argument("--allow-unsafe", action="store_true",
                   help="approve although the review found destructive changes (say it out loud)")
    p = verb(verbs, "apply", common, help="apply an approved custom migration now or later",
             handler=cmd_custom_apply,
             example=["tenantops custom apply nc-ktm ward-index", "tenantops custom apply nc-ktm ward-index --in-window"])
    _slug_name(p)
    when = p.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="ISO8601", type=iso_time,
                      help="schedule it; no worker starts it before this time (with offset, e.g. ...Z)")
    when.add_argument("--in-window", action="store_true", help="schedule it at the next [maintenance] window")
    p = verb(verbs, "list", common, help="a tenant's custom migrations (array with --json)", handler=cmd_custom_list,
             example="tenantops custom list nc-ktm --json")
    _slug(p)

    p = verb(sub, "rollback", common, help="undo the revisions applied after a batch (dba)", handler=cmd_rollback,
             example=["tenantops rollback nc-ktm --batch 3 --dry-run", "tenantops rollback nc-ktm --batch 3 --confirm nc-ktm"])
    _slug(p)
    p.add_argument("--batch", type=int, required=True, help="keep this history batch; undo everything after it")
    dry_run(p)
    confirm(p)

    p = verb(sub, "sync", common, help="apply new catalog revisions to a tenant or the fleet", handler=cmd_sync,
             example=["tenantops sync nc-ktm --dry-run", "tenantops sync --all --canary 2"])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("slug", nargs="?", help="the tenant's slug")
    which.add_argument("--all", action="store_true", help="every active tenant")
    dry_run(p)
    p.add_argument("--canary", type=positive_int, metavar="N",
                   help="sync N tenants one at a time first and stop the rollout at the first failure")
    p.add_argument("--strategy", choices=SYNC_STRATEGIES,
                   help="conservative: only revisions that add (the rest wait for a dba); aggressive: all; "
                        "manual: write the SQL plan, apply nothing (default: sync_strategy in the config)")
    p.add_argument("--stages", metavar="SPEC",
                   help="--all as a staged rollout, e.g. canary:2,pilot:10%%,label:region=east,rest")
    p.add_argument("--parallel", type=positive_int, metavar="N",
                   help="with --stages: tenants at once per stage (default 1)")
    p.add_argument("--on-error", metavar="halt|continue|threshold:P%",
                   help="with --stages: what a failure does (default halt)")

    verbs = group(sub, "backups", help="tenant backups")
    p = verb(verbs, "list", common, help="a tenant's backups (array with --json)", handler=cmd_backups_list,
             example="tenantops backups list nc-ktm --json")
    _slug(p)
    p = verb(verbs, "restore", common, help="restore a backup into its tenant (dba, destructive)",
             handler=cmd_backups_restore, example="tenantops backups restore nc-ktm 7 --confirm nc-ktm")
    _slug(p)
    p.add_argument("backup", type=int, metavar="BACKUP", help="the backup's id (`tenantops backups list SLUG`)")
    confirm(p)
    p = verb(verbs, "kept", common, help="databases a MariaDB restore kept aside (array with --json)",
             handler=cmd_backups_kept, example=["tenantops backups kept", "tenantops backups kept nc-ktm --json"])
    p.add_argument("slug", nargs="?", help="only this tenant's")
    p = verb(verbs, "drop-kept", common, help="drop a kept pre-restore database (dba)", handler=cmd_backups_drop_kept,
             example="tenantops backups drop-kept nc-ktm tenantops_pre_1a2b3c4d --confirm nc-ktm")
    _slug(p)
    p.add_argument("name", metavar="NAME", help="the kept database (`tenantops backups kept SLUG`)")
    confirm(p)
    p = verb(verbs, "unpin", common, help="let retention remove a pinned backup", handler=cmd_backups_unpin,
             example="tenantops backups unpin nc-ktm 7 --confirm nc-ktm")
    _slug(p)
    p.add_argument("backup", type=int, metavar="BACKUP", help="the backup's id (`tenantops backups list SLUG`)")
    confirm(p)


def _slug(p: argparse.ArgumentParser) -> None:
    p.add_argument("slug", help="the tenant's slug")


def _slug_module(p: argparse.ArgumentParser) -> None:
    _slug(p)
    p.add_argument("module", help="the catalog module's slug (`tenantops catalog list`)")


def _slug_name(p: argparse.ArgumentParser) -> None:
    _slug(p)
    p.add_argument("name", help="the custom migration's name (`tenantops custom list SLUG`)")
