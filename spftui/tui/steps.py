"""What each recorded step did, for the timeline, the threads pane, the status line and the search.

The session records choices and labels, not events, so a step's events come
from a replay, and the checks that passed by ABA or failed after changes
(`Aba`, `Invalidated`) are derived from the fault's window (`engine/history.py`).
A replay restores a checkpoint, which costs as much as the machine is big
(~10 ms at 10,000 pages), so the panes share one `Facts` per session that
follows the session as it steps: a step forward feeds the step's own events
(which the session hands over) to one `HistoryTracker` per thread, reset
where the thread's fault starts (its `user:` step, or GUP's faultin_page), exactly the window
`derived_events` replays; only a jump rebuilds it, with one replay. Older
timeline rows are replayed a chunk at a time (their derived events in one
pass from the earliest window the chunk's checks read) and cached; a timeline is only
ever appended to under one `(generation, branch)` key, so nothing cached
goes stale. Every row at once (a search) is one forward pass
(`Derivation`).
"""

from __future__ import annotations

import weakref
from typing import Any, NamedTuple

from ..engine.describe import NOTABLE, format_event
from ..engine.history import Derivation, HistoryTracker, fault_window, in_fault, starts_fault, windows_start
from ..engine.session import Session
from ..engine.view import Aba, Event, Invalidated, Pte, SpfAbort, Validate, Violation
from . import format as fmt

CHUNK = 64


class StepSummary(NamedTuple):
    """One step as the timeline shows it."""

    mark: str  # "‼" violation, "✖" abort, "≋" passed by ABA, "✗" a check failed, "✓" checks passed, ""
    checks: tuple[str, ...]  # the checks, short ("SEQ2 ✓ mmap_seq 0 = 0", "REFETCH passed by ABA: …")
    changes: tuple[str, ...]  # what else happened, as `spftui trace` says it
    kinds: frozenset[str]  # the event kinds, for the search
    objects: str  # the events as text and the PTEs they name (`A.pte[0x10000]`), for the search


def summarize(events: tuple[Event, ...]) -> StepSummary:
    checks: list[str] = []
    changes: list[str] = []
    kinds = frozenset(e.kind for e in events)
    for e in events:
        if type(e) is Validate:
            checks.append(fmt.check_text(e))
        elif type(e) is Aba:
            checks.append(fmt.aba_text(e))
        elif type(e) is Invalidated:
            checks.append(fmt.invalidated_text(e))
        elif e.kind in NOTABLE and e.kind != "spec_read":
            changes.append(format_event(e))
    if any(type(e) is Violation for e in events):
        mark = "‼"
    elif any(type(e) is SpfAbort for e in events):
        mark = "✖"
    elif "aba" in kinds:
        mark = "≋"
    elif any(type(e) is Validate and not e.ok for e in events):
        mark = "✗"
    elif any(type(e) is Validate for e in events):
        mark = "✓"
    else:
        mark = ""
    objects = " ".join(
        [format_event(e) for e in events] + [f"{e.mm}.pte[{e.vpn << 12:#x}]" for e in events if type(e) is Pte]
    )
    return StepSummary(mark, tuple(checks), tuple(changes), kinds, objects)


class _Window:
    """One thread's current fault attempt: its tracker, its checks so far, did another thread run."""

    __slots__ = ("checks", "others", "tracker")

    def __init__(self, name: str) -> None:
        self.tracker = HistoryTracker(name)
        self.checks: dict[str, Event] = {}  # the latest of each check (and "aba:"/"inv:" CHECK), in order
        self.others = False


