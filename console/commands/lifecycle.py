"""tenants suspend/resume/archive/unarchive, the tenant's health in `tenants show`, and
the notifications outbox."""
from __future__ import annotations

import argparse
from typing import Any, TYPE_CHECKING

from tenantops.engine.errors import UsageError
from tenantops.engine.vocab import NOTIFICATION_STATUSES

from .. import output
from ..lazy import lazy
from .day2 import _finish

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
    if not args.to:
        raise UsageError("tenants move needs --to SERVER")
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
    if not args.template:
        raise UsageError("tenants change-template needs TEMPLATE (see `tenantops catalog list`)")
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


def cmd_notifications(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "resend" and args.id is None:
        raise UsageError("notifications resend needs ID")
    if args.action == "resend":
        doc = notify.resend(ctx, notification_id=args.id)
        output.show(args, doc, lambda d: output.note(f"notification {d['id']} sent to {d['recipient']}"))
        return 0
    rows = notify.list_notifications(ctx, status=args.status, tenant=args.tenant)
    output.show(args, rows, lambda rs: output.table(
        "Notifications", ["id", "tenant", "recipient", "subject", "status", "created", "error"],
        [(r["id"], r["tenant"] or "", r["recipient"], r["subject"], r["status"], r["created_at"][:19],
          (r["error"] or "")[:60]) for r in rs]))
    return 0


def cmd_compliance(ctx: Context, args: argparse.Namespace) -> int:
    if args.all == bool(args.slug):
        raise UsageError("compliance needs SLUG or --all (not both)")
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


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("notifications", parents=[common], help="the notifications outbox",
                       epilog="example: tenantops notifications list --status pending")
    p.add_argument("action", choices=["list", "resend"], help="list the outbox, or deliver one row now")
    p.add_argument("id", nargs="?", type=int, help="resend: the notification's id")
    p.add_argument("--status", choices=NOTIFICATION_STATUSES, help="list: only rows in this status")
    p.add_argument("--tenant", metavar="SLUG", help="list: only this tenant's rows")
    p.set_defaults(handler=cmd_notifications)

    p = sub.add_parser("compliance", parents=[common], help="check the template's compliance rules",
                       epilog="example: tenantops compliance --all --json (exit 1 when a tenant breaks a rule)")
    p.add_argument("slug", nargs="?", help="the tenant to check")
    p.add_argument("--all", action="store_true", help="every active or suspended tenant")
    p.set_defaults(handler=cmd_compliance)
