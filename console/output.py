"""How the CLI speaks: one JSON document on stdout with --json, rich tables otherwise,
everything else (progress, warnings, prompts, errors) on stderr."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, set):
        return sorted(value)
    return str(value)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=_default, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        t.add_column(column)
    count = 0
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
        count += 1
    if count == 0:
        err.print(f"[dim]no {title.lower() if title else 'rows'}[/dim]")
        return
    out.print(t)


def fields(document: dict[str, Any], keys: Sequence[str] | None = None) -> None:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for key in keys or document.keys():
        value = document.get(key)
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=_default, ensure_ascii=False)
        t.add_row(key, "" if value is None else str(value))
    out.print(t)


def show(args: Any, document: Any, render) -> None:
    """Print ``document`` as JSON when --json was given, else through ``render``."""
    if getattr(args, "json", False):
        emit_json(document)
    else:
        render(document)


def note(message: str) -> None:
    err.print(message, highlight=False)


def sql_block(comment: str, statements: Iterable[str]) -> None:
    """A commented group of SQL statements on stdout, ready to paste into a client."""
    out.print(f"-- {comment}", highlight=False, markup=False)
    for statement in statements:
        out.print(statement.rstrip().rstrip(";") + ";", highlight=False, markup=False)
