"""The side-by-side diff, line-rendered: only the visible lines of a 300-table schema are
ever turned into text (Toolong's ``ScrollView`` + ``render_line`` + line cache).

Each line: ``marker text │ marker text  owner``. Added objects carry ``+``, removed
``-``, modified ``~`` on the side(s) where they exist, as well as a colour; the changed
attribute is highlighted on both sides; the owning unit's layer sits at the right.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from tenantops.console.diffmodel import MARK, DiffModel, Line
from tenantops.console.widgets.cursor import CursorKeys

TONE_OF_CHANGE = {"added": "added", "removed": "removed", "modified": "modified"}


class DiffView(CursorKeys, Dispatch, ScrollView, can_focus=True):
    BINDINGS = bindings_for(LIST)
    COMPONENT_CLASSES = {"diffview--title", "diffview--head", "diffview--added", "diffview--removed",
                         "diffview--modified", "diffview--hl", "diffview--muted", "diffview--cursor",
                         "diffview--accepted", "diffview--rule"}

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Moved(Message):
        def __init__(self, view: "DiffView", line: Line | None) -> None:
            super().__init__()
            self.view, self.line = view, line

        @property
        def control(self) -> "DiffView":
            return self.view

    def __init__(self, *, left_title: str = "expected", right_title: str = "actual", id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: DiffModel | None = None
        self.rows: list[int] = []  # indices into model.lines; -1 is a blank spacer
        self.left_title, self.right_title = left_title, right_title
        # what the owner column says for a unit, given the column's width
        self.unit_label: Callable[[str | None, int], str] = lambda unit, width: unit or ""
        # what an empty side says on an added / a removed object's line
        self.placeholders = ("‹not expected›", "‹missing›")
        self._cache: LRUCache[tuple[int, int, bool], Strip] = LRUCache(1024)

    # -- data ----------------------------------------------------------------
    def set_model(self, model: DiffModel | None, rows: list[int], *, keep_line: bool = True) -> None:
        old = self.current_index if keep_line else None
        self.model, self.rows = model, rows
        self._cache.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows) + 1)
        position = self.rows.index(old) if old is not None and old in self.rows else 0
        self.cursor = position
        self.refresh()
        # the new virtual size takes effect with the next layout: scroll then
        self.call_after_refresh(self.scroll_to_cursor)

    def scroll_to_cursor(self) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        top = self.scroll_offset.y
        if self.cursor < top or self.cursor >= top + page:
            self.scroll_to(y=max(0, self.cursor - page // 3), animate=False, immediate=True)

    @property
    def current_index(self) -> int | None:
        if 0 <= self.cursor < len(self.rows) and self.rows[self.cursor] >= 0:
            return self.rows[self.cursor]
        return None

    @property
    def current_line(self) -> Line | None:
        index = self.current_index
        return self.model.lines[index] if self.model is not None and index is not None else None

    def move_to_line(self, index: int) -> bool:
        if index in self.rows:
            self.cursor = self.rows.index(index)
            return True
        return False

    def difference_positions(self) -> list[int]:
        if self.model is None:
            return []
        return [p for p, i in enumerate(self.rows) if i >= 0 and self.model.lines[i].diffs]

    # -- cursor --------------------------------------------------------------
    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1)) if self.rows else 0

    def watch_cursor(self, value: int) -> None:
        # jumps (n/N) land with some context above
        self.scroll_to_cursor()
        self.refresh()
        self.post_message(self.Moved(self, self.current_line))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def cmd_select(self) -> None:
        """Nothing to open: the line's difference is shown under the view."""

    async def _on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.rows):
            self.cursor = index

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # -- rendering -----------------------------------------------------------
    def widths(self, width: int) -> tuple[int, int]:
        """(half, unit): each side's width and the owner column's."""
        unit = 0 if width < 50 else 9 if width < 100 else 24
        half = max(8, (width - 3 - (unit + 1 if unit else 0)) // 2)
        return half, unit

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"diffview--{name}", partial=True)

    def _side(self, parts: list[tuple[str, str | None]] | None, change: str | None, width: int,
              accepted: bool, placeholder: str | None) -> Text:
        text = Text(no_wrap=True, end="")
        if parts is None:
            if placeholder:
                text.append("  ")
                text.append(placeholder, self._style("muted"))
            text.truncate(width, pad=True)
            return text
        tone = self._style(TONE_OF_CHANGE[change]) if change else None
        text.append(f"{MARK.get(change or '', ' ')} ", tone)
        for part, tag in parts:
            if tag == "hl":
                text.append(part, self._style("hl"))
            elif tag == "head":
                text.append(part, self._style("head") + tone if tone else self._style("head"))
            elif tag == "muted":
                text.append(part, self._style("muted"))
            else:
                text.append(part, tone)
        if accepted:
            text.stylize(self._style("accepted"))
        text.truncate(width, overflow="ellipsis", pad=True)
        return text

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.visual_style.rich_style
        half, unit_w = self.widths(width)
        if y == 0:
            title = self._style("title")
            text = Text(no_wrap=True, end="")
            for i, label in enumerate((self.left_title, self.right_title)):
                if i:
                    text.append(" │ ", self._style("rule"))
                side = Text(f"  {label}", title, end="")
                side.truncate(half, overflow="ellipsis", pad=True)
                text.append_text(side)
            if unit_w:
                text.append(" " + "owner".ljust(unit_w), title)
            return self._strip(text, width, base)
        position = self.scroll_offset.y + y - 1
        if self.model is None or position >= len(self.rows) or position < 0:
            return Strip.blank(width, base)
        on_cursor = position == self.cursor
        key = (position, width, on_cursor and self.has_focus)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        index = self.rows[position]
        if index < 0:
            line = None
        else:
            line = self.model.lines[index]
        text = Text(no_wrap=True, end="")
        if line is None or line.kind == "blank":
            text.append(" " * half)
            text.append(" │ ", self._style("rule"))
            text.append(" " * half)
        else:
            left = self._side(line.left, line.change, half, line.accepted,
                              self.placeholders[0] if line.diffs and line.change == "added" else None)
            right = self._side(line.right, line.change, half, line.accepted,
                               self.placeholders[1] if line.diffs and line.change == "removed" else None)
            text.append_text(left)
            text.append(" │ ", self._style("rule"))
            text.append_text(right)
            if unit_w:
                label = self.unit_label(line.unit, unit_w) if line.diffs or line.unit else ""
                if line.diffs and line.accepted:
                    label = "✓ accepted"
                owner = Text(" " + label, self._style("muted"), end="")
                owner.truncate(unit_w + 1, overflow="ellipsis", pad=True)
                text.append_text(owner)
        style = base
        if on_cursor:
            cursor = self.get_component_rich_style("diffview--cursor")
            if not self.has_focus:
                cursor = Style(bgcolor=cursor.bgcolor)
            text.stylize_before(cursor)
            style = base + cursor
        strip = self._strip(text, width, style)
        self._cache.set(key, strip)
        return strip

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.stylize_before(style)
        segments = list(text.render(self.app.console))
        return Strip(segments).crop_extend(0, width, style)

    def line_text(self, position: int) -> str:
        """The plain text of one shown line (tests read it)."""
        if self.model is None or not 0 <= position < len(self.rows) or self.rows[position] < 0:
            return ""
        line = self.model.lines[self.rows[position]]

        def side(parts: Any, change: str | None) -> str:
            if parts is None:
                return ""
            return f"{MARK.get(change or '', ' ')} " + "".join(p for p, _ in parts)

        return f"{side(line.left, line.change)} │ {side(line.right, line.change)}"
