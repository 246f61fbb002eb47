"""Schedule files: the one writer, and the scenario identity they carry.

A schedule file records the scenario it was made on as `scenario_name` (the
file's stem) and `scenario_hash`: a SHA-256 over the parts of the scenario
that decide a replay — the kernel, the words per page, the processes with
their mappings and data, the threads with their ops and repeat counts. The
title, description, comments, line numbers, how an op was spelt, `[expect]`,
the scenario's own `[schedule]`, its policy and reuse rule (the schedule
records its own) and its seed are left out, so editing those keeps the
identity. `check_identity` refuses a schedule recorded on another scenario
unless forced; a file without an identity (older spftui, or written by hand)
is replayed with a warning.

A file is meant to be shared, so it names its scenario without an absolute
path: `scenario = "cow_lost_write"` for a bundled one, else the scenario's
path relative to the schedule file's directory (move both together and it
still opens); `scenario_for` resolves that, and a `scenario` not found (an
older file's absolute path) or not given falls back, with a note, to the
bundled scenario of the same name (its identity is then checked as usual). Its entries are
label-based where that replays the same steps: a run of one thread is written
`A1 until wp_page_copy:copy` (the step it stops before) or `A1 until done`,
and keeps a count (`A1 17`) only where the label also occurs inside the run.
`labelled` derives them by replaying the run, and checks the result replays
to the same choices.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.state import DONE
from ..scenario.files import bundled_scenarios_dir, resolve_scenario
from ..scenario.model import ScheduleEntry
from ..scenario.syntax import NAME, entry_text
from .files import NUMBER, REFUSE, REPLACE, write_file
from .schedule import Replay
from .user_oracles import build_machine

if TYPE_CHECKING:
    from ..scenario.model import Scenario, ScheduleFile

LABEL_LIMIT = 200_000
"""Runs longer than this many steps keep their entries as given (deriving labels replays the run twice)."""

_NOT_CONTENT = ("line", "text")  # where an op or key sits in the file, and how it was spelt
# Fields added after identities were first recorded: left out while they hold
# their default, so every scenario without them keeps its recorded identity.
_NEWER = ("foll", "new_length", "new_addr", "dontunmap", "file", "uffd_wp", "growsdown")


def scenario_name(sc: Scenario) -> str:
    return os.path.splitext(os.path.basename(sc.path))[0] or sc.title


def scenario_hash(sc: Scenario) -> str:
    """`sha256:<hex>` of the scenario's canonical content (module docstring)."""

    def plain(objs: Iterable[Any]) -> list[Any]:
        def keep(a: attrs.Attribute[Any], v: Any) -> bool:
            return a.name not in _NOT_CONTENT and not (a.name in _NEWER and v == a.default)

        return [attrs.asdict(o, filter=keep) for o in objs]

    content = {
        "kernel": sc.kernel,
        "words_per_page": sc.words_per_page,
        "processes": plain(sc.processes),
        "threads": plain(sc.threads),
    }
    if sc.files:
        content["files"] = plain(sc.files)
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def identity(sc: Scenario) -> tuple[str, str]:
    return scenario_name(sc), scenario_hash(sc)


FORCE_HINT = "use --force to replay it anyway"
"""How to replay a schedule of another scenario, from the command line."""


def check_identity(
    sc: Scenario, sf: ScheduleFile, path: str, force: bool = False, force_hint: str = FORCE_HINT
) -> str | None:
    """None when `sf` was recorded on `sc`; a warning when it records no identity
    (or differs and `force`); raises ScenarioError (ending with `force_hint`) when it differs."""
    from ..scenario import ScenarioError

    if not sf.scenario_hash:
        return f"{path}: no scenario identity recorded; replaying it on '{scenario_name(sc)}' unchecked"
    mine = scenario_hash(sc)
    if sf.scenario_hash == mine:
        return None
    name = scenario_name(sc)
    if sf.scenario_name == name:  # ("recorded on 'x', not on 'x'" read as nonsense)
        where = f"another version of '{name}' ({sf.scenario_hash[:19]}), this one is ({mine[:19]})"
    else:
        theirs = f"'{sf.scenario_name}'" if sf.scenario_name else "another scenario"
        where = f"{theirs} ({sf.scenario_hash[:19]}), not on '{name}' ({mine[:19]})"
    message = f"recorded on {where}: its processes, mappings or threads differ"
    if force:
        return f"{path}: {message}; replaying it anyway (--force)"
    raise ScenarioError(f"{message} ({force_hint})", path, sf.scenario_hash_line, "scenario_hash")


def write_schedule(
    path: str,
    sc: Scenario,
    entries: Iterable[ScheduleEntry],
    comment: str,
    *,
    policy: str,
    reuse: str,
    stop_at: int | None,
    exists: str = REFUSE,
) -> str:
    """Write a schedule file for `sc` atomically (engine/files.py); returns the path
    written (another one with `exists=NUMBER` when the name is taken). Raises WriteError."""
    from ..scenario import dump_schedule

    entries = labelled(sc.with_policy(policy or None, reuse or None), entries)
    text = dump_schedule(
        entries,
        scenario_ref(sc, path),
        comment,
        policy=policy,
        reuse=reuse,
        stop_at=stop_at,
        identity=identity(sc),
        fixes_off=sc.fixes_off,
    )
    return write_file(path, text, exists=exists, what="the schedule")


