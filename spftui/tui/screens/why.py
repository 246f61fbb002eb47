"""`y`: why does a value have its value? The chain of causes, navigable.

The same chain `spftui why --at STEP EXPR` prints (`engine/why.py`), headed
by the abort or violation asked about. Up/Down move, the full sentence of
the row under the cursor is shown below the list, Enter goes to that step
(the state just after it), Esc closes.
"""

from __future__ import annotations

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
    """One row per cause, indented by its depth."""

    def __init__(self, causes: list[Cause]) -> None:
        super().__init__(id="why-causes")
        self.causes = causes
        self.set_rows(len(causes), clear=False)
        self.cursor = 0 if causes else -1

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return max(1, len(self.causes))

    def render_row(self, index: int) -> Text:
        c = self.causes[index]
        line = Text("  " * c.depth)
        line.append(f"{index + 1}. ", pal.DIM)
        line.append(f"[step {c.step + 1}] " if c.step >= 0 else "[start] ", pal.ADDR)
        style = pal.ABA_TEXT if c.what == "aba" else pal.FAILED if c.value == "✗" or c.what == "abort" else pal.VALUE
        line.append(c.text, style)
        return line


class WhyScreen(Dialog[int | None]):
    """Returns the position to go to (the step of the chosen cause + 1), or None."""

    DEFAULT_CSS = """
    WhyScreen .why-dialog { width: 96%; max-width: 140; }
    WhyScreen CauseList { height: auto; max-height: 16; }
    WhyScreen #why-detail { height: auto; max-height: 3; }
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
        """Leave room for the title, the full sentence below the list and the keys (80x24 too)."""
        self.query_one(CauseList).styles.max_height = max(3, min(16, height - 13))

    def _detail(self, index: int) -> None:
        if 0 <= index < len(self.causes):
            c = self.causes[index]
            where = f"step {c.step + 1}, {c.thread} {c.label}" if c.step >= 0 else "the scenario's initial state"
            self.query_one("#why-detail", Static).update(Text(f"{c.text}  ({where})"))

    def on_line_view_cursor_moved(self, event: LineView.CursorMoved) -> None:
        event.stop()
        self._detail(event.index)

    def on_line_view_activated(self, event: LineView.Activated) -> None:
        event.stop()
        if 0 <= event.index < len(self.causes):
            self.close(max(0, self.causes[event.index].step + 1))

    def action_cancel(self) -> None:
        self.close(None)
