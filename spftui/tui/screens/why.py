"""`y`: why does a value have its value? The chain of causes, navigable.

The same chain `spftui why --at STEP EXPR` prints (`engine/why.py`), headed
by the abort or violation asked about. Up/Down move, a long cause wraps, the
step and thread of the one under the cursor are shown below the list, Enter goes to that step
(the state just after it), Esc closes.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, Static

from ...engine.why import Cause
from .. import palette as pal
from ..widgets.lineview import LineView
from .dialog import Dialog


class CauseList(LineView):
    """The causes, indented by depth; a long one wraps (an ABA history is read in full), its
    lines after the first under its text, and the cursor rests on a cause's first line."""

    def __init__(self, causes: list[Cause]) -> None:
        super().__init__(id="why-causes")
        self.causes = causes
        self.lines: list[tuple[int, Text]] = []  # (the cause, one line of it as shown)
        self.firsts: list[int] = []  # each cause's first line
        self._wrapped_at = 0
        self._wrap(78)
        self.cursor = 0 if causes else -1

    def _cause_text(self, index: int) -> tuple[Text, int]:
        """Cause `index` on one line, and where its text starts (its next lines go there)."""
        c = self.causes[index]
        line = Text("  " * c.depth)
        line.append(f"{index + 1}. ", pal.DIM)
        hang = len(line)
        line.append(f"[step {c.step + 1}] " if c.step >= 0 else "[start] ", pal.ADDR)
        style = pal.ABA_TEXT if c.what == "aba" else pal.FAILED if c.value == "✗" or c.what == "abort" else pal.VALUE
        line.append(c.text, style)
        return line, hang

    def _wrap(self, width: int) -> None:
        """Break each cause at spaces into lines of `width` cells (a word longer than that is cut)."""
        width = max(width, 20)
        self._wrapped_at = width
        self.lines, self.firsts = [], []
        for i in range(len(self.causes)):
            text, hang = self._cause_text(i)
            self.firsts.append(len(self.lines))
            plain, start, room = text.plain, 0, width
            while True:
                if len(plain) - start <= room:
                    end = nxt = len(plain)
                else:
                    cut = plain.rfind(" ", start + 1, start + room + 1)
                    end, nxt = (cut, cut + 1) if cut > start else (start + room, start + room)
                piece = text[start:end]
                self.lines.append((i, piece if start == 0 else Text(" " * hang) + piece))
                if nxt >= len(plain):
                    break
                start, room = nxt, width - hang

    def cause_at(self, row: int) -> int:
        return self.lines[row][0] if 0 <= row < len(self.lines) else -1

    def row_of(self, cause: int) -> int:
        return self.firsts[cause] if 0 <= cause < len(self.firsts) else -1

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width - 1  # (the scrollbar's column kept free: no rewrap when it comes)
        if width != self._wrapped_at:
            cause = self.cause_at(self.cursor)
            self._wrap(width)
            self.set_rows(len(self.lines))
            self.refresh(layout=True)
            if cause >= 0:
                self.move_cursor(self.row_of(cause))

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return max(1, len(self.lines))

    def selectable(self, index: int) -> bool:
        return index in self.firsts

    def row_key(self, index: int) -> Hashable:
        under = self.cause_at(index) == self.cause_at(self.cursor) and index != self.cursor
        return (self._wrapped_at, index, under, self._focused)

    def render_row(self, index: int) -> Text:
        cause, line = self.lines[index]
        line = line.copy()
        if index != self.cursor and cause == self.cause_at(self.cursor):  # the cursor's cause, all of it
            line.style = self._cursor_style()
            line.pad_right(max(0, self.scrollable_content_region.width - len(line)))
        return line

    def move_cursor(self, index: int, *, scroll: bool = True, center: bool = False, notify: bool = False) -> None:
        super().move_cursor(index, scroll=scroll, center=center, notify=notify)
        self.refresh()  # (a cause's other lines follow the cursor)
        if scroll and 0 <= self.cursor:  # its last line in view too
            last = self.cursor
            while last + 1 < len(self.lines) and self.lines[last + 1][0] == self.lines[self.cursor][0]:
                last += 1
            if last != self.cursor:
                self.show_row(last)
                self.show_row(self.cursor)


class WhyScreen(Dialog[int | None]):
    """Returns the position to go to (the step of the chosen cause + 1), or None."""

    DEFAULT_CSS = """
    WhyScreen .why-dialog { width: 96%; max-width: 140; }
    WhyScreen CauseList { height: auto; max-height: 16; }
    WhyScreen #why-detail { height: auto; max-height: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Close")]

    def __init__(self, title: str, causes: list[Cause], note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.causes = causes
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog why-dialog") as box:
            box.border_subtitle = "↑↓ move · Enter: go to that step · Esc: close"
            yield Label(self.title_text, classes="dialog-title", id="why-title")
            yield CauseList(self.causes)
            yield Static("", id="why-detail", classes="dialog-note")
            if self.note:
                yield Label(self.note, classes="dialog-error")

    def on_mount(self) -> None:
        causes = self.query_one(CauseList)
        causes.focus()
        self._fit(self.app.size.height)
        self._detail(causes.cursor)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.height)

    def _fit(self, height: int) -> None:
        """Leave room for the title, the line below the list and the keys (80x24 too)."""
        self.query_one(CauseList).styles.max_height = max(3, min(16, height - 11))

    def _detail(self, row: int) -> None:
        """Below the list: where the cause under the cursor happened (its sentence is in the list, wrapped)."""
        index = self.query_one(CauseList).cause_at(row)
        if 0 <= index < len(self.causes):
            c = self.causes[index]
            where = (
                f"step {c.step + 1}, {c.thread} {c.label} · Enter goes there"
                if c.step >= 0
                else "the scenario's initial state · Enter goes to step 0"
            )
            self.query_one("#why-detail", Static).update(Text(where))

    def on_line_view_cursor_moved(self, event: LineView.CursorMoved) -> None:
        event.stop()
        self._detail(event.index)

    def on_line_view_activated(self, event: LineView.Activated) -> None:
        event.stop()
        index = self.query_one(CauseList).cause_at(event.index)
        if 0 <= index < len(self.causes):
            self.close(max(0, self.causes[index].step + 1))

    def action_cancel(self) -> None:
        self.close(None)
