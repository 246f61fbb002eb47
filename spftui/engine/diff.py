"""Schedule diff: where two runs of one scenario part, and which reordered
pair of conflicting steps turns the passing run into the failing one.

A step is named by what it is, not by where it falls: its thread, the op
of that thread's program it belongs to (counting ops the thread finished),
its label, and which occurrence of that label within that op it is ("A2's
second `pte_map_lock:trylock` in its 3rd op"). So a step is only matched to
a step with the same label in the same op of the same thread; when a thread
takes another path in the other run (a spurious fault, a retry, the reuse
path instead of the copy), its extra steps are ones that run never takes,
rather than being paired with whatever step happens to have the same rank
there.

Two steps of different threads conflict when their footprints
(`Machine.touched`: the mm, PTE tables, frames, TLBs they read or wrote)
meet. A reordered pair is a conflicting pair that runs in one order in the
passing run and in the other in the failing one: these are the only
differences that can matter (commuting independent steps changes nothing,
DESIGN.md on partial-order reduction).

The minimal set: start from the passing run's order, impose the failing
order on a set S of reordered pairs (a topological sort that otherwise
keeps the passing order), replay, and see whether the violation appears.
S starts as every reordered pair and loses one pair at a time while the
violation persists (1-minimal, as delta debugging's last phase). Most
races need one pair; the seed race needs more, and the report says so.

Headless: standard library and attrs only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.events import OpDone
from .describe import counted
from .narrate import entries_of
from .recording import Run, Step, record_choices

if TYPE_CHECKING:
    from ..scenario.model import Scenario

StepId = tuple[int, int, str, int]  # (thread index, op number, label, occurrence of that label in the op)

RUNS = ("run 1", "run 2")
"""What the two runs (`Diff.a`, `Diff.b`) are called in text and tables: never A and B, which read
as the scenario's threads and processes (A1, A2, B)."""
JSON_RUNS = {"a": "run1", "b": "run2"}
"""... and in `diff_json`: its keys, and the values of `failing`."""


class DiffCancelled(Exception):
    """`diff_runs` was asked to stop (its `cancelled` said so)."""


@attrs.frozen
class PairStep:
    thread: str
    label: str
    step_pass: int | None  # 1-based step number in the passing run (None: it never runs there)
    step_fail: int  # ... in the failing run


@attrs.frozen
class Pair:
    """Two conflicting steps: `first` runs before `second` in the failing run, after it in the passing one."""

    first: PairStep
    second: PairStep
    objects: tuple[str, ...]  # what both touch in both runs (none when the passing run never takes one)
    failing_objects: tuple[str, ...] = ()  # what both touch in the failing run: what makes them conflict


@attrs.frozen
class Diff:
    names: tuple[str, ...]
    a: Run
    b: Run
    divergence: int | None  # 0-based position of the first differing step (None: same runs)
    failing: str | None  # "a" | "b" | None (both pass or both fail)
    oracle: str | None
    reordered: int  # how many conflicting pairs the two runs order differently
    pairs: tuple[Pair, ...]  # the 1-minimal set (empty when no failing/passing split)
    reproduces: bool  # does imposing `pairs` on the passing run reproduce the violation
    flipped: tuple[int, ...] = ()  # that replay's thread choices (to save as a schedule)


def object_name(key: tuple[str, object]) -> str:
    kind, oid = key
    return {"mm": f"mm {oid}", "t": f"PTE table {oid}", "f": f"frame {oid}", "tlb": f"TLB of cpu {oid}"}.get(
        kind, f"{kind} {oid}"
    )


def step_ids(run: Run) -> list[StepId]:
    """Each step's id (module docstring), in run order. A thread's op number
    counts the `OpDone` events emitted for it before the step (whoever's step
    emitted them)."""
    ops: dict[str, int] = {}
    seen: dict[StepId, int] = {}
    out: list[StepId] = []
    for s in run.steps:
        op = ops.get(run.names[s.thread], 0)
        key = (s.thread, op, s.label, 0)
        n = seen.get(key, 0)
        seen[key] = n + 1
        out.append((s.thread, op, s.label, n))
        for e in s.events:
            if isinstance(e, OpDone):
                ops[e.thread] = ops.get(e.thread, 0) + 1
    return out


