"""Keyboard movement shared by the line-rendered views (RowList, DiffView)."""
from __future__ import annotations

from typing import Any


class CursorKeys:
    """j/k, g/G and page keys over ``rows`` by moving ``cursor``; the view clamps it
    and says how many lines a page is (``_page``)."""

    rows: Any
    cursor: int

    def _page(self) -> int:
        raise NotImplementedError

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
