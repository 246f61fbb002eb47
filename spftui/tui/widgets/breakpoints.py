"""The breakpoints pane: list, enable/disable, delete, hit counts.

Space or Enter toggles the breakpoint under the cursor, Delete removes it
(Ctrl+Z puts those removed back, the last first), `a` adds one (the last
row, "add…", does the same when chosen). The
breakpoints that stopped the run are highlighted.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from .. import palette as pal
from ..view import View
from .pane import Pane, retitle


class BreakpointsPane(Pane):
    """The session's breakpoints."""

    TITLE = "Breakpoints"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.ids: list[int | None] = []  # row -> breakpoint id (None: the "add" row)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "flip", "Enable/disable", show=False),
        Binding("delete,backspace,x", "delete", "Delete", show=False),
        Binding("a", "add", "Add breakpoint", show=False),
        Binding("ctrl+z", "undo", "Undo delete", show=False),
    ]

    class Toggle(Message):
        def __init__(self, bid: int) -> None:
            super().__init__()
            self.bid = bid

    class Delete(Message):
        def __init__(self, bid: int) -> None:
            super().__init__()
            self.bid = bid

    class Add(Message):
        """Open the add-breakpoint dialog."""

    class Undo(Message):
        """Put back the breakpoint deleted last."""

    def build(self, view: View) -> list[Any]:
        s = view.session
        fired = set(s.stop.breakpoints) if s.stop.kind == "breakpoint" else set()
        rows: list[Any] = []
        self.ids = []
        for b in s.breakpoints.items:
            line = Text()
            line.append(f"{b.id:>2} ", pal.DIM)
            line.append("● " if b.enabled else "○ ", pal.BREAKPOINT if b.enabled else pal.BREAKPOINT_OFF)
            line.append(f"{b.hits} hit{'s' if b.hits != 1 else ' '} ", pal.DIM)  # (before the text: a long one is cut)
            line.append(b.describe(), pal.CHANGED if b.id in fired else (pal.VALUE if b.enabled else pal.DIM))
            rows.append(line)
            self.ids.append(b.id)
        rows.append(Text("   + add… (a)", pal.DIM))
        self.ids.append(None)
        n = len(s.breakpoints.items)
        retitle(self, f"Breakpoints · {n}")
        if self.cursor < 0:
            self.cursor = 0
        return rows

    def current(self) -> int | None:
        return self.ids[self.cursor] if 0 <= self.cursor < len(self.ids) else None

    def action_flip(self) -> None:
        bid = self.current()
        if bid is None:
            self.post_message(self.Add())
        else:
            self.post_message(self.Toggle(bid))

    def action_delete(self) -> None:
        bid = self.current()
        if bid is not None:
            self.post_message(self.Delete(bid))
        else:  # (the "add…" row)
            self.app.notify("Delete removes the breakpoint under the cursor: put it on one (↑).", timeout=3)

    def action_add(self) -> None:
        self.post_message(self.Add())

    def action_undo(self) -> None:
        self.post_message(self.Undo())

    def action_activate(self) -> None:
        self.action_flip()

    def on_line_view_activated(self, event: Pane.Activated) -> None:
        """A click: the "add…" row adds; a double click toggles."""
        if event.view is not self:
            return
        event.stop()
        bid = self.current()
        if bid is None:
            self.post_message(self.Add())
        elif event.double:
            self.post_message(self.Toggle(bid))
