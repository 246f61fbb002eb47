"""The explorer: search a scenario's interleavings for oracle violations.

`explore(scenario, policy)` ignores the scenario's fixed schedule and
searches every interleaving of its threads. For each oracle kind it gives a
herd7-style verdict: "sometimes" (an execution reports it), "never" (the
search was complete and none did) or "unknown" (the search was cut). For
each "sometimes" it keeps a counterexample with the fewest preemptions.

Searches
    exhaustive  stateful depth-first search. States are fingerprinted
                (`por.Fingerprinter`) and not re-explored; sleep sets prune
                transitions that commute with ones already explored
                (`footprint.Footprint`). Sleep sets with state caching are combined
                soundly: a revisited state is pruned only if it was explored
                with a sleep set contained in the current one, otherwise the
                transitions asleep then but awake now are explored (Godefroid
                1996, ch. 5). Fingerprints are of a canonical form
                (symmetry.py: pfn renaming and history-only fields), and a
                thread's thread-local steps join its next step in one
                transition (`merge_local`). A step seen before from a state
                that agrees on what it reads is replayed, not run
                (stepcache.py). Complete unless `max_states`/`timeout` cut it.
    bounded     preemption-bounded search with iterative deepening: bound 0,
                1, 2, ... so the first counterexample for a kind has the
                fewest preemptions (a preemption switches away from a thread
                that could have continued). States are cached per (state,
                last thread) with the preemption budget left.
    auto        answers first: bounded with bounds 0 and 1 (each kind found
                is reported at once through `found`), then the exhaustive
                proof for the verdicts, then bounded with higher bounds for
                each kind found only there, so every counterexample has the
                fewest preemptions. With `first`: the same, stopping at the
                first violation.
    random/pct  seeded random or PCT schedules (see `sampling.py`); the
                counterexamples they find are then shortened by the bounded
                search (fewest preemptions).

Determinism: the search order depends only on the scenario (thread order,
fingerprints are value-based). Only the limits (`timeout`, cancellation)
read a clock; a cut search says so and gives "unknown".

Headless: standard library and attrs only.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.events import Event, Violation
from ..scenario.model import POLICIES, Scenario
from . import narrate as story
from . import user_oracles
from .estimate import Estimate
from .footprint import MAX_LOCAL_RUN, Footprint, KernelTracker
from .limits import EXPLORE_MAX_STATES
from .narrate import Counterexample, Progress, Result, entries_of, seconds_left, verdicts
from .por import SEARCH_LOCK, Fingerprinter, SnapshotMismatch, fewer_collections, m_runnable, restore_changed
from .stepcache import StepCache, StepCacheMismatch
from .store import CompactStore
from .symmetry import Canonicaliser
from .user_oracles import build_machine

__all__ = ["Counterexample", "ExploreError", "Progress", "Result", "entries_of", "explore", "verdicts"]

CHECK_EVERY = 256  # transitions between looks at the clock / cancellation
REPORT_EVERY = 0.1  # seconds between progress reports
SAVE_SHARE = 10  # checkpoints are at least this many times their own writing time apart

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from .resume import CheckpointFile

MODES = ("auto", "exhaustive", "bounded", "random", "pct")
DEFAULT_MAX_STATES = EXPLORE_MAX_STATES


class ExploreError(ValueError):
    """Bad explorer arguments (unknown policy or mode, negative limits)."""


class Search:
    """Shared machinery: the machine, limits, found violations, progress."""

    def __init__(
        self,
        sc: Scenario,
        *,
        max_states: int,
        timeout: float | None,
        progress: Callable[[Progress], None] | None,
        cancelled: Callable[[], bool] | None,
        reduction: bool = True,
        local: bool = True,
        compact: bool = False,
        symmetry: bool = True,
        found: Callable[[str, str, float], None] | None = None,
        cache: bool = True,
    ) -> None:
        self.sc = sc
        self.on_found = found  # called with (kind, phase, seconds) when a kind is first found
        self.checkpoint: CheckpointFile | None = None  # where the exhaustive search saves itself
        self.checkpoint_every = 10.0  # seconds between checkpoints
        self.ident = ""  # resume.identity of this search
        self.resumed: dict[str, Any] | None = None  # a loaded checkpoint, consumed by _exhaustive
        self.saver: Callable[[], dict[str, Any]] | None = None  # the running exhaustive search's state
        self._next_save = 0.0
        self.save_seconds = 0.0  # how long the last checkpoint took to write
        self.saved_at: float | None = None  # when the last one was written
        self.save_error = ""  # why the last try failed ("" when it did not)
        self.save_tried = False  # whether a save was tried at all
        self.saved_states: int | None = None  # the states in the last checkpoint written
        self.resumed_states: int | None = None  # the states in the checkpoint resumed from
        self.m: Machine = build_machine(sc)
        self.names = [t.name for t in self.m.threads]
        self.snap0 = self.m.snapshot()
        self.notes: list[str] = []
        off = user_oracles.reductions_off(sc, symmetry=symmetry, local=local, cache=cache)
        for what, why in off.items():
            self.notes.append(f"{what} off: {why}")
        symmetry = symmetry and "symmetry" not in off
        local = local and "thread-local merging" not in off
        cache = cache and "step cache" not in off
        self.symmetry = symmetry
        canon = Canonicaliser(self.snap0) if symmetry else None
        self.fingerprint = Fingerprinter(digest_size=8 if compact else 16, as_int=compact, canon=canon)
        self.compact = compact
        self.tracker = KernelTracker(self.m, enabled=reduction or local)
        self.reduction = reduction and self.tracker.enabled
        # Merge thread-local steps (a singleton persistent set); needs measured footprints.
        self.local = local and self.tracker.enabled
        # Steps replayed from what they read (stepcache.py); needs measured footprints.
        self.step_cache = StepCache() if cache and self.tracker.enabled else None
        self.shortcuts_off: set[str] = set()  # "step cache", "incremental snapshots": after a mismatch
        self.extra: dict[str, Any] = {}  # more figures for Result.extra (the partitioned search's)
        self.visited: Any = {}  # fingerprint -> sleep mask: a dict, or a store.CompactStore
        if (reduction or local) and not self.tracker.enabled:
            self.notes.append("reductions off: the machine's snapshot layout is not the one por.py knows")
        self.max_states = max_states
        self.t0 = time.monotonic()
        self.deadline = None if timeout is None else self.t0 + timeout
        self.progress = progress
        self.cancelled = cancelled
        self.found: dict[str, tuple[tuple[int, ...], int | None, str, str, str]] = {}
        self.found_seconds: dict[str, float] = {}
        self.phase = ""
        self._phase_seen = ""  # the phase the estimate's clock runs for
        self._phase_t0 = self.t0
        self._done_seen = 0.0  # the estimate when it last moved a point, and when
        self._done_moved = self.t0
        self.estimate: Estimate | None = None  # the running DFS's (estimate.py)
        self.path: list[int] = []  # the running DFS's choices to its top node
        self._next_report = 0.0
        self._budget = CHECK_EVERY

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def push(self, stats: Stats, stack: list[list[Any]], path: list[int], node: list[Any], t: int) -> None:
        """Descend into a child node reached by running thread t."""
        stack.append(node)
        path.append(t)
        if len(stack) > stats.max_depth:
            stats.max_depth = len(stack)

    def tick(self, stats: Stats, stack: list[list[Any]]) -> None:
        """After each transition: the state cap, and every CHECK_EVERY the other limits and progress."""
        self._budget -= 1
        if not self._budget:
            self._budget = CHECK_EVERY
            est = self.estimate
            done = est.done(stack, self.path) if est is not None and self.progress is not None else None
            self.check(stats, len(stack), sum(len(n[1]) for n in stack), done)
        if stats.states >= self.max_states:
            self.save()
            raise Stop("max-states")

    def check(self, stats: Stats, depth: int, frontier: int, done: float | None = None) -> None:
        """Called every CHECK_EVERY transitions: limits, cancellation, progress
        (`done`: the estimated share of this phase behind it, estimate.py)."""
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            self.save()
            raise Stop("timeout")
        if self.cancelled is not None and self.cancelled():
            self.save()
            raise Stop("interrupted")
        if self.checkpoint is not None and self.saver is not None and now >= self._next_save:
            self.save()
        if self.phase != self._phase_seen:
            self._phase_seen, self._phase_t0 = self.phase, now
            self._done_seen, self._done_moved = 0.0, now
        if self.progress is not None and now >= self._next_report:
            self._next_report = now + REPORT_EVERY
            self.progress(
                Progress(
                    self.sc.policy,
                    self.phase,
                    stats.states,
                    stats.transitions,
                    depth,
                    frontier,
                    now - self.t0,
                    tuple(sorted(self.found)),
                    done,
                    self.left(done, now),
                    None if self.saved_at is None else max(0.0, now - self.saved_at),
                    self.save_error,
                )
            )

    def left(self, done: float | None, now: float) -> float | None:
        """The phase's seconds left, at its rate so far; none while the estimate
        is stuck (it has not moved a point for a quarter of the phase): a time
        that only grows would mislead (estimate.py says when that happens)."""
        if done is None:
            return None
        if done >= self._done_seen + 0.01:
            self._done_seen, self._done_moved = done, now
        elapsed = now - self._phase_t0
        if now - self._done_moved > max(5.0, elapsed / 4):
            return None
        return seconds_left(done, elapsed)

    def save(self) -> None:
        """Write a checkpoint of the exhaustive search (called between transitions only).
        The next one is due after `checkpoint_every` seconds, or ten times as long as
        this one took, whichever is later: a large search spends at most about a
        tenth of its time saving itself. Ctrl-C and SIGTERM wait until the file is
        written (a second Ctrl-C during the last save interrupts once it is whole)."""
        if self.checkpoint is None or self.saver is None:
            return
        from .files import WriteError
        from .resume import held_signals, states_in

        with held_signals():
            t0 = time.monotonic()
            self.save_tried = True
            try:
                payload = self.saver()
                self.checkpoint.save(self.ident, payload)
            except WriteError as e:  # (a full disk): the search goes on, the last checkpoint stays whole
                self.save_error = str(e)
                note = f"checkpoint not written: {e}"
                if note not in self.notes:
                    self.notes.append(note)
            else:
                self.saved_at, self.save_error = time.monotonic(), ""
                self.saved_states = states_in(payload)
            now = time.monotonic()
            self.save_seconds = now - t0
            self._next_save = now + max(self.checkpoint_every, SAVE_SHARE * self.save_seconds)

    def checkpoint_report(self, resumed_here: bool) -> dict[str, Any]:
        """Where the search was saved and what that file holds now (`resumed_here`: the file is
        the one the search resumed from): `written` is true when the last save succeeded;
        `holds` says whose data is there: "this search" (its last good save: `states`, `age`),
        "resumed" (the checkpoint it resumed from, untouched), "before" (a file that was
        there before the search, not its progress), "another" (another program wrote it
        since), "none"."""
        from .resume import age_of

        assert self.checkpoint is not None
        ck = self.checkpoint
        there = ck.on_disk()
        written = self.save_tried and not self.save_error
        states: int | None = None
        age: float | None = None
        if there == "mine" and self.saved_at is not None:
            holds, states, age = "this search", self.saved_states, round(time.monotonic() - self.saved_at, 1)
        elif there == "mine" and resumed_here:
            holds, states, age = "resumed", self.resumed_states, age_of(ck.path)
        elif there == "mine":
            holds = "before"
        elif there == "changed":
            holds = "another"
        else:
            holds = "this search" if written else "none"  # (a save that wrote nothing: only in tests' stand-ins)
        if age is not None:
            age = round(age, 1)
        return {
            "file": ck.path, "written": written, "holds": holds, "states": states, "age": age,
            "error": self.save_error or None,
        }  # fmt: skip

    def note(self, events: list[Event], path: list[int], t: int, preemptions: int | None) -> None:
        """Record the violations in a step's events: the first find per kind, or one
        with fewer preemptions (None: not counted yet)."""
        for e in events:
            if not isinstance(e, Violation):
                continue
            kind = e.oracle
            old = self.found.get(kind)
            if old is None or (preemptions is not None and (old[1] is None or preemptions < old[1])):
                self.found[kind] = ((*path, t), preemptions, e.thread, e.detail, self.m.last_label)
                if kind not in self.found_seconds:
                    self.found_seconds[kind] = self.elapsed()
                    if self.on_found is not None:
                        self.on_found(kind, self.phase, self.found_seconds[kind])


def preemptions_of(m: Machine, snap0: tuple[Any, ...], choices: tuple[int, ...] | list[int]) -> int:
    """Count the preemptions of a choice sequence (replays it on `m`)."""
    m.restore(snap0)
    last = -1
    n = 0
    for c in choices:
        if last >= 0 and c != last and last in m.runnable():
            n += 1
        m.step(c)
        last = c
    return n


@attrs.define
class Stats:
    """Counters of one search phase."""

    states: int = 0
    transitions: int = 0
    schedules: int = 0
    max_depth: int = 0
    merged: int = 0  # states where a thread-local step was the only one explored


class Stop(Exception):
    """A limit was reached; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------- exhaustive
