"""Shrinking a counterexample, two levels (delta debugging, Zeller & Hildebrandt 2002).

Level 1, the scenario: try each smaller scenario one edit away — drop a
thread, an op, a process, a mapping, a data word, halve a mapping, repeat
once — and keep the first one in which the violation persists, trying on
from that place in the smaller scenario's edits; stop when a pass over all
of them keeps none (1-minimal: removing any single part loses the bug). A
candidate is written as TOML and parsed again, so only valid scenarios are
tried. "Persists" means the explorer finds it (`explore(first=True)`): the first
search may take every schedule, the later ones stop at the preemption count
the first counterexample needed (a preemption-bounded search, as CHESS
does: much cheaper when the candidate has no bug). A state budget, not a
clock, bounds each search, so the result is the same on any machine.

Level 2, the schedule: from that search's counterexample (already one with
the fewest preemptions it knows), drop whole runs of one thread while the
violation persists (a dropped run's steps happen later, round-robin), then
cut everything after the violating step. Neither level keeps a change that
makes the schedule longer: the result never has more steps than the first
counterexample.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from ..scenario import ScenarioError
from ..scenario.loader import parse_scenario
from . import user_oracles
from .explorer import explore
from .limits import SHRINK_MAX_STATES
from .narrate import Result, entries_of
from .recording import Run, record_choices
from .scenario_breakpoints import applicable
from .scenario_toml import scenario_toml

if TYPE_CHECKING:
    from ..scenario.model import Scenario, ScheduleEntry

PAGE = 4096
DEFAULT_MAX_STATES = SHRINK_MAX_STATES


class ShrinkError(Exception):
    """Nothing to shrink: the violation is not found in the scenario."""


@attrs.frozen
class Size:
    """How big a counterexample is: the scenario's parts and the schedule's."""

    threads: int
    ops: int
    processes: int
    mappings: int
    pages: int
    data: int
    steps: int  # steps up to and including the violating one
    entries: int  # runs of one thread
    preemptions: int

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen
class Shrunk:
    scenario: Scenario
    oracle: str
    choices: tuple[int, ...]  # up to and including the violating step
    entries: tuple[ScheduleEntry, ...]
    before: Size
    after: Size
    tries: int  # searches run
    detail: str  # the violation's text
    interrupted: bool = False  # Ctrl-C cut the shrinking: the smallest reached so far (maybe as found)


def size_of(sc: Scenario, run: Run | None = None, upto: int = 0) -> Size:
    steps = run.steps[:upto] if run is not None else ()
    return Size(
        threads=len(sc.threads),
        ops=sum(len(t.ops) * t.repeat for t in sc.threads),
        processes=len(sc.processes),
        mappings=sum(len(p.mappings) for p in sc.processes),
        pages=sum(m.length // PAGE for p in sc.processes for m in p.mappings),
        data=sum(len(p.data) for p in sc.processes),
        steps=len(steps),
        entries=len(entries_of(list(run.names), [s.thread for s in steps])) if run is not None else 0,
        preemptions=run.preemptions(upto) if run is not None else 0,
    )


def find(
    sc: Scenario, oracle: str | None, max_states: int, bound: int | None = None
) -> tuple[str, tuple[int, ...], str, int] | None:
    """(oracle, choices up to the violation, detail, preemptions) of the first violation the
    explorer finds: fewest preemptions first, up to `bound` (None: then every schedule).
    Raises KeyboardInterrupt when the search was interrupted (not "nothing found")."""
    return search(sc, oracle, max_states, bound)[0]


def search(
    sc: Scenario, oracle: str | None, max_states: int, bound: int | None = None
) -> tuple[tuple[str, tuple[int, ...], str, int] | None, Result]:
    """`find`, and the explorer's result (was a search that found nothing complete?)."""
    if bound is None:
        r = explore(sc, mode="auto", first=True, max_states=max_states, narrate=False)
    else:
        r = explore(sc, mode="bounded", bound=bound, first=True, max_states=max_states, narrate=False)
    if r.stop == "interrupted":  # explore takes the Ctrl-C itself and returns what it has: pass it on
        raise KeyboardInterrupt
    cxs = r.counterexamples
    kinds = [oracle] if oracle else sorted(cxs)
    for kind in kinds:
        cx = cxs.get(kind)
        if cx is not None:
            return (kind, cx.choices[: cx.stop_at], cx.detail, cx.preemptions), r
    return None, r


