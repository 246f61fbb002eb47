"""LineView: a virtualised, cursor-driven list of lines (Textual's Line API).

Every long pane (trace, PTEs, frames, source) is one of these: it renders only
the rows on screen, caches the rendered strips, and never mounts a widget per
row. A subclass says how many rows there are (`row_count`) and how to draw one
(`render_row`); the base class does scrolling, the cursor, mouse and keys.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
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
        background: $accent 35%;
    }
    LineView:focus > .lineview--cursor {
        background: $accent 70%;
    }
    """

    COMPONENT_CLASSES = {"lineview--cursor"}

    BINDINGS = [
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
        self._cache: LRUCache[tuple[int, bool, int], Strip] = LRUCache(512)

    # ------------------------------------------------------------ subclass API
    def row_count(self) -> int:
        return self._count

    def render_row(self, index: int) -> Text:
        """The text of row `index` (0 <= index < row_count)."""
        raise NotImplementedError

    def selectable(self, index: int) -> bool:
        """Whether the cursor may rest on row `index`."""
        return True

    # -------------------------------------------------------------- updating
    def set_rows(self, count: int) -> None:
        """Declare how many rows there are now, and redraw them all."""
        self._count = count
        self._cache.clear()
        self.virtual_size = Size(1, count)
        if self.cursor >= count:
            self.cursor = count - 1
        self.refresh()

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
            self.refresh()
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
        if center:
            if not top <= index < top + height or index - top < 2 or top + height - index < 3:
                self.scroll_to(y=max(0, index - height // 2), animate=False, force=True)
            return
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, force=True)

    # ------------------------------------------------------------- rendering
    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not 0 <= index < self._count or width <= 0:
            return Strip.blank(width, base)
        on_cursor = index == self.cursor
        key = (index, on_cursor and self.has_focus, width) if on_cursor else (index, False, width)
        strip = self._cache.get(key)
        if strip is None:
            text = self.render_row(index)
            text.no_wrap = True
            text.truncate(width, overflow="ellipsis")
            if on_cursor:
                text.stylize(self._cursor_style(), 0, max(len(text), 1))
                if len(text) < width:
                    text.append(" " * (width - len(text)), self._cursor_style())
            strip = Strip(text.render(self.app.console, end="")).crop_extend(0, width, base)
            self._cache[key] = strip
        return strip

    def _cursor_style(self) -> Style:
        return self.get_component_rich_style("lineview--cursor", partial=True)

    def on_focus(self) -> None:
        self.invalidate()

    def on_blur(self) -> None:
        self.invalidate()

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
