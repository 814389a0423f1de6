"""rollouts list|show|pause|resume|cancel: staged fleet rollouts (`sync --all --stages`)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .. import output
from .verbs import group, verb
from ..lazy import lazy

if TYPE_CHECKING:
    from tenantops.engine.context import Context
    from tenantops.engine.health import rollouts
else:
    rollouts = lazy("tenantops.engine.health.rollouts")

BAR = 20


def _bar(done: int, total: int) -> str:
    filled = round(BAR * done / total) if total else BAR
    return "█" * filled + "░" * (BAR - filled)


def render_rollout(d: dict[str, Any]) -> None:
    what = " ".join([d["kind"], *map(str, (d.get("params") or {}).values())])
    output.note(f"rollout {d['id']} ({what}, {d['spec']}, --parallel {d['parallel']}, "
                f"--on-error {d['on_error']}): {d['status']}" + (f" — {d['reason']}" if d.get("reason") else ""))
    output.table(f"Rollout {d['id']}: {d['status']}", ["stage", "progress", "done", "failed", "pending"],
                 [(st["name"], _bar(st["done"], st["total"]), f"{st['done']}/{st['total']}", st["failed"],
                   st["pending"]) for st in d["stages"]])
    if d.get("left_out"):
        output.note(f"in no stage (left out): {', '.join(d['left_out'])}")


def cmd_rollouts(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = rollouts.list_rollouts(ctx)
        output.show(args, rows, lambda rs: output.table(
            "Rollouts", ["id", "kind", "stages", "status", "progress", "created by", "created"],
            [(r["id"], r["kind"], r["spec"], r["status"],
              f"{sum(st['done'] for st in r['stages'])}/{sum(st['total'] for st in r['stages'])}",
              r["created_by"], (r["created_at"] or "")[:19]) for r in rs]))
        return 0
    if args.action == "show":
        doc = rollouts.show(ctx, args.id)
    elif args.action == "pause":
        doc = rollouts.pause(ctx, rollout_id=args.id)
    elif args.action == "cancel":
        doc = rollouts.cancel(ctx, rollout_id=args.id)
    else:
        rollouts.resume(ctx, rollout_id=args.id)
        doc = rollouts.drive(ctx, args.id, progress=None if args.json else output.note)
    output.show(args, doc, render_rollout)
    # a resumed rollout that halted again failed; earlier failures were reported when they happened
    return 1 if args.action == "resume" and doc["status"] == "halted" else 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    verbs = group(sub, "rollouts", help="staged rollouts (sync --all --stages)")
    verb(verbs, "list", common, help="rollouts, newest first (array with --json)", handler=cmd_rollouts,
         example="tenantops rollouts list --json", action="list")
    for name, text in (("show", "a rollout: its stages and each tenant's outcome"),
                       ("pause", "stop between tenants; resume later (admin)"),
                       ("resume", "go on from where a paused, halted or crashed rollout stopped (admin)"),
                       ("cancel", "end a rollout; tenants not reached stay untouched (admin)")):
        p = verb(verbs, name, common, help=text, handler=cmd_rollouts, example=f"tenantops rollouts {name} 3",
                 action=name)
        p.add_argument("id", type=int, metavar="ID", help="the rollout's id (`tenantops rollouts list`)")
