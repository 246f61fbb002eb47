"""Random and PCT search: sampled schedules, spread over worker processes.

Random and PCT search
`random_search` runs `runs` schedules. Run i gets its own splitmix64
stream derived from (seed, i), so a run's schedule does not depend on
which process runs it: the run index space is cut into fixed chunks of
CHUNK runs, the chunks are spread over `jobs` processes, and the results
merge by run index. Any `jobs` gives the same verdicts and the same
counterexamples. Random picks a runnable thread uniformly per step. PCT
(Burckhardt et al., ASPLOS 2010) gives the threads random distinct
priorities d..d+n-1, picks d-1 change points among the first k steps (k:
the length of a round-robin run), always runs the highest-priority
runnable thread, and at change point i drops the running thread to
priority d-i. A run stops when no thread can run, or after
`max_steps` (then it counts as cut: a spin loop under PCT).
A counterexample is the run with the fewest preemptions, then the fewest
steps, then the lowest run index.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.events import Violation
from . import narrate as story
from .aborts import AbortStats, count_aborts
from .narrate import Counterexample, Progress, Result, entries_of, seconds_left, verdicts
from .por import SEARCH_LOCK
from .schedule import MASK64, splitmix64
from .user_oracles import build_machine
from .workers import SHARED, pool_map, stop_requested

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from ..scenario.model import Scenario

CHUNK = 32


@attrs.define
class ChunkResult:
    runs: int = 0
    steps: int = 0
    cut: int = 0
    found: dict[str, tuple[tuple[int, int, int], tuple[int, ...], str, str, str]] = attrs.Factory(dict)
    aborts: AbortStats = attrs.Factory(AbortStats)

    def merge(self, o: ChunkResult) -> None:
        self.runs += o.runs
        self.steps += o.steps
        self.cut += o.cut
        self.aborts.add(o.aborts)
        for k, v in o.found.items():
            if k not in self.found or v[0] < self.found[k][0]:
                self.found[k] = v


def run_seed(seed: int, run: int) -> int:
    """The splitmix64 state that run `run` of a search seeded `seed` starts from."""
    return splitmix64((seed * 0x100000001B3 + run * 0x9E3779B97F4A7C15) & MASK64)[1]


def pct_plan(n: int, k: int, depth: int, x: int) -> tuple[list[int], dict[int, int], int]:
    """PCT's plan for one run from seed state x: distinct random priorities
    (depth .. depth+n-1, Fisher-Yates) and depth-1 change points among the
    first k steps (step -> the low priority the thread then takes); and the
    seed state after."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        x, r = splitmix64(x)
        j = r % (i + 1)
        order[i], order[j] = order[j], order[i]
    prio = [0] * n
    for rank, i in enumerate(order):
        prio[i] = depth + rank
    changes: dict[int, int] = {}
    for i in range(1, depth):
        x, r = splitmix64(x)
        changes.setdefault(1 + r % k, depth - i)
    return prio, changes, x


def _pct_length(m: Machine, snap0: tuple[Any, ...], limit: int) -> int:
    """k for PCT: the length of a round-robin run."""
    m.restore(snap0)
    n = len(m.threads)
    last, k = -1, 0
    while k < limit:
        r = m.runnable()
        if not r:
            break
        c = next(i for i in ((last + j) % n for j in range(1, n + 1)) if i in r)
        m.step(c)
        last, k = c, k + 1
    return max(k, 1)


_CACHE: list[Any] = [None, None]  # (key, (machine, snap0, scratch, k)): built once per process


def _machines(sc: Scenario, mode: str, max_steps: int, measure: bool) -> tuple[Machine, tuple[Any, ...], Any, int]:
    key = (sc, mode, max_steps, measure)
    if _CACHE[0] != key:
        m = build_machine(sc)
        snap0 = m.snapshot()
        k = _pct_length(m, snap0, max_steps) if mode == "pct" else 0
        _CACHE[0], _CACHE[1] = key, (m, snap0, build_machine(sc) if measure else None, k)
    return _CACHE[1]  # type: ignore[no-any-return]


