"""The status line: where you are, under which rules, and why it stopped.

Line one: step n of m, the policy and reuse rule, a kernel fix taken out,
the seqcounts, the branch, what a plain step will run next (in that order:
80 columns cut the end). Line two: the session's stop sentence (or a refusal, or a
running run's progress), then the checks the last step made, passed or
failed, with what they compared ("SEQ2 ✓ mmap_seq 0 = 0"), and a check that
passed by ABA with every value in between ("≋ REFETCH passed by ABA: …").
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...engine.history import derived_events
from ...engine.session import Session
from ...engine.view import Aba, Validate
from .. import format as fmt
from .. import palette as pal
from ..seqline import seqcounts
from ..steps import facts

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
        # The rules first (80 columns cut the end of the line): the policy and reuse rule,
        # a modelled kernel fix taken out (scenario/fixes.py), then the seqcounts.
        where.append(" · ", pal.DIM)
        where.append(s.scenario.policy, "bold #87d7ff")
        where.append(" · reuse ", pal.DIM)
        where.append(s.scenario.reuse, "bold #87d7ff")
        if s.scenario.fixes_off:
            where.append(" · fix off: ", pal.DIM)
            where.append(", ".join(sorted(s.scenario.fixes_off)), pal.ABORT)
        where.append(" · ", pal.DIM)
        where.append_text(seqcounts(s))
        if s.branches or s.branch_id:
            where.append(f" · branch {s.branch_id}", pal.BRANCH)
        if not s.finished():
            where.append(" · next: ", pal.DIM)
            where.append(_next(s), pal.LABEL)
        why = Text()
        stop = s.stop
        why.append("■ ", KIND_STYLE.get(stop.kind, "bold"))
        why.append(stop.text, _stop_style(stop.text, stop.kind))
        for text, style in checks(s):
            if not (text.startswith("≋") and "passed by ABA" in stop.text):  # (an aba breakpoint said it)
                why.append(" · ", pal.DIM)
                why.append(text, style)
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


def checks(s: Session) -> list[tuple[str, object]]:
    """The checks of the step that led here, short, with their styles."""
    step = s.position - 1
    if step < 0:
        return []
    known = facts(s)
    if known.pos == s.position and step in known.events:  # the panes have just brought it here
        events = known.events[step]
    else:
        last = s.last
        events = last.events if last is not None and last.step == step else s.events_of(step)
        if any(type(e) is Validate for e in events):
            events = (*events, *derived_events(s.timeline, step, events))
    out: list[tuple[str, object]] = []
    for e in events:
        if type(e) is Validate:
            out.append((fmt.check_text(e), pal.PASSED if e.ok else pal.FAILED))
        elif type(e) is Aba:
            out.append(("≋ " + fmt.aba_text(e), pal.ABA_TEXT))
    return out


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
