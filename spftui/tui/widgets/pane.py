"""What the panes have in common: rows built eagerly from a View, drawn lazily.

A pane builds plain row data in `show(view)` (so drawing never reads the live
machine, which a background run may be changing) and turns one row into
text in `render_row`. `watch_expr` names the value under the cursor for the
`w` key.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from ..view import View
from .lineview import LineView


class Pane(LineView):
    """A LineView fed from a View."""

    TITLE = ""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[Any] = []
        self.view: View | None = None
        self.reveal: tuple[int, bool] | None = None
        """Set by `build`: a row to scroll into view (and whether to centre it)."""
        self.border_title = self.TITLE

    def show(self, view: View) -> None:
        """Rebuild the rows from `view`; redraw only the rows that changed."""
        self.view = view
        self.reveal = None
        old = self.rows
        rows = self.rows = self.build(view)
        if len(rows) != len(old):
            self.set_rows(len(rows), clear=False)
            self.refresh()
        elif rows is not old:
            self.set_rows(len(rows), clear=False)
            # Panes reuse the row objects a step left alone: identity first, then the drawn signature.
            self.refresh_rows(
                [
                    i
                    for i, (a, b) in enumerate(zip(rows, old, strict=True))
                    if a is not b and row_signature(a) != row_signature(b)
                ]
            )
        self.scroll_to_reveal()

    def scroll_to_reveal(self) -> None:
        """Scroll to `reveal` now, or after the first layout if there is no size yet."""
        if self.reveal is None:
            return
        index, center = self.reveal
        if self.scrollable_content_region.height > 0:
            self.show_row(index, center=center)
        else:
            self.call_after_refresh(self.show_row, index, center=center)

    def row_key(self, index: int) -> Hashable:
        if index < len(self.rows):
            return row_signature(self.rows[index])
        return index

    def build(self, view: View) -> list[Any]:
        raise NotImplementedError

    @property
    def text_width(self) -> int:
        """Columns available for a row (before the first layout: a guess)."""
        return self.scrollable_content_region.width or 60

    def on_resize(self) -> None:
        """Rows wrap to the width; and what was to be revealed must be again at the new height."""
        if self.view is not None:
            reveal = self.reveal
            self.show(self.view)
            if self.reveal is None and reveal is not None:
                self.reveal = reveal
                self.scroll_to_reveal()

    def watch_expr(self) -> str | None:
        """An expression for the value under the cursor, or None."""
        return None

    def render_row(self, index: int) -> Text:
        row = self.rows[index]
        if isinstance(row, Text):
            return row.copy()
        return self.draw(row)

    def draw(self, row: Any) -> Text:
        raise NotImplementedError


def retitle(widget: Widget, title: str) -> None:
    """Set a border title only when it changes (setting it repaints the widget)."""
    if str(widget.border_title or "") != title:
        widget.border_title = title


def row_signature(row: Any) -> Hashable:
    """A hashable stand-in for a row: Text is compared by its text and spans."""
    if isinstance(row, Text):
        return (row.plain, tuple(row.spans), row.style)
    key: Hashable = row  # rows are tuples of plain values
    return key


def wrap_parts(first: Text, parts: list[Text], width: int, indent: str = "    ", sep: str = " · ") -> list[Text]:
    """Lay `parts` after `first`, breaking onto indented lines to fit `width`."""
    lines = [first.copy()]
    cur = lines[0]
    fresh = True
    for part in parts:
        extra = (0 if fresh else len(sep)) + len(part)
        if not fresh and len(cur) + extra > width:
            cur = Text(indent)
            lines.append(cur)
            fresh = True
        if not fresh:
            cur.append(sep, "grey42")
        cur.append_text(part)
        fresh = False
    return lines
