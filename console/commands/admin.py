"""init, operators, servers, audit."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any
import sys

from tenantops.engine.errors import UsageError

from tenantops.engine.vocab import ROLES

from .. import output
from ..lazy import lazy
from .verbs import group, iso_time, positive_int, verb

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


def cmd_operators_list(ctx: Context, args: argparse.Namespace) -> int:
    rows = operators.list_operators(ctx)
    output.show(args, rows, lambda rs: output.table(
        "Operators", ["user", "role", "added by", "added at"],
        [(r["user"], r["role"], r["added_by"], r["added_at"][:19]) for r in rs]))
    return 0


def cmd_operators_add(ctx: Context, args: argparse.Namespace) -> int:
    doc = operators.add_operator(ctx, user=args.user, role=args.role)
    output.show(args, doc, lambda d: output.note(f"operator {d['user']} now has the {d['role']} role"))
    return 0


def cmd_operators_remove(ctx: Context, args: argparse.Namespace) -> int:
    operators.remove_operator(ctx, user=args.user)
    output.show(args, {"removed": args.user}, lambda d: output.note(f"operator {args.user} removed"))
    return 0


def _load(doc: dict) -> str:
    if doc["limit"] is None:
        return ""
    now = "?" if doc["threads_running"] is None else str(doc["threads_running"])
    return ("THROTTLED " if doc["throttled"] else "") + f"{now}/{doc['limit']} threads"


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


def cmd_servers_list(ctx: Context, args: argparse.Namespace) -> int:
    output.show(args, servers.list_servers(ctx), _server_rows)
    return 0


def cmd_servers_add(ctx: Context, args: argparse.Namespace) -> int:
    password = read_password_stdin() if args.password_stdin else None
    doc = servers.add_server(ctx, name=args.name, url=args.url, capacity=args.capacity, password=password)
    output.show(args, doc, lambda d: output.note(f"server {d['name']} added ({d['dialect']} {d['version']})"))
    return 0


def cmd_servers_check(ctx: Context, args: argparse.Namespace) -> int:
    doc = servers.check_server(ctx, args.name)
    output.show(args, doc, lambda d: _server_rows([d]))
    if not doc["reachable"]:
        output.note(f"server {doc['name']} is unreachable: {doc['error']}")
        return 1
    return 0


def _set_draining(ctx: Context, args: argparse.Namespace, draining: bool) -> int:
    servers.set_draining(ctx, name=args.name, draining=draining)
    output.show(args, {"name": args.name, "draining": draining},
                lambda d: output.note(f"server {d['name']} {'drains' if d['draining'] else 'takes new tenants'}"))
    return 0


def cmd_servers_drain(ctx: Context, args: argparse.Namespace) -> int:
    return _set_draining(ctx, args, True)


def cmd_servers_undrain(ctx: Context, args: argparse.Namespace) -> int:
    return _set_draining(ctx, args, False)


def cmd_servers_harden(ctx: Context, args: argparse.Namespace) -> int:
    hardened = servers.harden_server(ctx, name=args.name)
    output.show(args, hardened, lambda d: output.note(
        "\n".join(f"{r['tenant']}: {r['user']}@{r['host']} reduced to data privileges (removed "
                  f"{', '.join(r['removed'])})" for r in d["reduced"])
        or f"server {d['server']}: every tenant user already has data privileges only"))
    return 0


def _threads_limit(text: str) -> int | None:
    if text == "off":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number or off") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def cmd_servers_limit(ctx: Context, args: argparse.Namespace) -> int:
    server = load.set_load_limit(ctx, name=args.name, threads_running=args.threads_running)
    limit_doc = {"name": args.name, **servers.server_json(server, 0)["load"]}
    output.show(args, limit_doc, lambda d: output.note(
        f"server {d['name']}: " + ("no load limit" if d["limit"] is None else
                                   f"no new tenant job while Threads_running > {d['limit']} "
                                   f"(now {d['threads_running'] if d['threads_running'] is not None else '?'})")))
    return 0


def cmd_servers_remove(ctx: Context, args: argparse.Namespace) -> int:
    servers.remove_server(ctx, name=args.name)
    output.show(args, {"removed": args.name}, lambda d: output.note(f"server {args.name} removed"))
    return 0


def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    since = audit.parse_since(args.since) if args.since else None
    rows = audit.list_audit(ctx, since=since, operator=args.operator, action=args.audit_action, target=args.target)
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
    p = verb(sub, "init", common, help="create or upgrade the landlord store", handler=cmd_init,
             before_open=store_landlord_password,
             example=["tenantops init",
                      "printf '%s\\n' \"$PW\" | tenantops init --landlord mysql+pymysql://ops@db0/landlord --password-stdin"])
    p.add_argument("--password-stdin", action="store_true",
                   help="read the landlord password from one line of stdin into the OS keyring")

    verbs = group(sub, "operators", help="operators and roles (owner)")
    verb(verbs, "list", common, help="operators and their roles (array with --json)", handler=cmd_operators_list,
         example="tenantops operators list --json")
    p = verb(verbs, "add", common, help="give an OS account a role", handler=cmd_operators_add,
             example="tenantops operators add bob --role dba")
    p.add_argument("user", metavar="USER", help="the operator's OS account name")
    p.add_argument("--role", required=True, choices=ROLES, help="viewer, admin, dba or owner")
    p = verb(verbs, "remove", common, help="take an operator's role away", handler=cmd_operators_remove,
             example="tenantops operators remove bob")
    p.add_argument("user", metavar="USER", help="the operator's OS account name")

    verbs = group(sub, "servers", help="database servers tenants are placed on")
    verb(verbs, "list", common, help="registered servers (array with --json)", handler=cmd_servers_list,
         example="tenantops servers list --json")
    p = verb(verbs, "add", common, help="register a server (the password goes to the OS keyring)",
             handler=cmd_servers_add,
             example="printf '%s\\n' \"$PW\" | tenantops servers add db1 mysql+pymysql://ops@10.0.0.5:3306 "
                     "--password-stdin")
    _server_name(p)
    p.add_argument("url", metavar="URL", help="SQLAlchemy URL without the password, e.g. mysql+pymysql://ops@host:3306")
    p.add_argument("--capacity", type=positive_int, default=100, metavar="N",
                   help="how many tenants the server takes (default 100)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the server password from one line of stdin into the OS keyring")
    for name, handler, text in (("check", cmd_servers_check, "connect and report the version (exit 1 if unreachable)"),
                                ("remove", cmd_servers_remove, "forget a server that holds no tenants"),
                                ("drain", cmd_servers_drain, "place no new tenants on a server"),
                                ("undrain", cmd_servers_undrain, "let a drained server take new tenants again"),
                                ("harden", cmd_servers_harden,
                                 "reduce tenant users left by older versions to data privileges (dba)")):
        _server_name(verb(verbs, name, common, help=text, handler=handler, example=f"tenantops servers {name} db1"))

    p = verb(verbs, "limit", common, help="no new tenant job while the server's Threads_running is above N (dba)",
             handler=cmd_servers_limit, example=["tenantops servers limit db1 --threads-running 40",
                                                 "tenantops servers limit db1 --threads-running off"])
    _server_name(p)
    p.add_argument("--threads-running", required=True, type=_threads_limit, metavar="N|off",
                   help="the limit, or off to remove it")

    p = verb(sub, "demo", common, help="fill the store with demo data", handler=cmd_demo,
             example=["tenantops demo", "tenantops demo --reset"])
    p.add_argument("--reset", action="store_true", help="move the current embedded store aside first")

    p = verb(sub, "audit", common, help="the audit log (array with --json)", handler=cmd_audit,
             example="tenantops audit --since 2026-11-30T00:00:00Z --operator alice --json")
    p.add_argument("--since", type=iso_time, metavar="ISO8601", help="entries at or after this date or time")
    p.add_argument("--operator", metavar="USER", help="entries by this operator")
    p.add_argument("--action", dest="audit_action", metavar="ACTION", help="entries of this action, e.g. provision")
    p.add_argument("--target", metavar="NAME", help="entries about this tenant, server or operator")
    register_more(sub, common)


def _server_name(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the server's name (`tenantops servers list`)")


def cmd_doctor(ctx: Context, args: argparse.Namespace) -> int:
    from tenantops.engine.health import doctor

    done: dict[str, Any] = {}
    if args.acknowledge:
        revisions = doctor.acknowledge_edits(ctx, slug=args.acknowledge)
        done["acknowledged"] = {"tenant": args.acknowledge, "revisions": revisions}
        output.note(f"acknowledged edited revisions of {args.acknowledge}: {', '.join(revisions) or 'none'}")
    if args.reconcile:
        summary = doctor.reconcile_tenant(ctx, slug=args.reconcile)
        done["reconciled"] = {"tenant": args.reconcile, **summary}
        output.note(f"landlord of {args.reconcile} now records modules {', '.join(summary['modules']) or '(none)'}"
                    + (f" (history batch {summary['batch']})" if summary["batch"] else " (history already agreed)"))
    findings = doctor.diagnose(ctx)
    # quiet when clean, like a monitoring check: exit 0 and not a line on either stream
    def render(d: dict[str, Any]) -> None:
        if d["findings"]:
            output.table("Doctor", ["kind", "server", "target", "detail", "fix"],
                         [(f["kind"], f["server"], f["target"], f["detail"], f["fix"]) for f in d["findings"]])
    output.show(args, {"findings": findings, **done}, render)
    return 1 if findings else 0


def cmd_locks_list(ctx: Context, args: argparse.Namespace) -> int:
    from tenantops.engine.jobs import locks

    rows = locks.list_locks(ctx, args.tenant)
    output.show(args, rows, lambda rs: output.table(
        "Locks", ["tenant", "holder", "operation", "job", "since", "lease until", "stale"],
        [(r["tenant"], r["holder"], r["operation"], r["job_id"], r["acquired_at"][:19], r["lease_until"][:19],
          "STALE" if r["stale"] else "") for r in rs]))
    return 0


def cmd_locks_break(ctx: Context, args: argparse.Namespace) -> int:
    from tenantops.engine.jobs import locks

    doc = locks.break_lock(ctx, tenant=args.tenant, force=args.force)
    output.show(args, doc, lambda d: output.note(f"lock of {d['tenant']} broken (was held by {d['holder']})"))
    return 0


def register_more(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = verb(sub, "doctor", common, help="what needs attention (exit 1 when something does)", handler=cmd_doctor,
             example=["tenantops doctor --json", "tenantops doctor --reconcile nc-ktm"])
    p.add_argument("--acknowledge", metavar="SLUG", help="accept edited applied revisions of a tenant (dba)")
    p.add_argument("--reconcile", metavar="SLUG",
                   help="record the revisions in a tenant's database in the landlord (dba)")

    verbs = group(sub, "locks", help="tenant locks")
    p = verb(verbs, "list", common, help="held tenant locks (array with --json)", handler=cmd_locks_list,
             example="tenantops locks list --json")
    p.add_argument("tenant", nargs="?", metavar="TENANT", help="only this tenant's lock")
    p = verb(verbs, "break", common, help="release a stale lock (dba)", handler=cmd_locks_break,
             example="tenantops locks break nc-ktm")
    p.add_argument("tenant", metavar="TENANT", help="the tenant whose lock to break")
    p.add_argument("--force", action="store_true", help="break a live lock too (its job may still be running)")