@fewer_collections()
def exhaustive(s: Search, stats: Stats, first: bool = False) -> None:
    """Stateful DFS with sleep sets (when `s.reduction`); raises Stop at a limit
    (and, with `first`, at the first violation)."""
    with SEARCH_LOCK:
        try:
            _exhaustive(s, stats, first)
        finally:
            s.estimate = None


def _exhaustive(s: Search, stats: Stats, first: bool) -> None:
    m = s.m
    fpr = s.fingerprint
    tracker = s.tracker
    reduce = s.reduction
    local = s.local
    cache = s.step_cache
    snap0 = s.snap0
    r = s.resumed
    if r is None:
        m.restore(snap0)
        cur = snap0  # the snapshot of the state the machine holds
        key0 = fpr(snap0)
        visited: Any = CompactStore(len(m.threads)) if s.compact else {}
        visited[key0] = 0
        on_stack: dict[Any, int] = {key0: 1}  # (kept for the checkpoint format)
        stats.states = 1
        # A node: [snapshot, threads left to try (reversed), sleep set {thread: footprint},
        #          fingerprint, the threads it tries in order (estimate.py),
        #          how many choices reached it (a transition with merged thread-local steps: several)]
        run0 = m.runnable()
        stack: list[list[Any]] = [[snap0, run0[::-1], {}, key0, run0, 0]]
        path: list[int] = []
        estimate = Estimate(len(m.threads))
    else:  # a checkpoint (resume.py): the search as it was between two transitions
        s.resumed = None
        visited, on_stack, stack, path, estimate = r["visited"], r["on_stack"], r["stack"], r["path"], r["estimate"]
        for k, v in r["stats"].items():
            setattr(stats, k, v)
        cur = stack[-1][0] if stack else snap0
        m.restore(cur)
    s.visited = visited
    s.estimate = estimate
    s.path = path
    s.saver = lambda: {
        "visited": visited, "on_stack": on_stack, "stack": stack, "path": path, "estimate": estimate,
        "stats": attrs.asdict(stats),
        "found": s.found, "found_seconds": s.found_seconds,
    }  # fmt: skip
    if r is None and stats.states >= s.max_states:  # (--max-states 1: the initial state is all of it)
        s.save()
        raise Stop("max-states")
    while stack:
        node = stack[-1]
        todo = node[1]
        if not todo:
            stack.pop()
            k = node[3]
            if on_stack[k] == 1:
                del on_stack[k]
            else:
                on_stack[k] -= 1
            if node[5]:
                del path[-node[5] :]
            continue
        t = todo.pop()
        sleep: dict[int, Footprint] = node[2]
        fp: Footprint | None = None
        hit = cache.replay(node[0], t) if cache is not None else None
        if hit is not None:
            snap, fp, steps = hit  # replayed: the machine stays where it is
            stats.transitions += steps
            stats.merged += steps - 1
        else:
            if cur is not node[0]:
                restore_changed(m, cur, node[0])
            # The footprint matters to filter or join a sleep set, to merge thread-local
            # steps, and to check a replayed step.
            nrep = len(m.reported)  # a violation is reported once: it grows the set
            if local or (reduce and (bool(sleep) or bool(todo))) or (cache is not None and cache.audited is not None):
                events, snap, fp = tracker.step(node[0], t)
            else:
                events = m.step(t)
                snap = m.snapshot()
            stats.transitions += 1
            if len(m.reported) != nrep:
                s.note(events, path, t, None)
                if first:
                    raise Stop("found")
            steps = 1
            if local and fp is not None and fp.local:
                snap, fp, steps = merge_local(s, stats, first, snap, fp, t, path)
            if cache is not None:
                cache.learn(node[0], t, snap, fp, steps)
            cur = snap
        child_sleep: dict[int, Footprint] = {}
        mask = 0
        key = fpr(snap)
        if fp is not None:
            if sleep:  # (empty without sleep sets)
                for u, f in sleep.items():
                    if not f.conflicts(fp):
                        child_sleep[u] = f
                        mask |= 1 << u
            if todo and reduce:
                sleep[t] = fp
        old = visited.get(key)
        run: list[int] | None
        if old is None:
            visited[key] = mask
            stats.states += 1
            run = [u for u in m_runnable(snap) if not (mask >> u) & 1]
        elif old & ~mask == 0:
            stats.schedules += 1  # explored before with no more asleep: nothing new here
            run = None
        else:
            visited[key] = old & mask
            run = [u for u in m_runnable(snap) if (old >> u) & 1 and not (mask >> u) & 1]
        if run is not None:
            if run:
                on_stack[key] = on_stack.get(key, 0) + 1
                stack.append([snap, run[::-1], child_sleep, key, run, steps])
                path.extend([t] * steps)
                if len(stack) > stats.max_depth:
                    stats.max_depth = len(stack)
            else:
                stats.schedules += 1
                if old is None and not mask:  # no thread can run: an execution's end
                    estimate.ended([*path, *[t] * steps])
        s.tick(stats, stack)


