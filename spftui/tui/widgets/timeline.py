"""The timeline: every step of the recorded run, the current position, marks.

Row n is the step that takes the run from n-1 to n steps (row 0 is the
start), so "step n" means the same thing here, in the status line and in
`goto`. Steps ahead of the current position (a recorded future) are dimmed.
Aborts, violations and the points where other branches leave this timeline
are marked. Enter or a click jumps there. Rows are drawn straight from the
session's compact trace arrays: a 100,000-step run costs only what is on
screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.message import Message

from .. import palette as pal
from ..view import View
from .pane import Pane, retitle


class TimelinePane(Pane):
    """The recorded steps of this branch."""

    TITLE = "Timeline"

    class Jump(Message):
        """Go to step `n`."""

        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.marks: dict[int, list[Any]] = {}  # row -> aborts and violations of that step
        self.forks: dict[int, list[tuple[int, int]]] = {}  # row -> (branch, thread it ran there)
        self.position = 0
        self.length = 0
        self.name_width = 2
        self.num_width = 1
        self.epoch: Any = None  # what all rows depend on: timeline identity, marks, widths

    def build(self, view: View) -> list[Any]:
        s = view.session
        self.marks = {}
        for mk in s.marks:
            self.marks.setdefault(mk.step + 1, []).append(mk)
        self.forks = {}
        for b in s.branches:
            if b.at < len(b):
                self.forks.setdefault(b.at + 1, []).append((b.id, b.thread_at(b.at)))
        self.position = s.position
        self.length = s.length
        self.name_width = max((len(n) for n in s.names), default=2)
        self.num_width = len(str(self.length))
        other = len(s.branches)
        retitle(
            self,
            "Timeline"
            + (f" · branch {s.branch_id} (+{other} other{'s' if other != 1 else ''})" if other or s.branch_id else ""),
        )
        self.cursor = s.position
        self.reveal = (s.position, True)
        return []

    def show(self, view: View) -> None:
        old_epoch, old_pos, old_count = self.epoch, self.position, self._count
        self.view = view
        self.build(view)
        s = view.session
        self.epoch = (view.epoch, len(s.marks), len(s.branches), self.name_width, self.num_width)
        self.set_rows(s.length + 1, clear=False)
        lo, hi = sorted((old_pos, self.position))
        if self.epoch != old_epoch or hi - lo > 64:
            self.refresh()
        else:
            self.refresh_rows([*range(lo, hi + 1), *range(old_count, self._count)])
        self.scroll_to_reveal()

    def virtual_height(self, count: int) -> int:
        """Round up, so that a step adding a row does not force a screen layout."""
        height = self.scrollable_content_region.height
        if count <= height:
            return height
        return -(-count // 64) * 64

    def row_key(self, index: int) -> Any:
        return (self.epoch, index, index == self.position, index > self.position)

    def render_row(self, index: int) -> Text:
        assert self.view is not None
        s = self.view.session
        here = index == self.position
        line = Text()
        line.append("▶" if here else " ", pal.HERE if here else pal.DIM)
        line.append(str(index).rjust(self.num_width + 1), pal.HERE if here else pal.DIM)
        marks = self.marks.get(index, ())
        forks = self.forks.get(index, ())
        if index == 0:
            line.append("   start", pal.DIM)
            return line
        if any(mk.kind == "violation" for mk in marks):
            line.append(" ‼ ", pal.VIOLATION)
        elif marks:
            line.append(" ✖ ", pal.ABORT)
        elif forks:
            line.append(" ⑂ ", pal.BRANCH)
        else:
            line.append("   ")
        ahead = index > self.position
        t = s.thread_at(index - 1)
        line.append(s.names[t], pal.FUTURE if ahead else pal.thread_style(t))
        line.append(" " * (self.name_width - len(s.names[t])))
        line.append("* " if s.is_manual(index - 1) else "  ", pal.DIM)
        line.append(s.step_label(index - 1), pal.FUTURE if ahead else pal.POINT)
        for mk in marks:
            if mk.kind == "abort":
                line.append(f"  abort {mk.what}: {mk.detail}", pal.ABORT)
            else:
                line.append(f"  {mk.what.replace('_', ' ')}: {mk.detail}", pal.VIOLATION)
        for bid, other in forks:
            line.append(f"  branch {bid} ran {s.names[other]} here", pal.BRANCH)
        return line

    def on_line_view_activated(self, event: Pane.Activated) -> None:
        if event.view is self:
            event.stop()
            self.post_message(self.Jump(event.index))