def scenario_ref(sc: Scenario, schedule_path: str) -> str | None:
    """How a schedule file at `schedule_path` names `sc`: the bundled name, else
    a path relative to the schedule's directory (None: `sc` has no file)."""
    if not sc.path:
        return None
    here = os.path.realpath(sc.path)
    if os.path.dirname(here) == os.path.realpath(bundled_scenarios_dir()):
        return scenario_name(sc)
    return os.path.relpath(here, os.path.dirname(os.path.realpath(schedule_path)))


def scenario_for(schedule_path: str, sf: ScheduleFile) -> tuple[str | None, str | None]:
    """The scenario file (or bundled name) a schedule file names, if it can be found,
    and a note when that is the bundled `scenario_name` standing in for a `scenario`
    that is not found (an older file's path into another install) or not given."""
    ref = sf.scenario
    if ref:
        for path in (os.path.join(os.path.dirname(schedule_path), ref), ref):  # beside it; an absolute path
            if os.path.isfile(path):
                return path, None
        if NAME.fullmatch(ref) and resolve_scenario(ref) != ref:
            return ref, None  # a bundled name
    name = sf.scenario_name
    if name and NAME.fullmatch(name) and resolve_scenario(name) != name:
        missing = f"scenario '{ref}' not found" if ref else "`scenario` not given"
        return name, f"{schedule_path}: {missing}; opening the bundled '{name}' (its scenario_name)"
    return None, None


def labelled(sc: Scenario, entries: Iterable[ScheduleEntry], limit: int = LABEL_LIMIT) -> tuple[ScheduleEntry, ...]:
    """`entries` rewritten as runs of one thread, each `until LABEL` (or `until done`)
    where that is unambiguous, else with its count; the same steps when replayed on `sc`."""
    given = tuple(entries)
    runs, choices = _runs(sc, given, limit)
    if runs is None:
        return given
    out = tuple(e for idx, pcs, pc in runs for e in _entries(sc.threads[idx].name, pcs, pc))
    if _runs(sc, out, len(choices))[1] != choices:  # never write a schedule that replays differently
        return given
    return out


def _runs(
    sc: Scenario, entries: tuple[ScheduleEntry, ...], limit: int
) -> tuple[list[tuple[int, list[str], str]] | None, list[int]]:
    """Replay `entries` on `sc` (not the round-robin after them): ([(thread, its pc
    before each step of the run, its pc after it or DONE)], the choices); None if over `limit`."""
    m = build_machine(sc)
    replay = Replay(entries)
    runs: list[tuple[int, list[str], str]] = []
    choices: list[int] = []

    def after(idx: int) -> str:
        t = m.threads[idx]
        return DONE if t.state == DONE else t.pc

    while True:
        idx = replay.choose(m)
        if idx is None or replay.current_entry() is None:
            break
        if len(choices) >= limit:
            return None, choices
        if runs and runs[-1][0] != idx:
            runs[-1] = (runs[-1][0], runs[-1][1], after(runs[-1][0]))
        if not runs or runs[-1][0] != idx:
            runs.append((idx, [], ""))
        runs[-1][1].append(m.threads[idx].pc)  # what Replay compares an `until` with: "" between two ops
        m.step(idx)
        choices.append(idx)
    if runs:
        runs[-1] = (runs[-1][0], runs[-1][1], after(runs[-1][0]))
    return runs, choices


MAX_PIECES = 3
"""A run split into more label-based entries than this keeps its count (one entry reads better)."""


def _entries(thread: str, pcs: list[str], after: str) -> list[ScheduleEntry]:
    """One run of `thread` as entries: `pcs` is its pc before each step, `after`
    its pc after the run (DONE: it finished). Replay ends an `until L` entry at
    the first pc == L after the entry's first step, so L must not be among the
    piece's pcs[1:]; a run whose end is ambiguous is split where a label is not
    (the seed race's `A1 until wp_page_copy:copy` then `A1 until
    pte_map_lock:seq_check`). Between two ops a thread's pc is "" (no label to
    stop at), and a run that would need more than MAX_PIECES entries keeps its
    count."""
    nxt = [*pcs[1:], after]  # the pc Replay compares after each step
    out: list[ScheduleEntry] = []
    s = 0
    while s < len(pcs):
        seen: set[str] = set()
        end = 0
        for e in range(s, len(pcs)):
            if e > s:
                seen.add(pcs[e])
            if nxt[e] and (nxt[e] == DONE or nxt[e] not in seen):
                end = e + 1
        if not end or len(out) == MAX_PIECES:
            out = [ScheduleEntry(thread, len(pcs))]
            break
        out.append(ScheduleEntry(thread, 1, nxt[end - 1]))
        s = end
    return [attrs.evolve(e, text=entry_text(e)) for e in out]


__all__ = [
    "FORCE_HINT",
    "NUMBER",
    "REFUSE",
    "REPLACE",
    "check_identity",
    "identity",
    "labelled",
    "scenario_for",
    "scenario_hash",
    "scenario_ref",
    "write_schedule",
]