def candidates(sc: Scenario) -> Iterator[Scenario]:
    """Every scenario one edit smaller than `sc` (possibly invalid: the caller parses them)."""
    threads, procs = sc.threads, sc.processes
    if len(threads) > 1:
        for i in range(len(threads)):
            yield attrs.evolve(sc, threads=threads[:i] + threads[i + 1 :])
    for i, t in enumerate(threads):
        if t.repeat > 1:
            yield attrs.evolve(sc, threads=_put(threads, i, attrs.evolve(t, repeat=1)))
        if len(t.ops) > 1:
            for j in range(len(t.ops)):
                yield attrs.evolve(sc, threads=_put(threads, i, attrs.evolve(t, ops=t.ops[:j] + t.ops[j + 1 :])))
    for i in range(len(procs)):
        yield attrs.evolve(sc, processes=procs[:i] + procs[i + 1 :])
    for i, p in enumerate(procs):
        for j, m in enumerate(p.mappings):
            yield attrs.evolve(
                sc, processes=_put(procs, i, attrs.evolve(p, mappings=p.mappings[:j] + p.mappings[j + 1 :]))
            )
            pages = m.length // PAGE
            if pages > 1:
                half = attrs.evolve(m, length=(pages // 2) * PAGE)
                yield attrs.evolve(sc, processes=_put(procs, i, attrs.evolve(p, mappings=_put(p.mappings, j, half))))
            if m.populate:
                lazy = attrs.evolve(m, populate=False)
                yield attrs.evolve(sc, processes=_put(procs, i, attrs.evolve(p, mappings=_put(p.mappings, j, lazy))))
        for j in range(len(p.data)):
            yield attrs.evolve(sc, processes=_put(procs, i, attrs.evolve(p, data=p.data[:j] + p.data[j + 1 :])))


def _put(items: tuple[Any, ...], i: int, item: Any) -> tuple[Any, ...]:
    return (*items[:i], item, *items[i + 1 :])


def valid(sc: Scenario) -> Scenario | None:
    """`sc` as the loader would read it from its TOML, or None when a file could not say it.
    Its breakpoints and its own oracles that name a thread or a process no longer there are
    dropped, and the oracles true before any step (`spftui check` would refuse them)."""
    sc = attrs.evolve(sc, breakpoints=applicable(sc))
    sc = attrs.evolve(sc, oracles=user_oracles.applicable(sc))
    try:
        parsed = parse_scenario(scenario_toml(sc, description=""), sc.path or "<shrink>")
    except ScenarioError:
        return None
    oracles = user_oracles.sound_at_start(parsed)  # (one the smaller setup makes true at the start: dropped)
    return attrs.evolve(parsed, title=sc.title, description=sc.description, path=sc.path, oracles=oracles)


def shrink(
    sc: Scenario,
    oracle: str | None = None,
    *,
    max_states: int = DEFAULT_MAX_STATES,
    progress: Callable[[Size], None] | None = None,
) -> Shrunk:
    """Shrink `sc` and its counterexample while the violation persists (module docstring).

    A Ctrl-C (KeyboardInterrupt) in the first search, before a violation is found, is
    raised; one after it ends the shrinking: the result is the smallest counterexample
    reached so far, with `interrupted` set (nothing the searches found is lost)."""
    first, r = search(sc, oracle, max_states)
    if first is None:
        what = oracle or "violation"
        if r.complete:  # (every interleaving was searched: there is none, not "none found so far")
            raise ShrinkError(f"no {what} exists (complete search: {r.states:,} states): nothing to shrink")
        raise ShrinkError(f"no {what} found within {max_states:,} states: nothing to shrink")
    kind, choices, detail, bound = first
    run0 = record_choices(sc, choices)
    before = size_of(sc, run0, len(choices))
    tries = 1
    cur, cur_choices, cur_detail = sc, choices, detail
    # After a kept edit the next pass starts where it was: the candidates before it
    # were tried and lost the bug (one edit rarely revives another), and the edit
    # after it now sits at its place. A pass from the start that keeps nothing ends
    # the search, so the result is 1-minimal all the same.
    start = 0
    best = [(cur, cur_choices, cur_detail)]  # the smallest so far (one store: whole at any Ctrl-C)
    interrupted = False
    try:
        while True:
            kept = None
            for i, cand in enumerate(candidates(cur)):
                if i < start:
                    continue
                ok = valid(cand)
                if ok is None:
                    continue
                tries += 1
                hit = find(ok, kind, max_states, max(bound, 1))
                # smaller means the whole counterexample: an edit whose violation takes more steps
                # (a data word dropped, so the page must be faulted in first) is not kept
                if hit is not None and len(hit[1]) <= len(cur_choices):
                    best[0] = cur, cur_choices, cur_detail = ok, hit[1], hit[2]
                    kept = i
                    if progress is not None:
                        progress(size_of(cur))
                    break
            if kept is not None:
                start = kept
            elif start:
                start = 0
            else:
                break

        def keep(choices: tuple[int, ...], detail: str) -> None:
            best[0] = (cur, choices, detail)

        _shrink_schedule(cur, kind, cur_choices, cur_detail, keep)
    except KeyboardInterrupt:
        interrupted = True
    cur, cur_choices, cur_detail = best[0]
    run = record_choices(cur, cur_choices)
    names = [t.name for t in cur.threads]
    return Shrunk(
        cur, kind, cur_choices, entries_of(names, cur_choices), before, size_of(cur, run, len(cur_choices)), tries,
        cur_detail, interrupted,
    )  # fmt: skip


def _violation_at(run: Run, kind: str) -> tuple[int, str] | None:
    for pos, v in run.violations():
        if v.oracle == kind:
            return pos, v.detail
    return None


def _shrink_schedule(
    sc: Scenario,
    kind: str,
    choices: tuple[int, ...],
    detail: str,
    keep: Callable[[tuple[int, ...], str], None] | None = None,
) -> tuple[tuple[int, ...], str]:
    """Drop runs of one thread while the violation persists; keep the steps up to it
    (each shorter schedule is handed to `keep` as it is found)."""
    changed = True
    while changed:
        changed = False
        blocks = _blocks(choices)
        for i in range(len(blocks)):
            trial = [c for j, b in enumerate(blocks) if j != i for c in b]
            run = record_choices(sc, trial)
            at = _violation_at(run, kind)
            if at is not None:
                new = run.choices[: at[0] + 1]
                # never longer than what it was given (fewer preemptions bought with more steps is not shorter)
                shorter = len(new) <= len(choices)
                if shorter and _cost(run, at[0] + 1) < _cost(record_choices(sc, choices), len(choices)):
                    choices, detail = new, at[1]
                    if keep is not None:
                        keep(choices, detail)
                    changed = True
                    break
    return choices, detail


def _cost(run: Run, upto: int) -> tuple[int, int, int]:
    return run.preemptions(upto), len(_blocks(run.choices[:upto])), upto


def _blocks(choices: tuple[int, ...] | list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for c in choices:
        if out and out[-1][0] == c:
            out[-1].append(c)
        else:
            out.append([c])
    return out


def save(shrunk: Shrunk, out_dir: str, stem: str, description: str, *, number: bool = False) -> tuple[str, str]:
    """Write the shrunk scenario (`STEM.toml`, with an `[expect]` saying the violation happens
    and a `[schedule]` that shows it) and its schedule (`STEM.schedule.toml`) into `out_dir`;
    never over an existing file: a taken name is refused, or with `number` the pair gets the
    first free STEM.2, STEM.3, ... (as `explore --save` numbers its files). Both or neither:
    when the schedule cannot be written, the scenario just written is removed again. Returns
    the two paths; raises WriteError."""
    from .files import REFUSE, WriteError, write_file
    from .schedule_file import write_schedule

    check_out(out_dir, None if number else stem)  # (again: the files may have appeared since)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise WriteError(out_dir, f"cannot make the directory: {e.strerror or e}") from None
    sc_path, sched_path = _free_paths(out_dir, stem) if number else _paths(out_dir, stem)
    sc = attrs.evolve(shrunk.scenario, path=sc_path)
    text = scenario_text(shrunk, sc_path, description)
    sc_path = write_file(sc_path, text, exists=REFUSE, what="the scenario")
    comment = f"{sc.title} (policy {sc.policy}, reuse {sc.reuse})\n{shrunk.oracle}: {shrunk.detail}"
    try:
        write_schedule(
            sched_path, sc, shrunk.entries, comment, policy=sc.policy, reuse=sc.reuse, stop_at=len(shrunk.choices),
            exists=REFUSE,
        )  # fmt: skip
    except (WriteError, KeyboardInterrupt) as e:
        try:
            os.unlink(sc_path)  # (ours: written just now, under a name that was free)
        except OSError as gone:
            if isinstance(e, WriteError):
                raise WriteError(
                    e.path, f"{e.message}; {sc_path}, written before it, could not be removed either: {gone.strerror}"
                ) from None
        raise
    return sc_path, sched_path


def scenario_text(shrunk: Shrunk, path: str, description: str) -> str:
    """The shrunk scenario's file text (what `save` writes at `path`): its own [schedule] too,
    so the file alone replays the violation (and `check` judges its [expect] on it)."""
    sc = attrs.evolve(shrunk.scenario, path=path)
    return scenario_toml(sc, description=description, expect={shrunk.oracle: "sometimes"}, schedule=shrunk.entries)


def _paths(out_dir: str, stem: str) -> tuple[str, str]:
    return os.path.join(out_dir, f"{stem}.toml"), os.path.join(out_dir, f"{stem}.schedule.toml")


def _free_paths(out_dir: str, stem: str) -> tuple[str, str]:
    """The first of STEM, STEM.2, STEM.3, ... whose scenario and schedule names are both free
    (one number for the pair, so the schedule is found beside its scenario)."""
    from .files import MAX_NUMBER, WriteError

    for n in range(1, MAX_NUMBER):
        paths = _paths(out_dir, stem if n == 1 else f"{stem}.{n}")
        if not any(os.path.lexists(p) for p in paths):
            return paths
    raise WriteError(
        os.path.join(out_dir, f"{stem}.toml"), f"cannot write the scenario: {MAX_NUMBER} numbered names are taken"
    )


def check_out(out_dir: str, stem: str | None = None) -> None:
    """Raise WriteError now if `save` into `out_dir` must fail: a file where the directory
    (or one it is made in) should be, a directory nothing can be written in (read-only, no
    permission), or with `stem` a file `save` would have to replace. Leaves nothing behind:
    the commands check before they search, not after."""
    from .files import WriteError, cannot_write_in

    at = os.path.abspath(out_dir)
    while not os.path.lexists(at) and os.path.dirname(at) != at:
        at = os.path.dirname(at)
    if not os.path.isdir(at):
        raise WriteError(out_dir, f"cannot make the directory: {at} is not a directory")
    why = cannot_write_in(at)
    if why is not None:
        made = at != os.path.abspath(out_dir)  # (out_dir is not there yet: it would be made in `at`)
        what = f"cannot make the directory in {at}" if made else "cannot write in the directory"
        raise WriteError(out_dir, f"{what}: {why}")
    for path in _paths(out_dir, stem) if stem is not None else ():
        if os.path.lexists(path):  # checked up front so that neither file is written
            raise WriteError(path, "already exists (spftui never replaces a file here; pick another --out)")


def unshrunk(sc: Scenario, oracle: str, choices: tuple[int, ...], detail: str) -> Shrunk:
    """A counterexample as found (when the explorer cannot find it again within its budget)."""
    run = record_choices(sc, choices)
    size = size_of(sc, run, len(choices))
    return Shrunk(sc, oracle, choices, entries_of([t.name for t in sc.threads], choices), size, size, 0, detail)
