"""init, operators, servers, audit."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING
import sys

from tenantops.engine.errors import UsageError

from .. import output
from ..lazy import lazy

if TYPE_CHECKING:
    from tenantops.engine.landlord import store
    from tenantops.engine import secrets
    from tenantops.engine.access import audit
    from tenantops.engine.access import operators
    from tenantops.engine.servers import registry as servers
    from tenantops.engine.servers import load
    from tenantops.engine.context import Context
else:
    store = lazy("tenantops.engine.landlord.store")
    secrets = lazy("tenantops.engine.secrets")
    audit = lazy("tenantops.engine.access.audit")
    operators = lazy("tenantops.engine.access.operators")
    servers = lazy("tenantops.engine.servers.registry")
    load = lazy("tenantops.engine.servers.load")


def read_password_stdin() -> str:
    if sys.stdin is None or sys.stdin.closed:
        raise UsageError("--password-stdin: standard input is closed")
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise UsageError("--password-stdin: standard input was empty")
    return password


def store_landlord_password(args: argparse.Namespace) -> None:
    """Runs before the store is opened: the password must be in the keyring first."""
    if not args.password_stdin:
        return
    import os

    import sqlalchemy as sa

    url = args.landlord or os.environ.get("TENANTOPS_LANDLORD_URL")
    if not url:
        raise UsageError("--password-stdin with init is for a MariaDB/MySQL landlord (--landlord URL)")
    secrets.set_secret(secrets.landlord_key(store.public_url(sa.make_url(url))), read_password_stdin())


def cmd_init(ctx: Context, args: argparse.Namespace) -> int:
    changed = ctx.init(tidy=True)  # also what `doctor` asks `init` to fix (clear_secret_at_rest)
    doc = {"landlord": ctx.landlord_label, "operator": ctx.operator, "role": ctx.role, "changed": changed}
    output.show(args, doc, lambda d: output.note(
        f"landlord store ready: {d['landlord']} (operator {d['operator']}, role {d['role']})"))
    return 0


def cmd_operators(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = operators.list_operators(ctx)
        output.show(args, rows, lambda rs: output.table(
            "Operators", ["user", "role", "added by", "added at"],
            [(r["user"], r["role"], r["added_by"], r["added_at"][:19]) for r in rs]))
    elif args.action == "add":
        if not args.role:
            raise UsageError("operators add USER needs --role viewer|admin|dba|owner")
        doc = operators.add_operator(ctx, user=_need(args.user, "USER"), role=args.role)
        output.show(args, doc, lambda d: output.note(f"operator {d['user']} now has the {d['role']} role"))
    else:
        operators.remove_operator(ctx, user=_need(args.user, "USER"))
        output.show(args, {"removed": args.user}, lambda d: output.note(f"operator {args.user} removed"))
    return 0


def _need(value: str | None, name: str) -> str:
    if not value:
        raise UsageError(f"missing argument {name}")
    return value


def _load(load: dict) -> str:
    if load["limit"] is None:
        return ""
    now = "?" if load["threads_running"] is None else str(load["threads_running"])
    return ("THROTTLED " if load["throttled"] else "") + f"{now}/{load['limit']} threads"


def _server_rows(rows: list[dict]) -> None:
    output.table("Servers", ["name", "dialect", "url", "version", "tenants", "capacity", "reachable", "draining",
                             "load"],
                 [(r["name"], r["dialect"], r["url"], r["version"], r["tenants"], r["capacity"],
                   {True: "yes", False: "NO", None: "?"}[r["reachable"]], "yes" if r["draining"] else "",
                   _load(r["load"])) for r in rows])
    for r in rows:
        if r["load"]["throttled"]:
            output.note(f"server {r['name']} is THROTTLED: Threads_running {r['load']['threads_running']} > "
                        f"limit {r['load']['limit']}; no new tenant job starts there until it drops")


def cmd_servers(ctx: Context, args: argparse.Namespace) -> int:
    if args.action == "list":
        output.show(args, servers.list_servers(ctx), _server_rows)
        return 0
    if args.action == "add":
        if not args.url:
            raise UsageError("servers add NAME URL: URL is missing")
        password = read_password_stdin() if args.password_stdin else None
        doc = servers.add_server(ctx, name=_need(args.name, "NAME"), url=args.url,
                                 capacity=args.capacity, password=password)
        output.show(args, doc, lambda d: output.note(f"server {d['name']} added ({d['dialect']} {d['version']})"))
        return 0
    if args.action == "check":
        doc = servers.check_server(ctx, _need(args.name, "NAME"))
        output.show(args, doc, lambda d: _server_rows([d]))
        if not doc["reachable"]:
            output.note(f"server {doc['name']} is unreachable: {doc['error']}")
            return 1
        return 0
    if args.action == "limit":
        if args.threads_running is None:
            raise UsageError("servers limit NAME needs --threads-running N (or off)")
        if args.threads_running == "off":
            limit = None
        else:
            try:
                limit = int(args.threads_running)
            except ValueError:
                raise UsageError(f"--threads-running {args.threads_running!r}: a whole number or off") from None
        server = load.set_load_limit(ctx, name=_need(args.name, "NAME"), threads_running=limit)
        limit_doc = {"name": args.name, **servers.server_json(server, 0)["load"]}
        output.show(args, limit_doc, lambda d: output.note(
            f"server {d['name']}: " + ("no load limit" if d["limit"] is None else
                                       f"no new tenant job while Threads_running > {d['limit']} "
                                       f"(now {d['threads_running'] if d['threads_running'] is not None else '?'})")))
        return 0
    if args.action in ("drain", "undrain"):
        servers.set_draining(ctx, name=_need(args.name, "NAME"), draining=args.action == "drain")
        output.show(args, {"name": args.name, "draining": args.action == "drain"},
                     lambda d: output.note(f"server {d['name']} {'drains' if d['draining'] else 'takes new tenants'}"))
        return 0
    if args.action == "harden":
        hardened = servers.harden_server(ctx, name=_need(args.name, "NAME"))
        output.show(args, hardened, lambda d: output.note(
            "\n".join(f"{r['tenant']}: {r['user']}@{r['host']} reduced to data privileges (removed "
                      f"{', '.join(r['removed'])})" for r in d["reduced"])
            or f"server {d['server']}: every tenant user already has data privileges only"))
        return 0
    servers.remove_server(ctx, name=_need(args.name, "NAME"))
    output.show(args, {"removed": args.name}, lambda d: output.note(f"server {args.name} removed"))
    return 0


def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    since = audit.parse_since(args.since) if args.since else None
    rows = audit.list_audit(ctx, since=since, operator=args.operator, action=args.action, target=args.target)
    output.show(args, rows, lambda rs: output.table(
        "Audit log", ["id", "at", "operator", "action", "target", "outcome", "error"],
        [(r["id"], r["at"][:19], r["operator"], r["action"], r["target"], r["outcome"], r["error"]) for r in rs]))
    return 0


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    from tenantops.engine import demo

    if args.reset:
        kept = demo.reset_store(ctx)
        output.note(f"previous store moved aside to {kept} (move it back to restore)")
        ctx.engine.dispose()
        from tenantops.engine.landlord.store import open_engine

        ctx.engine = open_engine(ctx.landlord_url, ctx.home)
        ctx.init()
        ctx.audit("demo.reset", None, {"moved_to": kept}, "ok")
    filled = demo.fill_demo(ctx, progress=output.note)
    doc = {"filled": filled}
    output.show(args, doc, lambda d: output.note(
        "demo data added" if d["filled"] else "the store already has data; nothing added (use --reset)"))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="create or upgrade the landlord store")
    p.add_argument("--password-stdin", action="store_true", help="read the landlord password from stdin")
    p.set_defaults(handler=cmd_init, before_open=store_landlord_password)

    p = sub.add_parser("operators", parents=[common], help="operators and roles")
    p.add_argument("action", choices=["list", "add", "remove"])
    p.add_argument("user", nargs="?")
    p.add_argument("--role", choices=["viewer", "admin", "dba", "owner"])
    p.set_defaults(handler=cmd_operators)

    p = sub.add_parser("servers", parents=[common], help="database servers")
    p.add_argument("action", choices=["list", "add", "check", "remove", "drain", "undrain", "harden", "limit"])
    p.add_argument("name", nargs="?")
    p.add_argument("url", nargs="?")
    p.add_argument("--capacity", type=int, default=100)
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--threads-running", metavar="N|off",
                   help="limit: no new tenant job while the server's Threads_running exceeds N")
    p.set_defaults(handler=cmd_servers)

    p = sub.add_parser("demo", parents=[common], help="fill the store with demo data")
    p.add_argument("--reset", action="store_true", help="move the current embedded store aside first")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("audit", parents=[common], help="the audit log")
    p.add_argument("--since")
    p.add_argument("--operator")
    p.add_argument("--action")
    p.add_argument("--target")
    p.set_defaults(handler=cmd_audit)
    register_more(sub, common)


def cmd_doctor(ctx: Context, args: argparse.Namespace) -> int:
    from tenantops.engine.health import doctor

    if args.acknowledge:
        revisions = doctor.acknowledge_edits(ctx, slug=args.acknowledge)
        output.note(f"acknowledged edited revisions of {args.acknowledge}: {', '.join(revisions) or 'none'}")
    if args.reconcile:
        summary = doctor.reconcile_tenant(ctx, slug=args.reconcile)
        output.note(f"landlord of {args.reconcile} now records modules {', '.join(summary['modules']) or '(none)'}"
                    + (f" (history batch {summary['batch']})" if summary["batch"] else " (history already agreed)"))
    findings = doctor.diagnose(ctx)
    output.show(args, {"findings": findings}, lambda d: output.table(
        "Doctor", ["kind", "server", "target", "detail", "fix"],
        [(f["kind"], f["server"], f["target"], f["detail"], f["fix"]) for f in d["findings"]]))
    if not findings and not args.json:
        output.note("nothing needs attention")
    return 1 if findings else 0


def cmd_locks(ctx: Context, args: argparse.Namespace) -> int:
    from tenantops.engine.jobs import locks

    if args.action == "break":
        if not args.tenant:
            raise UsageError("locks break needs TENANT")
        doc = locks.break_lock(ctx, tenant=args.tenant, force=args.force)
        output.show(args, doc, lambda d: output.note(f"lock of {d['tenant']} broken (was held by {d['holder']})"))
        return 0
    rows = locks.list_locks(ctx, args.tenant)
    output.show(args, rows, lambda rs: output.table(
        "Locks", ["tenant", "holder", "operation", "job", "since", "lease until", "stale"],
        [(r["tenant"], r["holder"], r["operation"], r["job_id"], r["acquired_at"][:19], r["lease_until"][:19],
          "STALE" if r["stale"] else "") for r in rs]))
    return 0


def register_more(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("doctor", parents=[common], help="what needs attention")
    p.add_argument("--acknowledge", metavar="SLUG", help="accept edited applied revisions of a tenant (dba)")
    p.add_argument("--reconcile", metavar="SLUG",
                   help="record the revisions in a tenant's database in the landlord (dba)")
    p.set_defaults(handler=cmd_doctor)

    p = sub.add_parser("locks", parents=[common], help="tenant locks")
    p.add_argument("action", choices=["list", "break"])
    p.add_argument("tenant", nargs="?")
    p.add_argument("--force", action="store_true", help="break a live lock")
    p.set_defaults(handler=cmd_locks)