def merge_local(
    s: Search, stats: Stats, first: bool, child: tuple[Any, ...], fp: Footprint, t: int, path: list[int]
) -> tuple[tuple[Any, ...], Footprint, int]:
    """Thread t's step that led to `child` (the machine holds it) was
    thread-local: go on with t until it takes a step that is not, and make
    them one transition (SPIN's statement merging). `path` leads to the
    state before t's first step.

    A thread-local step (`Footprint.local`: it reads and writes only its own
    thread's state and leaves the thread runnable) is independent of every
    step of every other thread, and no other step can change what it reads
    (only a wake writes another thread's state, and t is runnable): any
    execution can postpone it to just before t's next step without changing
    what any step reads, so the states where t has taken it and not yet its
    next step are no interleaving points (the debugger still shows every
    step). The transition "t's thread-local steps, then its next step" is a
    function of the state, so this changes the transition system, not the
    search: the visited states do not depend on the search order, and the
    DFS and the partitioned search (parallel.py) visit the same ones. The
    transition's footprint is its last step's (the others touch only t).

    Returns the state after the last step, its footprint, and how many steps
    the transition took (a counterexample repeats t that many times).
    """
    m = s.m
    tracker = s.tracker
    steps = 1
    while fp.local:
        nrep = len(m.reported)
        events, child, fp = tracker.step(child, t)
        stats.transitions += 1
        stats.merged += 1
        if len(m.reported) != nrep:  # (a step that reports is never thread-local: the last)
            s.note(events, [*path, *[t] * steps], t, None)
            if first:
                raise Stop("found")
        steps += 1
        if steps > MAX_LOCAL_RUN:
            raise RuntimeError(f"thread {t} took {MAX_LOCAL_RUN} thread-local steps in a row: a loop in a kernel path")
    return child, fp, steps