def run_chunk(payload: tuple[int, int]) -> ChunkResult:
    """Runs [start, end) of the random/PCT search described by `_SHARED` (a worker's unit of work)."""
    start, end = payload
    sc, mode, seed, depth, max_steps, measure, deadline = SHARED[0]
    m, snap0, scratch, k = _machines(sc, mode, max_steps, measure)
    n = len(m.threads)
    out = ChunkResult()
    for run in range(start, end):
        if (deadline is not None and time.monotonic() >= deadline) or stop_requested():
            break
        m.restore(snap0)
        x = run_seed(seed, run)
        prio: list[int] = []
        changes: dict[int, int] = {}
        if mode == "pct":
            prio, changes, x = pct_plan(n, k, depth, x)
        choices: list[int] = []
        last, pre = -1, 0
        faults: dict[int, tuple[tuple[Any, ...], int]] = {}
        pending: dict[int, tuple[tuple[Any, ...], int]] = {}
        for step in range(max_steps):
            runnable = m.runnable()
            if not runnable:
                break
            if mode == "pct":
                c = max(runnable, key=lambda i: prio[i])
            else:
                x, r = splitmix64(x)
                c = runnable[r % len(runnable)]
            if last >= 0 and c != last and last in runnable:
                pre += 1
            events = m.step(c)
            choices.append(c)
            last = c
            if mode == "pct" and step + 1 in changes:
                prio[c] = changes[step + 1]
            for e in events:
                if isinstance(e, Violation):
                    key = (pre, len(choices), run)
                    old = out.found.get(e.oracle)
                    if old is None or key < old[0]:
                        out.found[e.oracle] = (key, tuple(choices), e.thread, e.detail, m.last_label)
            if scratch is not None:
                count_aborts(m, scratch, c, events, faults, pending, out.aborts)
        else:
            out.cut += 1
        out.runs += 1
        out.steps += len(choices)
    return out


def random_search(
    sc: Scenario,
    *,
    mode: str = "random",
    runs: int = 1000,
    seed: int = 0,
    depth: int = 3,
    jobs: int = 1,
    timeout: float | None = None,
    max_steps: int = 10_000,
    measure_aborts: bool = False,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    narrate: bool = True,
) -> Result:
    """`runs` random or PCT schedules of `sc` (module docstring); verdicts are
    "sometimes" or "unknown" (a sample proves nothing never happens)."""

    t0 = time.monotonic()
    deadline = None if timeout is None else t0 + timeout
    shared = (sc, mode, seed, depth, max_steps, measure_aborts, deadline)
    payloads = [(a, min(a + CHUNK, runs)) for a in range(0, runs, CHUNK)]
    total = ChunkResult()

    def on_result(i: int, r: ChunkResult) -> None:
        total.merge(r)
        if progress is not None:
            seconds = time.monotonic() - t0
            done = total.runs / runs if runs else 1.0
            progress(
                Progress(
                    sc.policy,
                    mode,
                    total.steps,
                    total.steps,
                    0,
                    runs - total.runs,
                    seconds,
                    tuple(sorted(total.found)),
                    done,
                    seconds_left(done, seconds),
                )
            )

    interrupted = False
    try:
        if jobs <= 1:
            with SEARCH_LOCK:  # _SHARED and _CACHE are per process
                pool_map(run_chunk, payloads, jobs, on_result, cancelled, shared)
        else:
            pool_map(run_chunk, payloads, jobs, on_result, cancelled, shared)
    except KeyboardInterrupt:
        interrupted = True
    if interrupted or total.runs < runs:
        stop = "timeout" if deadline is not None and time.monotonic() >= deadline else "interrupted"
    else:
        stop = "runs"
    names = [t.name for t in sc.threads]
    cxs = {}
    for kind, (key, choices, thread, detail, label) in sorted(total.found.items()):
        cxs[kind] = Counterexample(
            kind=kind,
            thread=thread,
            detail=detail,
            label=label,
            choices=choices,
            entries=entries_of(names, choices),
            stop_at=len(choices),
            preemptions=key[0],
            narration=story.narrate(sc, choices, oracle=kind) if narrate else "",
            minimal=False,
        )
    result = Result(
        scenario=sc.path, policy=sc.policy, reuse=sc.reuse, mode=mode, complete=False, stop=stop,
        states=total.steps, transitions=total.steps, schedules=total.runs, seconds=time.monotonic() - t0,
        reduction=False, verdicts=verdicts(total.found.keys(), False, sc.oracle_kinds), counterexamples=cxs,
        expectations=sc.expectations(sc.policy),
    )  # fmt: skip
    result.extra.update({"seed": seed, "runs": total.runs, "cut_runs": total.cut, "states_are": "steps executed"})
    if mode == "pct":
        result.extra["depth"] = depth
    if measure_aborts:
        result.extra["aborts"] = total.aborts.to_json()
    return result
