"""snapshot, snapshots, drift, repair, quarantine."""
from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any, TYPE_CHECKING

from tenantops.engine.vocab import REPAIR_STRATEGIES
from tenantops.engine.errors import DriftThreshold, TenantopsError, UsageError

from .. import output
from ..lazy import lazy
from .verbs import confirm, dry_run, group, iso_time, verb

if TYPE_CHECKING:
    from tenantops.engine.landlord import models
    from tenantops.engine.health import drift
    from tenantops.engine.health import fleet
    from tenantops.engine.health import repair as repairs
    from tenantops.engine.tenants import snapshots
    from tenantops.engine.context import Context
else:
    models = lazy("tenantops.engine.landlord.models")
    drift = lazy("tenantops.engine.health.drift")
    fleet = lazy("tenantops.engine.health.fleet")
    repairs = lazy("tenantops.engine.health.repair")
    snapshots = lazy("tenantops.engine.tenants.snapshots")
from .tenancy import run_job_to_end

SYMBOLS = {"added": "+", "removed": "-", "modified": "~"}


def _diff_rows(differences: list[dict[str, Any]]):
    for i, d in enumerate(differences, 1):
        yield (i, SYMBOLS[d["change"]] + " " + d["change"], d["object"], d["table"], d["name"], d.get("attribute") or "",
               output.clip(d.get("expected"), 40),
               output.clip(d.get("actual"), 40), d.get("unit") or "",
               "accepted" if d.get("accepted") else ("DESTRUCTIVE" if d.get("destructive_to_repair") else ""))


def render_report(r: dict[str, Any]) -> None:
    if r.get("error"):
        output.note(f"{r['tenant']}: {r['severity']} — {r['error']}")
        return
    output.note(f"{r['tenant']}: severity {r['severity']} (score {r['score']})")
    if r["differences"]:
        output.table(None, ["#", "change", "object", "table", "name", "attribute", "expected", "actual", "unit", ""],
                     _diff_rows(r["differences"]))


def cmd_snapshot(ctx: Context, args: argparse.Namespace) -> int:
    if args.all:
        rows = fleet.snapshot_all(ctx, progress=None if args.json else output.note)
        output.show(args, rows, lambda rs: output.table(
            "Snapshots", ["tenant", "id", "hash", "tables", "error"],
            [(r["tenant"], r.get("id"), output.clip(r.get("hash"), 12), r.get("tables"), r.get("error")) for r in rs]))
        return 1 if any(r.get("error") for r in rows) else 0
    doc = snapshots.snapshot(ctx, slug=args.slug)
    output.show(args, doc, lambda d: output.note(f"snapshot {d['id']} of {args.slug}: {d['hash'][:12]}, "
                                                 f"{d['tables']} tables, {d['columns']} columns, {d['indexes']} indexes"))
    return 0


def cmd_snapshots_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = snapshots.list_snapshots(ctx, args.slug)
    output.show(args, rows, lambda rs: output.table(
        f"Snapshots of {args.slug}", ["id", "created", "source", "hash", "tables", "columns", "indexes"],
        [(r["id"], r["created_at"][:19], r["source"], output.clip(r["hash"], 12), r["tables"], r["columns"], r["indexes"])
         for r in rs]))
    return 0


def cmd_snapshots_diff(ctx: Context, args: argparse.Namespace) -> int:
    diffs = drift.since_snapshot(ctx, args.slug, args.a, args.b)
    output.show(args, diffs, lambda ds: output.table(
        f"{args.slug}: snapshot {args.a} → {'snapshot ' + str(args.b) if args.b else 'now'}",
        ["#", "change", "object", "table", "name", "attribute", "before", "after", "", "", ""],
        [row[:8] + ("", "", "") for row in _diff_rows(ds)]) if ds else output.note("no changes"))
    return 0


def cmd_drift(ctx: Context, args: argparse.Namespace) -> int:
    if args.full and not args.all:
        raise UsageError("--full goes with drift --all")
    if args.all and (args.accept is not None or args.accepted or args.withdraw is not None):
        raise UsageError("drift --accept/--accepted/--withdraw take a SLUG, not --all")
    if args.accept is None and (args.reason or args.expires):
        raise UsageError("drift --reason and --expires go with --accept N")
    if args.all:
        result = drift.check_all(ctx, progress=None if args.json else output.note, full=args.full)
        reports = result["reports"]
        if args.json:
            output.emit_json(result if args.clusters else reports)
        else:
            for r in reports:
                render_report(r)
            output.table("Clusters", ["tenants", "hash", "summary"],
                         [(len(c["tenants"]), output.clip(c["hash"], 12), c["summary"]) for c in result["clusters"]])
    else:
        if args.accept is not None:
            return _accept(ctx, args)
        if args.accepted:
            return _accepted(ctx, args)
        if args.withdraw is not None:
            doc = drift.withdraw_acceptance(ctx, slug=args.slug, acceptance_id=args.withdraw)
            output.show(args, doc, lambda d: output.note(
                f"withdrew accepted drift {d['id']} ({d['change']} {d['object']} "
                f"{d['table'] + '.' if d['table'] else ''}{d['name'] or ''}); it counts from the next check"))
            return 0
        report = drift.check_drift(ctx, slug=args.slug)
        reports = [report]
        output.show(args, report, render_report)
    unchecked = [r for r in reports if r.get("checked") is False]
    if args.fail_on:
        worst = [r for r in reports if r.get("checked") is not False and r["severity"] in drift.LEVELS
                 and drift.at_or_above(r["severity"], args.fail_on)]
        if worst:
            raise DriftThreshold(f"drift at or above {args.fail_on}: "
                                 + ", ".join(f"{r['tenant']} ({r['severity']})" for r in worst[:10]))
    if unchecked:
        raise TenantopsError(drift.unchecked_summary(unchecked))
    return 0