# ---------------------------------------------------------------- bounded
@fewer_collections()
def bounded(s: Search, stats: Stats, bound: int, want: frozenset[str] | None = None) -> bool:
    """Preemption-bounded DFS; True when the bound cut nothing (the search was complete).

    With `want`, raises Stop("found") as soon as every kind in it has been
    found (an empty `want`: at the first violation).
    """
    while True:
        try:
            return _bounded(s, stats, bound, want)
        except SnapshotMismatch as e:
            shortcut_off(s, e)
            for k, v in attrs.asdict(Stats()).items():
                setattr(stats, k, v)


def _bounded(s: Search, stats: Stats, bound: int, want: frozenset[str] | None) -> bool:
    m = s.m
    fpr = s.fingerprint
    snap0 = s.snap0
    tracker = s.tracker
    # The exhaustive search's step cache, shared: bound b+1 meets bound b's states
    # again, and the exhaustive search after the warm-up meets them all. A
    # transition here is one step, so entries of merged thread-local steps are
    # not replayed and, with merging on, a thread-local step is not stored
    # (the exhaustive search would replay it unmerged).
    cache = s.step_cache
    m.restore(snap0)
    cur = snap0  # the snapshot of the state the machine holds
    visited: dict[tuple[bytes, int], int] = {(fpr(snap0), -1): bound}
    stats.states += 1
    if stats.states >= s.max_states:  # (--max-states 1: the initial state is all of it)
        raise Stop("max-states")
    cut = False

    def children(r: list[int], last: int, left: int) -> list[tuple[int, int]]:
        nonlocal cut
        if last in r:
            kids = [(last, 0)]
            if left > 0:
                kids += [(u, 1) for u in r if u != last]
            elif len(r) > 1:
                cut = True
            return kids
        return [(u, 0) for u in r]

    # A node: [snapshot, children left (reversed), last thread, budget left]
    stack: list[list[Any]] = [[snap0, children(m_runnable(snap0), -1, bound)[::-1], -1, bound]]
    path: list[int] = []
    while stack:
        node = stack[-1]
        todo = node[1]
        if not todo:
            stack.pop()
            if path:
                path.pop()
            continue
        t, cost = todo.pop()
        hit = cache.replay(node[0], t, single=True) if cache is not None else None
        if hit is not None:
            snap = hit[0]
        else:
            if cur is not node[0]:
                restore_changed(m, cur, node[0])
            nrep = len(m.reported)
            if cache is not None:
                events, snap, fp = tracker.step(node[0], t)
                cache.learn(node[0], t, snap, fp, 1, store=not (s.local and fp.local))
            else:
                events = m.step(t)
                snap = m.snapshot()
            cur = snap
            if len(m.reported) != nrep:
                s.note(events, path, t, bound - node[3] + cost)
                if want is not None and want <= s.found.keys():
                    raise Stop("found")
        stats.transitions += 1
        left = node[3] - cost
        run = m_runnable(snap)
        last = t if len(run) > 1 and t in run else -1  # (else who ran last changes no choice's cost)
        key = (fpr(snap), last)
        if visited.get(key, -1) >= left:
            stats.schedules += 1
        else:
            if key not in visited:
                stats.states += 1
            visited[key] = left
            kids = children(run, last, left)
            if kids:
                s.push(stats, stack, path, [snap, kids[::-1], t, left], t)
            else:
                stats.schedules += 1
        s.tick(stats, stack)
    m.restore(snap0)
    return not cut


