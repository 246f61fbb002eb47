"""The Session: a recorded run you can step, rewind, branch and replay.

The trace keeps, per step, the index of the thread that ran (one byte while
there are at most 256 threads, wider beyond) and two bytes for the step
label; manual choices, aborts and violations are sparse. A checkpoint
(machine state + scheduler state) is kept every CHECKPOINT_EVERY steps. Going back restores the nearest checkpoint and
replays forward: the run is deterministic, so the replay is exact.

After going back, stepping a different thread than the recorded one starts
a new branch; the abandoned future is kept in `branches` and
`switch_branch` returns to it.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ..kernel import all_labels, build_machine
from ..kernel.checkpoint import Checkpoint, Checkpointer
from ..kernel.machine import Machine
from ..kernel.state import BLOCKED, DONE, RUNNABLE
from ..scenario.model import Scenario, ScheduleEntry
from .breakpoints import Breakpoint, BreakpointSet
from .describe import abort_sentence, violation_sentence
from .schedule import Replay, SeededRandom, Strategy

CHECKPOINT_EVERY = 128
LABELS: list[str] = ["op_start", *sorted(all_labels())]
LABEL_ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
# Legacy: no recorded choice carries this bit any more (`choices` holds plain
# thread indices; manual steps are in `Session.manual`), so `c & ~MANUAL` is c.
MANUAL = 1 << 62


def choice_array(threads: int) -> array:  # type: ignore[type-arg]
    """An empty per-step thread-index array just wide enough for `threads`."""
    for code in ("B", "H", "I", "Q"):
        if threads <= 1 << (8 * array(code).itemsize):
            return array(code)
    raise SessionError(f"{threads} threads: too many to record")


class SessionError(Exception):
    """A request the session cannot honour (e.g. stepping a blocked thread)."""


@attrs.frozen
class Mark:
    """An abort or a violation, at the step (0-based) that produced it."""

    step: int
    kind: str  # "abort" | "violation"
    thread: str
    what: str  # abort reason or violation kind
    detail: str
    label: str


@attrs.frozen
class StopReason:
    kind: str  # breakpoint | finished | deadlock | limit | interrupted | start | step | stopped
    step: int
    text: str
    breakpoints: tuple[int, ...] = ()


@attrs.define
class Branch:
    """A saved future: the whole choice sequence of another timeline."""

    id: int
    at: int  # where it leaves the timeline it was cut from
    choices: array  # type: ignore[type-arg]
    labels: array  # type: ignore[type-arg]
    marks: list[Mark]
    manual: frozenset[int] = frozenset()  # the steps that were manual choices


@attrs.frozen
class StepInfo:
    step: int  # 0-based index of the step just taken
    thread: str
    label: str
    events: tuple[tuple[Any, ...], ...]


def record_marks(marks: list[Mark], pos: int, events: list[tuple[Any, ...]], label: str) -> None:
    """The aborts and violations of step `pos`, for the timeline and reports."""
    for e in events:
        if e[0] == "spf_abort":
            marks.append(Mark(pos, "abort", e[1], e[2], e[3], e[4]))
        elif e[0] == "violation":
            marks.append(Mark(pos, "violation", e[2], e[1], e[3], label))


def default_strategy(sc: Scenario, seed: int | None = None) -> Strategy:
    if seed is not None:
        return SeededRandom(seed)
    if sc.schedule is not None:
        return Replay(sc.schedule)
    return SeededRandom(sc.seed)


class Session:
    """One scenario, one machine, a trace with checkpoints and branches."""

    def __init__(
        self,
        scenario: Scenario,
        strategy: Strategy | None = None,
        breakpoints: BreakpointSet | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self.scenario = scenario
        self.breakpoints = breakpoints if breakpoints is not None else BreakpointSet()
        self.every = checkpoint_every
        self.strategy = strategy if strategy is not None else default_strategy(scenario)
        self._strategy_start = self.strategy.state  # rewound to on restart
        self._reset()

    # ------------------------------------------------------------ building
    def _reset(self) -> None:
        self.machine: Machine = build_machine(self.scenario)
        self._checkpointer = Checkpointer()  # each checkpoint shares what did not change with the last
        self._scratch: Machine | None = None
        self.strategy.set_state(self._strategy_start)
        self.choices: array = choice_array(len(self.machine.threads))  # type: ignore[type-arg]
        self.manual: set[int] = set()  # steps that were manual choices (rare: keep them sparse)
        self.labels: array = array("H")  # type: ignore[type-arg]
        self.marks: list[Mark] = []
        # Checkpoint 0 is made on first use: building the machine again is as cheap as a snapshot.
        self.ckpts: dict[int, tuple[Checkpoint | tuple[Any, ...] | None, Any]] = {0: (None, self.strategy.state)}
        self._ckpt_keys: list[int] = [0]
        self.position = 0
        self.branches: list[Branch] = []
        self.branch_id = 0
        self._next_branch = 1
        self.last: StepInfo | None = None
        self._events: list[tuple[Any, ...]] = []
        self.stop: StopReason = StopReason("start", 0, "at the start: nothing has run yet")
        self.breakpoints.prime(self.machine)
        self.names = [t.name for t in self.machine.threads]

    def restart(self, policy: str | None = None, reuse: str | None = None, strategy: Strategy | None = None) -> None:
        """Back to step 0, optionally under another policy or reuse rule. Breakpoints stay."""
        self.scenario = self.scenario.with_policy(policy, reuse)
        if strategy is not None:
            self.strategy = strategy
            self._strategy_start = strategy.state
        self._reset()

    @property
    def length(self) -> int:
        """Steps recorded on this timeline (position may be behind it)."""
        return len(self.choices)

    def thread_index(self, thread: int | str) -> int:
        if isinstance(thread, int):
            if not 0 <= thread < len(self.names):
                raise SessionError(f"no thread #{thread + 1}; there are {len(self.names)}")
            return thread
        try:
            return self.names.index(thread)
        except ValueError:
            raise SessionError(f"no thread {thread!r}; threads: {', '.join(self.names)}") from None

    def runnable(self) -> list[int]:
        return self.machine.runnable()

    def finished(self) -> bool:
        return not self.machine.runnable()

    def step_thread(self, step: int) -> str:
        return self.names[int(self.choices[step])]

    def thread_at(self, step: int) -> int:
        """The index of the thread that ran recorded step `step` (0-based)."""
        return int(self.choices[step])

    def is_manual(self, step: int) -> bool:
        """Was recorded step `step` a manual choice (not the strategy's)?"""
        return step in self.manual

    def step_label(self, step: int) -> str:
        return LABELS[int(self.labels[step])]

    def aborts(self) -> list[Mark]:
        return [mk for mk in self.marks if mk.kind == "abort"]

    def violations(self) -> list[Mark]:
        return [mk for mk in self.marks if mk.kind == "violation"]

    def status(self) -> str:
        branch = f", branch {self.branch_id}" if self.branches or self.branch_id else ""
        return (
            f"step {self.position} of {self.length}{branch} · {self.scenario.policy} · "
            f"reuse {self.scenario.reuse} · {self.stop.text}"
        )

    # ------------------------------------------------------------ stepping
    def step(self, thread: int | str | None = None) -> StepInfo | None:
        """One step: of `thread`, or of the recorded future, or the strategy's choice."""
        m = self.machine
        pos = self.position
        if thread is not None:
            idx = self.thread_index(thread)
            t = m.threads[idx]
            if t.state != RUNNABLE:
                why = "finished" if t.state == DONE else f"blocked on {t.blocked_on}"
                raise SessionError(f"{t.name} cannot run: it is {why}")
            if pos < len(self.choices) and self.choices[pos] != idx:
                self._cut_branch()
            if pos >= len(self.choices):
                self.strategy.observe(m, idx)
                events = self._exec(idx, record=True, manual=True)
                return self._after(pos, idx, events)
        idx = self._advance()
        if idx < 0:
            return None
        return self._after(pos, idx, self._events)

    def _after(self, pos: int, idx: int, events: list[tuple[Any, ...]]) -> StepInfo:
        info = StepInfo(pos, self.names[idx], self.machine.last_label, tuple(events))
        self.last = info
        fired = self.breakpoints.check(self.machine, info.thread, events)
        self.stop = self._reason_for(info, fired)
        return info

    def _advance(self) -> int:
        """Take the next step of the recorded future or of the strategy; -1 when none can run."""
        m = self.machine
        pos = self.position
        if pos < len(self.choices):
            idx: int = self.choices[pos]
            if pos in self.manual:
                self.strategy.observe(m, idx)
            else:
                self.strategy.choose(m)
            self._events = self._exec(idx, record=False)
            return idx
        choice = self.strategy.choose(m)
        if choice is None:
            return -1
        self._events = self._exec(choice, record=True)
        return choice

    def _exec(self, idx: int, record: bool, manual: bool = False) -> list[tuple[Any, ...]]:
        m = self.machine
        events = m.step(idx)
        pos = self.position
        if record:
            self.choices.append(idx)
            if manual:
                self.manual.add(pos)
            self.labels.append(LABEL_ID[m.last_label])
            record_marks(self.marks, pos, events, m.last_label)
        self.position = pos = pos + 1
        if not pos % self.every:
            ck = self.ckpts.get(pos)
            if ck is None:
                self.ckpts[pos] = (self._checkpointer.take(m), self.strategy.state)
                self._ckpt_keys.insert(bisect_right(self._ckpt_keys, pos), pos)
            elif ck[0] is not None:
                self._checkpointer.adopt(m, ck[0])  # replayed onto it: the next one builds on it
        return events

    def _reason_for(self, info: StepInfo, fired: list[tuple[Breakpoint, str]]) -> StopReason:
        if fired:
            return StopReason("breakpoint", self.position, fired[0][1], tuple(b.id for b, _ in fired))
        for e in info.events:
            if e[0] == "spf_abort":
                return StopReason("step", self.position, abort_sentence(e))
            if e[0] == "violation":
                return StopReason("step", self.position, violation_sentence(e[1], e[3]))
        if self.finished():
            return self._end_reason()
        return StopReason("step", self.position, f"{info.thread} ran {info.label}")

    def _end_reason(self) -> StopReason:
        m = self.machine
        if m.all_done():
            return StopReason("finished", self.position, f"all threads finished after {self.position} steps")
        stuck = ", ".join(f"{t.name} on {t.blocked_on}" for t in m.threads if t.state == BLOCKED)
        return StopReason("deadlock", self.position, f"deadlock: no thread can run ({stuck})")

    # -------------------------------------------------------- time travel
    def goto(self, n: int) -> None:
        """Jump to the state after n steps of this timeline (0 = the start)."""
        n = max(0, min(n, len(self.choices)))
        if n == self.position:
            return
        if not (self.position < n <= self.position + self.every):
            c = self._ckpt_at_or_before(max(n - 1, 0))
            snap, strat = self._ckpt(c)
            self._checkpointer.restore(self.machine, snap)
            self.strategy.set_state(strat)
            self.position = c
            self.last = None
        m = self.machine
        while self.position < n:
            idx = self.choices[self.position]
            if self.position in self.manual:
                self.strategy.observe(m, idx)
            else:
                self.strategy.choose(m)
            pos = self.position
            events = self._exec(idx, record=False)
            self.last = StepInfo(pos, self.names[idx], m.last_label, tuple(events))
        self.breakpoints.prime(m)
        self.stop = StopReason("stopped", n, f"jumped to step {n}" if n else "at the start: nothing has run yet")

    def back(self, k: int = 1) -> None:
        self.goto(self.position - k)
        self.stop = StopReason("stopped", self.position, f"stepped back to step {self.position}")

    def _ckpt(self, c: int) -> tuple[Checkpoint | tuple[Any, ...], Any]:
        snap, strat = self.ckpts[c]
        if snap is None:
            snap = Checkpointer().take(build_machine(self.scenario))
            self.ckpts[c] = (snap, strat)
        return snap, strat

    def _ckpt_at_or_before(self, n: int) -> int:
        return self._ckpt_keys[bisect_right(self._ckpt_keys, n) - 1]

    def continue_(
        self,
        limit: int | None = None,
        interrupted: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> StopReason:
        """Run until a breakpoint fires, the run ends, `limit` steps pass, or `interrupted()`."""
        m = self.machine
        bps = self.breakpoints
        bps.prime(m)
        check = bps.check if bps.items else None
        names = self.names
        n = 0
        while True:
            pos = self.position
            idx = self._advance()
            if idx < 0:
                self.stop = self._end_reason()
                return self.stop
            n += 1
            if check is not None:
                fired = check(m, names[idx], self._events)
                if fired:
                    info = self._after_silently(pos, idx)
                    self.stop = self._reason_for(info, fired)
                    return self.stop
            if limit is not None and n >= limit:
                self._after_silently(pos, idx)
                self.stop = StopReason("limit", self.position, f"stopped after {n} steps (limit)")
                return self.stop
            if not n % 512:
                if progress is not None:
                    progress(self.position)
                if interrupted is not None and interrupted():
                    self._after_silently(pos, idx)
                    self.stop = StopReason("interrupted", self.position, f"interrupted at step {self.position}")
                    return self.stop

    def _after_silently(self, pos: int, idx: int) -> StepInfo:
        self.last = StepInfo(pos, self.names[idx], self.machine.last_label, tuple(self._events))
        return self.last

    def run(self, limit: int = 1_000_000) -> StopReason:
        """Run to the end ignoring breakpoints (the CLI's `check`, benchmarks)."""
        last = (-1, -1)
        while self.position < min(limit, len(self.choices)):  # first the recorded future
            pos = self.position
            last = (pos, self._advance())
        # Then new steps, in a tight loop: this is the simulator's hot path.
        m = self.machine
        step, choose = m.step, self.strategy.choose
        add_choice, add_label = self.choices.append, self.labels.append
        label_id, marks, every = LABEL_ID, self.marks, self.every
        take = self._checkpointer.take
        pos = self.position
        while pos < limit:
            idx = choose(m)
            if idx is None:
                break
            events = step(idx)
            add_choice(idx)
            add_label(label_id[m.last_label])
            if events:
                record_marks(marks, pos, events, m.last_label)
            last = (pos, idx)
            self._events = events
            pos += 1
            if not pos % every:
                self.ckpts[pos] = (take(m), self.strategy.state)
                self._ckpt_keys.append(pos)
        self.position = pos
        if last[1] >= 0:
            self._after_silently(*last)
        if self.finished():
            self.stop = self._end_reason()
        else:
            self.stop = StopReason("limit", self.position, f"stopped after {self.position} steps (limit)")
        return self.stop

    def reverse_continue(self, interrupted: Callable[[], bool] | None = None) -> StopReason:
        """Back to the most recent earlier point where a breakpoint fires, or to the start."""
        start = self.position
        active = self.breakpoints.active()
        if active and all(b.kind in ("abort", "violation") and b.condition is None for b in active):
            hit = self._reverse_by_marks(start, active)
        else:
            hit = self._reverse_by_replay(start, interrupted) if active else None
        if hit is None:
            self.goto(0)
            self.stop = StopReason("start", 0, "reverse-continue reached the start: no earlier breakpoint")
            return self.stop
        self.goto(hit)
        assert self.last is not None
        fired = self.breakpoints.check(self.machine, self.last.thread, list(self.last.events))
        self.breakpoints.prime(self.machine)
        text = fired[0][1] if fired else f"breakpoint at step {hit}"
        self.stop = StopReason("breakpoint", hit, text, tuple(b.id for b, _ in fired))
        return self.stop

    def _reverse_by_marks(self, start: int, active: list[Breakpoint]) -> int | None:
        for mk in reversed(self.marks):
            if mk.step + 1 >= start:
                continue
            for b in active:
                if b.kind == mk.kind and (not b.match or b.match == mk.what):
                    if b.kind == "violation" or not b.thread or b.thread == mk.thread:
                        return mk.step + 1
        return None

    def _reverse_by_replay(self, start: int, interrupted: Callable[[], bool] | None) -> int | None:
        """Replay segment by segment, newest first, evaluating every breakpoint."""
        scratch = self._scratch_machine()
        hi = start - 1  # the last position that counts is start - 1
        while hi > 0:
            c = self._ckpt_at_or_before(hi - 1)
            scratch.restore(self._ckpt(c)[0])
            self.breakpoints.prime(scratch)
            found = None
            for pos in range(c, hi):
                rec = self.choices[pos]
                events = scratch.step(rec)
                if self.breakpoints.check(scratch, self.names[rec], events, count=False):
                    found = pos + 1
            if found is not None:
                return found
            hi = c
            if interrupted is not None and interrupted():
                return None
        return None

    def _scratch_machine(self) -> Machine:
        if self._scratch is None:
            self._scratch = build_machine(self.scenario)
        return self._scratch

    def events_of(self, step: int) -> tuple[tuple[Any, ...], ...]:
        """The events of a recorded step (replayed on a scratch machine)."""
        if not 0 <= step < len(self.choices):
            return ()
        if self.last is not None and self.last.step == step and self.position == step + 1:
            return self.last.events
        for _, events in self.iter_events(step, step + 1):
            return events
        return ()

    def iter_events(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, tuple[tuple[Any, ...], ...]]]:
        """(step, events) for the recorded steps in [start, end), replayed once on a scratch machine."""
        end = len(self.choices) if end is None else min(end, len(self.choices))
        if start >= end:
            return
        scratch = self._scratch_machine()
        c = self._ckpt_at_or_before(start)
        scratch.restore(self._ckpt(c)[0])
        for pos in range(c, end):
            events = scratch.step(self.choices[pos])
            if pos >= start:
                yield pos, tuple(events)

    # ------------------------------------------------------------ branches
    def _cut_branch(self) -> None:
        """Save the current timeline as a branch; the new one starts here."""
        pos = self.position
        self.branches.append(self._as_branch(pos))
        self._truncate(pos)
        self.branch_id = self._next_branch
        self._next_branch += 1

    def _as_branch(self, at: int) -> Branch:
        return Branch(self.branch_id, at, self.choices[:], self.labels[:], list(self.marks), frozenset(self.manual))

    def _truncate(self, pos: int) -> None:
        del self.choices[pos:]
        del self.labels[pos:]
        self.marks = [mk for mk in self.marks if mk.step < pos]
        self.manual = {k for k in self.manual if k < pos}
        for k in [k for k in self.ckpts if k > pos]:
            del self.ckpts[k]
        self._ckpt_keys = sorted(self.ckpts)

    def switch_branch(self, bid: int) -> None:
        """Return to a saved timeline; the current one is saved in its place."""
        b = next((x for x in self.branches if x.id == bid), None)
        if b is None:
            raise SessionError(f"no branch {bid}")
        common = 0
        limit = min(len(b.choices), len(self.choices))
        while (
            common < limit
            and b.choices[common] == self.choices[common]
            and (common in b.manual) == (common in self.manual)
        ):
            common += 1
        self.branches.remove(b)
        self.branches.append(self._as_branch(common))
        if self.position > common:
            self.goto(common)
        self._truncate(common)
        self.choices = b.choices[:]
        self.labels = b.labels[:]
        self.marks = list(b.marks)
        self.manual = set(b.manual)
        self.branch_id = b.id
        self.stop = StopReason(
            "stopped", self.position, f"switched to branch {b.id} (its future starts at step {common})"
        )

    # --------------------------------------------------------------- misc
    def schedule_entries(self, upto: int | None = None) -> tuple[ScheduleEntry, ...]:
        """The timeline (to `upto`) as schedule entries: runs of one thread."""
        n = len(self.choices) if upto is None else upto
        out: list[ScheduleEntry] = []
        i = 0
        while i < n:
            idx = self.choices[i]
            j = i
            while j < n and self.choices[j] == idx:
                j += 1
            name = self.names[idx]
            text = name if j - i == 1 else f"{name} {j - i}"
            out.append(ScheduleEntry(name, j - i, None, text))
            i = j
        return tuple(out)
