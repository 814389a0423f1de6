"""The `tenantops` command: the console with no subcommand, the CLI contract otherwise.

Contract: ../shared/CLI.md. Exit 0 success, 1 failed/refused (one line on stderr), 2 usage,
3 drift at or above --fail-on. No traceback without --debug.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from tenantops.engine.errors import TenantopsError

from . import output
from .commands import admin, catalog, completion, day2, health, lifecycle, rollouts, tenancy

COMMAND_MODULES = [admin, catalog, tenancy, day2, health, lifecycle, rollouts]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other refusal
        self.exit(2, f"tenantops: usage error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tenantops", description="Operations console for database-per-tenant platforms")
    common = Parser(add_help=False)
    for target in (parser, common):
        default = None if target is parser else argparse.SUPPRESS
        target.add_argument("--home", type=Path, default=default, metavar="DIR", help="state directory ($TENANTOPS_HOME)")
        target.add_argument("--config", type=Path, default=default, metavar="FILE", help="config file ($TENANTOPS_CONFIG)")
        target.add_argument("--landlord", default=default, metavar="URL", help="landlord URL ($TENANTOPS_LANDLORD_URL)")
        target.add_argument("--debug", action="store_true", default=False if target is parser else argparse.SUPPRESS,
                            help="print tracebacks of unexpected errors")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    common.add_argument("--output", choices=["table", "wide"], default="table",
                        help="wide: tables as wide as their content, with full errors and hashes")
    parser.add_argument("--demo", action="store_true", help="fill an empty store with demo data first")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND", title="commands")
    for module in COMMAND_MODULES:
        module.register(sub, common)
    completion.register(sub)
    return parser


def check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Paths given on the command line are checked before anything is opened or written."""
    if args.config is not None and not args.config.is_file():
        parser.error(f"--config {args.config}: no such file")
    home = args.home or (Path(os.environ["TENANTOPS_HOME"]) if os.environ.get("TENANTOPS_HOME") else None)
    if home is not None:
        existing = next((p for p in (home, *home.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise TenantopsError(f"home directory {home}: {existing} is not a directory (--home or $TENANTOPS_HOME)")


def open_context(args: argparse.Namespace):
    from tenantops.engine.context import Context

    # `worker` runs jobs for their requesters (checked when queued): the service account's
    # cron may run it without being an operator itself
    return Context.open(home=args.home, config=args.config, landlord_url=args.landlord,
                        require_operator=not getattr(args, "runs_for_requesters", False))


# Set by run(), the installed command: the collector is off while the start-up imports
# load, and what they made is frozen once they are done (see _loaded). Not for main()
# called in-process (tests), where the collector is the caller's business.
_START_UP = False


def _loaded() -> None:
    """The command's modules and the store are loaded: the objects they made (SQLAlchemy's,
    the models, rich ...) live as long as the process. Frozen, no later collection walks
    them again; the command's own work runs with the collector on."""
    global _START_UP
    if _START_UP:
        _START_UP = False
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    output.WIDE = getattr(args, "output", "table") == "wide"
    ctx = None
    try:
        if args.command is None:
            from .app import run_console

            _loaded()
            return run_console(args)
        if getattr(args, "without_store", False):
            _loaded()
            return int(args.handler(parser, args) or 0)
        if getattr(args, "before_open", None):
            args.before_open(args)
        check_paths(parser, args)
        try:
            ctx = open_context(args)
        except OSError as exc:  # the home directory (or the config) cannot be made or read
            where = exc.filename if exc.filename is not None else (args.home or "the home directory")
            raise TenantopsError(f"cannot use {where}: {exc.strerror or exc} (check --home / $TENANTOPS_HOME)") from None
        _loaded()
        return int(args.handler(ctx, args) or 0)
    except TenantopsError as exc:
        if debug:
            traceback.print_exc()
        output.err.print(f"tenantops: {exc}", highlight=False, markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        output.err.print("tenantops: interrupted", highlight=False)
        return 130
    except Exception as exc:  # the promise: no traceback reaches a user without --debug
        if debug:
            traceback.print_exc()
        output.err.print(f"tenantops: internal error: {type(exc).__name__}: {_safe(exc)} (run with --debug for details)",
                         highlight=False, markup=False)
        return 1
    finally:
        if ctx is not None:
            ctx.close()


def _safe(exc: Exception) -> str:
    """First line of an unexpected error, without SQL parameters that could hold data."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text.split("[SQL:")[0].strip()[:300]


def run() -> NoReturn:
    """The installed `tenantops` command (through console/launch.py, which turns the
    collector off before this module loads): main(), then exit without the interpreter's
    final garbage collection."""
    global _START_UP
    # Start-up allocates ~300,000 objects that live until exit; with the collector on,
    # every collection while they load walked the ones already there: ~50 ms of a read
    # command's ~650 here, and a command doing more work paid full collections more often
    # (bench/bench_cli.py, bench_provision.py). Off until they are loaded (_loaded);
    # launch.run has turned it off already, this covers running this module directly.
    gc.disable()
    _START_UP = True
    try:
        status = main()
    finally:
        # Python's last collection walks every object the imports made (SQLAlchemy's alone
        # are ~50 ms here, a whole command ~100 ms: bench/bench_cli.py); the process is
        # ending and everything that holds a resource was closed by main() (the context,
        # the connections, the files), so it would only free memory the OS takes back
        # anyway. atexit still runs. Also when argparse ends the process (--help, a usage
        # error: SystemExit from main): ~5 ms of `--help`.
        gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
