"""modules, custom, rollback, sync, backups."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TYPE_CHECKING

from tenantops.engine.errors import TenantopsError, UsageError
from tenantops.engine.vocab import SYNC_STRATEGIES

from .. import output
from ..lazy import lazy

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


def cmd_modules(ctx: Context, args: argparse.Namespace) -> int:
    preview, request = ((modules.preview_module_add, modules.request_module_add) if args.action == "add"
                        else (modules.preview_module_remove, modules.request_module_remove))
    if args.dry_run:
        doc = preview(ctx, slug=args.slug, module=args.module).to_json()
    else:
        doc = request(ctx, slug=args.slug, module=args.module, confirm=args.confirm).to_json()
    if args.dry_run:
        def render(d: dict[str, Any]) -> None:
            output.note(f"would {args.action} {args.module} on {args.slug}")
            _print_revisions(d)
        output.show(args, doc, render)
        return 0
    return _finish(ctx, args, doc, f"modules {args.action} {args.module} on {args.slug}")


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


def cmd_custom(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = custom.list_custom(ctx, args.slug)
        output.show(args, rows, lambda rs: output.table(
            f"Custom migrations of {args.slug}", ["name", "revision", "status", "submitted by", "approved by", "error"],
            [(r["name"], r["revision"], r["status"], r["submitted_by"], r["approved_by"], r["error"]) for r in rs]))
        return 0
    if not args.arg:
        raise UsageError(f"custom {args.action} needs {'FILE' if args.action == 'submit' else 'NAME'}")
    if args.action == "submit":
        path = Path(args.arg)
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
    if args.action == "show":
        doc = custom.show_custom(ctx, slug=args.slug, name=args.arg)

        def shown(d: dict[str, Any]) -> None:
            output.note(f"custom migration {d['name']} of {args.slug}: {d['status']}, submitted by "
                        f"{d['submitted_by']}" + (f", approved by {d['approved_by']}" if d["approved_by"] else ""))
            _print_review(d["review"])
        output.show(args, doc, shown)
        return 0
    if args.action == "approve":
        doc = custom.approve_custom(ctx, slug=args.slug, name=args.arg, allow_unsafe=args.allow_unsafe)
        output.show(args, doc, lambda d: output.note(f"custom migration {d['name']} approved"))
        return 0
    if args.at and args.in_window:
        raise UsageError("custom apply takes --at or --in-window, not both")
    at = schedule.parse_at(args.at) if args.at else None
    doc = custom.request_custom_apply(ctx, slug=args.slug, name=args.arg, at=at, in_window=args.in_window).to_json()
    if "scheduled_for" in doc:
        # a worker that is running then starts it (`tenantops worker`); nothing to follow now
        output.show(args, doc, lambda d: output.note(
            f"custom apply {args.arg} on {args.slug}: job {d['job']} scheduled for {d['scheduled_for']} "
            f"(cancel with `tenantops jobs cancel {d['job']}`)"))
        return 0
    return _finish(ctx, args, doc, f"custom apply {args.arg} on {args.slug}")


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
    if not args.all and not args.slug:
        raise UsageError("sync needs SLUG or --all")
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


def cmd_backups(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "kept":
        kept = backups.list_kept(ctx, args.slug)
        output.show(args, kept, lambda rs: output.table(
            "Kept pre-restore databases" + (f" of {args.slug}" if args.slug else ""),
            ["name", "tenant", "kept at", "tables", "bytes"],
            [(r["name"], r["tenant"] or "?", (r["kept_at"] or "")[:16], r["tables"], r["size_bytes"])
             for r in rs]))
        return 0
    if args.slug is None:
        raise UsageError(f"backups {args.action} needs a tenant SLUG")
    if args.action == "list":
        rows = backups.list_backups(ctx, args.slug)
        output.show(args, rows, lambda rs: output.table(
            f"Backups of {args.slug}", ["id", "created", "reason", "pinned", "size", "sha256", "path"],
            [(r["id"], r["created_at"][:19], r["reason"], "pinned" if r["pinned"] else "", r["size_bytes"],
              r["checksum"][:12], r["path"]) for r in rs]))
        return 0
    if args.action == "drop-kept":
        if args.backup is None:
            raise UsageError("backups drop-kept SLUG NAME --confirm SLUG")
        dropped = backups.drop_kept(ctx, slug=args.slug, name=args.backup, confirm=args.confirm)
        output.show(args, dropped, lambda d: output.note(f"kept database {d['name']} of {args.slug} dropped"))
        return 0
    if args.backup is None:
        raise UsageError(f"backups {args.action} SLUG BACKUP --confirm SLUG")
    try:
        backup_id = int(args.backup)
    except ValueError:
        raise UsageError(f"backups {args.action}: BACKUP must be a backup id (a number), not {args.backup!r}") from None
    if args.action == "unpin":
        doc = backups.unpin_backup(ctx, slug=args.slug, backup_id=backup_id, confirm=args.confirm)
        output.show(args, doc, lambda d: output.note(f"backup {d['id']} of {args.slug} is no longer pinned; "
                                                     "retention may now remove it"))
        return 0
    job_id = backups.request_restore(ctx, slug=args.slug, backup_id=backup_id, confirm=args.confirm).job
    assert job_id is not None
    output.note(f"restore of {args.slug}: job {job_id}")
    job = run_job_to_end(ctx, job_id, quiet=args.json)
    if job["status"] != "succeeded":
        raise TenantopsError(f"restoring backup {backup_id} into {args.slug} failed: {job['error']} "
                             f"(see `tenantops jobs show {job_id}`)")
    output.show(args, job["result"], lambda d: output.note(f"backup {d['id']} restored into {args.slug}"))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("modules", parents=[common], help="add or remove a tenant's modules")
    p.add_argument("action", choices=["add", "remove"])
    p.add_argument("slug")
    p.add_argument("module")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--confirm")
    p.set_defaults(handler=cmd_modules)

    p = sub.add_parser("custom", parents=[common], help="tenant-specific custom migrations")
    p.add_argument("action", choices=["submit", "show", "approve", "apply", "list"])
    p.add_argument("slug")
    p.add_argument("arg", nargs="?", metavar="FILE|NAME")
    p.add_argument("--name", help="name for a submitted file (default: the file name)")
    p.add_argument("--at", metavar="ISO8601", help="apply: schedule it; no worker starts it before this time")
    p.add_argument("--in-window", action="store_true", help="apply: schedule it at the next [maintenance] window")
    p.add_argument("--allow-unsafe", action="store_true",
                   help="approve although the review found destructive changes (say it out loud)")
    p.set_defaults(handler=cmd_custom)

    p = sub.add_parser("rollback", parents=[common], help="undo revisions applied after a batch")
    p.add_argument("slug")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--confirm")
    p.set_defaults(handler=cmd_rollback)

    p = sub.add_parser("sync", parents=[common], help="apply new catalog revisions")
    p.add_argument("slug", nargs="?")
    p.add_argument("--all", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--canary", type=int)
    p.add_argument("--strategy", choices=SYNC_STRATEGIES,
                   help="conservative: only revisions that add; aggressive: all; manual: write the SQL plan "
                        "(default: sync_strategy in the config)")
    p.add_argument("--stages", metavar="SPEC",
                   help="--all as a staged rollout, e.g. canary:2,pilot:10%%,label:region=east,rest")
    p.add_argument("--parallel", type=int, metavar="N", help="with --stages: tenants at once per stage (default 1)")
    p.add_argument("--on-error", metavar="halt|continue|threshold:P%",
                   help="with --stages: what a failure does (default halt)")
    p.set_defaults(handler=cmd_sync)

    p = sub.add_parser("backups", parents=[common], help="tenant backups")
    p.add_argument("action", choices=["list", "restore", "unpin", "kept", "drop-kept"])
    p.add_argument("slug", nargs="?")
    p.add_argument("backup", nargs="?", metavar="BACKUP|NAME", help="a backup id; drop-kept: a kept database")
    p.add_argument("--confirm")
    p.set_defaults(handler=cmd_backups)
