"""Fuzzing: random valid scenarios, random and PCT schedules on each.

Scenario i of a fuzz run seeded S is drawn from `random.Random` seeded with
(S, i) alone, so it is the same in any process and under any `--jobs`; a
wall-clock budget only decides how many are tried. The generator aims where
page-fault races live: one to three small mappings in a process A, data on
some pages (present at setup, so a fork shares them copy-on-write), often a
fork child B (sometimes C) made at setup, two or three threads (mostly two
in A, one in the child) of one to three ops each, drawn from the whole op set (read, write, mmap, munmap,
mprotect, madvise, fork, reclaim, age) with addresses on those pages. A
draw the loader rejects is drawn again (the next sub-seed).

Each scenario gets `runs` random and `runs` PCT schedules (engine/sampling.py,
the `spftui explore --random/--pct` search). A violation is then shrunk
(engine/shrink.py) and saved by the caller. Ctrl-C (or SIGTERM under the
CLI) ends the run with `stop == "interrupted"`: what was found up to then is
handed over all the same, the violations not yet shrunk as they were found
(the one being shrunk as far as it got).

Headless: standard library and attrs only.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

import attrs

from ..scenario import ScenarioError
from ..scenario.loader import parse_scenario
from .sampling import random_search
from .workers import stop_requested

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..scenario.model import Scenario

SLOTS = (0x10000, 0x20000, 0x30000)
KERNELS = ("5.8", "5.8", "5.12", "5.18")  # 5.8 (mapcount reuse) twice: the rule with the most races
OPS = (
    ("write", 5), ("read", 3), ("mprotect", 3), ("munmap", 2), ("madvise", 2), ("fork", 1), ("mmap", 1),
    ("reclaim", 1), ("age", 1),
)  # fmt: skip
TRIES = 20  # draws per scenario index before giving up on it


@attrs.frozen
class Finding:
    """A violation found by sampling scenario `index`."""

    index: int
    scenario: Scenario
    oracle: str
    choices: tuple[int, ...]  # up to and including the violating step
    detail: str
    cpu: float  # CPU seconds the searching process had used when it found it (since its chunk started)


def _op(rng: random.Random, pages: list[int], forks: list[str]) -> str:
    kind = rng.choices([k for k, _ in OPS], [w for _, w in OPS])[0]
    page = pages[0] if rng.random() < 0.75 else rng.choice(pages)  # most ops on one hot page: races need sharing
    word = page + 0x400 * rng.randrange(4)
    if kind == "write":
        return f"write {word:#x} {rng.randrange(1, 100)}"
    if kind in ("read", "reclaim", "age"):
        return f"{kind} {(word if kind == 'read' else page):#x}"
    if kind == "mprotect":
        return f"mprotect {page:#x} 1p {rng.choice(('r', 'r', 'rw', 'rw', 'none'))}"
    if kind == "munmap":
        return f"munmap {page:#x} 1p"
    if kind == "madvise":
        return f"madvise {page:#x} 1p dontneed"
    if kind == "mmap":
        return f"mmap {page:#x} 1p {rng.choice(('rw', 'r'))}"
    child = f"F{len(forks) + 1}"
    forks.append(child)
    return f"fork {child}"


def scenario_text(seed: int, index: int, policy: str, draw: int = 0) -> str:
    """The TOML of draw `draw` for scenario `index` (module docstring)."""
    rng = random.Random(f"spftui-fuzz:{seed}:{index}:{draw}")  # str seeds hash with SHA-512: stable everywhere
    maps = sorted(rng.sample(SLOTS, rng.choice((1, 1, 2, 3))))
    lines = [
        f'title = "fuzz {seed}/{index}"',
        f'policy = "{policy}"',
        f'kernel = "{rng.choice(KERNELS)}"',
        "words_per_page = 4",
        "",
        "[[process]]",
        'name = "A"',
    ]
    pages = list(maps)
    rng.shuffle(pages)  # pages[0] is the hot page
    data = [p for p in pages if rng.random() < 0.8]
    if data:
        lines.append("data = { " + ", ".join(f'"{p:#x}" = {rng.randrange(1, 10)}' for p in data) + " }")
    for m in maps:
        lines += ["", "  [[process.mapping]]", f"  start = {m:#x}", "  pages = 1", '  prot = "rw"']
    procs = ["A"]
    for child in ("B", "C"):
        if rng.random() < (0.7 if child == "B" else 0.15):
            lines += ["", "[[process]]", f'name = "{child}"', 'fork_of = "A"']
            procs.append(child)
    forks: list[str] = []
    nthreads = rng.choice((2, 3, 3, 3, 3))
    for t in range(nthreads):
        # mostly two threads in A and one in a fork child: the shape of the COW races
        proc = ("A", "A", procs[-1])[t] if rng.random() < 0.75 else rng.choice(procs)
        ops = [_op(rng, pages, forks) for _ in range(rng.choice((1, 2, 2, 3)))]
        name = f"{proc}{t + 1}"
        quoted = ", ".join(f'"{o}"' for o in ops)
        lines += ["", "[[thread]]", f'name = "{name}"', f'process = "{proc}"', f"ops = [{quoted}]"]
    return "\n".join(lines) + "\n"


def scenario(seed: int, index: int, policy: str) -> Scenario | None:
    """Scenario `index` of a fuzz run seeded `seed` (None when no draw passes the loader)."""
    for draw in range(TRIES):
        try:
            return parse_scenario(scenario_text(seed, index, policy, draw), f"fuzz-{seed}-{index}.toml")
        except ScenarioError:
            continue
    return None


def search(
    sc: Scenario, seed: int, runs: int, cancelled: Callable[[], bool] | None = None
) -> tuple[list[tuple[str, tuple[int, ...], str]], bool]:
    """(oracle, choices, detail) for each violation `runs` random then `runs` PCT schedules find,
    and whether the search was cut short (Ctrl-C, or `cancelled()`): then what it found so far."""
    found: dict[str, tuple[str, tuple[int, ...], str]] = {}
    cut = False
    for mode in ("random", "pct"):
        r = random_search(sc, mode=mode, runs=runs, seed=seed, max_steps=2_000, narrate=False, cancelled=cancelled)
        for kind, cx in r.counterexamples.items():
            found.setdefault(kind, (kind, cx.choices[: cx.stop_at], cx.detail))
        if r.stop == "interrupted":  # (random_search takes the Ctrl-C itself: pass it on)
            cut = True
            break
    return [found[k] for k in sorted(found)], cut


def run_chunk(payload: tuple[int, int, str, int, int, float | None]) -> tuple[int, float, list[Finding], bool]:
    """Scenarios [start, end) (a worker's unit): (how many were tried, CPU seconds, findings, whether it
    was cut short: by Ctrl-C in this process, or in a worker by the parent's stop request)."""
    start, end, policy, seed, runs, deadline = payload
    t0 = time.process_time()
    out: list[Finding] = []
    tried = 0
    cut = False
    try:
        for i in range(start, end):
            if deadline is not None and time.monotonic() >= deadline:
                break
            sc = scenario(seed, i, policy)
            tried += 1
            if sc is None:
                continue
            found, cut = search(sc, seed ^ i, runs, stop_requested)
            out += [Finding(i, sc, kind, choices, detail, time.process_time() - t0) for kind, choices, detail in found]
            if cut:
                break
    except KeyboardInterrupt:
        cut = True  # what was found so far is returned all the same
    return tried, time.process_time() - t0, out, cut


def describe(sc: Scenario) -> str:
    """One line: the threads and their ops."""
    return "; ".join(f"{t.name}: {', '.join(o.text for o in t.ops)}" for t in sc.threads)


def fuzz_payloads(policy: str, seed: int, runs: int, deadline: float | None, chunk: int, count: int) -> list[Any]:
    return [(a, min(a + chunk, count), policy, seed, runs, deadline) for a in range(0, count, chunk)]


@attrs.frozen
class Saved:
    """A finding after shrinking: what to save and what to say about it."""

    finding: Finding
    shrunk: Any  # engine.shrink.Shrunk
    cpu_to_find: float  # CPU seconds of search (all processes) until the chunk that found it
    new: bool  # False: the same minimal scenario was saved already
    how: str = "shrunk"  # or "partly shrunk (interrupted)", "not shrunk (interrupted)", "not shrunk (...)"


@attrs.define
class FuzzStats:
    scenarios: int = 0
    cpu: float = 0.0  # CPU seconds of search, all processes
    stop: str = "time"  # time | scenarios | stopped (`stop()`) | interrupted (Ctrl-C, SIGTERM)


def fuzz(
    policy: str,
    *,
    seconds: float,
    seed: int = 0,
    jobs: int = 1,
    runs: int = 32,
    limit: int | None = None,
    shrink_states: int = 20_000,
    on_saved: Any = None,
    stop: Any = None,
) -> FuzzStats:
    """Fuzz until `seconds` of wall time pass (or `limit` scenarios, or `stop()` is true); shrink
    each violation and hand it to `on_saved(Saved)` (module docstring). Returns what was tried."""
    from .schedule_file import scenario_hash
    from .shrink import ShrinkError, shrink, unshrunk
    from .workers import pool_map

    deadline = time.monotonic() + seconds
    chunk = 4
    # enough scenarios for the time (a scenario takes well over 1 ms); the deadline ends the run
    count = limit if limit is not None else int(seconds * 1000 * max(jobs, 1)) + chunk
    payloads = fuzz_payloads(policy, seed, runs, deadline, chunk, count)
    stats = FuzzStats()
    seen: set[tuple[str, str]] = set()

    def on_result(_i: int, res: tuple[int, float, list[Finding], bool]) -> None:
        tried, cpu, findings, cut = res
        cpu_before = stats.cpu
        stats.scenarios += tried
        stats.cpu += cpu
        if cut and not cancelled():  # (the deadline and `stop()` cut the chunks in flight too: no interrupt)
            stats.stop = "interrupted"
        for f in findings:
            s = None
            how = "not shrunk (interrupted)"
            if stats.stop != "interrupted":
                try:
                    s = shrink(f.scenario, f.oracle, max_states=shrink_states)
                    how = "shrunk"
                except ShrinkError:
                    how = f"not shrunk (the explorer did not find it again within {shrink_states:,} states)"
                except KeyboardInterrupt:
                    stats.stop = "interrupted"
                if s is not None and s.interrupted:  # (saved as far as it got)
                    stats.stop = "interrupted"
                    how = "partly shrunk (interrupted)"
            if s is None:  # saved as found: after Ctrl-C, shrinking it would be one more long search
                s = unshrunk(f.scenario, f.oracle, f.choices, f.detail)
            key = (f.oracle, scenario_hash(s.scenario))
            new = key not in seen
            seen.add(key)
            if on_saved is not None:
                on_saved(Saved(f, s, cpu_before + f.cpu, new, how))

    def cancelled() -> bool:
        return time.monotonic() >= deadline or stats.stop == "interrupted" or (stop is not None and bool(stop()))

    try:
        pool_map(run_chunk, payloads, jobs, on_result, cancelled)
    except KeyboardInterrupt:  # (in on_result, with --jobs 1: with more, pool_map takes it itself)
        stats.stop = "interrupted"
    if stats.stop != "interrupted":
        stats.stop = "time" if time.monotonic() >= deadline else "stopped" if cancelled() else "scenarios"
    return stats