def _ids(run: Run) -> dict[StepId, Step]:
    return dict(zip(step_ids(run), run.steps, strict=True))


def _previous(run: Run) -> dict[StepId, StepId | None]:
    """Each step's id -> the id of its thread's previous step (None for a thread's first)."""
    last: dict[int, StepId] = {}
    out: dict[StepId, StepId | None] = {}
    for s, sid in zip(run.steps, step_ids(run), strict=True):
        out[sid] = last.get(s.thread)
        last[s.thread] = sid
    return out


def passing_rank(passing: Run, failing: Run) -> dict[StepId, float]:
    """Where each failing step sits in the passing order; a step the passing run
    never takes goes right after its thread's previous step."""
    p = _ids(passing)
    rank: dict[StepId, float] = {}
    for sid, prev in _previous(failing).items():
        if sid in p:
            rank[sid] = p[sid].pos
        else:
            rank[sid] = rank[prev] + 1e-3 if prev is not None else -1.0
    return rank


def reordered_pairs(passing: Run, failing: Run) -> list[tuple[StepId, StepId]]:
    """(u, v): conflicting steps of two threads, u before v in `failing`, after it in `passing`."""
    rank = passing_rank(passing, failing)
    steps = list(zip(failing.steps, step_ids(failing), strict=True))
    out = []
    for i, (su, u) in enumerate(steps):
        for sv, v in steps[i + 1 :]:
            if su.thread != sv.thread and rank[u] > rank[v] and su.touched & sv.touched:
                out.append((u, v))
    return out


def impose(passing: Run, failing: Run, pairs: Iterable[tuple[StepId, StepId]]) -> list[int]:
    """The failing run's steps in the passing order, except that each (u, v) keeps u first."""
    rank = passing_rank(passing, failing)
    before: dict[StepId, set[StepId]] = {sid: set() for sid in rank}
    for u, v in pairs:
        before[v].add(u)
    for sid, prev in _previous(failing).items():
        if prev is not None:
            before[sid].add(prev)
    done: set[StepId] = set()
    order: list[int] = []
    pending = sorted(rank, key=lambda sid: rank[sid])
    while pending:
        i = next((i for i, sid in enumerate(pending) if before[sid] <= done), -1)
        if i < 0:
            break  # cannot happen: every constraint follows the failing order, which is acyclic
        sid = pending.pop(i)
        done.add(sid)
        order.append(sid[0])
    return order


def diff_runs(
    sc: Scenario, a: Run, b: Run, oracle: str | None = None, cancelled: Callable[[], bool] | None = None
) -> Diff:
    """Compare two recorded runs of `sc` (module docstring); raises DiffCancelled
    between replays once `cancelled()` is true."""
    names = tuple(t.name for t in sc.threads)
    div = next(
        (i for i, (x, y) in enumerate(zip(a.steps, b.steps, strict=False)) if x.thread != y.thread),
        None if len(a.steps) == len(b.steps) else min(len(a.steps), len(b.steps)),
    )
    va, vb = a.violates(oracle), b.violates(oracle)
    if va == vb:  # (the oracle asked about stays named: "neither reports lost_write")
        return Diff(names, a, b, div, None, oracle, 0, (), False)
    failing, passing, side = (b, a, "b") if vb else (a, b, "a")
    kind = oracle or failing.violations()[0][1].oracle
    all_pairs = reordered_pairs(passing, failing)

    def fails(pairs: Sequence[tuple[StepId, StepId]]) -> Run | None:
        if cancelled is not None and cancelled():
            raise DiffCancelled
        run = record_choices(sc, impose(passing, failing, pairs))
        return run if run.violates(kind) else None

    keep = list(all_pairs)
    flipped = fails(keep)
    if flipped:
        # earliest first: a cause usually sits near the violation, so the late pairs are the ones kept
        for pair in list(keep):
            trial = [q for q in keep if q != pair]
            run = fails(trial)
            if run:
                keep, flipped = trial, run
    p, f = _ids(passing), _ids(failing)

    def pstep(sid: StepId) -> PairStep:
        return PairStep(names[sid[0]], f[sid].label, p[sid].pos + 1 if sid in p else None, f[sid].pos + 1)

    def shared(run: dict[StepId, Step], u: StepId, v: StepId) -> frozenset[tuple[str, object]]:
        return run[u].touched & run[v].touched if u in run and v in run else frozenset()

    def named(keys: Iterable[tuple[str, object]]) -> tuple[str, ...]:
        return tuple(sorted(object_name(k) for k in keys))

    # A pair conflicts by the failing run's footprints; the same steps may touch other
    # objects in the passing run, or not run there: "both touch" names only what both do.
    pairs = tuple(
        Pair(pstep(u), pstep(v), named(shared(f, u, v) & shared(p, u, v)), named(shared(f, u, v)))
        for u, v in (keep if flipped else [])
    )
    return Diff(
        names, a, b, div, side, kind, len(all_pairs), pairs, flipped is not None, flipped.choices if flipped else ()
    )


