"""applications, provision, tenants, history, jobs, worker."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tenantops.engine.errors import TenantopsError, UsageError
from tenantops.engine.vocab import TENANT_STATUSES

from .. import output
from ..lazy import lazy

if TYPE_CHECKING:
    from tenantops.engine.tenants import applications
    from tenantops.engine.migrate import history
    from tenantops.engine.jobs import queue as jobs
    from tenantops.engine.tenants import notify
    from tenantops.engine.tenants import provision as provisioner
    from tenantops.engine.tenants import records as tenants
    from tenantops.engine.tenants import labels
    from tenantops.engine.jobs import worker
    from tenantops.engine import kinds
    from tenantops.engine.context import Context
    from tenantops.engine.documents import JobDoc, StepDoc
else:
    applications = lazy("tenantops.engine.tenants.applications")
    history = lazy("tenantops.engine.migrate.history")
    jobs = lazy("tenantops.engine.jobs.queue")
    notify = lazy("tenantops.engine.tenants.notify")
    provisioner = lazy("tenantops.engine.tenants.provision")
    tenants = lazy("tenantops.engine.tenants.records")
    labels = lazy("tenantops.engine.tenants.labels")
    worker = lazy("tenantops.engine.jobs.worker")
    kinds = lazy("tenantops.engine.kinds")

ICONS = {"succeeded": "[green]✓ ok  [/]", "failed": "[red]✗ FAIL[/]", "running": "[yellow]▶ run [/]",
         "skipped": "[dim]- skip[/]"}


def cmd_applications(ctx: Context, args: argparse.Namespace) -> int:
    action = args.action
    if action == "submit":
        missing = [flag for flag, value in (("--org", args.org), ("--slug", args.slug), ("--email", args.email),
                                            ("--template", args.template)) if not value]
        if missing:
            raise UsageError(f"applications submit needs {', '.join(missing)}")
        modules = [x for x in (args.modules or "").split(",") if x.strip()]
        doc = applications.submit(ctx, organization=args.org, slug=args.slug, email=args.email,
                                  template=args.template, modules=modules, contact=args.contact or "")
        output.show(args, doc, lambda d: output.note(f"application {d['id']} ({d['slug']}) submitted, pending review"))
    elif action == "list":
        rows = applications.list_applications(ctx, args.status)
        output.show(args, rows, lambda rs: output.table(
            "Applications", ["id", "slug", "organization", "template", "modules", "status", "submitted"],
            [(r["id"], r["slug"], r["organization"], r["template"], ",".join(r["modules"]), r["status"],
              r["submitted_at"][:16]) for r in rs]))
    else:
        key = args.key
        if not key:
            raise UsageError(f"applications {action} needs ID or SLUG")
        if action == "show":
            doc = applications.get(ctx, key)
            output.show(args, doc, output.fields)
        elif action == "approve":
            doc = applications.approve(ctx, key, notes=args.notes)
            output.show(args, doc, lambda d: output.note(f"application {d['slug']} approved"))
        elif action == "reject":
            if not args.reason:
                raise UsageError("applications reject needs --reason TEXT")
            doc = applications.reject(ctx, key, reason=args.reason)
            output.show(args, doc, lambda d: output.note(f"application {d['slug']} rejected"))
    return 0


def print_event(ev: StepDoc) -> None:
    if ev["status"] == "running":
        output.err.print(f"{ICONS['running']} {ev['name']}", highlight=False)
        return
    duration = f"{ev['duration_s']:.2f}s" if ev.get("duration_s") is not None else ""
    line = f"{ICONS.get(ev['status'], ev['status'])} {ev['name']} [dim]{duration}[/]"
    detail = ev.get("detail")
    if detail and not ev["name"].startswith("  "):
        line += f" [dim]— {detail[:120]}[/]"
    output.err.print(line, highlight=False)
    if ev.get("error"):
        output.err.print(f"         [red]{ev['error']}[/]", highlight=False, markup=True)


def run_job_to_end(ctx: Context, job_id: int, quiet: bool = False) -> JobDoc:
    """Start a worker process for the job and follow its timeline on stderr."""
    proc = worker.spawn(ctx, job_id=job_id)
    try:
        # a worker that dies (or leaves the job queued) ends the wait with one line
        doc = jobs.follow(ctx, job_id, (lambda ev: None) if quiet else print_event,
                          worker_alive=lambda: proc.poll() is None)
    except jobs.JobStranded:
        proc.poll()  # reap it if it is gone
        raise
    proc.wait(timeout=60)
    return doc


def cmd_provision(ctx: Context, args: argparse.Namespace) -> int:
    if args.all_approved:
        from tenantops.engine.health import fleet

        report = fleet.provision_all(ctx, progress=None if args.json else output.note)
        output.show(args, report, lambda d: output.table(
            "Provisioning", ["tenant", "job", "status", "error"],
            [(r["tenant"], r["job"], r["status"], r["error"]) for r in d["tenants"]]))
        return 1 if any(r["status"] != "succeeded" for r in report["tenants"]) else 0
    if not args.slug:
        raise UsageError("provision needs SLUG or --all-approved")
    if args.dry_run:
        doc = provisioner.preview_provision(ctx, slug=args.slug, server=args.server).to_json()

        def render(d: dict) -> None:
            output.note(f"would provision {d['slug']} on {d['server']} ({d['dialect']}) as {d['database']}")
            output.table("Units", ["#", "unit", "kind", "version", "why"],
                         [(i + 1, u["slug"], u["kind"], u["version"], u["auto_added"] or "selected")
                          for i, u in enumerate(d["units"])])
            for r in d["revisions"]:
                output.sql_block(f"{r['layer']} {r['unit']} · {r['revision']}", r["sql"])
        output.show(args, doc, render)
        return 0
    job_id = provisioner.request_provision(ctx, slug=args.slug, server=args.server).job
    assert job_id is not None
    output.note(f"provisioning {args.slug}: job {job_id}")
    job = run_job_to_end(ctx, job_id, quiet=args.json)
    if job["status"] != "succeeded":
        if args.json:
            output.emit_json(job)
        raise TenantopsError(f"provisioning {args.slug} failed: {job['error']} (see `tenantops jobs show {job_id}`)")
    link = notify.setup_link(ctx, args.slug)
    tenant = tenants.show(ctx, args.slug)
    if args.json:
        output.emit_json({**tenant, "job": job_id})
    else:
        output.note(f"tenant {args.slug} is active on {tenant['server']} ({tenant['database']})")
    if link:
        admin = tenant["admin_user"]
        assert admin is not None  # the pending setup link is the admin user's welcome mail
        output.note(f"setup link for {admin['email']} (shown once, also in the welcome mail): {link}")
    return 0


def cmd_tenants(ctx: Context, args: argparse.Namespace) -> int:
    from . import lifecycle as verbs

    if args.action == "list":
        label = None
        if args.label is not None:
            key, value = labels.parse_pair(args.label)
            label = (key, value or "")
        rows = tenants.list_tenants(ctx, args.status, label)
        output.show(args, rows, lambda rs: output.table(
            "Tenants", ["slug", "status", "server", "template", "modules", "labels", "drift"],
            [(r["slug"], r["status"], r["server"], r["template"]["slug"], ",".join(r["modules"]),
              ",".join(f"{k}={v}" for k, v in r["labels"].items()),
              (r["last_drift"] or {}).get("severity", "")) for r in rs]))
        return 0
    if not args.slug:
        raise UsageError(f"tenants {args.action} needs SLUG")
    if args.pairs and args.action != "label":
        raise UsageError(f"tenants {args.action}: unexpected argument {args.pairs[0]!r}")
    if args.action == "label":
        pairs = ([args.template] if args.template else []) + list(args.pairs)
        done = labels.set_labels(ctx, tenant=args.slug, changes=labels.parse_changes(pairs))
        output.show(args, {"tenant": args.slug, "labels": done}, lambda d: output.note(
            f"{d['tenant']}: " + (", ".join(f"{k}={v}" for k, v in d["labels"].items()) or "no labels")))
        return 0
    if args.action == "suspend" and not args.reason:
        raise UsageError("tenants suspend needs --reason TEXT")
    handler = {"show": verbs.show_tenant, "suspend": verbs.cmd_suspend, "resume": verbs.cmd_resume,
               "archive": verbs.cmd_archive, "unarchive": verbs.cmd_unarchive, "move": verbs.cmd_move,
               "cleanup-source": verbs.cmd_cleanup_source, "change-template": verbs.cmd_change_template}[args.action]
    return handler(ctx, args)


def cmd_history(ctx: Context, args: argparse.Namespace) -> int:
    rows = history.list_history(ctx, args.slug)
    output.show(args, rows, lambda rs: output.table(
        f"History of {args.slug}", ["batch", "action", "layer", "unit", "revision", "outcome", "duration", "operator"],
        [(r["batch"], r["action"], r["layer"], r["unit"], r["revision"], r["outcome"],
          f"{r['duration_s']:.3f}s" if r["duration_s"] is not None else "", r["operator"]) for r in rs]))
    return 0


def cmd_jobs(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = jobs.list_jobs(ctx, status=args.status)
        output.show(args, rows, lambda rs: output.table(
            "Jobs", ["id", "kind", "tenant", "status", "attempt", "created by", "created", "error"],
            [(r["id"], r["kind"], r["tenant"],
              f"scheduled {r['not_before'][:16]}" if r["status"] == "queued" and r["not_before"] else r["status"],
              r["attempt"], r["created_by"], (r["created_at"] or "")[:19], (r["error"] or "")[:60]) for r in rs]))
        return 0
    if args.id is None:
        raise UsageError(f"jobs {args.action} needs ID")
    if args.action == "cancel":
        cancelled = kinds.cancel(ctx, args.id)
        output.show(args, cancelled, lambda d: output.note(f"job {d['id']} ({d['kind']} {d['tenant'] or ''}) cancelled"))
        return 0
    if args.action == "retry":
        new_id = kinds.retry(ctx, args.id, confirm=getattr(args, "confirm", None),
                             server=getattr(args, "server", None))
        output.show(args, {"job": new_id}, lambda d: output.note(f"job {args.id} queued again as job {new_id}"))
        return 0
    doc = jobs.get_job(ctx, args.id)

    def render(d: dict) -> None:
        output.note(f"job {d['id']} {d['kind']} {d['tenant'] or ''}: {d['status']} (attempt {d['attempt']})")
        for ev in d["steps"]:
            print_event(ev)
    output.show(args, doc, render)
    return 0


def cmd_worker(ctx: Context, args: argparse.Namespace) -> int:
    if args.name:
        import os

        os.environ[jobs.WORKER_NAME_ENV] = args.name  # jobs and locks name this worker so
    done = worker.work(ctx, once=args.once)
    output.note(f"worker ran {done} job(s)")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("applications", parents=[common], help="tenant applications")
    p.add_argument("action", choices=["submit", "list", "show", "approve", "reject"])
    p.add_argument("key", nargs="?", metavar="ID|SLUG")
    p.add_argument("--org")
    p.add_argument("--slug")
    p.add_argument("--email")
    p.add_argument("--template")
    p.add_argument("--modules")
    p.add_argument("--contact")
    p.add_argument("--status")
    p.add_argument("--notes")
    p.add_argument("--reason")
    p.set_defaults(handler=cmd_applications)

    p = sub.add_parser("provision", parents=[common], help="provision an approved application's tenant")
    p.add_argument("slug", nargs="?")
    p.add_argument("--all-approved", action="store_true", help="every approved application, in parallel workers")
    p.add_argument("--server")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(handler=cmd_provision)

    p = sub.add_parser("tenants", parents=[common], help="tenants")
    p.add_argument("action", choices=["list", "show", "suspend", "resume", "archive", "unarchive", "move",
                                      "cleanup-source", "change-template", "label"])
    p.add_argument("slug", nargs="?")
    p.add_argument("template", nargs="?", help="change-template: the new template")
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="label: labels to set (KEY= removes one)")
    p.add_argument("--label", metavar="KEY=VALUE", help="list: only tenants carrying this label")
    p.add_argument("--status", choices=TENANT_STATUSES, help="list: only tenants in this status")
    p.add_argument("--reason", help="suspend: why (shown wherever the tenant is)")
    p.add_argument("--server", help="unarchive: the server to bring the tenant back to")
    p.add_argument("--confirm", metavar="SLUG", help="archive, move --drop-source: the tenant's slug, repeated")
    p.add_argument("--to", metavar="SERVER", help="move: the server to move the tenant to")
    p.add_argument("--drop-source", action="store_true", help="move: drop the source database once verified")
    p.add_argument("--drop-old", action="store_true",
                   help="change-template: move the old template's tables into quarantine instead of keeping them")
    p.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
    p.set_defaults(handler=cmd_tenants)

    p = sub.add_parser("history", parents=[common], help="a tenant's migration history")
    p.add_argument("slug")
    p.set_defaults(handler=cmd_history)

    p = sub.add_parser("jobs", parents=[common], help="jobs and their timelines")
    p.add_argument("action", choices=["list", "show", "retry", "cancel"])
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--status")
    p.add_argument("--confirm", help="the tenant's slug, to retry a job that changes data (CLI.md)")
    p.add_argument("--server", metavar="NAME", help="retry on another server (a job that chose one, e.g. provision)")
    p.set_defaults(handler=cmd_jobs)

    p = sub.add_parser("worker", parents=[common], help="run queued jobs")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.add_argument("--name", help="this worker's name in jobs and locks (default: the host name)")
    p.set_defaults(handler=cmd_worker, runs_for_requesters=True)
