"""tenants suspend/resume/archive/unarchive, the tenant's health in `tenants show`, and
the notifications outbox."""
from __future__ import annotations

import argparse
from typing import Any, TYPE_CHECKING

from tenantops.engine.vocab import NOTIFICATION_STATUSES

from .. import output
from ..lazy import lazy
from .day2 import _finish
from .verbs import confirm, dry_run, group, verb

if TYPE_CHECKING:
    from tenantops.engine.tenants import lifecycle, move, notify, summary, template
    from tenantops.engine.health import compliance
    from tenantops.engine.tenants import records as tenants
    from tenantops.engine.context import Context
else:
    lifecycle = lazy("tenantops.engine.tenants.lifecycle")
    move = lazy("tenantops.engine.tenants.move")
    template = lazy("tenantops.engine.tenants.template")
    notify = lazy("tenantops.engine.tenants.notify")
    summary = lazy("tenantops.engine.tenants.summary")
    compliance = lazy("tenantops.engine.health.compliance")
    tenants = lazy("tenantops.engine.tenants.records")


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def show_tenant(ctx: Context, args: argparse.Namespace) -> int:
    doc: dict[str, Any] = dict(tenants.show(ctx, args.slug))
    doc["health"] = summary.health(ctx, args.slug)
    if doc["status"] == "suspended":
        doc["suspended_reason"] = lifecycle.suspension_reason(ctx, args.slug)

    def render(d: dict[str, Any]) -> None:
        output.fields(d, ["slug", "organization", "status", "suspended_reason", "server", "database", "template",
                          "modules", "labels", "migrations", "schema_hash", "last_drift", "admin_user", "error"])
        h = d["health"]
        facts = [("database", f"{_human_bytes(h['size_bytes'])}, {h['tables']} tables, ~{h['rows_estimate']} rows"
                  if h["reachable"] else ("unreachable: " + h["error"] if h["reachable"] is False else "-")),
                 ("last backup", f"{h['last_backup']['at']} (#{h['last_backup']['id']}, {h['last_backup']['reason']})"
                  if h["last_backup"] else "never"),
                 ("backups", f"{h['backups']} ({h['pinned_backups']} pinned)"),
                 ("last snapshot", f"{h['last_snapshot']['at']} ({h['last_snapshot']['source']})"
                  if h["last_snapshot"] else "never"),
                 ("compliance", f"{h['compliance']['status']} at {h['compliance']['checked_at']}"
                  if h["compliance"] else "never checked (`tenantops compliance SLUG`)"),
                 ("last drift check", f"{h['last_drift']['at']}: {h['last_drift']['severity']}"
                  if h["last_drift"] else "never")]
        output.table("Health", ["", ""], facts)
    output.show(args, doc, render)
    return 0


