"""The Timeline: the recorded history of a Session, and the one replay loop.

The trace keeps, per step, the index of the thread that ran (one byte while
there are at most 256 threads, wider beyond) and two bytes for the step
label; manual choices, aborts and violations are sparse. A checkpoint
(machine state + scheduler state) is kept every `every` steps; checkpoint 0
is made on first use (building the machine again is as cheap as a snapshot).
The run is deterministic, so replaying the recorded choices from a
checkpoint is exact.

Readers use the public API: `timeline[i]` (a `StepRecord`), `len`,
`marks`, `branches`, `replay(start, end)` and `machine_at(n)`. Views never
decode the encoding nor rebuild a machine themselves. The Session (the only
writer) uses the `_`-prefixed methods; `_walk` is the replay loop every
replay in the code base goes through.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

import attrs

from ..kernel import all_labels
from ..kernel.checkpoint import Checkpoint, Checkpointer
from ..kernel.events import Event, SpfAbort, Violation
from ..kernel.machine import Machine
from ..scenario.model import Scenario, ScheduleEntry
from .schedule import Strategy
from .user_oracles import build_machine

LABELS: list[str] = ["op_start", *sorted(all_labels())]
LABEL_ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}

Snapshot = Checkpoint | tuple[Any, ...]


class TimelineError(Exception):
    """A request the timeline cannot honour (a step it has not recorded)."""


def choice_array(threads: int) -> array:  # type: ignore[type-arg]
    """An empty per-step thread-index array just wide enough for `threads`."""
    for code in ("B", "H", "I", "Q"):
        if threads <= 1 << (8 * array(code).itemsize):
            return array(code)
    raise TimelineError(f"{threads} threads: too many to record")


@attrs.frozen
class Mark:
    """An abort or a violation, at the step (0-based) that produced it."""

    step: int
    kind: str  # "abort" | "violation"
    thread: str
    what: str  # abort reason or violation (oracle) kind
    detail: str
    label: str


@attrs.frozen
class StepRecord:
    """One recorded step: who ran which step label, and what it emitted."""

    step: int  # 0-based; the machine is at position step + 1 after it
    thread: str
    label: str
    manual: bool  # chosen by hand (not by the strategy)
    events: tuple[Event, ...]


@attrs.frozen
class Branch:
    """A saved future: the whole choice sequence of another timeline."""

    id: int
    at: int  # where it leaves the timeline it was cut from
    _choices: array  # type: ignore[type-arg]
    _labels: array  # type: ignore[type-arg]
    marks: tuple[Mark, ...]
    _manual: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self._choices)

    def thread_at(self, step: int) -> int:
        """The index of the thread that ran step `step` on this branch."""
        return int(self._choices[step])


def marks_of(pos: int, events: list[Event], label: str) -> list[Mark]:
    """The aborts and violations of step `pos`, for the timeline and reports."""
    out = []
    for e in events:
        if isinstance(e, SpfAbort):
            out.append(Mark(pos, "abort", e.thread, e.reason, e.detail, e.label))
        elif isinstance(e, Violation):
            out.append(Mark(pos, "violation", e.thread, e.oracle, e.detail, label))
    return out


class Timeline:
    """The history of one Session: choices, labels, marks, checkpoints, branches."""

    def __init__(self, scenario: Scenario, names: list[str], every: int, strategy_start: Any) -> None:
        self.scenario = scenario
        self.names = tuple(names)
        self.every = every
        self._choices: array = choice_array(len(names))  # type: ignore[type-arg]
        self._labels: array = array("H")  # type: ignore[type-arg]
        self._manual: set[int] = set()  # steps that were manual choices (rare: keep them sparse)
        self._marks: list[Mark] = []
        self._ckpts: dict[int, tuple[Snapshot | None, Any]] = {0: (None, strategy_start)}
        self._ckpt_keys: list[int] = [0]
        self._branches: list[Branch] = []
        self.branch_id = 0
        self._next_branch = 1
        self._checkpointer = Checkpointer()  # each checkpoint shares what did not change with the last
        self._spare: list[Machine] = []  # scratch machines not in use by a replay
        self._epoch = 0  # bumped when recorded steps are dropped or replaced

    # ------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._choices)

    def __getitem__(self, i: int) -> StepRecord:
        n = len(self._choices)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"step {i} is not recorded (the timeline has {n})")
        events = next(self.replay(i, i + 1))[2]
        return StepRecord(i, self.names[self._choices[i]], LABELS[self._labels[i]], i in self._manual, events)

    def thread_at(self, step: int) -> int:
        """The index of the thread that ran recorded step `step` (0-based); no replay."""
        return int(self._choices[step])

    def label_at(self, step: int) -> str:
        """The step label of recorded step `step`; no replay."""
        return LABELS[int(self._labels[step])]

    def is_manual(self, step: int) -> bool:
        """Was recorded step `step` a manual choice (not the strategy's)?"""
        return step in self._manual

    @property
    def marks(self) -> tuple[Mark, ...]:
        """The aborts and violations on this timeline, in step order."""
        return tuple(self._marks)

    @property
    def branches(self) -> tuple[Branch, ...]:
        """The saved futures, oldest first."""
        return tuple(self._branches)

    @property
    def epoch(self) -> int:
        """Changes whenever recorded steps are dropped or replaced (a cut, a branch switch):
        what a reader derived from the steps is stale when it differs."""
        return self._epoch

    @property
    def checkpoints(self) -> int:
        """How many checkpoints are kept."""
        return len(self._ckpts)

    def replay(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, Machine, tuple[Event, ...]]]:
        """(step, machine after it, its events) for the recorded steps in [start, end).

        The machine is a scratch one, private to this iteration and changed by
        the next; copy what you keep. The session's own machine is not touched.
        """
        end = len(self._choices) if end is None else min(end, len(self._choices))
        start = max(start, 0)
        if start >= end:
            return
        m = self._take_scratch()
        try:
            c = self._ckpt_at_or_before(start)
            m.restore(self._ckpt(c)[0])
            for pos, mm, events in self._walk(m, c, end):
                if pos >= start:
                    yield pos, mm, tuple(events)
        finally:
            self._spare.append(m)

    def machine_at(self, n: int) -> Machine:
        """A new machine in the state after `n` recorded steps (yours to keep)."""
        return self.cursor().at(n)

    def cursor(self) -> Cursor:
        """A scratch machine that moves along this timeline (cheap forward moves)."""
        return Cursor(self)

    def schedule_entries(self, upto: int | None = None) -> tuple[ScheduleEntry, ...]:
        """The timeline (to `upto`) as schedule entries: runs of one thread."""
        choices = self._choices
        n = len(choices) if upto is None else min(upto, len(choices))
        out: list[ScheduleEntry] = []
        i = 0
        while i < n:
            idx = choices[i]
            j = i
            while j < n and choices[j] == idx:
                j += 1
            name = self.names[idx]
            out.append(ScheduleEntry(name, j - i, None, name if j - i == 1 else f"{name} {j - i}"))
            i = j
        return tuple(out)

    # ----------------------------------------------- the one replay loop
    def _walk(
        self, m: Machine, start: int, end: int, strategy: Strategy | None = None, own: bool = False
    ) -> Iterator[tuple[int, Machine, list[Event]]]:
        """Replay recorded steps [start, end) on `m`, which is at position `start`.

        `strategy` is kept in step with the replay (for the session's machine:
        a new step after the replay continues the strategy where the recording
        did). `own`: `m` is the session's machine, so checkpoints at the
        boundaries are adopted (or taken, on a future whose were dropped).
        """
        choices, manual, step = self._choices, self._manual, m.step
        every = self.every
        for pos in range(start, end):
            idx = choices[pos]
            if strategy is not None:
                if pos in manual:
                    strategy.observe(m, idx)
                else:
                    strategy.choose(m)
            events = step(idx)
            if own and not (pos + 1) % every:
                self._boundary(m, pos + 1, strategy)
            yield pos, m, events

    # ------------------------------------------------------------ writing
    def _record(self, pos: int, idx: int, label: str, events: list[Event], manual: bool) -> None:
        self._choices.append(idx)
        self._labels.append(LABEL_ID[label])
        if manual:
            self._manual.add(pos)
        if events:
            self._marks += marks_of(pos, events, label)

    def _boundary(self, m: Machine, pos: int, strategy: Strategy | None) -> None:
        """The session's machine reached checkpoint position `pos`."""
        ck = self._ckpts.get(pos)
        if ck is None:
            self._ckpts[pos] = (self._checkpointer.take(m), strategy.state if strategy is not None else None)
            self._ckpt_keys.insert(bisect_right(self._ckpt_keys, pos), pos)
        elif ck[0] is not None:
            self._checkpointer.adopt(m, ck[0])  # replayed onto it: the next one builds on it

    def _restore(self, m: Machine, n: int, own: bool = False) -> tuple[int, Any]:
        """Put `m` at the checkpoint at or before n; return (its position, strategy state)."""
        c = self._ckpt_at_or_before(n)
        snap, strat = self._ckpt(c)
        if own:
            self._checkpointer.restore(m, snap)
        else:
            m.restore(snap)
        return c, strat

    def _ckpt(self, c: int) -> tuple[Snapshot, Any]:
        snap, strat = self._ckpts[c]
        if snap is None:
            snap = Checkpointer().take(build_machine(self.scenario))
            self._ckpts[c] = (snap, strat)
        return snap, strat

    def _ckpt_at_or_before(self, n: int) -> int:
        return self._ckpt_keys[bisect_right(self._ckpt_keys, n) - 1]

    def _take_scratch(self) -> Machine:
        return self._spare.pop() if self._spare else build_machine(self.scenario)

    def _truncate(self, pos: int) -> None:
        self._epoch += 1
        del self._choices[pos:]
        del self._labels[pos:]
        self._marks = [mk for mk in self._marks if mk.step < pos]
        self._manual = {k for k in self._manual if k < pos}
        for k in [k for k in self._ckpts if k > pos]:
            del self._ckpts[k]
        self._ckpt_keys = sorted(self._ckpts)

    def _as_branch(self, at: int) -> Branch:
        return Branch(
            self.branch_id, at, self._choices[:], self._labels[:], tuple(self._marks), frozenset(self._manual)
        )

    def _cut_branch(self, pos: int) -> None:
        """Save the current timeline as a branch; the new one starts at `pos`."""
        self._branches.append(self._as_branch(pos))
        self._truncate(pos)
        self.branch_id = self._next_branch
        self._next_branch += 1

    def _common_prefix(self, b: Branch) -> int:
        common = 0
        limit = min(len(b), len(self._choices))
        while (
            common < limit
            and b._choices[common] == self._choices[common]
            and (common in b._manual) == (common in self._manual)
        ):
            common += 1
        return common

    def _switch(self, b: Branch, common: int) -> None:
        """Make branch `b` the timeline; the current one is saved in its place."""
        self._branches.remove(b)
        self._branches.append(self._as_branch(common))
        self._truncate(common)
        self._choices = b._choices[:]
        self._labels = b._labels[:]
        self._marks = list(b.marks)
        self._manual = set(b._manual)
        self.branch_id = b.id


class Cursor:
    """A scratch machine positioned on a timeline; moving forward replays only the gap."""

    def __init__(self, timeline: Timeline) -> None:
        self._tl = timeline
        self._m = build_machine(timeline.scenario)
        self._pos = 0
        self._epoch = timeline._epoch  # a cut or a branch switch may rewrite the steps behind the cursor

    @property
    def position(self) -> int:
        return self._pos

    def adopt(self, snapshot: tuple[Any, ...], position: int) -> Machine:
        """Take `snapshot` (of a machine at `position` on this timeline) as the cursor's state."""
        self._m.restore(snapshot)
        self._pos = position
        self._epoch = self._tl._epoch
        return self._m

    def at(self, n: int) -> Machine:
        """The machine after `n` recorded steps. Valid until the cursor moves again."""
        tl = self._tl
        n = max(0, min(n, len(tl)))
        if not (self._pos <= n <= self._pos + tl.every) or self._epoch != tl._epoch:
            self._pos = tl._restore(self._m, n)[0]
        for _ in tl._walk(self._m, self._pos, n):
            pass
        self._pos = n
        self._epoch = tl._epoch
        return self._m
