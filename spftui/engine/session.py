"""The Session: a recorded run you can step, rewind, branch and replay.

The Session owns the live machine, the strategy and the breakpoints; the
history it records is its `timeline` (see `timeline.py`), which readers use
to look back without disturbing the machine. Everything else is a command:
`step`, `back`, `goto`, `open_at`, `continue_`, `run_on`, `reverse_continue`, `run`,
`run_thread_until`, `finish` (one thread alone), `switch_branch`, `restart` and the
breakpoint commands. A command that moves the session returns (and keeps in `stop`) a
frozen `StopReason`.

After going back, stepping a different thread than the recorded one starts
a new branch; the abandoned future is kept in `branches` and
`switch_branch` returns to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

import attrs

from ..kernel.events import Event, SpfAbort, Violation
from ..kernel.machine import Machine
from ..kernel.ops import OP_ENTRY
from ..kernel.state import BLOCKED, DONE, RUNNABLE, Thread
from ..scenario.model import MAX_STEPS, Scenario, ScheduleEntry
from .breakpoints import Breakpoint, BreakpointSet, Hit
from .describe import abort_sentence, counted, violation_sentence
from .expr import Expr, evaluate
from .history import in_fault
from .inspect import MachineResolver, Names
from .schedule import Replay, SeededRandom, Strategy
from .timeline import LABEL_ID, LABELS, Branch, Mark, StepRecord, Timeline, TimelineError, choice_array, marks_of
from .user_oracles import build_machine

CHECKPOINT_EVERY = 128

__all__ = [
    "CHECKPOINT_EVERY",
    "LABELS",
    "Branch",
    "Mark",
    "SavedTimeline",
    "Session",
    "SessionError",
    "Status",
    "StepInfo",
    "StepRecord",
    "StopReason",
    "bookmark_name_problem",
    "choice_array",
    "default_strategy",
]


class SessionError(TimelineError):
    """A request the session cannot honour (e.g. stepping a blocked thread)."""


@attrs.frozen
class StopReason:
    """Why the session stopped where it is.

    kind         start | step | breakpoint | finished | deadlock | limit | interrupted | stopped,
                 and for one thread's run (`run_thread_until`, `finish`): reached (its next
                 step is the label) | returned (its fault or operation completed first) |
                 blocked | done (the thread had nothing left to run)
    step         the position it stopped at
    text         one sentence for the status line
    breakpoints  the ids of the breakpoints that fired
    hits         what each of them saw (a watch: old → new)
    mark         the abort or violation of the step it stopped after, if any
    """

    kind: str
    step: int
    text: str
    breakpoints: tuple[int, ...] = ()
    hits: tuple[Hit, ...] = ()
    mark: Mark | None = None


@attrs.frozen
class Status:
    """What the status line shows, in one frozen record."""

    position: int
    length: int
    branch: int
    branches: int
    policy: str
    reuse: str
    stop: StopReason

    @property
    def text(self) -> str:
        branch = f", branch {self.branch}" if self.branches or self.branch else ""
        return f"step {self.position} of {self.length}{branch} · {self.policy} · reuse {self.reuse} · {self.stop.text}"


@attrs.frozen
class StepInfo:
    step: int  # 0-based index of the step just taken: users see it as step `step + 1`
    thread: str
    label: str
    events: tuple[Event, ...]


@attrs.frozen
class SavedTimeline:
    """One timeline as data (for session files): the thread index of each step, and which
    steps were chosen by hand (0-based), under its branch id."""

    id: int
    threads: tuple[int, ...]
    manual: frozenset[int] = frozenset()


# A bookmark name is a word that `goto` cannot read as a step (a number, +N, start, end).
BOOKMARK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,39}")
_GOTO_WORDS = ("start", "begin", "end", "last")


def bookmark_name_problem(name: str) -> str | None:
    """Why `name` cannot name a bookmark (None: it can)."""
    if name.lower() in _GOTO_WORDS:
        return f"bad bookmark name {name!r}: {', '.join(_GOTO_WORDS)} are words Go to reads as steps; pick another"
    if BOOKMARK_NAME.fullmatch(name):
        return None
    return f"bad bookmark name {name!r}: use a word that starts with a letter (letters, digits, _ . : -; 40 at most)"


def default_strategy(sc: Scenario, seed: int | None = None) -> Strategy:
    if seed is not None:
        return SeededRandom(seed)
    if sc.schedule is not None:
        return Replay(sc.schedule)
    return SeededRandom(sc.seed)


def _waits(m: Machine, t: Thread) -> str:
    """What blocked thread `t` waits for, and who holds it (its place in a wait queue says which lock)."""
    i = t.index
    held: list[int | None] = []
    for mm in m.mms.values():
        if any(w == i for w, _ in mm.lock_waiters):
            held = [mm.lock_writer] if mm.lock_writer is not None else list(mm.lock_readers)
    for table in m.tables:
        if i in table.ptl_waiters:
            held = [table.ptl]
    for f in m.frames:
        if i in f.lock_waiters:
            held = [f.locked]
    for v in m.vmas:
        if i in v.lock_waiters:
            held = list(v.lock_readers)
    names = [m.threads[h].name for h in held if h is not None]
    return f"it waits for {t.blocked_on}" + (f", held by {' and '.join(names)}" if names else "")


def _stopped(hits: list[Hit], step: int) -> StopReason:
    return StopReason("breakpoint", step, hits[0].text, tuple(h.id for h in hits), tuple(hits))


class Session:
    """One scenario, one machine, a timeline with checkpoints and branches."""

    def __init__(
        self,
        scenario: Scenario,
        strategy: Strategy | None = None,
        breakpoints: BreakpointSet | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self._scenario = scenario
        self._bps = breakpoints if breakpoints is not None else BreakpointSet()
        for b in self._bps.items:  # (a set carried over from another session: its hits were that run's)
            b.hits = 0
        self._every = checkpoint_every
        self._strategy = strategy if strategy is not None else default_strategy(scenario)
        self._strategy_start = self._strategy.state  # rewound to on restart
        self._bookmarks: dict[str, int] = {}  # name -> step; kept over restarts (they are just positions)
        self._bookmark_branch: dict[str, int] = {}  # name -> the timeline (branch id) it was set on
        self._reset()

    def _reset(self) -> None:
        self._machine: Machine = build_machine(self._scenario)
        self._strategy.set_state(self._strategy_start)
        self._names = [t.name for t in self._machine.threads]
        self._tl = Timeline(self._scenario, self._names, self._every, self._strategy.state)
        self._bps.timeline = self._tl  # `aba` breakpoints read the history
        self._position = 0
        self._last: StepInfo | None = None
        self._events: list[Event] = []
        self._stop = StopReason("start", 0, "at the start: nothing has run yet")
        self._bps.prime(self._machine)

    # ------------------------------------------------------------ reading
    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def machine(self) -> Machine:
        """The live machine, at `position` (read it; change it only through commands)."""
        return self._machine

    @property
    def timeline(self) -> Timeline:
        """The recorded history (read-only API)."""
        return self._tl

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    @property
    def breakpoints(self) -> BreakpointSet:
        return self._bps

    @property
    def position(self) -> int:
        """Steps taken to reach the machine's state (0 = the start)."""
        return self._position

    @property
    def length(self) -> int:
        """Steps recorded on this timeline (position may be behind it)."""
        return len(self._tl)

    @property
    def names(self) -> tuple[str, ...]:
        return self._tl.names

    @property
    def stop(self) -> StopReason:
        """Why the session is where it is (the last command's answer)."""
        return self._stop

    @property
    def last(self) -> StepInfo | None:
        """The step that led to `position`, when the session knows it without a replay."""
        return self._last

    @property
    def marks(self) -> tuple[Mark, ...]:
        return self._tl.marks

    @property
    def branches(self) -> tuple[Branch, ...]:
        return self._tl.branches

    @property
    def branch_id(self) -> int:
        return self._tl.branch_id

    @property
    def every(self) -> int:
        """Steps between checkpoints."""
        return self._every

    def status(self) -> Status:
        return Status(
            self._position,
            len(self._tl),
            self._tl.branch_id,
            len(self._tl.branches),
            self._scenario.policy,
            self._scenario.reuse,
            self._stop,
        )

    def thread_index(self, thread: int | str) -> int:
        names = self._tl.names
        if isinstance(thread, int):
            if not 0 <= thread < len(names):
                raise SessionError(f"no thread #{thread + 1}; there are {len(names)}")
            return thread
        try:
            return names.index(thread)
        except ValueError:
            raise SessionError(f"no thread {thread!r}; threads: {', '.join(names)}") from None

    def runnable(self) -> list[int]:
        return self._machine.runnable()

    def finished(self) -> bool:
        return not self._machine.runnable()

    def step_thread(self, step: int) -> str:
        return self._tl.names[self._tl.thread_at(step)]

    def thread_at(self, step: int) -> int:
        """The index of the thread that ran recorded step `step` (0-based)."""
        return self._tl.thread_at(step)

    def is_manual(self, step: int) -> bool:
        """Was recorded step `step` a manual choice (not the strategy's)?"""
        return self._tl.is_manual(step)

    def step_label(self, step: int) -> str:
        return self._tl.label_at(step)

    def aborts(self) -> list[Mark]:
        return [mk for mk in self._tl.marks if mk.kind == "abort"]

    def violations(self) -> list[Mark]:
        return [mk for mk in self._tl.marks if mk.kind == "violation"]

    def events_of(self, step: int) -> tuple[Event, ...]:
        """The events of a recorded step (replayed on a scratch machine unless just taken)."""
        if not 0 <= step < len(self._tl):
            return ()
        last = self._last
        if last is not None and last.step == step and self._position == step + 1:
            return last.events
        return self._tl[step].events

    def schedule_entries(self, upto: int | None = None) -> tuple[ScheduleEntry, ...]:
        """The timeline (to `upto`) as schedule entries: runs of one thread."""
        return self._tl.schedule_entries(upto)

    # ------------------------------------------------------------ commands
    def restart(
        self,
        policy: str | None = None,
        reuse: str | None = None,
        strategy: Strategy | None = None,
        fixes: dict[str, bool] | None = None,
    ) -> None:
        """Back to step 0, optionally under another policy or reuse rule, or with
        modelled fixes switched (`{NAME: on}`). Breakpoints stay; their hit
        counts start again, as gdb's do on `run`."""
        self._scenario = self._scenario.with_policy(policy, reuse)
        if fixes:
            self._scenario = self._scenario.with_fixes(fixes)
        if strategy is not None:
            self._strategy = strategy
            self._strategy_start = strategy.state
        for b in self._bps.items:
            b.hits = 0
        self._reset()
        for name in self._bookmarks:  # (the timelines are gone: a bookmark is a step of the run to come)
            self._bookmark_branch[name] = self._tl.branch_id

    def add_breakpoint(self, kind: str, **kw: Any) -> Breakpoint:
        """Add a breakpoint (see `breakpoints.make_breakpoint`: names the scenario cannot have are
        refused); a watch starts from the current value. An expression the evaluator cannot take
        at all is refused too (SessionError), and the set is left as it was."""
        b = self._bps.add(kind, names=Names.of(self._scenario), **kw)
        try:
            self._bps.prime(self._machine)
        except Exception as err:
            self._bps.remove(b.id)
            self._bps.prime(self._machine)
            raise SessionError(f"{type(err).__name__}: {err}") from err
        return b

    def evaluate(self, expr: Expr) -> object:
        """The value of a parsed expression on the current state (raises EvalError)."""
        return evaluate(expr, MachineResolver(self._machine))

    def enable_breakpoint(self, bid: int, enabled: bool = True) -> Breakpoint:
        b = self._breakpoint(bid)
        b.enabled = enabled
        return b

    def disable_breakpoint(self, bid: int) -> Breakpoint:
        return self.enable_breakpoint(bid, False)

    def toggle_breakpoint(self, bid: int) -> Breakpoint:
        b = self._breakpoint(bid)
        return self.enable_breakpoint(bid, not b.enabled)

    def remove_breakpoint(self, bid: int) -> tuple[int, Breakpoint]:
        """Remove breakpoint `bid`; returns where it was and what it was, for `restore_breakpoint`."""
        b = self._breakpoint(bid)
        at = self._bps.items.index(b)
        self._bps.remove(bid)
        return at, b

    def restore_breakpoint(self, removed: tuple[int, Breakpoint]) -> Breakpoint:
        """Put back a breakpoint `remove_breakpoint` took out (an undo): same id, place, state and hits."""
        at, b = removed
        if self._bps.get(b.id) is None:
            self._bps.items.insert(min(at, len(self._bps.items)), b)
            self._bps.prime(self._machine)
        return b

    def _breakpoint(self, bid: int) -> Breakpoint:
        b = self._bps.get(bid)
        if b is None:
            raise SessionError(f"no breakpoint {bid}")
        return b

    def step(self, thread: int | str | None = None) -> StepInfo | None:
        """One step: of `thread`, or of the recorded future, or the strategy's choice."""
        m = self._machine
        pos = self._position
        if thread is not None:
            idx = self.thread_index(thread)
            t = m.threads[idx]
            if t.state != RUNNABLE:
                why = "finished" if t.state == DONE else f"blocked on {t.blocked_on}"
                raise SessionError(f"{t.name} cannot run: it is {why}")
            return self._after(pos, idx, self._step_of(idx))
        idx = self._advance()
        if idx < 0:
            self._stop = self._end_reason()
            return None
        return self._after(pos, idx, self._events)

    def _step_of(self, idx: int) -> list[Event]:
        """One step of runnable thread `idx`: the recorded one when it is that thread's, else a
        new one (recorded as chosen by hand; from the past, the old future becomes a branch)."""
        pos = self._position
        tl = self._tl
        if pos < len(tl) and tl.thread_at(pos) != idx:
            tl._cut_branch(pos)
        if pos >= len(tl):
            self._strategy.observe(self._machine, idx)
            self._events = self._record(idx, manual=True)
        else:
            self._advance()
        return self._events

    def _after(self, pos: int, idx: int, events: list[Event]) -> StepInfo:
        info = StepInfo(pos, self._tl.names[idx], self._machine.last_label, tuple(events))
        self._last = info
        fired = self._bps.check(self._machine, info.thread, events)
        self._stop = self._reason_for(info, fired)
        return info

    def _advance(self) -> int:
        """Take the next step of the recorded future or of the strategy; -1 when none can run."""
        pos = self._position
        tl = self._tl
        if pos < len(tl):
            self._events = next(tl._walk(self._machine, pos, pos + 1, self._strategy, own=True))[2]
            self._position = pos + 1
            return tl.thread_at(pos)
        choice = self._strategy.choose(self._machine)
        if choice is None:
            return -1
        self._events = self._record(choice)
        return choice

    def _record(self, idx: int, manual: bool = False) -> list[Event]:
        """Take a new step of thread `idx` and record it."""
        m = self._machine
        pos = self._position
        events = m.step(idx)
        self._tl._record(pos, idx, m.last_label, events, manual)
        self._position = pos = pos + 1
        if not pos % self._every:
            self._tl._boundary(m, pos, self._strategy)
        return events

    def _reason_for(self, info: StepInfo, fired: list[Hit]) -> StopReason:
        marks = marks_of(info.step, list(info.events), info.label)
        mark = marks[0] if marks else None
        if fired:
            return attrs.evolve(_stopped(fired, self._position), mark=mark)
        for e in info.events:
            if isinstance(e, SpfAbort):
                return StopReason("step", self._position, abort_sentence(e), mark=mark)
            if isinstance(e, Violation):
                return StopReason("step", self._position, violation_sentence(e.oracle, e.detail), mark=mark)
        if self.finished():
            return self._end_reason()
        return StopReason("step", self._position, f"{info.thread} ran {info.label}")

    def _end_reason(self) -> StopReason:
        m = self._machine
        if m.all_done():
            return StopReason(
                "finished", self._position, f"all threads finished after {counted(self._position, 'step')}"
            )
        stuck = ", ".join(f"{t.name} on {t.blocked_on}" for t in m.threads if t.state == BLOCKED)
        return StopReason("deadlock", self._position, f"deadlock: no thread can run ({stuck})")

    # -------------------------------------------------------- time travel
    def _travel(self, n: int) -> None:
        """Put the live machine at recorded position n (checkpoint + replay)."""
        tl = self._tl
        n = max(0, min(n, len(tl)))
        if n == self._position:
            return
        if not (self._position < n <= self._position + self._every):
            c, strat = tl._restore(self._machine, max(n - 1, 0), own=True)
            self._strategy.set_state(strat)
            self._position = c
            self._last = None
        names = tl.names
        for pos, m, events in tl._walk(self._machine, self._position, n, self._strategy, own=True):
            self._position = pos + 1
            if pos + 1 == n:
                self._last = StepInfo(pos, names[tl.thread_at(pos)], m.last_label, tuple(events))
        self._bps.prime(self._machine)

    def goto(self, n: int) -> StopReason:
        """Jump to the state after n steps of this timeline (0 = the start)."""
        n = max(0, min(n, len(self._tl)))
        if n != self._position:
            self._travel(n)
            self._stop = StopReason("stopped", n, f"jumped to step {n}" if n else "at the start: nothing has run yet")
        return self._stop

    def back(self, k: int = 1) -> StopReason:
        self._travel(self._position - k)
        self._stop = StopReason("stopped", self._position, f"stepped back to step {self._position}")
        return self._stop

    def open_at(self, n: int, because: str = "", oracle: str | None = None) -> StopReason:
        """Run (if needed) and go to step n, saying why: the latest violation before n
        (of kind `oracle`, if given) becomes the stop reason, prefixed by `because`."""
        if n > len(self._tl):
            self.run(limit=n)
        self.goto(n)
        if self._stop.kind == "limit" and self._position == n:  # (run's limit was where it was asked to go)
            self._stop = attrs.evolve(self._stop, kind="stopped", text=f"went on to step {n}")
        seen = [
            mk
            for mk in self._tl.marks
            if mk.kind == "violation" and mk.step < self._position and (oracle is None or mk.what == oracle)
        ]
        if seen:
            mk = seen[-1]
            text = f"{violation_sentence(mk.what, mk.detail)} ({mk.thread} at step {mk.step + 1})"
            self._stop = StopReason("breakpoint", self._position, f"{because}: {text}" if because else text, mark=mk)
        return self._stop

    def continue_(
        self,
        limit: int | None = None,
        interrupted: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
        only: Collection[str] | None = None,
    ) -> StopReason:
        """Run until a breakpoint fires, the run ends, `limit` steps pass, or `interrupted()`.

        `only`: breakpoint kinds that may stop this run (the others are held off);
        with "violation" among them, any violation stops it even without such a breakpoint.
        """
        if only is None:
            return self._continue(limit, interrupted, progress)
        held = [b for b in self._bps.items if b.kind not in only and b.enabled]
        if "violation" in only and not any(b.kind == "violation" and b.enabled for b in self._bps.items):
            self._bps.add("violation")  # it stays, as if the user had set it
        for b in held:
            b.enabled = False
        try:
            return self._continue(limit, interrupted, progress)
        finally:
            for b in held:
                b.enabled = True

    def _continue(
        self,
        limit: int | None,
        interrupted: Callable[[], bool] | None,
        progress: Callable[[int], None] | None,
    ) -> StopReason:
        m = self._machine
        bps = self._bps
        bps.prime(m)
        check = bps.check if bps.active() else None
        names = self._tl.names
        n = 0
        ran = (-1, -1)  # the last step taken: the run's end names it too (`last`)
        while True:
            pos = self._position
            idx = self._advance()
            if idx < 0:
                if n:
                    self._after_silently(*ran)
                self._stop = self._end_reason()
                return self._stop
            ran = (pos, idx)
            n += 1
            if check is not None:
                fired = check(m, names[idx], self._events)
                if fired:
                    info = self._after_silently(pos, idx)
                    self._stop = self._reason_for(info, fired)
                    return self._stop
            if limit is not None and n >= limit:
                self._after_silently(pos, idx)
                self._stop = StopReason("limit", self._position, f"stopped after {counted(n, 'step')} (limit)")
                return self._stop
            if not n % 512:
                if progress is not None:
                    progress(self._position)
                if interrupted is not None and interrupted():
                    self._after_silently(pos, idx)
                    self._stop = StopReason("interrupted", self._position, f"interrupted at step {self._position}")
                    return self._stop

    def run_on(
        self,
        n: int | None = None,
        interrupted: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> StopReason:
        """Go past the recorded end to step n, or (None) on to the run's end, no breakpoint
        stopping it (`spftui SCENARIO --goto N`, the debugger's `g N` and `g end`).

        The stop says where it went: "went on to step n", or the run's end (all threads
        finished, a deadlock) when it comes first; never "stopped after k steps (limit)",
        which read as if a limit had been hit.
        """
        self.goto(len(self._tl))
        target = MAX_STEPS if n is None else n
        steps = target - self._position
        if steps <= 0:
            return self._stop
        stop = self.continue_(steps, interrupted, progress, only=())
        if stop.kind == "limit":
            text = (
                f"went on to step {self._position}" if n is not None else f"stopped at the step limit ({MAX_STEPS:,})"
            )
            self._stop = attrs.evolve(stop, kind="stopped" if n is not None else "limit", text=text)
        return self._stop

    def _after_silently(self, pos: int, idx: int) -> StepInfo:
        self._last = StepInfo(pos, self._tl.names[idx], self._machine.last_label, tuple(self._events))
        return self._last

    def run(self, limit: int = 1_000_000) -> StopReason:
        """Run to the end ignoring breakpoints (the CLI's `check`, benchmarks)."""
        tl = self._tl
        last = (-1, -1)
        if self._position < min(limit, len(tl)):  # first the recorded future, through the replay loop
            self._travel(min(limit, len(tl)))
            last = (self._position - 1, tl.thread_at(self._position - 1))
            self._events = list(self._last.events) if self._last is not None else []
        # Then new steps, in a tight loop: this is the simulator's hot path (recording, not replaying).
        m = self._machine
        step, choose = m.step, self._strategy.choose
        add_choice, add_label = tl._choices.append, tl._labels.append
        label_id, every = LABEL_ID, self._every
        boundary = tl._boundary
        strategy = self._strategy
        pos = self._position
        while pos < limit:
            idx = choose(m)
            if idx is None:
                break
            events = step(idx)
            add_choice(idx)
            add_label(label_id[m.last_label])
            if events:
                for mk in marks_of(pos, events, m.last_label):
                    tl._marks.append(mk)
            last = (pos, idx)
            self._events = events
            pos += 1
            if not pos % every:
                boundary(m, pos, strategy)
        self._position = pos
        if last[1] >= 0:
            self._after_silently(*last)
        if self.finished():
            self._stop = self._end_reason()
        else:
            self._stop = StopReason("limit", self._position, f"stopped after {counted(self._position, 'step')} (limit)")
        return self._stop

    def reverse_continue(self, interrupted: Callable[[], bool] | None = None) -> StopReason:
        """Back to the most recent earlier point where a breakpoint fires, or to the start."""
        start = self._position
        active = self._bps.active()
        if active and all(b.kind in ("abort", "violation") and b.condition is None for b in active):
            hit = self._reverse_by_marks(start, active)
        else:
            hit = self._reverse_by_replay(start, interrupted) if active else None
        if hit is None:
            self._travel(0)
            self._stop = StopReason("start", 0, "reverse-continue reached the start: no earlier breakpoint")
            return self._stop
        self._travel(hit)
        last = self._last
        assert last is not None
        # Prime the watches at hit - 1 so that the check sees the change the step made.
        self._bps.prime(self._tl.machine_at(hit - 1))
        fired = self._bps.check(self._machine, last.thread, list(last.events))
        self._bps.prime(self._machine)
        marks = marks_of(last.step, list(last.events), last.label)
        if fired:
            self._stop = attrs.evolve(_stopped(fired, hit), mark=marks[0] if marks else None)
        else:
            self._stop = StopReason("breakpoint", hit, f"breakpoint at step {hit}", mark=marks[0] if marks else None)
        return self._stop

    def _reverse_by_marks(self, start: int, active: list[Breakpoint]) -> int | None:
        for mk in reversed(self._tl.marks):
            if mk.step + 1 >= start:
                continue
            for b in active:
                if b.kind == mk.kind and (not b.match or b.match == mk.what):
                    if b.kind == "violation" or not b.thread or b.thread == mk.thread:
                        return mk.step + 1
        return None

    def _reverse_by_replay(self, start: int, interrupted: Callable[[], bool] | None) -> int | None:
        """Replay segment by segment, newest first, evaluating every breakpoint."""
        tl = self._tl
        names = tl.names
        scratch = tl._take_scratch()
        try:
            hi = start - 1  # the last position that counts is start - 1
            while hi > 0:
                c, _ = tl._restore(scratch, hi - 1)
                self._bps.prime(scratch)
                found = None
                for pos, m, events in tl._walk(scratch, c, hi):
                    if self._bps.check(m, names[tl.thread_at(pos)], events, count=False):
                        found = pos + 1
                if found is not None:
                    return found
                hi = c
                if interrupted is not None and interrupted():
                    return None
            return None
        finally:
            tl._spare.append(scratch)

    # ------------------------------------------------- one thread: until, finish
    def next_label(self, thread: int | str) -> str:
        """The label `thread` runs next: its pc, or where its next operation starts ("" when done)."""
        t = self._machine.threads[self.thread_index(thread)]
        if t.state == DONE:
            return ""
        ops = self._machine.ops[t.index]
        return t.pc or (OP_ENTRY.get(ops[t.op_index].kind, "") if t.op_index < len(ops) else "")

    def run_thread_until(
        self,
        thread: int | str,
        label: str,
        limit: int | None = None,
        interrupted: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> StopReason:
        """Step only `thread` until its next step is `label` (a schedule's `T until LABEL`: at
        least one step, so from `label` it runs to the next time), or, as gdb's `advance` stops
        when the frame returns, until its current operation completes; it blocking, a
        breakpoint, `limit` steps or `interrupted()` stop it sooner."""
        if label not in LABEL_ID:
            raise SessionError(f"no step is labelled {label!r}")
        op, what = self._op_of(thread)

        def reached(t: Thread, n: int) -> tuple[str, str] | None:
            if self.next_label(t.index) == label:
                return "reached", f"{t.name} ran {counted(n, 'step')} to {label}"
            if (t.op_index, t.iteration) != op or t.state == DONE:
                return "returned", f"{t.name} finished {what} without reaching {label} ({counted(n, 'step')})"
            return None

        return self._run_thread(thread, reached, limit, interrupted, progress)

    def finish(
        self,
        thread: int | str,
        limit: int | None = None,
        interrupted: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> StopReason:
        """Step only `thread` until its current fault returns (inside one: `history.in_fault`),
        else until its current operation completes (between two: the next one), as gdb's `finish`
        runs to the end of the frame; it blocking, a breakpoint, `limit` or `interrupted()` stop it sooner."""
        op, what = self._op_of(thread)
        fault = in_fault(self._machine.threads[self.thread_index(thread)])

        def returned(t: Thread, n: int) -> tuple[str, str] | None:
            ran = counted(n, "step")
            if (t.op_index, t.iteration) != op or t.state == DONE:
                result = t.result.removeprefix(f"{what}: ")  # (finish_op writes "OP: RESULT")
                return "returned", f"{t.name} finished {what} at step {self._position} ({ran}) → {result}"
            if fault and not in_fault(t):
                return (
                    "returned",
                    f"{t.name} finished its fault at step {self._position} ({ran}); next {self.next_label(t.index)}",
                )
            return None

        return self._run_thread(thread, returned, limit, interrupted, progress)

    def _op_of(self, thread: int | str) -> tuple[tuple[int, int], str]:
        """Which operation `thread` is in (or starts next), as (op index, iteration), and its text."""
        t = self._machine.threads[self.thread_index(thread)]
        ops = self._machine.ops[t.index]
        return (t.op_index, t.iteration), ops[t.op_index].text if t.op_index < len(ops) else "its operation"

    def _run_thread(
        self,
        thread: int | str,
        goal: Callable[[Thread, int], tuple[str, str] | None],
        limit: int | None,
        interrupted: Callable[[], bool] | None,
        progress: Callable[[int], None] | None,
    ) -> StopReason:
        """Step `thread` alone until `goal(thread, steps taken)` gives the stop's kind and text, it
        blocks or has finished, or a breakpoint fires (checked as `continue_` checks them)."""
        idx = self.thread_index(thread)
        name = self.names[idx]
        m = self._machine
        bps = self._bps
        bps.prime(m)
        check = bps.check if bps.active() else None
        n = 0
        while True:
            t = m.threads[idx]
            if t.state == BLOCKED:  # (before the goal: a thread blocked at the label has not run it)
                ran = f"{name} ran {counted(n, 'step')} and" if n else name
                self._stop = StopReason("blocked", self._position, f"{ran} is blocked: {_waits(m, t)}")
                return self._stop
            said = goal(t, n) if n else None
            if said is not None:
                self._stop = StopReason(said[0], self._position, said[1])
                return self._stop
            if t.state == DONE:
                self._stop = StopReason("done", self._position, f"{name} has finished: nothing is left to run")
                return self._stop
            if limit is not None and n >= limit:
                text = f"stopped after {counted(n, 'step')} of {name} (limit)"
                self._stop = StopReason("limit", self._position, text)
                return self._stop
            pos = self._position
            events = self._step_of(idx)
            n += 1
            info = self._after_silently(pos, idx)
            if check is not None:
                fired = check(m, name, events)
                if fired:
                    self._stop = self._reason_for(info, fired)
                    return self._stop
            if not n % 512:
                if progress is not None:
                    progress(self._position)
                if interrupted is not None and interrupted():
                    self._stop = StopReason("interrupted", self._position, f"interrupted at step {self._position}")
                    return self._stop

    # ------------------------------------------------------------ branches
    def switch_branch(self, bid: int) -> StopReason:
        """Return to a saved timeline; the current one is saved in its place."""
        tl = self._tl
        b = next((x for x in tl.branches if x.id == bid), None)
        if b is None:
            raise SessionError(f"no branch {bid}")
        common = tl._common_prefix(b)
        if self._position > common:
            self._travel(common)
        tl._switch(b, common)
        self._stop = StopReason(
            "stopped", self._position, f"switched to branch {b.id} (its future starts at step {common + 1})"
        )
        return self._stop

    # ----------------------------------------------------------- bookmarks
    @property
    def bookmarks(self) -> dict[str, int]:
        """Named positions (a copy), in the order they were set."""
        return dict(self._bookmarks)

    def add_bookmark(self, name: str, step: int | None = None, branch: int | None = None) -> int:
        """Name position `step` (default: here) of timeline `branch` (default: this one); a name
        already taken moves. Returns the step."""
        name = name.strip()
        problem = bookmark_name_problem(name)
        if problem:
            raise SessionError(problem)
        n = self._position if step is None else step
        # Bookmarks are positions, kept over restarts and shared by every timeline: one past
        # the recorded steps (another branch's, or a run not yet that long) is reached by running on.
        if not 0 <= n <= MAX_STEPS:
            raise SessionError(f"step {n:,} is outside every run (0 to the step limit, {MAX_STEPS:,})")
        self._bookmarks[name] = n
        self._bookmark_branch[name] = self._tl.branch_id if branch is None else branch
        return n

    def remove_bookmark(self, name: str) -> None:
        self.bookmark(name)
        del self._bookmarks[name]
        self._bookmark_branch.pop(name, None)

    def bookmark_branch(self, name: str) -> int:
        """The timeline (branch id) bookmark `name` was set on."""
        self.bookmark(name)
        return self._bookmark_branch.get(name, self._tl.branch_id)

    def bookmark_note(self, name: str) -> str | None:
        """Why bookmark `name` may not be the state it was set on here: it was set on another
        timeline, which differs from this one before its step (None: the same state)."""
        step, bid = self.bookmark(name), self.bookmark_branch(name)
        tl = self._tl
        if bid == tl.branch_id:
            return None
        other = next((b for b in tl.branches if b.id == bid), None)
        if other is None:
            return f"bookmark {name!r} was set on branch {bid}, which is gone: step {step} here may be another state"
        limit = min(step, len(other), len(tl))
        same = next((i for i in range(limit) if other.thread_at(i) != tl.thread_at(i)), limit)
        if same >= step:
            return None
        if same == limit and limit == len(tl):  # (this timeline has not got that far yet)
            return f"bookmark {name!r} was set on branch {bid}: step {step} here may be another state"
        return f"bookmark {name!r} was set on branch {bid}, which differs from this one from step {same + 1}: step {step} here is another state"

    def bookmark(self, name: str) -> int:
        """The step bookmarked as `name`; SessionError (with a did-you-mean) if there is none."""
        if name in self._bookmarks:
            return self._bookmarks[name]
        import difflib

        close = difflib.get_close_matches(name, list(self._bookmarks), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = f" (bookmarks: {', '.join(self._bookmarks)})" if self._bookmarks else " (there are no bookmarks)"
        raise SessionError(f"no bookmark {name!r}{hint}{known}")

    # ------------------------------------------------ timelines as data
    def saved_timelines(self) -> tuple[SavedTimeline, ...]:
        """This timeline and every saved branch, by branch id."""
        tl = self._tl
        out = [SavedTimeline(tl.branch_id, tuple(tl._choices), frozenset(tl._manual))]
        out += [SavedTimeline(b.id, tuple(b._choices), frozenset(b._manual)) for b in tl.branches]
        return tuple(sorted(out, key=lambda t: t.id))

    def follow(self, threads: Sequence[int], manual: Collection[int] | None = None, branch: bool = False) -> int:
        """Make this timeline run `threads` (a thread index per step) from the start.

        The steps it already records are kept; where `threads` leaves them a new
        branch starts, as if the user had stepped it (`branch`: one starts there
        even when nothing differs). A step is the strategy's when the strategy
        chooses it (and `manual`, if given, does not list it), else a manual one.
        Returns how many steps `manual` says were the strategy's but no longer
        are (the scenario's schedule or seed changed). Breakpoints do not fire.
        """
        names = self._tl.names
        for pos, idx in enumerate(threads):
            if not 0 <= idx < len(names):
                raise SessionError(f"step {pos + 1}: no thread #{idx + 1}; there are {len(names)}")
        tl = self._tl
        common = 0
        limit = min(len(tl), len(threads))
        while common < limit and tl.thread_at(common) == threads[common]:
            common += 1
        self._travel(common)
        if branch or common < min(len(tl), len(threads)):
            tl._cut_branch(common)
        m, strategy, drifted = self._machine, self._strategy, 0
        for pos in range(self._position, len(threads)):
            idx = threads[pos]
            t = m.threads[idx]
            if t.state != RUNNABLE:
                why = "finished" if t.state == DONE else f"blocked on {t.blocked_on}"
                raise SessionError(f"step {pos + 1}: {t.name} cannot run: it is {why}")
            by_hand = manual is not None and pos in manual
            if not by_hand:
                before = strategy.state
                if strategy.choose(m) != idx:
                    strategy.set_state(before)
                    by_hand = True
                    drifted += manual is not None
            if by_hand:
                strategy.observe(m, idx)
            self._events = self._record(idx, manual=by_hand)
        self._travel(len(threads))
        if self._position and (self._last is None or self._last.step != self._position - 1):
            self._after_silently(self._position - 1, tl.thread_at(self._position - 1))
        self._bps.prime(m)
        self._stop = StopReason("stopped", self._position, f"at step {self._position}")
        return drifted

    def restore_timelines(self, timelines: Sequence[SavedTimeline], current: int) -> int:
        """Rebuild saved timelines from the start (the session's own timeline is dropped).

        They are rebuilt in id order and numbered 0, 1, 2, … in that order; the
        one whose id is `current` becomes this timeline, at its start. Returns
        how many recorded strategy steps the strategy no longer takes (see `follow`).
        """
        self._reset()
        drifted = 0
        ids: dict[int, int] = {}
        for k, saved in enumerate(sorted(timelines, key=lambda t: t.id)):
            if k:
                best = max(
                    [(self._shared(self._tl._choices, saved.threads), -1)]
                    + [(self._shared(b._choices, saved.threads), b.id) for b in self._tl.branches],
                    key=lambda c: c[0],
                )
                if best[1] >= 0:
                    self.switch_branch(best[1])
            drifted += self.follow(saved.threads, saved.manual, branch=k > 0)
            ids[saved.id] = self._tl.branch_id
        if current in ids and ids[current] != self._tl.branch_id:
            self.switch_branch(ids[current])
        self.goto(0)
        return drifted

    @staticmethod
    def _shared(a: Sequence[int], b: Sequence[int]) -> int:
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        return n