class Facts:
    """Per session: step events and summaries, and each thread's checks at the current position."""

    def __init__(self) -> None:
        self.key: Any = None  # the timeline the cache is for
        self.steps: dict[int, StepSummary] = {}
        self.events: dict[int, tuple[Event, ...]] = {}
        self.pos = -1  # the position `windows` describe
        self.windows: dict[int, _Window] = {}

    # ------------------------------------------------------------ steps
    def _check(self, key: Any) -> None:
        if key != self.key:
            self.key = key
            self.steps, self.events = {}, {}
            self.pos, self.windows = -1, {}

    def get(self, session: Session, key: Any, step: int) -> StepSummary:
        """The summary of recorded step `step` (0-based) of the timeline `key` names."""
        self._check(key)
        hit = self.steps.get(step)
        if hit is None:
            lo = step - step % CHUNK
            self._fill(session, lo, min(lo + CHUNK, session.length))
            hit = self.steps.get(step) or summarize(())
        return hit

    def events_of(self, session: Session, key: Any, step: int) -> tuple[Event, ...]:
        """Step `step`'s events followed by the derived ones (Aba, Invalidated)."""
        self.get(session, key, step)
        return self.events.get(step, ())

    def all(self, session: Session, key: Any) -> dict[int, StepSummary]:
        """Every step (for a search): one replay of what is not cached yet."""
        self._check(key)
        n = session.length
        if len(self.steps) < n:  # one forward pass (a window replay per step is quadratic)
            for pos, events, derived in Derivation().along(session.timeline, n):
                if pos not in self.steps:
                    self._put(pos, (*events, *derived))
        return self.steps

    def _put(self, step: int, events: tuple[Event, ...]) -> None:
        self.events[step] = events
        self.steps[step] = summarize(events)

    def _fill(self, session: Session, lo: int, hi: int) -> None:
        """Steps lo..hi-1: one replay for their events, one forward pass from the
        earliest fault window their checks read for the derived ones (a window
        replay per checking step cost up to 170 ms a chunk at 130 threads)."""
        tl = session.timeline
        chunk = [(pos, events) for pos, _, events in tl.replay(lo, hi)]
        derived = {pos: d for pos, _, d in Derivation(windows_start(tl, chunk)).along(tl, hi) if pos >= lo}
        for pos, events in chunk:
            if pos not in self.steps:
                self._put(pos, (*events, *derived.get(pos, ())))

    # ------------------------------------------------------- checks now
    def checks(self, session: Session, key: Any) -> dict[int, list[Event]]:
        """Thread index -> the checks its current fault made so far (Validate, Aba, Invalidated), at `position`."""
        self.follow(session, key)
        threads = session.machine.threads
        return {i: list(w.checks.values()) for i, w in self.windows.items() if w.checks and in_fault(threads[i])}

    def follow(self, session: Session, key: Any) -> None:
        """Bring the windows to the session's position: feed one step, or rebuild after a jump."""
        self._check(key)
        pos = session.position
        if pos == self.pos:
            return
        last = session.last
        if pos == self.pos + 1 and last is not None and last.step == pos - 1:
            self._feed(session, last.step, last.thread, last.label, last.events)
        else:
            self._rebuild(session)
        self.pos = pos

    def _feed(self, session: Session, step: int, thread: str, label: str, events: tuple[Event, ...]) -> None:
        """Step `step` ran: reset the thread's window at a new fault, feed every window, cache the step."""
        idx = session.names.index(thread)
        if starts_fault(label):
            self.windows[idx] = _Window(thread)
        derived: list[Event] = []
        for i, w in self.windows.items():
            if i != idx:
                w.others = True
            found = w.tracker.feed(step, thread, label, events)
            if found and w.others:  # as derived_events: nobody else ran, nothing can have changed
                derived += found
            for e in events:
                if type(e) is Validate and e.thread == w.tracker.thread:
                    w.checks.pop(e.check, None)
                    w.checks.pop("aba:" + e.check, None)
                    w.checks.pop("inv:" + e.check, None)
                    w.checks[e.check] = e
            for d in found if w.others else ():
                if type(d) is Aba:
                    w.checks["aba:" + d.check] = d
                elif type(d) is Invalidated:
                    w.checks["inv:" + d.check] = d
        if step not in self.steps and idx in self.windows:  # (else its window is not all here: replay it)
            self._put(step, (*events, *derived))

    def _rebuild(self, session: Session) -> None:
        """One replay from the earliest fault window still open to the position."""
        self.windows = {}
        tl, pos = session.timeline, session.position
        starts = {t.index: fault_window(tl, pos, t.index)[0] for t in session.machine.threads if in_fault(t)}
        if not starts:
            return
        begin = min(starts.values())
        names = session.names
        self.windows = {i: _Window(names[i]) for i in starts}  # (reset again where each one's fault starts)
        for step, _, events in tl.replay(begin, pos):
            self._feed(session, step, names[tl.thread_at(step)], tl.label_at(step), events)
        self.windows = {i: w for i, w in self.windows.items() if i in starts}


_FACTS: weakref.WeakKeyDictionary[Session, Facts] = weakref.WeakKeyDictionary()


def facts(session: Session) -> Facts:
    """The one `Facts` of this session (the panes share it)."""
    f = _FACTS.get(session)
    if f is None:
        f = _FACTS[session] = Facts()
    return f