# ---------------------------------------------------------- orchestration
def _check_args(
    policy: str, mode: str, max_states: int, timeout: float | None, bound: int | None, runs: int, depth: int, jobs: int
) -> None:
    if policy not in POLICIES:
        raise ExploreError(f"unknown policy '{policy}' (expected one of: {', '.join(POLICIES)})")
    if mode not in MODES:
        raise ExploreError(f"unknown mode '{mode}' (expected one of: {', '.join(MODES)})")
    if max_states < 1:
        raise ExploreError(f"max_states must be at least 1, not {max_states}")
    if timeout is not None and timeout <= 0:
        raise ExploreError(f"timeout must be positive, not {timeout}")
    if bound is not None and bound < 0:
        raise ExploreError(f"the preemption bound must be at least 0, not {bound}")
    if runs < 1 or depth < 1 or jobs < 1:
        raise ExploreError("runs, depth and jobs must be at least 1")


def explore(
    scenario: Scenario,
    policy: str | None = None,
    reuse: str | None = None,
    *,
    mode: str = "auto",
    max_states: int = DEFAULT_MAX_STATES,
    timeout: float | None = None,
    bound: int | None = None,
    runs: int = 1000,
    seed: int = 0,
    depth: int = 3,
    jobs: int = 1,
    reduction: bool = True,
    local: bool = True,
    compact: bool = False,
    symmetry: bool = True,
    cache: bool = True,
    first: bool = False,
    narrate: bool = True,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    found: Callable[[str, str, float], None] | None = None,
    checkpoint: str | None = None,
    resume: str | None = None,
    ray: str | None = None,
) -> Result:
    """Explore `scenario` under `policy` (default: the scenario's) and `reuse`.

    mode        auto | exhaustive | bounded | random | pct (module docstring)
    max_states  stop (bounded: "unknown" verdicts) after this many states per phase
    timeout     seconds of wall time for the whole exploration
    bound       bounded: the highest preemption bound tried (default 2);
                with `first`: the bounds tried before the exhaustive search
                (default 1)
    runs, seed  random/pct: how many schedules, from which seed
    depth       pct: the bug depth d (d - 1 priority change points)
    jobs        random/pct: worker processes (same result for any number);
                exhaustive: one search split across `jobs` processes (parallel.py)
    ray         exhaustive: the same split search on a Ray cluster ("local" or an address)
    reduction   sleep-set reduction in the exhaustive search (off: naive)
    local       merge thread-local steps into the step before them (a step that
                touches only its own thread's state is no interleaving point:
                `merge_local`)
    symmetry    canonical fingerprints (symmetry.py): states equal up to a renaming
                of pfns and other details no step can tell apart are one state
    compact     hash compaction: store 8-byte state digests instead of 16
                (the result gives the collision-probability estimate)
    cache       replay a step seen before from what it read instead of running
                it (stepcache.py): the same search, faster
    first       stop at the first violation (SPIN/TLC style): small bounds
                first, so it has few preemptions; other kinds stay "unknown"
                (without it, auto mode searches bounds 0..`bound`, default 1,
                before the exhaustive proof too: answers first)
    progress    called with a `Progress` about ten times a second
    found       called with (kind, phase, seconds) as soon as a kind is first found
    checkpoint  a file the exhaustive search saves itself to every 10 s and when
                it stops at a limit or is cancelled (resume.py)
    resume      a checkpoint file to continue from (the same search: scenario,
                policy, reuse and options); the bounded warm-up is not repeated
    cancelled   polled; returning True stops the search like a timeout

    Ctrl-C (KeyboardInterrupt) stops the search too: the result says
    `stop == "interrupted"` and keeps what was found.
    """
    sc = scenario.with_policy(policy, reuse)
    _check_args(sc.policy, mode, max_states, timeout, bound, runs, depth, jobs)
    if (checkpoint is not None or resume is not None) and mode not in ("auto", "exhaustive"):
        raise ExploreError(f"checkpoints are of the exhaustive search (mode auto or exhaustive), not mode {mode}")
    if mode in ("random", "pct"):
        from .sampling import random_search

        r = random_search(
            sc, mode=mode, runs=runs, seed=seed, depth=depth, jobs=jobs, timeout=timeout,
            progress=progress, cancelled=cancelled, narrate=False,
        )  # fmt: skip
        if r.counterexamples and r.stop == "runs":  # shorten them: fewest preemptions
            s = Search(sc, max_states=max_states, timeout=timeout, progress=progress, cancelled=cancelled)
            s.found = {k: (c.choices, None, c.thread, c.detail, c.label) for k, c in r.counterexamples.items()}
            try:
                _minimise(s, Stats(), None)
            except (Stop, KeyboardInterrupt):
                pass
            r.counterexamples = counterexamples(s, narrate)
        elif narrate:
            r.counterexamples = {
                k: attrs.evolve(c, narration=story.narrate(sc, c.choices, oracle=k))
                for k, c in r.counterexamples.items()
            }
        return r
    s = Search(
        sc, max_states=max_states, timeout=timeout, progress=progress, cancelled=cancelled,
        reduction=reduction, local=local, compact=compact, symmetry=symmetry, found=found, cache=cache,
    )  # fmt: skip
    search: Callable[[Search, Stats, bool], None] = exhaustive
    split = mode in ("auto", "exhaustive") and (jobs > 1 or ray is not None)
    if split:  # the exhaustive search, split
        if resume is not None and jobs <= 1:
            raise ExploreError(
                "--resume with --ray: give --jobs N, the number of workers the checkpoint was split into"
            )
        if len(s.m.threads) > 255:
            raise ExploreError(f"the split search holds choices in bytes: up to 255 threads, not {len(s.m.threads)}")
        from .parallel import partitioned

        search = functools.partial(partitioned, jobs=jobs, ray=ray, stop=Stop)
    if compact and len(s.m.threads) > 64:
        raise ExploreError(f"--compact stores sleep masks of up to 64 threads; the scenario has {len(s.m.threads)}")
    if checkpoint is not None or resume is not None:
        from . import resume as ckpt
        from .schedule_file import scenario_name

        opts: dict[str, Any] = {
            "reduction": s.reduction, "local": s.local, "compact": compact, "first": first, "symmetry": symmetry,
        }  # fmt: skip
        if split:  # (a search split N ways resumes split N ways: each worker's partition is in the file)
            opts["jobs"] = jobs
        if sc.oracles:  # (not in the scenario's hash; states explored before would go unchecked)
            opts["oracles"] = [f"{o.name}: {o.when}" for o in sc.oracles]
        if sc.fixes_off:  # (nor are the fixes: the same states step on differently without one)
            opts["fixes_off"] = sorted(sc.fixes_off)
        s.ident = ckpt.identity(s.fingerprint(s.snap0), s.m.ops, sc.policy, sc.reuse, opts)
        about = {"scenario": scenario_name(sc), "policy": sc.policy, "reuse": sc.reuse, **opts}
        s.checkpoint = ckpt.CheckpointFile(checkpoint, about) if checkpoint is not None else None
        if resume is not None:
            try:
                s.resumed = ckpt.load(resume, s.ident, about)
            except ckpt.ResumeError as e:
                raise ExploreError(str(e)) from None
            s.resumed_states = ckpt.states_in(s.resumed)
            s.found.update(s.resumed["found"])
            s.found_seconds.update(s.resumed["found_seconds"])
    main = Stats()
    side = Stats()  # the bounded searches that look for counterexamples with few preemptions
    complete = False
    stop = "complete"
    used = "bounded" if mode == "bounded" else "exhaustive"
    reached: int | None = None
    warm_up_forgotten = False
    try:
        if mode == "bounded" or ((mode == "auto" or first) and s.resumed is None):  # answers first: bounds 0, 1
            top = bound if bound is not None else (2 if mode == "bounded" else 1)
            for b in range(top + 1):
                s.phase = f"bounded {b}"
                st = Stats()
                try:
                    done = bounded(s, st, b, frozenset() if first else None)
                except Stop as e:
                    if mode != "auto" or e.reason != "max-states":
                        raise
                    b -= 1  # bound b was not searched through
                    break  # the warm-up outgrew the cap: on to the exhaustive search
                finally:
                    _add(side, st)
                    reached = b
                if done:  # the bound cut nothing: every state was seen
                    main, complete, used = st, True, "bounded"
                    break
            if not complete and mode == "bounded":
                main, stop = side, "bound"
        if mode != "bounded" and not complete:
            s.phase = "exhaustive"
            while True:
                try:
                    search(s, main, first)
                    break
                except SnapshotMismatch as e:
                    shortcut_off(s, e)
                    s.found.clear()
                    warm_up_forgotten = True  # its finds too: bounds 0..reached are searched again
                    main = Stats()
            complete, used = True, "exhaustive"
        if complete:
            _minimise(s, side, None if warm_up_forgotten else reached)  # (the warm-up searched bounds 0..reached)
    except Stop as e:
        stop = e.reason
        if stop == "found":
            try:
                _minimise(s, side, reached)
            except Stop:
                pass
            except KeyboardInterrupt:  # the find stands; the Ctrl-C is the caller's too (shrink stops)
                stop = "interrupted"
    except KeyboardInterrupt:
        stop = "interrupted"
    if (
        not complete and not main.transitions and (side.transitions or not main.states)
    ):  # stopped before the exhaustive search began
        main, used = attrs.evolve(side), "bounded"
    if complete and stop != "complete":
        stop = "complete"  # only the counterexample minimisation was cut
    seconds = s.elapsed()
    result = Result(
        scenario=sc.path,
        policy=sc.policy,
        reuse=sc.reuse,
        mode=used,
        complete=complete,
        stop=stop,
        states=main.states,
        transitions=main.transitions,
        schedules=main.schedules,
        seconds=seconds,
        max_depth=main.max_depth,
        reduction=s.reduction and used == "exhaustive",
        bound=reached,
        verdicts=verdicts(s.found.keys(), complete, sc.oracle_kinds),
        counterexamples=counterexamples(s, narrate),
        found_seconds=dict(s.found_seconds),
        expectations=sc.expectations(sc.policy),
    )
    if side.transitions:
        result.extra["bounded_search"] = attrs.asdict(side)
    if used == "exhaustive":
        result.extra["reductions"] = {
            "sleep_sets": s.reduction, "thread_local": s.local, "symmetry": s.symmetry, "merged": main.merged,
        }  # fmt: skip
        result.extra["store"] = store_figures(s, main.states)
        if s.step_cache is not None:
            result.extra["step_cache"] = s.step_cache.figures()
    result.extra.update(s.extra)
    if s.checkpoint is not None:  # (where the search was saved, and whether it was: the caller says how to go on)
        result.extra["checkpoint"] = s.checkpoint_report(resumed_here=_same_file(checkpoint, resume))
    if s.notes:
        result.extra["notes"] = list(s.notes)
    return result