def diff_json(d: Diff, labels: tuple[str, str]) -> dict[str, Any]:
    def run(r: Run, label: str) -> dict[str, Any]:
        return {
            "schedule": label,
            "steps": len(r.steps),
            "violations": [{"step": pos + 1, "oracle": v.oracle, "thread": v.thread} for pos, v in r.violations()],
        }

    div: dict[str, Any] | None = None
    if d.divergence is not None:
        div = {"step": d.divergence + 1}
        for side, r in (("a", d.a), ("b", d.b)):
            s = r.steps[d.divergence] if d.divergence < len(r.steps) else None
            div[JSON_RUNS[side]] = None if s is None else {"thread": d.names[s.thread], "label": s.label}
    return {
        "run1": run(d.a, labels[0]),
        "run2": run(d.b, labels[1]),
        "divergence": div,
        "failing": JSON_RUNS[d.failing] if d.failing else None,
        "oracle": d.oracle,
        "reordered_pairs": d.reordered,
        "reproduces": d.reproduces,
        "flipped": [e.text for e in entries_of(list(d.names), d.flipped)],
        "pairs": [
            {
                "first": attrs.asdict(p.first),
                "second": attrs.asdict(p.second),
                "objects": list(p.objects),
                "failing_objects": list(p.failing_objects),
            }
            for p in d.pairs
        ],
    }


def run_line(name: str, label: str, run: Run) -> str:
    """`Run 1 = pass.toml: 60 steps, lost_write at step 52 (A1)`."""
    vs = run.violations()
    what = "no violation"
    if vs:
        pos, v = vs[0]
        what = f"{v.oracle} at step {pos + 1} ({v.thread})"
    return f"{name.capitalize()} = {label}: {counted(len(run.steps), 'step')}, {what}"


def prose(d: Diff, labels: tuple[str, str], noun: str = "schedules") -> list[str]:
    """The diff as sentences (one per line), as `spftui diff` prints them above its table
    (`noun`: what the runs are, "schedules" there, "timelines" in the debugger)."""
    one, two = RUNS
    out = [run_line(one, labels[0], d.a), run_line(two, labels[1], d.b)]
    if d.divergence is None:
        out.append(f"The two {noun} run the same steps.")
        return out
    k = d.divergence

    def at(run: Run, name: str) -> str:
        if k >= len(run.steps):
            return f"{name} has ended"
        s = run.steps[k]
        return f"{d.names[s.thread]} {s.label} in {name}"

    out.append(f"First divergence at step {k + 1}: {at(d.a, one)}, {at(d.b, two)}.")
    if d.failing is None:
        if d.oracle is not None:  # (--oracle: about that one, whatever else either run reports)
            both = f"Both {noun} report {d.oracle}" if d.a.violates(d.oracle) else f"Neither run reports {d.oracle}"
        else:
            both = f"Both {noun} " + ("report a violation" if d.a.violations() else "pass")
        out.append(f"{both}: no passing/failing pair to explain.")
        return out
    fail, ok = (one, two) if d.failing == "a" else (two, one)
    n = len(d.pairs)
    pairs = f"{counted(d.reordered, 'pair')} of conflicting steps {'runs' if d.reordered == 1 else 'run'}"
    out.append(f"{pairs} in opposite orders in {one} and {two}.")  # (the runs in the order given)
    if not d.reproduces:
        out.append(f"Imposing all of them on {ok} does not reproduce {d.oracle}: the runs differ by more than order.")
        return out
    out.append(
        f"{'This one is' if n == 1 else f'These {n} are'} enough: {ok}'s order with "
        f"{'it' if n == 1 else 'them'} flipped reports {d.oracle}."
    )
    for i, p in enumerate(d.pairs, 1):
        was = f"step {p.second.step_pass}" if p.second.step_pass is not None else "never runs"
        out.append(
            f"  {i}. {p.first.thread} {p.first.label} (step {p.first.step_fail} of {fail}) runs before "
            f"{p.second.thread} {p.second.label} (step {p.second.step_fail} of {fail}; in {ok}: {was}); "
            f"{touch(p, fail, ok)}."
        )
    sched = ", ".join(e.text for e in entries_of(list(d.names), d.flipped))
    out.append(f"Flipped schedule: {sched}")
    return out


