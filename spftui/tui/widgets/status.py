"""The status line: where you are, under which rules, and why it stopped.

Line one: step n of m, the policy and reuse rule, the kernel fixes taken out
(as many names as fit, else how many), the seqcounts, the branch, what a plain
step will run next (in that order: 80 columns cut the end). Line two: the
session's stop sentence (or a refusal, or a running run's progress), then the
checks the last step made, passed or failed, with what they compared ("SEQ2 ✓
mmap_seq 0 = 0"), and a check that passed by ABA with every value in between
("≋ REFETCH passed by ABA: …"). A refusal or a one-off report lasts until the
next key or click (`unsay`), as an echo area's message does.
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
    # one thread's run (u, f): got there, or cannot go on
    "reached": "bold #87d787",
    "returned": "bold #87d787",
    "blocked": "bold #ffaf00",
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
        self.fixes_off: list[str] = []
        self.parts = (Text(), Text())
        """`where` before and after the fixes taken out, whose names the width decides how to give."""
        self.stopped = Text()
        """The session's stop sentence and checks, which a one-off message covers until `unsay`."""
        self.said = False

    def show(self, session: Session) -> None:
        """Describe the session as it stands."""
        s = session
        head = Text()
        head.append(f"step {s.position} of {s.length}", "bold")
        # The rules first (80 columns cut the end of the line): the policy and reuse rule,
        # the modelled kernel fixes taken out (scenario/fixes.py), then the seqcounts.
        head.append(" · ", pal.DIM)
        head.append(s.scenario.policy, "bold #87d7ff")
        head.append(" · reuse ", pal.DIM)
        head.append(s.scenario.reuse, "bold #87d7ff")
        self.fixes_off = sorted(s.scenario.fixes_off)
        tail = Text()
        tail.append(" · ", pal.DIM)
        tail.append_text(seqcounts(s))
        if s.branches or s.branch_id:
            tail.append(f" · branch {s.branch_id}", pal.BRANCH)
        if not s.finished():
            tail.append(" · next: ", pal.DIM)
            tail.append(_next(s), pal.LABEL)
        why = Text()
        stop = s.stop
        why.append("■ ", KIND_STYLE.get(stop.kind, "bold"))
        why.append(stop.text, _stop_style(stop.text, stop.kind))
        for text, style in checks(s):
            if not (text.startswith("≋") and "passed by ABA" in stop.text):  # (an aba breakpoint said it)
                why.append(" · ", pal.DIM)
                why.append(text, style)
        self.parts = (head, tail)
        self.where = head + fixes_text(self.fixes_off, 1000) + tail  # (every name: for a reader with no width)
        self.why, self.stopped, self.said = why, why, False
        self._render_both()

    def message(self, text: str, style: str = "bold #ff5f5f") -> None:
        """Replace the second line until the next `show` or `unsay` (a refusal, progress)."""
        self.why = Text.assemble(("■ ", style), (text, style))
        self.said = True
        self._render_both()

    def unsay(self) -> None:
        """Take a message down: the user has acted since (it may no longer be true)."""
        if self.said:
            self.why, self.said = self.stopped, False
            self._render_both()

    def _render_both(self) -> None:
        width = max(self.content_region.width, 20) if self.is_mounted else 200
        head, tail = self.parts
        where = head + fixes_text(self.fixes_off, width - len(head)) + tail
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


def fixes_text(names: list[str], room: int) -> Text:
    """` · fix off: a`, or for several all their names when they fit in `room` columns,
    else how many and the names that fit (`fixes off: 3 (foll_cow, …)`); nothing for none."""
    if not names:
        return Text()
    if len(names) == 1:
        forms = [f"fix off: {names[0]}"]
    else:
        forms = [f"fixes off: {', '.join(names)}"]
        forms += [f"fixes off: {len(names)} ({', '.join(names[:k])}, …)" for k in range(len(names) - 1, 0, -1)]
        forms.append(f"fixes off: {len(names)}")
    text = next((f for f in forms if len(f) + 3 < room), forms[-1])  # (the last column: the line's `…`)
    label, _, rest = text.partition(": ")
    return Text.assemble((f" · {label}: ", pal.DIM), (rest, pal.ABORT))


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
    # (not describe(): the current entry may be over, its thread finished by `f`, `u` or a digit key)
    return s.strategy.describe_next(s.machine)


def _stop_style(text: str, kind: str) -> str:
    if "abort" in text:
        return "bold #ffaf00"
    if kind == "breakpoint" or "violation" in text or " — " in text:
        return "bold #ff875f"
    return KIND_STYLE.get(kind, "")
