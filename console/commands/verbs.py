"""How a command or verb gets its own parser: one call per verb, with its help, an example
for the ``--help`` epilog and its handler, so a new verb is one small function away.

Only argparse and the standard library here: building the parser tree must stay cheap
(``bench/bench_cli.py`` times ``tenantops --help``).
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any

Handler = Callable[..., int]


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the example's line breaks; shows defaults only where help says so."""


def group(sub: argparse._SubParsersAction, name: str, *, help: str) -> argparse._SubParsersAction:
    """A command made of verbs (`tenantops jobs list`): the verb is required."""
    p = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)
    return p.add_subparsers(dest=f"{name}_verb", metavar="VERB", required=True, title="verbs")


def verb(sub: argparse._SubParsersAction, name: str, common: argparse.ArgumentParser, *, help: str,
         example: str | list[str], handler: Handler, **defaults: Any) -> argparse.ArgumentParser:
    """One verb (or a command without verbs): its own parser, help and examples."""
    examples = [example] if isinstance(example, str) else example
    epilog = "example" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(f"  {e}" for e in examples)
    p = sub.add_parser(name, parents=[common], help=help, description=help, epilog=epilog,
                       formatter_class=_Formatter)
    p.set_defaults(handler=handler, **defaults)
    return p


def confirm(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    p.add_argument("--confirm", metavar="SLUG", required=required,
                   help="repeat the tenant's slug to allow a destructive change")


def dry_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="show what would happen (plan and SQL); change nothing")


# -- argument types: a bad value is a usage error (exit 2) before anything is opened -----

def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def iso_time(text: str) -> str:
    """An ISO 8601 date or time; the engine parses it again, this only refuses junk early."""
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time "
                                         "(e.g. 2026-12-01 or 2026-12-01T08:00:00Z)") from None
    return text