def _accepted(ctx: Context, args: argparse.Namespace) -> int:
    rows = drift.list_acceptances(ctx, args.slug)
    output.show(args, rows, lambda rs: output.table(
        f"Accepted drift of {args.slug}", ["id", "change", "object", "table", "name", "attribute", "until", "by",
                                           "reason"],
        [(r["id"], r["change"], r["object"], r["table"] or "", r["name"] or "", r["attribute"] or "",
          r["expires_at"][:10], r["accepted_by"], output.clip(r["reason"], 40)) for r in rs]))
    return 0


def _accept(ctx: Context, args: argparse.Namespace) -> int:
    report = drift.latest_report(ctx, args.slug)
    if report is None or not (1 <= args.accept <= len(report["differences"])):
        raise UsageError(f"--accept N: N is the number of a difference in the latest drift report of {args.slug} "
                         "(run `tenantops drift SLUG` first)")
    if not args.reason:
        raise UsageError("--accept needs --reason TEXT")
    d = report["differences"][args.accept - 1]
    expires = args.expires or (models.utcnow() + timedelta(days=30)).date().isoformat()
    doc = drift.accept_difference(ctx, slug=args.slug, object=d["object"], change=d["change"], table=d["table"],
                                  name=d["name"], attribute=d.get("attribute"), reason=args.reason, expires=expires)
    output.show(args, doc, lambda x: output.note(f"accepted {d['change']} {d['object']} "
                                                 f"{d['table'] + '.' if d['table'] else ''}{d['name']} "
                                                 f"until {x['expires_at'][:10]}"))
    return 0


def cmd_repair(ctx: Context, args: argparse.Namespace) -> int:
    if args.cluster:
        return _repair_cluster(ctx, args)
    if args.dry_run:
        doc = repairs.preview_repair(ctx, slug=args.slug, strategy=args.strategy).to_json()
    else:
        doc = repairs.request_repair(ctx, slug=args.slug, strategy=args.strategy, confirm=args.confirm).to_json()

    def render_plan(d: dict[str, Any]) -> None:
        output.note(f"{d['tenant']}: {d['strategy']} repair, {len(d['operations'])} operation(s)")
        _print_operations(d["operations"])
        for c in d.get("preflight", []):
            output.note(f"pre-flight, operation {c['operation'] + 1}: {c['detail']} "
                        f"({'moved to quarantine first' if c['action'] == 'quarantine' else 'REFUSED'})")
        if d.get("refused"):
            output.note(d["refused"])
        for s in d.get("skipped", []):
            output.note(f"skipped: {s.get('change')} {s.get('object')} {s.get('table')}.{s.get('name')}"
                        f" — {s.get('reason')}")
        if d.get("script"):
            output.note(f"SQL written to {d['script']}; nothing was applied")
    if args.dry_run or args.strategy == "manual" or not doc.get("job"):
        output.show(args, doc, render_plan)
        return 0
    output.note(f"repair of {args.slug}: job {doc['job']}")
    job = run_job_to_end(ctx, doc["job"], quiet=args.json)
    if job["status"] != "succeeded":
        if args.json:
            output.emit_json({**doc, "error": job["error"]})
        raise TenantopsError(f"repair of {args.slug} failed: {job['error']} (see `tenantops jobs show {doc['job']}`)")
    result = {**job["result"], "job": doc["job"]}
    output.show(args, result, lambda r: output.note(
        f"repair of {r['tenant']}: {len(r['applied'])} applied, {len(r['skipped'])} skipped, "
        f"{len(r['quarantine'])} quarantined, backup {r['backup']}; severity now {r['severity_after']}"))
    return 0


def _print_operations(operations: list[dict[str, Any]]) -> None:
    for op in operations:
        output.sql_block(f"{'safe' if op['safe'] else 'DESTRUCTIVE'}: {op['description']}", op["sql"])


def _repair_cluster(ctx: Context, args: argparse.Namespace) -> int:
    doc = fleet.repair_cluster(ctx, args.cluster, strategy=args.strategy, dry_run=args.dry_run, confirm=args.confirm,
                               progress=None if args.json else output.note)

    def render(d: dict[str, Any]) -> None:
        output.note(f"cluster {d['cluster']}: {len(d['tenants'])} tenant(s): {', '.join(d['tenants'])}")
        output.note(f"one {d['strategy']} plan for all of them, {len(d['operations'])} operation(s):")
        _print_operations(d["operations"])
        if d["results"]:
            output.table("Results", ["tenant", "job", "status", "severity after", "error"],
                         [(r["tenant"], r["job"], r["status"], r["severity_after"], r["error"]) for r in d["results"]])
    output.show(args, doc, render)
    return 1 if any(r["status"] != "succeeded" for r in doc["results"]) else 0