def _same_file(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def shortcut_off(s: Search, e: SnapshotMismatch) -> None:
    """A kernel change a shortcut does not know: turn it off, say so (the caller
    starts its search again); a second mismatch of the same shortcut is raised."""
    which = "step cache" if isinstance(e, StepCacheMismatch) else "incremental snapshots"
    if which in s.shortcuts_off:
        raise e
    s.shortcuts_off.add(which)
    s.notes.append(f"{which} off ({e}); the search started again")
    if which == "step cache":
        s.step_cache = None
    else:  # (and the cache forgets what it learnt from those snapshots)
        s.tracker.incremental = False
        s.step_cache = StepCache() if s.step_cache is not None else None


def store_figures(s: Search, states: int) -> dict[str, Any]:
    """Bytes per stored state, and with hash compaction the chance that two
    different states shared a digest (so one was wrongly skipped): about
    n^2 / 2^(b+1) for n states and b-bit digests, as SPIN's -DHC reports."""
    import sys

    v = s.visited
    bits = 8 * s.fingerprint.digest_size
    if hasattr(v, "nbytes"):  # a CompactStore, or the partitioned search's stores
        size = v.nbytes()
    else:
        size = sys.getsizeof(v) + sum(sys.getsizeof(k) for k in v) if v else 0
    return {
        "digest_bits": bits,
        "bytes_per_state": round(size / len(v), 1) if v else 0.0,
        "collision_probability": min(1.0, states * states / 2.0 ** (bits + 1)),
    }


def _add(acc: Stats, st: Stats) -> None:
    acc.states += st.states
    acc.transitions += st.transitions
    acc.schedules += st.schedules
    acc.max_depth = max(acc.max_depth, st.max_depth)


def _minimise(s: Search, side: Stats, reached: int | None) -> None:
    """Give every kind found a counterexample with the fewest preemptions.

    A counterexample with p preemptions is minimal once bounds 0..p-1 have
    been searched without finding the kind, so deepening stops there (bounds
    up to `reached` were searched already). Raises Stop at a limit: the
    kinds not done keep their counterexample, marked not minimal.
    """
    have = {k: preemptions_of(s.m, s.snap0, v[0]) for k, v in s.found.items() if v[1] is None}
    b = -1 if reached is None else reached
    while True:
        want = frozenset(k for k, p in have.items() if s.found[k][1] is None and p > b + 1)
        if not want:
            break
        b += 1
        s.phase = f"shortest counterexample, bound {b}"
        st = Stats()
        try:
            bounded(s, st, b, want)
        except Stop as e:
            if e.reason != "found":
                raise
        finally:
            _add(side, st)
    for k, p in have.items():
        choices, pre, thread, detail, label = s.found[k]
        if pre is None:  # bounds below p found nothing: p is the fewest
            s.found[k] = (choices, p, thread, detail, label)


def counterexamples(s: Search, narrate: bool = True) -> dict[str, Counterexample]:

    out = {}
    for kind, (choices, pre, thread, detail, label) in sorted(s.found.items()):
        minimal = pre is not None
        if pre is None:
            pre = preemptions_of(s.m, s.snap0, choices)
        out[kind] = Counterexample(
            kind=kind,
            thread=thread,
            detail=detail,
            label=label,
            choices=tuple(choices),
            entries=entries_of(s.names, choices),
            stop_at=len(choices),
            preemptions=pre,
            narration=story.narrate(s.sc, choices, oracle=kind) if narrate else "",
            minimal=minimal,
        )
    return out
