"""Randomised schedules, speculative-abort statistics and the policy matrix.

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

Unnecessary aborts (an estimate, not a re-execution without the check)
    The simulator cannot re-run a step with its validation skipped, so for
    every speculative abort in a random run we compare two outcomes:
      retry  what the real run committed: the faulting address's PTE
             (present? writable?) and the words of the page it maps, taken
             when the fault that aborted returns to user space after its
             classic retry (or the op ends, e.g. SIGSEGV);
      solo   restore the snapshot taken right after the access faulted
             (before the first speculative step), run that thread alone
             until its fault returns, observe the same things.
    The abort is *unnecessary* when the solo fault completed speculatively
    (no abort of its own) and both outcomes are equal: the interference
    that made it abort changed nothing it would have committed. If the solo
    fault aborts too, blocks (another thread holds a lock it needs) or runs
    too long, the abort counts as necessary ("undetermined" is reported
    separately). Page frame numbers and A/D bits are not compared: the
    retry may get a different free page. Interference after the retry's
    commit can only make the outcomes differ, so the share is a lower
    bound. The abort rate is aborts per speculative fault (a fault whose
    first step was a speculative one).

The matrix
    `policy_matrix` explores every scenario under every policy (verdicts)
    and runs a fixed budget of random schedules for the abort figures; rows
    render as Markdown (`matrix_markdown`) or JSON.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel import build_machine
from ..kernel.pte import pte_pfn, pte_present, pte_special, pte_write, vpn_of
from ..kernel.state import RUNNABLE
from ..scenario.model import ORACLE_KINDS, POLICIES
from . import narrate as story
from .explorer import Progress, explore
from .narrate import Counterexample, Result, entries_of, verdicts
from .por import SEARCH_LOCK
from .schedule import MASK64, splitmix64
from .workers import run_tasks, stop_requested

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from ..scenario.model import Scenario

CHUNK = 32
CLASSIC_ENTRY = "do_user_addr_fault:mmap_read_lock"
_USER = ("user:load", "user:store")
SOLO_LIMIT = 2000


@attrs.define
class AbortStats:
    """Speculative faults and aborts seen over a set of random runs."""

    faults: int = 0  # speculative fault entries
    aborts: int = 0
    unnecessary: int = 0
    undetermined: int = 0  # the solo fault blocked or ran too long

    def add(self, o: AbortStats) -> None:
        self.faults += o.faults
        self.aborts += o.aborts
        self.unnecessary += o.unnecessary
        self.undetermined += o.undetermined

    @property
    def rate(self) -> float | None:
        return self.aborts / self.faults if self.faults else None

    @property
    def unnecessary_share(self) -> float | None:
        return self.unnecessary / self.aborts if self.aborts else None

    def to_json(self) -> dict[str, Any]:
        return {
            **attrs.asdict(self),
            "abort_rate": None if self.rate is None else round(self.rate, 4),
            "unnecessary_share": None if self.unnecessary_share is None else round(self.unnecessary_share, 4),
        }


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


def observe(m: Machine, index: int, addr: int) -> tuple[Any, ...]:
    """What a fault at addr left: PTE kind, writable, page words (not the pfn)."""
    t = m.threads[index]
    mm = m.mms[t.mm]
    pte = m.pte_lookup(mm, vpn_of(addr))
    if pte_present(pte):
        words = (0,) * m.nwords if pte_special(pte) else tuple(m.frames[pte_pfn(pte)].words)
        return ("present", pte_write(pte), words)
    return ("swap",) if pte else ("none",)


def _fault_returned(m: Machine, index: int, events: list[tuple[Any, ...]]) -> bool:
    t = m.threads[index]
    return t.pc in _USER or any(e[0] in ("op_done", "segv") and e[1] == t.name for e in events)


def solo(scratch: Machine, snap: tuple[Any, ...], index: int, addr: int) -> tuple[str, tuple[Any, ...] | None]:
    """Run thread `index` alone from `snap` until its fault returns: (how, outcome)."""
    scratch.restore(snap)
    aborted = False
    for _ in range(SOLO_LIMIT):
        if scratch.threads[index].state != RUNNABLE:
            return "blocked", None
        events = scratch.step(index)
        aborted = aborted or any(e[0] == "spf_abort" for e in events)
        if _fault_returned(scratch, index, events):
            return ("aborted" if aborted else "speculative"), observe(scratch, index, addr)
    return "too long", None


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


_SHARED: list[Any] = [None]  # what every chunk of the current search shares (set per process)
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
    sc, mode, seed, depth, max_steps, measure, deadline = _SHARED[0]
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
            order = list(range(n))
            for i in range(n - 1, 0, -1):  # Fisher-Yates
                x, r = splitmix64(x)
                j = r % (i + 1)
                order[i], order[j] = order[j], order[i]
            prio = [0] * n
            for rank, i in enumerate(order):
                prio[i] = depth + rank
            for i in range(1, depth):
                x, r = splitmix64(x)
                changes.setdefault(1 + r % k, depth - i)
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
                if e[0] == "violation":
                    key = (pre, len(choices), run)
                    old = out.found.get(e[1])
                    if old is None or key < old[0]:
                        out.found[e[1]] = (key, tuple(choices), e[2], e[3], m.last_label)
            if scratch is not None:
                _measure(m, scratch, c, events, faults, pending, out.aborts)
        else:
            out.cut += 1
        out.runs += 1
        out.steps += len(choices)
    return out


def _measure(
    m: Machine,
    scratch: Machine,
    c: int,
    events: list[tuple[Any, ...]],
    faults: dict[int, tuple[tuple[Any, ...], int]],
    pending: dict[int, tuple[tuple[Any, ...], int]],
    st: AbortStats,
) -> None:
    """Abort bookkeeping for the step thread `c` just took (see the module docstring)."""
    for e in events:
        if e[0] == "fault":
            if m.threads[c].pc != CLASSIC_ENTRY:
                st.faults += 1
                faults[c] = (m.snapshot(), e[2])
            else:
                faults.pop(c, None)
        elif e[0] == "spf_abort":
            st.aborts += 1
            if c in faults:
                pending[c] = faults[c]
    if c in pending and m.threads[c].pc != CLASSIC_ENTRY and _fault_returned(m, c, events):
        snap, addr = pending.pop(c)
        retry = observe(m, c, addr)
        how, alone = solo(scratch, snap, c, addr)
        if how in ("blocked", "too long"):
            st.undetermined += 1
        elif how == "speculative" and alone == retry:
            st.unnecessary += 1


# ------------------------------------------------------------- processes
def _set_shared(shared: Any) -> None:
    _SHARED[0] = shared


def pool_map(
    fn: Callable[[Any], Any],
    payloads: list[Any],
    jobs: int,
    on_result: Callable[[int, Any], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    shared: Any = None,
    describe: Callable[[Any], str] | None = None,
) -> dict[int, Any]:
    """fn over payloads in `jobs` supervised processes (engine/workers.py);
    `shared` is sent once per process (as `_SHARED[0]`), not with every payload.

    Returns {payload index: result} for what finished, partial results of the
    searches that were running included; stops early on Ctrl-C or when
    `cancelled()` turns true. Raises WorkerLost when a task's worker died twice.
    """
    done: dict[int, Any] = {}
    if jobs <= 1 or len(payloads) <= 1:
        _SHARED[0] = shared
        for i, p in enumerate(payloads):
            if cancelled is not None and cancelled():
                break
            try:
                done[i] = fn(p)
            except KeyboardInterrupt:
                break
            if on_result is not None:
                on_result(i, done[i])
        return done
    done, _ = run_tasks(
        fn, payloads, jobs, on_result=on_result, cancelled=cancelled, init=_set_shared, shared=shared,
        describe=describe,
    )  # fmt: skip
    return done


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
            progress(
                Progress(
                    sc.policy,
                    mode,
                    total.steps,
                    total.steps,
                    0,
                    runs - total.runs,
                    time.monotonic() - t0,
                    tuple(sorted(total.found)),
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
            narration=story.narrate(sc, choices) if narrate else "",
            minimal=False,
        )
    result = Result(
        scenario=sc.path, policy=sc.policy, reuse=sc.reuse, mode=mode, complete=False, stop=stop,
        states=total.steps, transitions=total.steps, schedules=total.runs, seconds=time.monotonic() - t0,
        reduction=False, verdicts=verdicts(total.found.keys(), False), counterexamples=cxs,
        expectations=sc.expectations(sc.policy),
    )  # fmt: skip
    result.extra.update({"seed": seed, "runs": total.runs, "cut_runs": total.cut, "states_are": "steps executed"})
    if mode == "pct":
        result.extra["depth"] = depth
    if measure_aborts:
        result.extra["aborts"] = total.aborts.to_json()
    return result


# ------------------------------------------------------------- the matrix
def explore_cell(payload: tuple[Any, ...]) -> Result:
    sc, policy, reuse, opts = payload
    return explore(sc, policy, reuse, cancelled=stop_requested, **opts)


def _describe_cell(payload: tuple[Any, ...]) -> str:
    sc, policy = payload[0], payload[1]
    return f"{os.path.basename(sc.path) or sc.title} under {policy}"


def explore_policies(
    sc: Scenario, policies: tuple[str, ...], reuse: str | None, jobs: int, opts: dict[str, Any]
) -> list[Result]:
    """`explore` under each policy, `jobs` policies at a time in worker processes;
    after Ctrl-C, the finished results and the partial ones (stop "interrupted")."""
    done = pool_map(explore_cell, [(sc, p, reuse, opts) for p in policies], jobs, describe=_describe_cell)
    return [done[i] for i in sorted(done)]


@attrs.define
class MatrixRow:
    scenario: str
    policy: str
    result: Result
    aborts: AbortStats

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "reuse": r.reuse,
            "verdicts": dict(r.verdicts),
            "complete": r.complete,
            "states": r.states,
            "schedules": r.schedules,
            "seconds": round(r.seconds, 3),
            "expect": dict(r.expectations),
            "expect_ok": r.expect_ok,
            "counterexample": r.counterexample.to_json() if r.counterexample else None,
            "aborts": self.aborts.to_json(),
        }


def matrix_cell(payload: tuple[Any, ...]) -> MatrixRow:
    """One scenario under one policy: explore, then random runs for the abort figures."""
    sc, name, policy, runs, seed, max_states, timeout = payload
    r = explore(sc, policy, max_states=max_states, timeout=timeout, narrate=False, cancelled=stop_requested)
    if runs and r.stop != "interrupted":
        rnd = random_search(sc.with_policy(policy), runs=runs, seed=seed, measure_aborts=True, narrate=False)
        aborts = AbortStats(**{k: rnd.extra["aborts"][k] for k in ("faults", "aborts", "unnecessary", "undetermined")})
    else:
        aborts = AbortStats()
    return MatrixRow(name, policy, r, aborts)


def policy_matrix(
    scenarios: list[Scenario],
    policies: tuple[str, ...] = POLICIES,
    *,
    runs: int = 200,
    seed: int = 0,
    jobs: int = 1,
    max_states: int = 2_000_000,
    timeout: float | None = None,
    on_row: Callable[[MatrixRow], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[MatrixRow]:
    """Every scenario under every policy; rows in scenario-then-policy order
    (only the finished ones after Ctrl-C or cancellation)."""
    payloads = [
        (sc, os.path.splitext(os.path.basename(sc.path))[0] or sc.title, p, runs, seed, max_states, timeout)
        for sc in scenarios
        for p in policies
    ]
    halted = [False]

    def got(i: int, row: MatrixRow) -> None:
        halted[0] = halted[0] or row.result.stop == "interrupted"  # Ctrl-C reached the cell: start no other
        if on_row is not None:
            on_row(row)

    done = pool_map(
        matrix_cell, payloads, jobs, got, lambda: halted[0] or (cancelled is not None and cancelled()),
        describe=lambda p: f"{p[1]} under {p[2]}",
    )  # fmt: skip
    return [done[i] for i in sorted(done)]


_SHORT = {"sometimes": "Sometimes", "never": "Never", "unknown": "?"}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def matrix_markdown(rows: list[MatrixRow], kinds: tuple[str, ...] = ORACLE_KINDS) -> str:
    """The matrix as a Markdown table (✗: the verdict contradicts [expect]; ?: undecided)."""
    head = ["scenario", "policy", *kinds, "search", "abort rate", "unnecessary aborts"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in rows:
        r = row.result
        cells = [row.scenario, f"{row.policy} ({r.reuse})"]
        for k in kinds:
            v = _SHORT[r.verdicts.get(k, "unknown")]
            want, have = r.expectations.get(k), r.verdicts.get(k, "unknown")
            if want is not None and have != "unknown" and have != want:
                v += " ✗"
            cells.append(v)
        cells.append(f"{'complete' if r.complete else r.stop}, {r.states:,} states")
        a = row.aborts
        cells.append(f"{_pct(a.rate)} ({a.aborts}/{a.faults})")
        cells.append(f"{_pct(a.unnecessary_share)} ({a.unnecessary}/{a.aborts})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
