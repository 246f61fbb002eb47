"""What each recorded step did, for the timeline rows and the search: events, checks, marks.

A step's events are replayed from the timeline (the session keeps only
choices and labels), a chunk of rows at a time, and cached for the
timeline they came from: a timeline is only ever appended to under one
`(generation, branch)` key, so a cached step never goes stale. Checks that
passed by ABA or failed after changes (`Aba`, `Invalidated`) are derived by
the engine (`engine/history.py`) for the steps that validate something.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..engine.describe import NOTABLE, format_event
from ..engine.history import HistoryTracker, derived_events, fault_window
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
    objects: str  # the objects the events name (for the search), space-separated


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


class StepCache:
    """Per recorded step: its events (with the derived ones) and their summary."""

    def __init__(self) -> None:
        self.key: Any = None
        self.steps: dict[int, StepSummary] = {}
        self.events: dict[int, tuple[Event, ...]] = {}

    def _check(self, key: Any) -> None:
        if key != self.key:
            self.key = key
            self.steps = {}
            self.events = {}

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
        self.get(session, key, step)
        return self.events.get(step, ())

    def all(self, session: Session, key: Any) -> dict[int, StepSummary]:
        """Every step (for a search): one replay of what is not cached yet."""
        self._check(key)
        n = session.length
        missing = [i for i in range(n) if i not in self.steps]
        if missing:
            self._fill(session, missing[0], n)
        return self.steps

    def _fill(self, session: Session, lo: int, hi: int) -> None:
        tl = session.timeline
        for pos, _, events in tl.replay(lo, hi):
            if pos in self.steps:
                continue
            evs = (*events, *derived_events(tl, pos, events))
            self.events[pos] = evs
            self.steps[pos] = summarize(evs)


class FaultChecks:
    """Per thread in a fault: the checks its current fault attempt made so far (latest per check)."""

    def __init__(self) -> None:
        self.key: Any = None
        self.checks: dict[int, list[Event]] = {}

    def of(self, session: Session, key: Any) -> dict[int, list[Event]]:
        """Thread index -> its Validate events (and Aba / Invalidated), in order, for the state at `position`."""
        pos = session.position
        if self.key == (key, pos):
            return self.checks
        self.key = (key, pos)
        self.checks = {}
        tl = session.timeline
        m = session.machine
        starts = {}
        for t in m.threads:
            if t.pc and t.vmf.get("addr") is not None:
                starts[t.index] = fault_window(tl, pos, t.index)[0]
        if not starts:
            return self.checks
        trackers = {i: HistoryTracker(session.names[i]) for i in starts}
        found: dict[int, dict[str, Event]] = {i: {} for i in starts}
        for step, _, events in tl.replay(min(starts.values()), pos):
            thread, label = session.names[tl.thread_at(step)], tl.label_at(step)
            for i, tracker in trackers.items():
                if step < starts[i]:
                    continue
                name = session.names[i]
                mine = found[i]
                for e in events:
                    if type(e) is Validate and e.thread == name:
                        mine.pop(e.check, None)  # the latest of each check, in the order they ran
                        mine.pop("aba:" + e.check, None)
                        mine[e.check] = e
                for d in tracker.feed(step, thread, label, events):
                    if type(d) is Aba:
                        mine["aba:" + d.check] = d
        self.checks = {i: list(v.values()) for i, v in found.items() if v}
        return self.checks
