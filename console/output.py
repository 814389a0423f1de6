"""How the CLI speaks: one JSON document on stdout with --json, rich tables otherwise,
everything else (progress, warnings, prompts, errors) on stderr."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

# `--output wide`: no clipped cells and tables as wide as their content, even on a terminal
WIDE = False
# columns that name something: never wrapped or cut, whatever the terminal's width
IDENTIFIERS = {"id", "slug", "tenant", "name", "job", "server", "user", "hash", "sha256", "revision", "unit",
               "batch", "path", "quarantined as", "holder", "template", "url"}


def clip(value: Any, length: int) -> str:
    """A long detail (an error, a hash) cut for a table, unless --output wide."""
    text = "" if value is None else str(value)
    return text if WIDE else text[:length]


def _print_block(renderable: Any) -> None:
    """On a terminal the table fits the window (identifiers intact, other cells fold); piped
    or with --output wide it is as wide as its content, so nothing is cut at 80 columns."""
    if out.is_terminal and not WIDE:
        out.print(renderable)
        return
    width = Measurement.get(out, out.options.update(width=1_000_000), renderable).maximum
    # Console.print never renders wider than its console (80 columns when not a
    # terminal): a console as wide as the content prints it whole
    Console(file=out.file, width=max(width, 1), soft_wrap=True,
            force_terminal=out.is_terminal, no_color=out.no_color).print(renderable, crop=False)


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
    cells = [tuple("" if v is None else str(v) for v in row) for row in rows]
    if not cells:
        err.print(f"[dim]no {title.lower() if title else 'rows'}[/dim]")
        return
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, column in enumerate(columns):
        if i == 0 or column in IDENTIFIERS:
            longest = max(len(column), *(len(row[i]) for row in cells))
            t.add_column(column, no_wrap=True, min_width=longest)
        else:
            t.add_column(column, overflow="fold")
    for row in cells:
        t.add_row(*row)
    _print_block(t)


def fields(document: dict[str, Any], keys: Sequence[str] | None = None) -> None:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for key in keys or document.keys():
        value = document.get(key)
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=_default, ensure_ascii=False)
        t.add_row(key, "" if value is None else str(value))
    _print_block(t)


def show(args: Any, document: Any, render) -> None:
    """Print ``document`` as JSON when --json was given, else through ``render``."""
    if getattr(args, "json", False):
        emit_json(document)
    else:
        render(document)


def note(message: str) -> None:
    """A line for the person at the terminal (stderr), rich markup allowed."""
    if err.is_terminal:
        err.print(message, highlight=False)
    else:
        # piped, rich prints the same text without styles; writing it directly is ~5x
        # cheaper, which shows on a command that prints a job's forty steps
        sys.stderr.write(Text.from_markup(message, emoji=False).plain + "\n")


def note_parts(parts: Sequence[tuple[str, str]]) -> None:
    """A ``note`` made of (text, style) parts: the text is never read as markup."""
    if err.is_terminal:
        err.print(Text.assemble(*parts), highlight=False)
    else:
        sys.stderr.write("".join(text for text, _ in parts) + "\n")


def sql_block(comment: str, statements: Iterable[str]) -> None:
    """A commented group of SQL statements on stdout, ready to paste into a client."""
    out.print(f"-- {comment}", highlight=False, markup=False)
    for statement in statements:
        out.print(statement.rstrip().rstrip(";") + ";", highlight=False, markup=False)
