"""applications, provision, tenants, history, jobs, worker."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING


from tenantops.engine.errors import TenantopsError

from tenantops.engine.vocab import APPLICATION_STATUSES, JOB_STATUSES, TENANT_STATUSES

from .. import output
from ..lazy import lazy
from .verbs import confirm, dry_run, group, verb

if TYPE_CHECKING:
    from tenantops.engine.tenants import applications
    from tenantops.engine.migrate import history
    from tenantops.engine.jobs import queue as jobs
    from tenantops.engine.tenants import labels, notify
    from tenantops.engine.tenants import provision as provisioner
    from tenantops.engine.tenants import records as tenants
    from tenantops.engine.jobs import worker
    from tenantops.engine import kinds
    from tenantops.engine.context import Context
    from tenantops.engine.documents import JobDoc, StepDoc
else:
    applications = lazy("tenantops.engine.tenants.applications")
    history = lazy("tenantops.engine.migrate.history")
    jobs = lazy("tenantops.engine.jobs.queue")
    notify = lazy("tenantops.engine.tenants.notify")
    labels = lazy("tenantops.engine.tenants.labels")
    provisioner = lazy("tenantops.engine.tenants.provision")
    tenants = lazy("tenantops.engine.tenants.records")
    worker = lazy("tenantops.engine.jobs.worker")
    kinds = lazy("tenantops.engine.kinds")

# (text, style) of each status: a step line is assembled from styled parts, never parsed
# as markup (a job shows forty of them; markup parsing was most of their cost)
ICONS = {"succeeded": ("✓ ok  ", "green"), "failed": ("✗ FAIL", "red"), "running": ("▶ run ", "yellow"),
         "skipped": ("- skip", "dim")}


def cmd_applications_submit(ctx: Context, args: argparse.Namespace) -> int:
    modules = [x.strip() for x in (args.modules or "").split(",") if x.strip()]
    doc = applications.submit(ctx, organization=args.org, slug=args.slug, email=args.email,
                              template=args.template, modules=modules, contact=args.contact or "")
    output.show(args, doc, lambda d: output.note(f"application {d['id']} ({d['slug']}) submitted, pending review"))
    return 0


def cmd_applications_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = applications.list_applications(ctx, args.status)
    output.show(args, rows, lambda rs: output.table(
        "Applications", ["id", "slug", "organization", "template", "modules", "status", "submitted"],
        [(r["id"], r["slug"], r["organization"], r["template"], ",".join(r["modules"]), r["status"],
          r["submitted_at"][:16]) for r in rs]))
    return 0


def cmd_applications_show(ctx: Context, args: argparse.Namespace) -> int:
    output.show(args, applications.get(ctx, args.key), output.fields)
    return 0


def cmd_applications_approve(ctx: Context, args: argparse.Namespace) -> int:
    doc = applications.approve(ctx, args.key, notes=args.notes)
    output.show(args, doc, lambda d: output.note(f"application {d['slug']} approved"))
    return 0


def cmd_applications_reject(ctx: Context, args: argparse.Namespace) -> int:
    doc = applications.reject(ctx, args.key, reason=args.reason)
    output.show(args, doc, lambda d: output.note(f"application {d['slug']} rejected"))
    return 0


def print_event(ev: StepDoc) -> None:
    icon = ICONS.get(ev["status"], (ev["status"], ""))
    if ev["status"] == "running":
        output.note_parts([icon, (" " + ev["name"], "")])
        return
    duration = f"{ev['duration_s']:.2f}s" if ev.get("duration_s") is not None else ""
    parts = [icon, (f" {ev['name']} ", ""), (duration, "dim")]
    detail = ev.get("detail")
    if detail and not ev["name"].startswith("  "):
        parts.append((f" — {detail[:120]}", "dim"))
    output.note_parts(parts)
    error = ev.get("error")
    if error:
        output.note_parts([("         ", ""), (error, "red")])


def run_job_to_end(ctx: Context, job_id: int, quiet: bool = False) -> JobDoc:
    """Run the job in this process as a claimed worker and show its timeline on stderr.

    No second interpreter: the job is claimed like any worker claims it (lease, heartbeat,
    tenant lock, and the server's job and load limits: it waits its turn, saying why), so a
    killed CLI leaves a job whose lease expires and that any `tenantops worker` resumes. If
    another worker claimed it first, follow that one."""
    on_event: Callable[[StepDoc], None] = (lambda ev: None) if quiet else print_event
    # the steps are shown as the job writes them, and the document is made from what this
    # process wrote: nothing is read back from the landlord
    steps: dict[int, StepDoc] = {}
    showing = True

    def seen(ev: StepDoc) -> None:
        nonlocal showing
        steps[ev["id"]] = ev
        if showing:
            try:
                on_event(ev)
            except Exception:  # noqa: BLE001 - a closed terminal stops the display, never the job
                showing = False

    def waiting(why: str) -> None:
        output.note_parts([(why, "yellow"), ("; interrupted, it stays queued for `tenantops worker`", "")])

    job = worker.run_here(ctx, job_id, on_event=seen, on_wait=waiting)
    doc = jobs.follow(ctx, job_id, on_event) if job is None else {**jobs.job_json(job), "steps": list(steps.values())}
    return {**doc, "waiting": None}  # the document `jobs show` prints; an ended job waits for nothing


def cmd_provision(ctx: Context, args: argparse.Namespace) -> int:
    if args.all_approved:
        from tenantops.engine.health import fleet

        report = fleet.provision_all(ctx, progress=None if args.json else output.note)
        output.show(args, report, lambda d: output.table(
            "Provisioning", ["tenant", "job", "status", "error"],
            [(r["tenant"], r["job"], r["status"], r["error"]) for r in d["tenants"]]))
        return 1 if any(r["status"] != "succeeded" for r in report["tenants"]) else 0
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
    job_id = provisioner.request_provision(ctx, slug=args.slug, server=args.server, run_here=True).job
    assert job_id is not None
    output.note(f"provisioning {args.slug}: job {job_id}")
    job = run_job_to_end(ctx, job_id, quiet=args.json)
    if job["status"] != "succeeded":
        if args.json:
            output.emit_json(job)
        raise TenantopsError(f"provisioning {args.slug} failed: {job['error']} (see `tenantops jobs show {job_id}`)")
    pending = notify.pending_setup(ctx, args.slug)
    if args.json:
        output.emit_json({**tenants.show(ctx, args.slug), "job": job_id})
    else:  # what the job did is all a person reads here: no second look at the tenant
        done = job["result"] or {}
        output.note(f"tenant {args.slug} is active on {done.get('server')} ({done.get('database')})")
    if pending:
        recipient, link = pending
        output.note(f"setup link for {recipient} (shown once, also in the welcome mail): {link}")
    return 0


def cmd_tenants_list(ctx: Context, args: argparse.Namespace) -> int:
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


def cmd_tenants_label(ctx: Context, args: argparse.Namespace) -> int:
    done = labels.set_labels(ctx, tenant=args.slug, changes=labels.parse_changes(args.pairs))
    output.show(args, {"tenant": args.slug, "labels": done}, lambda d: output.note(
        f"{d['tenant']}: " + (", ".join(f"{k}={v}" for k, v in d["labels"].items()) or "no labels")))
    return 0


def cmd_history(ctx: Context, args: argparse.Namespace) -> int:
    rows = history.list_history(ctx, args.slug)
    output.show(args, rows, lambda rs: output.table(
        f"History of {args.slug}", ["batch", "action", "layer", "unit", "revision", "outcome", "duration", "operator"],
        [(r["batch"], r["action"], r["layer"], r["unit"], r["revision"], r["outcome"],
          f"{r['duration_s']:.3f}s" if r["duration_s"] is not None else "", r["operator"]) for r in rs]))
    return 0


def cmd_jobs_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = jobs.list_jobs(ctx, status=args.status)
    output.show(args, rows, lambda rs: output.table(
        "Jobs", ["id", "kind", "tenant", "status", "attempt", "created by", "created", "error"],
        [(r["id"], r["kind"], r["tenant"],
          f"scheduled {r['not_before'][:16]}" if r["status"] == "queued" and r["not_before"] else r["status"],
          r["attempt"], r["created_by"], (r["created_at"] or "")[:19], output.clip(r["error"], 60)) for r in rs]))
    return 0


def cmd_jobs_show(ctx: Context, args: argparse.Namespace) -> int:
    doc = jobs.show_job(ctx, args.id)

    def render(d: dict) -> None:
        output.note(f"job {d['id']} {d['kind']} {d['tenant'] or ''}: {d['status']} (attempt {d['attempt']})")
        if d["waiting"]:
            output.note_parts([("waits: ", "yellow"), (d["waiting"], "")])
        for ev in d["steps"]:
            print_event(ev)
    output.show(args, doc, render)
    return 0


def cmd_jobs_cancel(ctx: Context, args: argparse.Namespace) -> int:
    cancelled = kinds.cancel(ctx, args.id)
    output.show(args, cancelled, lambda d: output.note(f"job {d['id']} ({d['kind']} {d['tenant'] or ''}) cancelled"))
    return 0


def cmd_jobs_retry(ctx: Context, args: argparse.Namespace) -> int:
    new_id = kinds.retry(ctx, args.id, confirm=args.confirm, server=args.server)
    output.show(args, {"job": new_id, "retries": args.id},
                lambda d: output.note(f"job {args.id} queued again as job {new_id}"))
    return 0


def cmd_worker(ctx: Context, args: argparse.Namespace) -> int:
    if args.name:
        import os

        os.environ[jobs.WORKER_NAME_ENV] = args.name  # jobs and locks name this worker so
    done = worker.work(ctx, once=args.once)
    output.show(args, {"jobs_run": done}, lambda d: output.note(f"worker ran {d['jobs_run']} job(s)"))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    verbs = group(sub, "applications", help="tenant applications: submit, review, list")
    p = verb(verbs, "submit", common, help="submit an application for a new tenant", handler=cmd_applications_submit,
             example="tenantops applications submit --org 'Nepali Congress' --slug nc-ktm "
                     "--email ops@nc.example.org --template political_party_nepal --modules donations")
    p.add_argument("--org", required=True, metavar="NAME", help="the organisation's name")
    p.add_argument("--slug", required=True, help="the tenant's slug: lowercase letters, digits and dashes")
    p.add_argument("--email", required=True, help="the tenant admin's email (gets the welcome mail)")
    p.add_argument("--template", required=True, metavar="T", help="catalog template (`tenantops catalog list`)")
    p.add_argument("--modules", metavar="A,B", help="comma-separated catalog modules on top of the template's")
    p.add_argument("--contact", metavar="NAME", help="contact person's name")

    p = verb(verbs, "list", common, help="list applications (array with --json)", handler=cmd_applications_list,
             example="tenantops applications list --status pending --json")
    p.add_argument("--status", choices=APPLICATION_STATUSES, help="only applications with this status")

    p = verb(verbs, "show", common, help="one application", handler=cmd_applications_show,
             example="tenantops applications show nc-ktm --json")
    p.add_argument("key", metavar="ID|SLUG", help="the application's id or slug")

    p = verb(verbs, "approve", common, help="approve a pending application (admin)", handler=cmd_applications_approve,
             example="tenantops applications approve nc-ktm --notes 'documents verified'")
    p.add_argument("key", metavar="ID|SLUG", help="the application's id or slug")
    p.add_argument("--notes", metavar="TEXT", help="review notes kept with the application")

    p = verb(verbs, "reject", common, help="reject a pending application (admin)", handler=cmd_applications_reject,
             example="tenantops applications reject nc-ktm --reason 'registration number does not match'")
    p.add_argument("key", metavar="ID|SLUG", help="the application's id or slug")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, shown to the applicant")

    p = verb(sub, "provision", common, help="provision an approved application's tenant", handler=cmd_provision,
             example=["tenantops provision nc-ktm --server db1", "tenantops provision nc-ktm --dry-run",
                      "tenantops provision --all-approved"])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("slug", nargs="?", help="the approved application's slug")
    which.add_argument("--all-approved", action="store_true", help="every approved application, in parallel workers")
    p.add_argument("--server", metavar="NAME", help="database server to place the tenant on (default: least loaded)")
    dry_run(p)

    verbs = group(sub, "tenants", help="tenants and their lifecycle")
    p = verb(verbs, "list", common, help="list tenants (array with --json)", handler=cmd_tenants_list,
             example=["tenantops tenants list --json", "tenantops tenants list --status suspended"])
    p.add_argument("--status", choices=TENANT_STATUSES, help="only tenants in this status")
    p.add_argument("--label", metavar="KEY=VALUE", help="only tenants carrying this label")
    p = verb(verbs, "label", common, help="set or remove a tenant's labels (admin)", handler=cmd_tenants_label,
             example=["tenantops tenants label nc-ktm region=east tier=gold", "tenantops tenants label nc-ktm tier="])
    p.add_argument("slug", help="the tenant's slug")
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE", help="labels to set; KEY= removes one")
    from . import lifecycle   # here, not at the top: lifecycle's handlers reuse day2's, which import this module

    lifecycle.register_tenant_verbs(verbs, common)

    p = verb(sub, "history", common, help="a tenant's migration history (array with --json)", handler=cmd_history,
             example="tenantops history nc-ktm --json")
    p.add_argument("slug", help="the tenant's slug")

    verbs = group(sub, "jobs", help="jobs and their timelines")
    p = verb(verbs, "list", common, help="list jobs, newest first (array with --json)", handler=cmd_jobs_list,
             example="tenantops jobs list --status failed")
    p.add_argument("--status", choices=JOB_STATUSES, help="only jobs with this status")
    p = verb(verbs, "show", common, help="a job and its timeline", handler=cmd_jobs_show,
             example="tenantops jobs show 42 --json")
    p.add_argument("id", type=int, help="the job's id")
    p = verb(verbs, "retry", common, help="queue a failed job again", handler=cmd_jobs_retry,
             example="tenantops jobs retry 42 --confirm nc-ktm")
    p.add_argument("id", type=int, help="the failed job's id")
    confirm(p)
    p.add_argument("--server", metavar="NAME",
                   help="run it on another server (a job that chose one, e.g. provision)")
    p = verb(verbs, "cancel", common, help="cancel a queued or scheduled job", handler=cmd_jobs_cancel,
             example="tenantops jobs cancel 42")
    p.add_argument("id", type=int, help="the queued job's id")

    p = verb(sub, "worker", common, help="run queued jobs (several may run on several machines)", handler=cmd_worker,
             example=["tenantops worker", "tenantops worker --once"], runs_for_requesters=True)
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.add_argument("--name", help="this worker's name in jobs and locks (default: the host name)")
