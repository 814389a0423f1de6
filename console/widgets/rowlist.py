"""A virtual list: renders only the visible lines, so ten thousand rows cost the same as
ten (a DataTable measures every cell when filled; STACK-NOTES measured 2-3 s for 10k).
Toolong's log view is the model: ``ScrollView`` + ``render_line`` + a line cache.

Rows can be given as ``Row`` objects, or lazily as ``LazyRows`` (items plus functions
that make a row's key and cells): then a row's cells are only formatted when the row
scrolls into view, and filtering 10,000 tenants builds no Row objects at all.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import time
from dataclasses import dataclass, field
from typing import Any, overload

from rich.style import Style
from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tenantops.console.actions import LIST, Dispatch, bindings_for
from tenantops.console.widgets.cursor import CursorKeys

Cell = str | tuple[str, str | None]
TONES = ("ok", "warn", "bad", "accent", "muted")
# a row whose data changed since the previous read is marked this long
CHANGED_SECONDS = 3.0
CHANGED_MARK = "•"
# longer lists are not compared row by row on every read
CHANGED_MAX_ROWS = 20_000


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


class LazyRows(Sequence[Row]):
    """Rows made on demand from ``items``: only the visible ones are ever formatted."""

    def __init__(self, items: Sequence[Any], key: Callable[[Any], Any], cells: Callable[[Any], Sequence[Cell]],
                 tone: Callable[[Any], str | None] | None = None,
                 fingerprint: Callable[[Any], Any] | None = None) -> None:
        self.items = items
        self._key, self._cells, self._tone = key, cells, tone
        # what tells whether an item changed between two reads (default: the item)
        self.fingerprint = fingerprint or (lambda item: item)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self._row(item) for item in self.items[index]]
        return self._row(self.items[index])

    def _row(self, item: Any) -> Row:
        return Row(self._key(item), self._cells(item), self._tone(item) if self._tone else None, data=item)

    def index_of(self, key: Any) -> int | None:
        make = self._key
        for i, item in enumerate(self.items):
            if make(item) == key:
                return i
        return None


class RowList(CursorKeys, Dispatch, ScrollView, can_focus=True):
    BINDINGS = bindings_for(LIST)
    COMPONENT_CLASSES = {"rowlist--header", "rowlist--cursor", "rowlist--cursor-blurred", "rowlist--empty",
                         "rowlist--changed", *(f"rowlist--{tone}" for tone in TONES)}

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
        # (column index, longest value): that column is as wide as its longest value
        # (slugs are never cut) as far as the width allows; the other flexible columns
        # (descriptions) give way
        self.fit: tuple[int, int] | None = None
        self.empty = empty
        self.show_header = show_header
        self.rows: Sequence[Row] = []
        self.loaded = False
        # the header marks the sorted column (▲ ascending, ▼ descending)
        self.sort_column: int | None = None
        self.sort_reverse = False
        # rendered lines by (row index, width, cursor state): scrolling and moving the
        # cursor re-render only the lines that changed
        self._line_cache: LRUCache[tuple[int, int, int], Strip] = LRUCache(1024)
        # what each row held at the previous read (None before the first), and the rows
        # that changed since, with when their mark goes
        self._seen: dict[Any, Any] | None = None
        self.changed: dict[Any, float] = {}

    # -- data ----------------------------------------------------------------
    @property
    def _top(self) -> int:
        return 1 if self.show_header else 0

    def set_rows(self, rows: Sequence[Row], *, keep_key: bool = True, compare: bool | None = None) -> None:
        """Replace the rows; the cursor stays on the same key when it still exists.
        ``compare``: mark rows that changed since the previous rows (default: for plain
        rows; lazily listed ones only when asked, after a read, as comparing them costs
        a pass over every item)."""
        old = self.current_row.key if keep_key and self.current_row else None
        self.rows = rows if isinstance(rows, LazyRows) else list(rows)
        self.loaded = True
        if compare if compare is not None else not isinstance(self.rows, LazyRows):
            self._mark_changes()
        self._line_cache.clear()
        index = self.index_of(old) if old is not None else None
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + self._top)
        new = min(index if index is not None else self.cursor, max(0, len(self.rows) - 1))
        if getattr(self.screen, "ticking", False):
            # ages repainted from data already read: nothing new to announce (a
            # Highlighted message would make screens read the row's detail again)
            self.set_reactive(RowList.cursor, new)
        else:
            self.cursor = new
        self.refresh()

    def forget_changes(self) -> None:
        """The next rows are another list (another stage of a rollout), not a change of
        these: nothing is marked for them."""
        self._seen = None
        self.changed.clear()

    def _mark_changes(self) -> None:
        """Rows whose data differs from the previous read (or that are new) are marked
        for a few seconds. Rows with no data compare their cells; the first read marks
        nothing."""
        if len(self.rows) > CHANGED_MAX_ROWS:
            self._seen = None
            return
        seen: dict[Any, Any] = {}
        if isinstance(self.rows, LazyRows):
            # compared without formatting a single row
            lazy = self.rows
            seen = {lazy._key(item): lazy.fingerprint(item) for item in lazy.items}
        else:
            for row in self.rows:
                seen[row.key] = row.data if row.data is not None else tuple(row.cells)
        previous = self._seen
        if not previous:
            # the first rows (or the first after an empty list, often a layout pass
            # before the read): nothing to compare with
            self._seen = seen
            return
        # remembered across filters: a row a filter brings back is not a change
        self._seen = {**previous, **seen} if len(previous) < CHANGED_MAX_ROWS else seen
        now = time.monotonic()
        fresh = [key for key, value in seen.items() if key not in previous or previous[key] != value]
        if fresh:
            for key in fresh:
                self.changed[key] = now + CHANGED_SECONDS
            self.set_timer(CHANGED_SECONDS + 0.05, self._unmark)

    def _unmark(self) -> None:
        now = time.monotonic()
        expired = [key for key, until in self.changed.items() if until <= now]
        for key in expired:
            del self.changed[key]
        if expired:
            self.repaint()

    def repaint(self) -> None:
        """Render the visible rows again (ages moved on, marks expired)."""
        self._line_cache.clear()
        self.refresh()

    @property
    def current_row(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Change the columns (e.g. more of them on a wide terminal)."""
        if list(columns) != self.columns:
            self.columns = list(columns)
            self._line_cache.clear()
            self.refresh()

    def fit_column(self, index: int, longest: int) -> None:
        if self.fit != (index, longest):
            self.fit = (index, longest)
            self._line_cache.clear()
            self.refresh()

    def index_of(self, key: Any) -> int | None:
        if isinstance(self.rows, LazyRows):
            return self.rows.index_of(key)
        return next((i for i, r in enumerate(self.rows) if r.key == key), None)

    def move_to_key(self, key: Any) -> bool:
        index = self.index_of(key)
        if index is None:
            return False
        self.cursor = index
        return True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._line_cache.clear()

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
        fit, longest = self.fit if self.fit and self.fit[0] < len(self.columns) else (-1, 0)
        fixed = sum(c.width or 0 for i, c in enumerate(self.columns) if i != fit)
        flex = [c for i, c in enumerate(self.columns) if c.width is None and i != fit]
        fitted = 0
        if fit >= 0:
            room = width - fixed - gaps - sum(c.min_width for c in flex)
            fitted = max(self.columns[fit].min_width, min(longest, room))
            if not flex:
                fitted = max(fitted, width - fixed - gaps)  # nothing else to give the rest to
        spare = max(0, width - fixed - fitted - gaps)
        out = []
        for i, c in enumerate(self.columns):
            if i == fit:
                out.append(fitted)
            elif c.width is not None:
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
            titles = [c.title for c in self.columns]
            if self.sort_column is not None and 0 <= self.sort_column < len(titles):
                titles[self.sort_column] += " ▼" if self.sort_reverse else " ▲"
            text = self._line(titles, widths, base)
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
        on_cursor = index == self.cursor and (self.has_focus or self.cursor_when_blurred)
        state = (1 if self.has_focus else 2) if on_cursor else 0
        cached = self._line_cache.get((index, width, state))
        if cached is not None:
            return cached
        row = self.rows[index]
        text = self._line(row.cells, widths, base)
        if row.tone:
            text.stylize(self.get_component_rich_style(f"rowlist--{row.tone}", partial=True))
        if row.key in self.changed:
            # a mark, not only a colour: it reads on 16-colour terminals too
            text = Text(CHANGED_MARK, style=self.get_component_rich_style("rowlist--changed"), end="") + text[1:]
        line_style = base
        if on_cursor:
            cursor = self.get_component_rich_style("rowlist--cursor" if self.has_focus else "rowlist--cursor-blurred")
            text.stylize(cursor)
            line_style = base + cursor
        strip = self._strip(text, width, line_style)
        self._line_cache.set((index, width, state), strip)
        return strip

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        # Text.render ignores Text.style when there are no spans: give the base a span
        text.stylize_before(style)
        segments = list(text.render(self.app.console))
        return Strip(segments).crop_extend(0, width, style)