def cmd_quarantine_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = repairs.list_quarantine(ctx, args.slug)
    output.show(args, rows, lambda rs: output.table(
        f"Quarantine of {args.slug}", ["id", "kind", "table", "column", "rows", "quarantined as", "repair",
                                       "restored"],
        [(r["id"], r["kind"], r["table"], r["column"], r["rows"], r["quarantined_as"], r["repair_id"],
          (r["restored_at"] or "")[:19]) for r in rs]))
    return 0


def cmd_quarantine_restore(ctx: Context, args: argparse.Namespace) -> int:
    doc = repairs.restore(ctx, slug=args.slug, item_id=args.item)
    output.show(args, doc, lambda d: output.note(f"restored {d['restored_rows']} row(s) of {d['table']}"
                                                 + (f".{d['column']}" if d["column"] else "")))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = verb(sub, "snapshot", common, help="capture a tenant's schema", handler=cmd_snapshot,
             example=["tenantops snapshot nc-ktm", "tenantops snapshot --all --json"])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("slug", nargs="?", help="the tenant's slug")
    which.add_argument("--all", action="store_true", help="every active tenant")

    verbs = group(sub, "snapshots", help="list or compare a tenant's snapshots")
    p = verb(verbs, "list", common, help="a tenant's snapshots (array with --json)", handler=cmd_snapshots_list,
             example="tenantops snapshots list nc-ktm --json")
    p.add_argument("slug", help="the tenant's slug")
    p = verb(verbs, "diff", common, help="compare snapshot A with snapshot B, or with the live schema",
             handler=cmd_snapshots_diff, example=["tenantops snapshots diff nc-ktm 3", "tenantops snapshots diff nc-ktm 3 5"])
    p.add_argument("slug", help="the tenant's slug")
    p.add_argument("a", type=int, metavar="A", help="the older snapshot's id")
    p.add_argument("b", type=int, nargs="?", metavar="B", help="the newer snapshot's id (default: the live schema)")

    p = verb(sub, "drift", common, help="compare tenants' schemas with their migrations", handler=cmd_drift,
             example=["tenantops drift nc-ktm", "tenantops drift --all --json --fail-on high",
                      "tenantops drift nc-ktm --accept 2 --reason 'reporting index, agreed with the tenant'"])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("slug", nargs="?", help="the tenant's slug")
    which.add_argument("--all", action="store_true", help="every active tenant (array with --json)")
    p.add_argument("--fail-on", choices=["low", "medium", "high", "critical"],
                   help="exit 3 when drift at or above this severity is found")
    p.add_argument("--clusters", action="store_true", help="with --all --json: print {reports, clusters}")
    p.add_argument("--full", action="store_true",
                   help="with --all: capture every tenant (default: only those whose fingerprint changed)")
    p.add_argument("--accept", type=int, metavar="N", help="accept difference N of the latest report (dba)")
    p.add_argument("--reason", metavar="TEXT", help="with --accept: why this difference is fine")
    p.add_argument("--expires", metavar="DATE", type=iso_time, help="with --accept: ISO date; default in 30 days")
    p.add_argument("--accepted", action="store_true", help="list the tenant's accepted differences still in force")
    p.add_argument("--withdraw", type=int, metavar="N", help="withdraw accepted drift N (see --accepted; dba)")

    p = verb(sub, "repair", common, help="repair a tenant's drift (dba)", handler=cmd_repair,
             example=["tenantops repair nc-ktm --dry-run", "tenantops repair nc-ktm --strategy aggressive --confirm nc-ktm",
                      "tenantops repair --cluster 3f2a9c1d0b7e --dry-run"])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("slug", nargs="?", help="the tenant's slug")
    which.add_argument("--cluster", metavar="HASH", help="one plan for every tenant of a drift cluster")
    p.add_argument("--strategy", choices=REPAIR_STRATEGIES, default="conservative",
                   help="conservative (default): safe changes only; aggressive: also destructive ones; "
                        "manual: write the SQL, apply nothing")
    dry_run(p)
    confirm(p)

    verbs = group(sub, "quarantine", help="data moved aside by repairs")
    p = verb(verbs, "list", common, help="a tenant's quarantined data (array with --json)",
             handler=cmd_quarantine_list, example="tenantops quarantine list nc-ktm --json")
    p.add_argument("slug", help="the tenant's slug")
    p = verb(verbs, "restore", common, help="put quarantined data back (dba)", handler=cmd_quarantine_restore,
             example="tenantops quarantine restore nc-ktm 4")
    p.add_argument("slug", help="the tenant's slug")
    p.add_argument("item", type=int, metavar="ITEM", help="the quarantine item's id")
