"""LineView: a virtualised, cursor-driven list of lines (Textual's Line API).

Every long pane (trace, PTEs, frames, source) is one of these: it renders only
the rows on screen, caches the rendered strips, and never mounts a widget per
row. A subclass says how many rows there are (`row_count`) and how to draw one
(`render_row`); the base class does scrolling, the cursor, mouse and keys.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineView(ScrollView, can_focus=True):
    """A scrollable list of rows with a cursor.

    Rows are rendered lazily: `render_row(index)` is called only for rows that
    are visible, and its result is cached until `invalidate()`.
    """

    DEFAULT_CSS = """
    LineView {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        background: $surface;
    }
    LineView > .lineview--cursor {
        background: $foreground 7%;
    }
    LineView:focus > .lineview--cursor {
        background: $primary 45%;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"lineview--cursor"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "activate", "Select", show=False),
    ]

    class CursorMoved(Message):
        """The cursor moved to another row (by key or click)."""

        def __init__(self, view: LineView, index: int) -> None:
            super().__init__()
            self.view = view
            self.index = index

        @property
        def control(self) -> LineView:
            return self.view

    class Activated(Message):
        """A row was chosen: Enter, or a click."""

        def __init__(self, view: LineView, index: int, double: bool = False) -> None:
            super().__init__()
            self.view = view
            self.index = index
            self.double = double

        @property
        def control(self) -> LineView:
            return self.view

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cursor = -1
        self._count = 0
        self._cache: LRUCache[tuple[Hashable, bool, bool, int], Strip] = LRUCache(1024)
        self._base: Style | None = None
        self._focused = False

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._cache.clear()

    # ------------------------------------------------------------ subclass API
    def row_count(self) -> int:
        return self._count

    def render_row(self, index: int) -> Text:
        """The text of row `index` (0 <= index < row_count)."""
        raise NotImplementedError

    def selectable(self, index: int) -> bool:
        """Whether the cursor may rest on row `index`."""
        return True

    def virtual_height(self, count: int) -> int:
        """The scrollable height for `count` rows (a growing view may round up)."""
        return count

    def row_key(self, index: int) -> Hashable:
        """What row `index` looks like, as a cache key: equal keys draw equal rows.

        The default (the index) is only right if `invalidate()` is called
        whenever the data changes; panes return their row data instead so that
        unchanged rows are never drawn twice.
        """
        return index

    # -------------------------------------------------------------- updating
    def set_rows(self, count: int, clear: bool = True) -> None:
        """Declare how many rows there are now (and redraw all of them if `clear`)."""
        self._count = count
        if clear:
            self._cache.clear()
        height = self.virtual_height(count)
        if self.virtual_size.height != height:
            self.virtual_size = Size(1, height)
        if self.cursor >= count:
            self.cursor = count - 1
        if clear:
            self.refresh()

    def refresh_rows(self, indices: list[int]) -> None:
        """Redraw just these rows, if they are on screen."""
        top = round(self.scroll_offset.y)
        region = self.scrollable_content_region
        for index in indices:
            y = index - top
            if 0 <= y < region.height:
                self.refresh(Region(0, y, region.width, 1))  # content coordinates

    def invalidate(self) -> None:
        """Redraw every row (the data behind them changed)."""
        self._cache.clear()
        self.refresh()

    def move_cursor(self, index: int, *, scroll: bool = True, center: bool = False, notify: bool = False) -> None:
        """Put the cursor on row `index` (clamped) and optionally keep it visible."""
        if self._count == 0:
            self.cursor = -1
            return
        index = max(0, min(index, self._count - 1))
        old = self.cursor
        self.cursor = index
        if old != index:
            self.refresh_rows([old, index])
        if scroll:
            self.show_row(index, center=center)
        if notify and old != index:
            self.post_message(self.CursorMoved(self, index))

    def show_row(self, index: int, *, center: bool = False) -> None:
        """Scroll so that row `index` is visible."""
        height = self.scrollable_content_region.height or self.size.height
        if height <= 0:
            return
        top = round(self.scroll_offset.y)
        if top > 0 and top + height > self._count:  # the rows shrank under us
            top = max(0, self._count - height)
            self.scroll_to(y=top, animate=False, force=True)
        if center:
            margin = min(2, height // 4)
            if not top + margin <= index < top + height - margin:
                y = max(0, min(index - height // 2, self._count - height))
                self.scroll_to(y=y, animate=False, force=True)
            return
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, force=True)

    # ------------------------------------------------------------- rendering
    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        base = self._base
        if base is None:
            base = self._base = self.rich_style
        if not 0 <= index < self._count or width <= 0:
            return Strip.blank(width, base)
        on_cursor = index == self.cursor
        key = (self.row_key(index), on_cursor, on_cursor and self._focused, width)
        strip = self._cache.get(key)
        if strip is None:
            text = self.render_row(index)
            text.no_wrap = True
            text.truncate(width, overflow="ellipsis")
            if on_cursor:
                # Underneath the row's own styles: a span with a background keeps it.
                own = text.style if isinstance(text.style, Style) else Style.parse(text.style or "none")
                text.style = self._cursor_style() + own
                if len(text) < width:
                    text.append(" " * (width - len(text)))
            # the pane's style under the row's: a span without a background takes the theme's,
            # not the terminal's default (dark bands behind every word on a light theme)
            strip = Strip(text.render(self.app.console, end="")).apply_style(base).crop_extend(0, width, base)
            self._cache[key] = strip
        return strip

    def _cursor_style(self) -> Style:
        """Just the cursor's background (blended with the pane's), so row colours stay."""
        return Style(bgcolor=self.get_component_rich_style("lineview--cursor").bgcolor)

    def on_focus(self) -> None:
        self._focused = True
        self.refresh()

    def on_blur(self) -> None:
        self._focused = False
        self.refresh()

    # -------------------------------------------------------------- movement
    def _step_to(self, start: int, direction: int) -> int | None:
        i = start
        while 0 <= i < self._count:
            if self.selectable(i):
                return i
            i += direction
        return None

    def action_cursor(self, delta: int) -> None:
        if self._count == 0:
            return
        start = self.cursor + delta if self.cursor >= 0 else 0
        target = self._step_to(start, 1 if delta > 0 else -1)
        if target is None:
            target = self._step_to(self.cursor, -1 if delta > 0 else 1)
        if target is not None:
            self.move_cursor(target, notify=True)

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        self.action_cursor(direction * height)

    def action_edge(self, end: int) -> None:
        if self._count == 0:
            return
        target = self._step_to(self._count - 1, -1) if end else self._step_to(0, 1)
        if target is not None:
            self.move_cursor(target, notify=True)

    def action_activate(self) -> None:
        if 0 <= self.cursor < self._count:
            self.post_message(self.Activated(self, self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = round(self.scroll_offset.y) + offset.y
        if not 0 <= index < self._count or not self.selectable(index):
            return
        event.stop()
        self.move_cursor(index, scroll=False, notify=True)
        self.post_message(self.Activated(self, index, double=event.chain >= 2))
