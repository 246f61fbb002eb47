"""The timeline: every step of the recorded run, the current position, marks.

Row n is the step that takes the run from n-1 to n steps (row 0 is the
start), so "step n" means the same thing here, in the status line and in
`goto`. Steps ahead of the current position (a recorded future) are dimmed.
Aborts, violations and the points where other branches leave this timeline
are marked. Each row also says what the step changed (as `spftui trace`
does) and what it validated: ✓ checks passed, ✗ one failed, ≋ one passed
by ABA (what it compared changed and changed back). Enter or a click jumps
there. Rows are drawn from the session's compact trace arrays and a cache
of replayed chunks (`tui/steps.py`): a 100,000-step run costs only what is
on screen. A search (`/`) keeps only the rows it matches (and the current one).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from rich.text import Text
from textual.message import Message

from .. import palette as pal
from ..search import Query
from ..steps import StepSummary, facts
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
        self.search: Query | None = None
        self.hits: list[int] = []  # the rows (timeline indices) the query matches, in order
        self.shown: list[int] | None = None  # filtered: row -> timeline index; None: every row
        self.searched: Any = None  # (timeline key, length, query) the hits are for

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
        title = "Timeline" + (
            f" · branch {s.branch_id} (+{other} other{'s' if other != 1 else ''})" if other or s.branch_id else ""
        )
        self._search(view)
        if self.search is not None:
            n = len(self.hits)
            which = f"hit {self.hits.index(s.position) + 1} of {n}" if s.position in self.hits else ""
            title += f" · /{self.search.text}: {which or f'{n} hit' + ('' if n == 1 else 's')}"
        retitle(self, title)
        row = self.row_of(s.position)
        self.cursor = row
        self.reveal = (row, True)
        return []

    # ------------------------------------------------------------ search
    def set_query(self, query: Query | None) -> None:
        """Filter the rows to the steps `query` matches (None: every row)."""
        self.search = query
        self.searched = None
        if self.view is not None:
            self.show(self.view)

    def _search(self, view: View) -> None:
        s = view.session
        if self.search is None:
            self.hits, self.shown = [], None
            return
        key = (view.epoch, s.length, self.search)
        if self.searched != key:
            self.searched = key
            found = facts(s).all(s, view.epoch)
            q = self.search
            self.hits = [i + 1 for i in range(s.length) if q.matches(s.step_thread(i), s.step_label(i), found[i])]
        self.shown = sorted({*self.hits, s.position})

    def row_of(self, index: int) -> int:
        """The row showing timeline index `index` (filtered: the nearest row at or before it)."""
        if self.shown is None:
            return index
        return max(0, bisect_right(self.shown, index) - 1)

    def index_at(self, row: int) -> int:
        """The timeline index (0 = the start, n = after step n) drawn on `row`."""
        if self.shown is None:
            return row
        return self.shown[row] if 0 <= row < len(self.shown) else 0

    def summary(self, index: int) -> StepSummary | None:
        """What step `index` (1-based) did, or None for the start."""
        if self.view is None or not 0 < index <= self.view.session.length:
            return None
        return facts(self.view.session).get(self.view.session, self.view.epoch, index - 1)

    def step_events(self, index: int) -> tuple[Any, ...]:
        """The events (with the derived ABA ones) of step `index` (1-based)."""
        if self.view is None or not 0 < index <= self.view.session.length:
            return ()
        return facts(self.view.session).events_of(self.view.session, self.view.epoch, index - 1)

    def show(self, view: View) -> None:
        old_epoch, old_pos, old_count = self.epoch, self.position, self._count
        facts(view.session).follow(view.session, view.epoch)  # (the new step's events, without a replay)
        self.view = view
        self.build(view)
        s = view.session
        self.epoch = (
            view.epoch, len(s.marks), len(s.branches), self.name_width, self.num_width, self.search, len(self.hits)
        )  # fmt: skip
        self.set_rows(s.length + 1 if self.shown is None else len(self.shown), clear=False)
        lo, hi = sorted((old_pos, self.position))
        if self.epoch != old_epoch or hi - lo > 64 or self.shown is not None:
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

    def row_key(self, row: int) -> Any:
        index = self.index_at(row)
        return (self.epoch, index, index == self.position, index > self.position)

    def render_row(self, row: int) -> Text:
        assert self.view is not None
        s = self.view.session
        index = self.index_at(row)
        here = index == self.position
        line = Text()
        line.append("▶" if here else " ", pal.HERE if here else pal.DIM)
        line.append(str(index).rjust(self.num_width + 1), pal.HERE if here else pal.DIM)
        marks = self.marks.get(index, ())
        forks = self.forks.get(index, ())
        if index == 0:
            line.append("   start", pal.DIM)
            return line
        summary = self.summary(index)
        mark = summary.mark if summary is not None else ""
        if any(mk.kind == "violation" for mk in marks):
            line.append(" ‼ ", pal.VIOLATION)
        elif marks:
            line.append(" ✖ ", pal.ABORT)
        elif mark == "≋":
            line.append(" ", pal.DIM)
            line.append("≋", pal.ABA)
            line.append(" ")
        elif mark in ("✓", "✗"):
            line.append(f" {mark} ", pal.PASSED if mark == "✓" else pal.FAILED)
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
        if summary is not None:
            for text in summary.checks:
                style = pal.ABA_TEXT if "passed by ABA" in text else pal.FAILED if " ✗ " in text else pal.PASSED
                line.append("  " + text, pal.FUTURE if ahead else style)
            for text in summary.changes:
                if not text.startswith(("VIOLATION", f"{s.names[t]}: spf abort")):  # (the marks say those)
                    line.append("  " + text, pal.FUTURE if ahead else pal.VALUE)
        return line

    def on_line_view_activated(self, event: Pane.Activated) -> None:
        if event.view is self:
            event.stop()
            self.post_message(self.Jump(self.index_at(event.index)))
