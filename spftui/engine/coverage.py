"""Race-window coverage: which writer steps ever landed inside which speculative window.

A window belongs to one fault of one thread (a user access's, or each of
GUP's faultin_page calls): it opens when the fault samples a value it will
validate later (its first `SpecRead`) and each `Validate` of that fault
(SEQ1, SEQ2, REFETCH, pte_same, ...) closes one window. The
window is *interleaved* with a writer step of another thread when such a step
ran after the sample and before the check. A writer step is one that changes
a kind of value a fault validates: a PTE (`Pte`), a sequence count (`Seq`) or
a VMA (`VmaChange`). Rows are checks (thread, step label, check), columns are
writer steps (thread, step label); a cell counts how often that writer landed
in that window. A row × column pair of two threads that was never hit is a
window the search never explored: a race there, if any, was not looked for.

Modes: `random` and `pct` sample `runs` schedules with the same per-run seeds
as `spftui explore` (engine/sampling.py); `exhaustive` walks every schedule
with a depth-first search that visits a state again only with writers no
earlier visit had in its open windows (`_exhaustive`), up to `max_states`.

Headless: standard library and attrs only; returns plain data the TUI can show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.events import (
    Block,
    Event,
    ExitMmap,
    Fault,
    Lock,
    OpDone,
    Pte,
    Seq,
    SpecRead,
    SpfAbort,
    Validate,
    VmaChange,
)
from .recording import record
from .sampling import pct_plan, run_seed
from .schedule import splitmix64
from .user_oracles import build_machine

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from ..scenario.model import Scenario

MODES = ("random", "pct", "exhaustive")
Row = tuple[str, str, str]  # (thread, step label, check)
Col = tuple[str, str]  # (thread, step label)
Windows = tuple[frozenset[Col] | None, ...]  # per thread: the writers seen since its sample (None: no window)


@attrs.frozen
class Coverage:
    """The matrix. `hits[(row, col)]` counts interleavings; `checks[row]` how often the check ran."""

    policy: str
    mode: str
    runs: int  # schedules run (exhaustive: states visited)
    complete: bool  # exhaustive and not cut by max_states
    rows: tuple[Row, ...]
    cols: tuple[Col, ...]
    checks: dict[Row, int]
    hits: dict[tuple[Row, Col], int]

    def cells(self) -> list[tuple[Row, Col, int]]:
        """Every (check, writer of another thread, count) pair; count 0: never interleaved."""
        return [(r, c, self.hits.get((r, c), 0)) for r in self.rows for c in self.cols if c[0] != r[0]]

    def never(self) -> list[tuple[Row, Col]]:
        return [(r, c) for r, c, n in self.cells() if not n]

    def to_json(self) -> dict[str, Any]:
        rid = {r: f"C{i}" for i, r in enumerate(self.rows, 1)}
        cid = {c: f"W{i}" for i, c in enumerate(self.cols, 1)}
        return {
            "policy": self.policy,
            "mode": self.mode,
            "runs": self.runs,
            "complete": self.complete,
            "checks": [
                {"id": rid[r], "thread": r[0], "label": r[1], "check": r[2], "count": self.checks[r]} for r in self.rows
            ],
            "writers": [{"id": cid[c], "thread": c[0], "label": c[1]} for c in self.cols],
            "hit": [[rid[r], cid[c], n] for r, c, n in self.cells() if n],
            "never": [[rid[r], cid[c]] for r, c in self.never()],
        }


class _Tally:
    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.index = {n: i for i, n in enumerate(names)}
        self.rows: dict[Row, int] = {}
        self.cols: dict[Col, None] = {}
        self.hits: dict[tuple[Row, Col], int] = {}

    def step(
        self, win: Windows, c: int, label: str, events: Sequence[Event], blocked_at: Callable[[int], str]
    ) -> Windows:
        """The windows after thread `c` ran step `label` with these events; counts its checks.

        An unlock that hands mmap_lock to a waiting writer bumps the count for
        that writer (locks._grant_write): the write is the waiter's, at the
        lock step it sleeps in (`blocked_at(index)`), not the unlocker's. A
        process whose last thread finishes (or takes a fatal signal) is torn
        down inside that step (exit_mmap zaps its PTEs): its column says so."""
        w = list(win)
        me = self.names[c]
        if label == "faultin_page:handle_mm_fault":
            w[c] = None  # GUP's next fault (it emits no `Fault`): a window of its own
        actor = c
        writers: dict[int, None] = {}
        for e in events:
            t = type(e)
            if t is SpecRead and e.thread == me:  # type: ignore[union-attr]
                if w[c] is None:
                    w[c] = frozenset()
            elif t is Validate and e.thread == me and e.check != "seq_start":  # type: ignore[union-attr]
                row = (me, label, e.check)  # type: ignore[union-attr]
                self.rows[row] = self.rows.get(row, 0) + 1
                for col in w[c] or ():
                    self.hits[(row, col)] = self.hits.get((row, col), 0) + 1
            elif t in (SpfAbort, OpDone, Fault) and e.thread == me:  # type: ignore[union-attr]
                w[c] = None  # the retry, the next op or the next fault samples again
            elif t is Lock and e.mode == "write":  # type: ignore[union-attr]
                actor = self.index[e.thread]  # type: ignore[union-attr]
            elif t is ExitMmap:
                label = f"{label} → exit_mmap"  # the process ended in this step
            elif t is Pte or t is Seq or t is VmaChange:
                writers[actor] = None
        for a in writers:
            col = (self.names[a], label if a == c else blocked_at(a))
            self.cols.setdefault(col)
            for i, seen in enumerate(w):
                if i != a and seen is not None and col not in seen:
                    w[i] = seen | {col}
        return tuple(w)

    def result(self, policy: str, mode: str, runs: int, complete: bool) -> Coverage:
        rows = tuple(sorted(self.rows, key=lambda r: (self.index[r[0]], r[1], r[2])))
        cols = tuple(sorted(self.cols, key=lambda c: (self.index[c[0]], c[1])))
        return Coverage(policy, mode, runs, complete, rows, cols, dict(self.rows), dict(self.hits))


def _pct(n: int, k: int, depth: int, x: int) -> Callable[[Machine], int | None]:
    """PCT, as sampling.py runs it (pct_plan)."""
    prio, changes, _ = pct_plan(n, k, depth, x)
    taken = [0]

    def choose(m: Machine) -> int | None:
        runnable = m.runnable()
        c = max(runnable, key=lambda i: prio[i])
        taken[0] += 1
        if taken[0] in changes:
            prio[c] = changes[taken[0]]
        return c

    return choose


def _random(x: int) -> Callable[[Machine], int | None]:
    state = [x]

    def choose(m: Machine) -> int | None:
        runnable = m.runnable()
        state[0], r = splitmix64(state[0])
        return runnable[r % len(runnable)]

    return choose


def coverage(
    sc: Scenario,
    *,
    mode: str = "random",
    runs: int = 200,
    seed: int = 0,
    depth: int = 3,
    max_steps: int = 10_000,
    max_states: int = 200_000,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Coverage:
    """The race-window matrix of `sc` under its policy (module docstring).

    `cancelled` is asked between schedules (exhaustive: every 1,024 states); once it
    says yes, the matrix so far is returned with `runs` counting what was done
    (and `complete` False). `progress` is told the schedules (states) done, as often."""
    if mode not in MODES:
        raise ValueError(f"unknown coverage mode {mode!r}; expected one of {', '.join(MODES)}")
    names = [t.name for t in sc.threads]
    tally = _Tally(names)
    if mode == "exhaustive":
        states, complete = _exhaustive(sc, tally, max_states, cancelled, progress)
        return tally.result(sc.policy, mode, states, complete)
    k = len(record(sc, _round_robin(), max_steps).steps) or 1 if mode == "pct" else 1
    for i in range(runs):
        if progress is not None:
            progress(i)
        if cancelled is not None and cancelled():
            return tally.result(sc.policy, mode, i, False)
        x = run_seed(seed, i)
        choose = _pct(len(names), k, depth, x) if mode == "pct" else _random(x)
        win: Windows = (None,) * len(names)
        blocked: dict[int, str] = {}  # thread → the step it last went to sleep in
        for s in record(sc, choose, max_steps).steps:
            if any(type(e) is Block for e in s.events):
                blocked[s.thread] = s.label
            win = tally.step(win, s.thread, s.label, s.events, blocked.__getitem__)
    return tally.result(sc.policy, mode, runs, False)


def _round_robin() -> Callable[[Machine], int | None]:
    from .schedule import RoundRobin

    return RoundRobin().choose


def _exhaustive(
    sc: Scenario,
    tally: _Tally,
    max_states: int,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, bool]:
    """Depth-first over every schedule, without losing a hit.

    A hit is one writer in one open window, and what happens to a writer
    already in a window does not depend on the other writers in it. So a
    state (machine state, which windows are open) is explored again only
    with the writers no earlier visit brought into its windows.
    """
    m = build_machine(sc)
    seen: dict[tuple[Any, ...], list[frozenset[Col]]] = {}
    stack: list[tuple[tuple[Any, ...], Windows]] = [(m.snapshot(), (None,) * len(m.threads))]
    visits = 0
    while stack:
        snap, win = stack.pop()
        m.restore(snap)
        key = (m.state_key(), tuple(w is not None for w in win))
        old = seen.get(key)
        if old is not None:
            new = tuple(None if w is None else w - o for w, o in zip(win, old, strict=True))
            if not any(new):
                continue
            seen[key] = [o | (w or frozenset()) for w, o in zip(win, old, strict=True)]
            win = new
        else:
            seen[key] = [w or frozenset() for w in win]
        visits += 1
        if visits > max_states:
            return visits - 1, False
        if not visits % 1024:
            if progress is not None:
                progress(visits)
            if cancelled is not None and cancelled():
                return visits, False
        for c in m.runnable():
            m.restore(snap)
            events = m.step(c)
            after = tally.step(win, c, m.last_label, events, lambda i: m.threads[i].pc)
            stack.append((m.snapshot(), after))
    return visits, True
