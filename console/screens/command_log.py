"""The command log panel (``L``, lazygit style): every engine call and SQL statement this
console made in this session, newest at the bottom, with how long each took. Statements
are listed under the engine call they ran in; Esc closes it."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from tenantops.console.commandlog import CommandLog, Entry
from tenantops.console.screens.base import BaseDialog
from tenantops.console.widgets.scrollpane import ScrollPane

# the newest entries only: the panel must repaint in well under a frame
SHOWN = 300


def took(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 1000 else f"{seconds:.2f} s"


def render_entries(entries: list[Entry], width: int) -> str:
    room = max(20, width - 22)
    lines = []
    for e in entries[-SHOWN:]:
        clock = e.at.strftime("%H:%M:%S")
        if e.kind == "call":
            sql = f" · {e.statements} SQL" if e.statements else ""
            state = f" [$text-error]✗ {escape(e.error)}[/]" if e.error else ""
            lines.append(f"[$text-muted]{clock}[/] {took(e.seconds):>9} [b]▶ {escape(e.text)}[/]"
                         f"[$text-muted]{sql}[/]{state}")
        else:
            indent = "  " if e.call else ""
            text = e.text if len(e.text) <= room - len(indent) else e.text[: room - len(indent) - 1] + "…"
            state = f" [$text-error]✗ {escape(e.error)}[/]" if e.error else ""
            lines.append(f"[$text-muted]{clock} {took(e.seconds):>9}[/] {indent}{escape(text)}{state}")
    if not lines:
        lines.append("[$text-muted]Nothing yet: every engine call and SQL statement of this session shows here.[/]")
    return "\n".join(lines)


class CommandLogScreen(BaseDialog):
    """Docked at the bottom over whatever screen is open; it repaints as entries come in."""

    def __init__(self, log: CommandLog) -> None:
        super().__init__()
        self.entries_log = log
        self._painted = -1

    def compose(self) -> ComposeResult:
        with Vertical(id="command-log") as box:
            box.border_title = "Command log"
            box.border_subtitle = "Esc closes"
            yield Static("", id="command-log-bar")
            with ScrollPane(id="command-log-pane"):
                yield Static("", id="command-log-body")

    def on_mount(self) -> None:
        self.query_one("#command-log-pane", ScrollPane).focus()
        self.paint()
        self.set_interval(0.5, self.paint)

    def on_resize(self) -> None:
        self._painted = -1
        self.paint()

    def paint(self) -> None:
        if self.entries_log.version == self._painted:
            return
        self._painted = self.entries_log.version
        entries = self.entries_log.snapshot()
        calls = [e for e in entries if e.kind == "call"]
        sql = [e for e in entries if e.kind == "sql"]
        sql_time = sum(e.seconds or 0 for e in sql)
        self.query_one("#command-log-bar", Static).update(
            f"[b]{len(calls)}[/] engine call(s) · [b]{len(sql)}[/] SQL statement(s), {took(sql_time)} in SQL"
            + (f" · [$text-muted]the newest {SHOWN} shown[/]" if len(entries) > SHOWN else ""))
        pane = self.query_one("#command-log-pane", ScrollPane)
        at_end = pane.scroll_y >= pane.max_scroll_y - 1
        width = pane.scrollable_content_region.width or 78
        self.query_one("#command-log-body", Static).update(render_entries(entries, width))
        if at_end:
            pane.call_after_refresh(pane.scroll_end, animate=False)

    def entries_text(self) -> str:
        """What the panel shows, as plain text (tests read it)."""
        return str(self.query_one("#command-log-body", Static).render())
