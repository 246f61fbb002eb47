"""The status line: where you are, under which rules, and why it stopped.

Line one: step n of m, the branch, the policy and reuse rule, what a plain
step will run next. Line two: the session's stop sentence (or a refusal, or a
running run's progress).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...engine.session import Session
from .. import palette as pal

KIND_STYLE = {
    "breakpoint": "bold #ffd75f",
    "finished": "bold #87d787",
    "deadlock": "bold #ff5f5f",
    "interrupted": "bold #ffaf00",
    "limit": "bold #ffaf00",
}


class StatusLine(Static):
    """Two lines at the bottom of the debugger."""

    DEFAULT_CSS = """
    StatusLine {
        height: 2;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.where = Text()
        self.why = Text()

    def show(self, session: Session) -> None:
        """Describe the session as it stands."""
        s = session
        where = Text()
        where.append(f"step {s.position} of {s.length}", "bold")
        if s.branches or s.branch_id:
            where.append(f" · branch {s.branch_id}", pal.BRANCH)
        where.append(" · ", pal.DIM)
        where.append(s.scenario.policy, "bold #87d7ff")
        where.append(" · reuse ", pal.DIM)
        where.append(s.scenario.reuse, "bold #87d7ff")
        if s.scenario.fixes_off:  # a modelled kernel fix taken out (scenario/fixes.py)
            where.append(" · fix off: ", pal.DIM)
            where.append(", ".join(sorted(s.scenario.fixes_off)), pal.ABORT)
        if not s.finished():
            where.append(" · next: ", pal.DIM)
            where.append(_next(s), pal.LABEL)
        why = Text()
        stop = s.stop
        why.append("■ ", KIND_STYLE.get(stop.kind, "bold"))
        why.append(stop.text, _stop_style(stop.text, stop.kind))
        self.where, self.why = where, why
        self._render_both()

    def message(self, text: str, style: str = "bold #ff5f5f") -> None:
        """Replace the second line until the next `show` (a refusal, progress)."""
        self.why = Text.assemble(("■ ", style), (text, style))
        self._render_both()

    def _render_both(self) -> None:
        width = max(self.content_region.width, 20) if self.is_mounted else 200
        where = self.where.copy()
        where.no_wrap = True
        where.truncate(width, overflow="ellipsis")
        # The reason may take two lines; more is cut with an ellipsis.
        why = self.why.wrap(self.app.console, width, overflow="ellipsis") if self.is_mounted else [self.why]
        lines = [where, *list(why)[:2]]
        if len(why) > 2:
            lines[-1].truncate(width - 1)
            lines[-1].append("…")
        text = Text("\n").join(lines)
        text.no_wrap = True
        text.overflow = "ellipsis"
        if len(lines) != self.line_count:
            self.line_count = len(lines)
            self.styles.height = len(lines)
        self.update(text, layout=False)

    line_count = 0

    def on_resize(self) -> None:
        self._render_both()


def _next(s: Session) -> str:
    if s.position < s.length:
        return f"replay {s.step_thread(s.position)} (recorded)"
    return s.strategy.describe()


def _stop_style(text: str, kind: str) -> str:
    if "abort" in text:
        return "bold #ffaf00"
    if kind == "breakpoint" or "violation" in text or " — " in text:
        return "bold #ff875f"
    return KIND_STYLE.get(kind, "")