def cmd_suspend(ctx: Context, args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = lifecycle.preview_suspend(ctx, slug=args.slug, reason=args.reason).to_json()
        output.show(args, doc, lambda d: output.note(f"would suspend {d['tenant']}: {d['reason']}"))
        return 0
    doc = lifecycle.request_suspend(ctx, slug=args.slug, reason=args.reason).to_json()
    return _finish(ctx, args, doc, f"suspend {args.slug}")


def cmd_resume(ctx: Context, args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = lifecycle.preview_resume(ctx, slug=args.slug).to_json()
        output.show(args, doc, lambda d: output.note(f"would resume {d['tenant']} (suspended: {d['reason']})"))
        return 0
    doc = lifecycle.request_resume(ctx, slug=args.slug).to_json()
    return _finish(ctx, args, doc, f"resume {args.slug}")


def cmd_archive(ctx: Context, args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = lifecycle.preview_archive(ctx, slug=args.slug).to_json()
        output.show(args, doc, lambda d: output.note(
            f"would archive {d['tenant']}: {d['backup']}; then drops {', '.join(d['drops'])}; "
            f"undo with `{d['restore']}`"))
        return 0
    doc = lifecycle.request_archive(ctx, slug=args.slug, confirm=args.confirm).to_json()
    return _finish(ctx, args, doc, f"archive {args.slug}")


def cmd_unarchive(ctx: Context, args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = lifecycle.preview_unarchive(ctx, slug=args.slug, server=args.server).to_json()
        output.show(args, doc, lambda d: output.note(
            f"would restore {d['tenant']} from backup {d['backup']} onto {d['server']}"))
        return 0
    doc = lifecycle.request_unarchive(ctx, slug=args.slug, server=args.server).to_json()
    return _finish(ctx, args, doc, f"unarchive {args.slug}")


def cmd_move(ctx: Context, args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = move.preview_move(ctx, slug=args.slug, to=args.to, drop_source=args.drop_source).to_json()

        def render(d: dict[str, Any]) -> None:
            output.note(f"would move {d['tenant']} from {d['from']} to {d['to']} ({d['database']}):")
            for i, step in enumerate(d["steps"], 1):
                output.note(f"  {i}. {step}")
        output.show(args, doc, render)
        return 0
    doc = move.request_move(ctx, slug=args.slug, to=args.to, drop_source=args.drop_source,
                            confirm=args.confirm).to_json()
    code = _finish(ctx, args, doc, f"move {args.slug} to {args.to}")
    if not args.drop_source and not args.json:
        output.note(f"the source database is kept; drop it with `tenantops tenants cleanup-source {args.slug}`")
    return code


def cmd_cleanup_source(ctx: Context, args: argparse.Namespace) -> int:
    doc = move.cleanup_source(ctx, slug=args.slug)
    output.show(args, doc, lambda d: output.note(f"dropped {d['database']} on {d['server']}"))
    return 0


def cmd_change_template(ctx: Context, args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = template.preview_change_template(ctx, slug=args.slug, template=args.template,
                                               drop_old=args.drop_old).to_json()

        def render(d: dict[str, Any]) -> None:
            output.note(f"would change {d['tenant']} from {d['from']} to {d['to']}"
                        + (f", adding module(s) {', '.join(d['modules_added'])}" if d["modules_added"] else ""))
            output.note(f"tables of {d['from']}: {', '.join(d['old_tables']) or '(none)'} → {d['old_tables_become']}")
            for r in d["revisions"]:
                output.sql_block(f"{r['layer']} {r['unit']} · {r['revision']}", r["sql"])
        output.show(args, doc, render)
        return 0
    doc = template.request_change_template(ctx, slug=args.slug, template=args.template, drop_old=args.drop_old,
                                           confirm=args.confirm).to_json()
    return _finish(ctx, args, doc, f"change template of {args.slug} to {args.template}")


def cmd_notifications_resend(ctx: Context, args: argparse.Namespace) -> int:
    doc = notify.resend(ctx, notification_id=args.id)
    output.show(args, doc, lambda d: output.note(f"notification {d['id']} sent to {d['recipient']}"))
    return 0


def cmd_notifications_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = notify.list_notifications(ctx, status=args.status, tenant=args.tenant)
    output.show(args, rows, lambda rs: output.table(
        "Notifications", ["id", "tenant", "recipient", "subject", "status", "created", "error"],
        [(r["id"], r["tenant"] or "", r["recipient"], r["subject"], r["status"], r["created_at"][:19],
          (r["error"] or "")[:60]) for r in rs]))
    return 0


def cmd_compliance(ctx: Context, args: argparse.Namespace) -> int:
    reports = compliance.check_all(ctx) if args.all else [compliance.check_tenant(ctx, args.slug)]

    def render(rs: list[dict[str, Any]]) -> None:
        output.table("Compliance", ["tenant", "template", "status", "violations"],
                     [(r["tenant"], r["template"], r["status"], len(r["violations"])) for r in rs])
        # one line per broken rule, never cut by a table cell
        for r in rs:
            for v in r["violations"]:
                output.out.print(f"{r['tenant']}: {v['detail']}", highlight=False, markup=False, soft_wrap=True)
            if r["error"]:
                output.out.print(f"{r['tenant']}: {r['error']}", highlight=False, markup=False, soft_wrap=True)
    output.show(args, reports if args.all else reports[0], render if args.all else lambda r: render([r]))
    bad = [r for r in reports if r["status"] in ("violation", "unreachable")]
    if bad and not args.json:
        output.err.print(f"tenantops: {len(bad)} tenant(s) not compliant: "
                         + ", ".join(f"{r['tenant']} ({r['status']})" for r in bad), highlight=False, markup=False)
    return 1 if bad else 0


def register_tenant_verbs(verbs: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The `tenants` verbs beyond list: show and the lifecycle."""
    p = verb(verbs, "show", common, help="one tenant: server, modules, migrations, drift and health",
             handler=show_tenant, example="tenantops tenants show nc-ktm --json")
    _slug(p)
    p = verb(verbs, "suspend", common, help="lock the tenant's application out, data kept (admin)",
             handler=cmd_suspend, example="tenantops tenants suspend nc-ktm --reason 'invoice overdue'")
    _slug(p)
    p.add_argument("--reason", required=True, metavar="TEXT", help="why; shown wherever the tenant is")
    dry_run(p)
    p = verb(verbs, "resume", common, help="let a suspended tenant's application back in (admin)",
             handler=cmd_resume, example="tenantops tenants resume nc-ktm")
    _slug(p)
    dry_run(p)
    p = verb(verbs, "archive", common, help="pinned final backup, then drop the database (dba, destructive)",
             handler=cmd_archive, example="tenantops tenants archive nc-ktm --confirm nc-ktm")
    _slug(p)
    confirm(p)
    dry_run(p)
    p = verb(verbs, "unarchive", common, help="bring an archived tenant back from its final backup (dba)",
             handler=cmd_unarchive, example=["tenantops tenants unarchive nc-ktm", "tenantops tenants unarchive nc-ktm --server db2"])
    _slug(p)
    p.add_argument("--server", metavar="NAME", help="the server to bring it back to (default: its old one if it can)")
    dry_run(p)
    p = verb(verbs, "move", common, help="copy to another server, verify, switch; the source is kept (dba)",
             handler=cmd_move, example=["tenantops tenants move nc-ktm --to db2 --dry-run",
                                        "tenantops tenants move nc-ktm --to db2 --drop-source --confirm nc-ktm"])
    _slug(p)
    p.add_argument("--to", required=True, metavar="SERVER", help="the server to move the tenant to")
    p.add_argument("--drop-source", action="store_true", help="drop the source database once the copy is verified")
    confirm(p)
    dry_run(p)
    p = verb(verbs, "cleanup-source", common, help="drop the source database a move kept (dba)",
             handler=cmd_cleanup_source, example="tenantops tenants cleanup-source nc-ktm")
    _slug(p)
    p = verb(verbs, "change-template", common, help="apply another template and its required modules (dba)",
             handler=cmd_change_template,
             example=["tenantops tenants change-template tole-club non_profit_organization --dry-run",
                      "tenantops tenants change-template tole-club non_profit_organization --confirm tole-club"])
    _slug(p)
    p.add_argument("template", metavar="TEMPLATE", help="the new template (`tenantops catalog list`)")
    p.add_argument("--drop-old", action="store_true",
                   help="move the old template's tables into quarantine instead of keeping them")
    confirm(p)
    dry_run(p)


def _slug(p: argparse.ArgumentParser) -> None:
    p.add_argument("slug", help="the tenant's slug")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    verbs = group(sub, "notifications", help="the notifications outbox")
    p = verb(verbs, "list", common, help="outbox rows, newest first (array with --json)",
             handler=cmd_notifications_list, example="tenantops notifications list --status pending")
    p.add_argument("--status", choices=NOTIFICATION_STATUSES, help="only rows in this status")
    p.add_argument("--tenant", metavar="SLUG", help="only this tenant's rows")
    p = verb(verbs, "resend", common, help="deliver one row now (admin)", handler=cmd_notifications_resend,
             example="tenantops notifications resend 12")
    p.add_argument("id", type=int, metavar="ID", help="the notification's id (`tenantops notifications list`)")

    p = verb(sub, "compliance", common, help="check the template's compliance rules (exit 1 on a violation)",
             handler=cmd_compliance, example=["tenantops compliance nc-ktm", "tenantops compliance --all --json"])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("slug", nargs="?", help="the tenant to check")
    which.add_argument("--all", action="store_true", help="every active or suspended tenant (array with --json)")
