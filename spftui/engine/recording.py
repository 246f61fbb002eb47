"""One run of a scenario on a fresh machine, step by step: who ran, which
label, what it emitted and what it touched. The diff, coverage and shrink
tools read runs through this record instead of the Session, because they run
many short schedules and need each step's footprint (`Machine.touched`),
which the Session does not keep.

Headless: standard library and attrs only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from ..kernel.events import Event, Violation
from .schedule import Replay, RoundRobin
from .user_oracles import build_machine

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from ..scenario.model import Scenario, ScheduleEntry

# Footprint keys every step may share without ordering anything a user would
# call a conflict: the allocators (ids only) and RCU bookkeeping.
_NOISE = frozenset({("alloc", 0), ("rcu", 0)})


@attrs.frozen
class Step:
    """One executed step (0-based `pos`); `nth` counts the thread's own steps from 0."""

    pos: int
    thread: int
    nth: int
    label: str
    events: tuple[Event, ...]
    touched: frozenset[tuple[str, object]]


@attrs.frozen
class Run:
    """A finished (or cut) run: its steps and the violations it reported."""

    names: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def choices(self) -> tuple[int, ...]:
        return tuple(s.thread for s in self.steps)

    def violations(self) -> list[tuple[int, Violation]]:
        return [(s.pos, e) for s in self.steps for e in s.events if isinstance(e, Violation)]

    def violates(self, oracle: str | None = None) -> bool:
        return any(oracle is None or v.oracle == oracle for _, v in self.violations())

    def preemptions(self, upto: int | None = None) -> int:
        """Switches away from a thread that could have gone on running (in the first `upto` steps)."""
        steps = self.steps[:upto]
        return sum(1 for s in steps if s.pos and s.thread != self.steps[s.pos - 1].thread and self._could[s.pos])

    _could: tuple[bool, ...] = ()  # per step: could the previous step's thread have run here


def record(sc: Scenario, choose: Callable[[Machine], int | None], max_steps: int = 100_000) -> Run:
    """Run `sc` from its initial state, asking `choose` for each step's thread."""
    m = build_machine(sc)
    names = tuple(t.name for t in sc.threads)
    steps: list[Step] = []
    could: list[bool] = []
    nth = [0] * len(m.threads)
    last = -1
    while len(steps) < max_steps:
        runnable = m.runnable()
        if not runnable:
            break
        c = choose(m)
        if c is None:
            break
        could.append(last in runnable)
        events = m.step(c)
        steps.append(Step(len(steps), c, nth[c], m.last_label, tuple(events), frozenset(m.touched) - _NOISE))
        nth[c] += 1
        last = c
    return Run(names, tuple(steps), tuple(could))


def record_entries(sc: Scenario, entries: Sequence[ScheduleEntry], max_steps: int = 100_000) -> Run:
    """A schedule (its entries, then round-robin, as `spftui check --schedule` runs it)."""
    return record(sc, Replay(entries).choose, max_steps)


def record_choices(sc: Scenario, choices: Sequence[int], max_steps: int = 100_000) -> Run:
    """These thread indices in order (one that cannot run is skipped), then round-robin."""
    queue = list(choices)
    rr = RoundRobin()
    i = [0]

    def choose(m: Machine) -> int | None:
        runnable = m.runnable()
        while i[0] < len(queue):
            c = queue[i[0]]
            i[0] += 1
            if c in runnable:
                rr.last = c
                return c
        return rr.choose(m)

    return record(sc, choose, max_steps)