def touch(p: Pair, fail: str, ok: str) -> str:
    """What both steps of `p` touch, said of both runs only where it holds in both."""
    both = ", ".join(p.objects)
    only = ", ".join(o for o in p.failing_objects if o not in p.objects)
    if not only:
        return f"both touch {both}"
    if both:
        return f"both touch {both} (in {fail} also {only})"
    gone = [f"{s.thread}'s step" for s in (p.first, p.second) if s.step_pass is None]
    there = f"{ok} never runs {' or '.join(gone)}" if gone else f"in {ok} they share nothing"
    return f"in {fail} both touch {only} ({there})"


@attrs.frozen
class SideRow:
    """One row of the side-by-side table: step number (0: a gap of `a` = "(N steps)"), run 1's and run 2's step."""

    step: int
    a: str
    b: str
    divergence: bool = False  # the first differing step
    marked_a: bool = False  # a step of a flipped pair
    marked_b: bool = False


def side_rows(d: Diff) -> list[SideRow]:
    """Both runs around the divergence and the flipped pairs' steps; quiet stretches become one gap row."""
    fail = d.failing or "b"
    marks: dict[str, set[int]] = {"a": set(), "b": set()}
    for p in d.pairs:
        for s in (p.first, p.second):
            marks[fail].add(s.step_fail - 1)
            if s.step_pass is not None:
                marks["b" if fail == "a" else "a"].add(s.step_pass - 1)
    k = d.divergence or 0
    last = max([k + 1, *marks["a"], *marks["b"]])
    end = min(max(len(d.a.steps), len(d.b.steps)), last + 2)
    rows: list[SideRow] = []
    quiet: list[int] = []  # the positions of the quiet stretch so far

    def row(pos: int) -> SideRow:
        cells = [
            f"{d.names[run.steps[pos].thread]} {run.steps[pos].label}" if pos < len(run.steps) else ""
            for run in (d.a, d.b)
        ]
        return SideRow(pos + 1, cells[0], cells[1], pos == k, pos in marks["a"], pos in marks["b"])

    def close_gap() -> None:
        if len(quiet) == 1:  # (its gap row would take the room the step's own row takes)
            rows.append(row(quiet[0]))
        elif quiet:
            rows.append(SideRow(0, f"({len(quiet)} steps)", ""))
        quiet.clear()

    for pos in range(max(k - 1, 0), end):
        if not any(abs(pos - m) <= 1 for m in {k, *marks["a"], *marks["b"]}):
            quiet.append(pos)
            continue
        close_gap()
        rows.append(row(pos))
    close_gap()
    return rows


def side_title(d: Diff) -> str:
    rows = [r.step for r in side_rows(d) if r.step]
    legend = "▶ a flipped pair, bold: first divergence" if d.pairs else "bold: first divergence"
    return f"steps {rows[0] if rows else 1}–{rows[-1] if rows else 1} ({legend})"
