"""A virtual list: renders only the visible lines, so ten thousand rows cost the same as
ten (a DataTable measures every cell when filled; STACK-NOTES measured 2-3 s for 10k).
Toolong's log view is the model: ``ScrollView`` + ``render_line``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tenantops.console.actions import LIST, Dispatch, bindings_for

Cell = str | tuple[str, str | None]
TONES = ("ok", "warn", "bad", "accent", "muted")


@dataclass
class Column:
    title: str
    width: int | None = None  # None: shares the width left over
    align: str = "left"
    min_width: int = 6


@dataclass
class Row:
    key: Any
    cells: Sequence[Cell]
    tone: str | None = None
    data: Any = field(default=None, repr=False)


class RowList(Dispatch, ScrollView, can_focus=True):
    BINDINGS = bindings_for(LIST)
    COMPONENT_CLASSES = {"rowlist--header", "rowlist--cursor", "rowlist--cursor-blurred", "rowlist--empty",
                         *(f"rowlist--{tone}" for tone in TONES)}

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, rowlist: "RowList", row: Row | None) -> None:
            super().__init__()
            self.rowlist, self.row = rowlist, row

        @property
        def control(self) -> "RowList":
            return self.rowlist

    class Selected(Message):
        def __init__(self, rowlist: "RowList", row: Row) -> None:
            super().__init__()
            self.rowlist, self.row = rowlist, row

        @property
        def control(self) -> "RowList":
            return self.rowlist

    def __init__(self, columns: Sequence[Column], *, empty: str = "Nothing to show", show_header: bool = True,
                 cursor_when_blurred: bool = True, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        # several lists side by side (the dashboard) read better with one cursor on screen
        self.cursor_when_blurred = cursor_when_blurred
        self.columns = list(columns)
        self.empty = empty
        self.show_header = show_header
        self.rows: list[Row] = []
        self.loaded = False

    # -- data ----------------------------------------------------------------
    @property
    def _top(self) -> int:
        return 1 if self.show_header else 0

    def set_rows(self, rows: Sequence[Row], *, keep_key: bool = True) -> None:
        """Replace the rows; the cursor stays on the same key when it still exists."""
        old = self.current_row.key if keep_key and self.current_row else None
        self.rows = list(rows)
        self.loaded = True
        index = next((i for i, r in enumerate(self.rows) if r.key == old), None) if old is not None else None
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + self._top)
        new = min(index if index is not None else self.cursor, max(0, len(self.rows) - 1))
        self.cursor = new
        self.refresh()

    @property
    def current_row(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def move_to_key(self, key: Any) -> bool:
        for i, row in enumerate(self.rows):
            if row.key == key:
                self.cursor = i
                return True
        return False

    # -- cursor --------------------------------------------------------------
    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor(self, value: int) -> None:
        page = max(1, self.scrollable_content_region.height - self._top)
        if value < self.scroll_offset.y:
            self.scroll_to(y=value, animate=False, immediate=True)
        elif value >= self.scroll_offset.y + page:
            self.scroll_to(y=value - page + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(self, self.current_row))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - self._top - 1)

    def cmd_down(self) -> None:
        self.cursor += 1

    def cmd_up(self) -> None:
        self.cursor -= 1

    def cmd_top(self) -> None:
        self.cursor = 0

    def cmd_bottom(self) -> None:
        self.cursor = len(self.rows) - 1

    def cmd_page_down(self) -> None:
        self.cursor += self._page()

    def cmd_page_up(self) -> None:
        self.cursor -= self._page()

    def cmd_select(self) -> None:
        if self.current_row is not None:
            self.post_message(self.Selected(self, self.current_row))

    async def _on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y - self._top
        if event.y >= self._top and 0 <= index < len(self.rows):
            self.cursor = index
            if event.chain >= 2:
                self.cmd_select()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + self._top)

    # -- rendering -----------------------------------------------------------
    def _widths(self, width: int) -> list[int]:
        gaps = len(self.columns)  # one leading space, one between columns
        fixed = sum(c.width or 0 for c in self.columns)
        flex = [c for c in self.columns if c.width is None]
        spare = max(0, width - fixed - gaps)
        out = []
        for c in self.columns:
            if c.width is not None:
                out.append(c.width)
            else:
                share = spare // len(flex) if flex else 0
                out.append(max(c.min_width, share))
        return out

    def _line(self, cells: Sequence[Cell], widths: list[int], base: Style) -> Text:
        line = Text(" ", style=base, no_wrap=True, end="")
        for column, width, cell in zip(self.columns, widths, cells):
            value, tone = (cell if isinstance(cell, tuple) else (cell, None))
            text = Text(str(value), no_wrap=True, end="")
            if tone:
                text.stylize(self.get_component_rich_style(f"rowlist--{tone}", partial=True))
            text.truncate(width, overflow="ellipsis", pad=False)
            pad = width - text.cell_len
            if column.align == "right":
                text = Text(" " * pad, end="") + text
            else:
                text.append(" " * pad)
            line.append_text(text)
            line.append(" ")
        return line

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.visual_style.rich_style
        widths = self._widths(width)
        if self.show_header and y == 0:
            style = self.get_component_rich_style("rowlist--header")
            text = self._line([c.title for c in self.columns], widths, base)
            text.stylize(style)
            return self._strip(text, width, base + style)
        index = self.scroll_offset.y + y - self._top
        if not self.rows:
            if y == self._top and self.loaded:
                text = Text(f" {self.empty}", style=self.get_component_rich_style("rowlist--empty"), end="")
                return self._strip(text, width, base)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        text = self._line(row.cells, widths, base)
        if row.tone:
            text.stylize(self.get_component_rich_style(f"rowlist--{row.tone}", partial=True))
        line_style = base
        if index == self.cursor and (self.has_focus or self.cursor_when_blurred):
            cursor = self.get_component_rich_style("rowlist--cursor" if self.has_focus else "rowlist--cursor-blurred")
            text.stylize(cursor)
            line_style = base + cursor
        return self._strip(text, width, line_style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        # Text.render ignores Text.style when there are no spans: give the base a span
        text.stylize_before(style)
        segments = list(text.render(self.app.console))
        return Strip(segments).crop_extend(0, width, style)
