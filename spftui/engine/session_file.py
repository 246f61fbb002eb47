"""Session files: a debugging session as plain TOML you can read and share.

A session file names its scenario as `scenario_name` and `scenario_hash`
(`schedule_file.identity`: the same content hash schedule files carry) and
records what a user builds while debugging: the policy and reuse rule, the
strategy (`seed = N`, or the `schedule` it replays), the breakpoints with
their watches and conditions, the bookmarks, every timeline (branch) as a
step schedule plus the steps chosen by hand, and the branch and step the
user was at. Loading it on another scenario is refused at `scenario_hash`.

The TUI saves one per scenario to the state directory (`state_dir()`:
`$SPFTUI_STATE_DIR`, else `$XDG_STATE_HOME/spftui`, else
`~/.local/state/spftui`), atomically (engine/files.py), and offers to
restore it when that scenario is opened again. A bad file is a ScenarioError
at its line and key, and so is one that cannot mean what it says (a branch no
timeline has, a timeline that does not replay, a breakpoint that would never
fire, two strategies, two bookmarks of one name, a hand-chosen step past its
timeline's end): nothing in it is dropped or moved silently. It is never
overwritten by a failed load.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..scenario import ScenarioError, parse_entry, read_text
from ..scenario.document import ARRAY, BOOLEAN, INTEGER, STRING, Document
from ..scenario.loader import SCENARIO_KEYS, check_digest, recorded_fixes_off, toml_string
from ..scenario.locate import KeyPath, format_key
from ..scenario.model import POLICIES, REUSE_RULES, ScheduleEntry
from ..scenario.syntax import entry_text
from .breakpoints import ALL_KINDS, never_fires
from .expr import ExprError
from .files import MAX_NUMBER, REPLACE, WriteError, numbered, write_file
from .schedule import Replay, RoundRobin, SeededRandom, Strategy
from .schedule_file import identity, scenario_hash
from .session import SavedTimeline, Session, SessionError

if TYPE_CHECKING:
    from ..scenario.model import Scenario

VERSION = 1
STATE_ENV = "SPFTUI_STATE_DIR"
MAX_SESSION_BYTES = 16 << 20

_TOP = ("version", "scenario_name", "scenario_hash", "policy", "reuse", "fixes_off", "seed", "schedule", "strategy",
        "branch", "step", "breakpoint", "bookmark", "timeline")  # fmt: skip
_BREAKPOINT = ("kind", "match", "thread", "expr", "condition", "enabled", "hits")
_BOOKMARK = ("name", "step", "branch")
_TIMELINE = ("branch", "steps", "manual")
_STRATEGY = ("seed", "schedule", "strategy")  # one of them: each says how the run chooses its steps


def state_dir() -> str:
    """Where the TUI keeps its sessions (module docstring)."""
    own = os.environ.get(STATE_ENV)
    if own:  # (a `~` the shell left unexpanded in quotes would make a directory named ~ here)
        return os.path.abspath(os.path.expanduser(own))
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(os.path.abspath(os.path.expanduser(base)), "spftui")


def autosave_path(sc: Scenario) -> str:
    """The state directory's session file for `sc` (one per scenario name and content)."""
    name, digest = identity(sc)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "scenario"
    return os.path.join(state_dir(), "sessions", f"{safe}.{digest.removeprefix('sha256:')[:12]}.session.toml")


def set_aside_if_unreadable(path: str) -> str | None:
    """Before a save replaces the session file at `path`: if that file cannot be read
    (the user may mean to mend it), rename it to NAME.unreadable[.N].session.toml and
    return the new name; None when there is nothing to keep. Raises WriteError."""
    if not os.path.isfile(path):
        return None
    try:
        load_session(path)
        return None
    except ScenarioError:
        pass
    kept = path.removesuffix(".session.toml") + ".unreadable.session.toml"
    for n in range(1, MAX_NUMBER):
        target = kept if n == 1 else numbered(kept, n)
        try:
            os.link(path, target)  # fails if the name is taken: nothing is ever replaced
        except FileExistsError:
            continue
        except OSError as e:
            raise WriteError(path, f"cannot keep the unreadable session aside: {e.strerror or e}") from None
        os.unlink(path)
        return target
    raise WriteError(path, "cannot keep the unreadable session aside: every numbered name is taken")


# ------------------------------------------------------------------ writing
def dump_session(s: Session) -> str:
    """The session as TOML text that `load_session` reads back."""
    name, digest = identity(s.scenario)
    out = [
        "# spftui session: breakpoints, bookmarks, branches and the step you were at.",
        f"# Open it with: spftui {name} --session FILE",
        f"version = {VERSION}",
        f"scenario_name = {toml_string(name)}",
        f"scenario_hash = {toml_string(digest)}",
        f"policy = {toml_string(s.scenario.policy)}",
        f"reuse = {toml_string(s.scenario.reuse)}",
        f"fixes_off = [{', '.join(toml_string(n) for n in sorted(s.scenario.fixes_off))}]",
        *_strategy_lines(s),
        f"branch = {s.branch_id}",
        f"step = {s.position}  # step N is the N-th executed step (0: the start)",
    ]
    for b in s.breakpoints.items:
        out += ["", "[[breakpoint]]", f"kind = {toml_string(b.kind)}"]
        for key, value in (("match", b.match), ("thread", b.thread)):
            if value:
                out.append(f"{key} = {toml_string(value)}")
        for key, expr in (("expr", b.expr), ("condition", b.condition)):
            if expr is not None:
                out.append(f"{key} = {toml_string(str(expr))}")
        if not b.enabled:
            out.append("enabled = false")
        if b.hits:
            out.append(f"hits = {b.hits}")
    for bname, step in s.bookmarks.items():
        out += [
            "",
            "[[bookmark]]",
            f"name = {toml_string(bname)}",
            f"step = {step}",
            f"branch = {s.bookmark_branch(bname)}",
        ]
    names = s.names
    for t in s.saved_timelines():
        out += ["", f"[[timeline]]  # {len(t.threads)} steps", f"branch = {t.id}"]
        entries = _runs(t.threads, names)
        out += ["steps = [", *(f"    {toml_string(e)}," for e in entries), "]"] if entries else ["steps = []"]
        if t.manual:
            out.append(f"manual = {sorted(k + 1 for k in t.manual)}  # steps chosen by hand")
    return "\n".join(out) + "\n"


def _strategy_lines(s: Session) -> list[str]:
    st = s.strategy
    if isinstance(st, SeededRandom):
        return [f"seed = {st.seed}"]
    if isinstance(st, Replay):
        entries = [f"    {toml_string(entry_text(e))}," for e in st.entries]
        return ["schedule = [", *entries, "]"] if entries else ["schedule = []"]
    return ['strategy = "round-robin"']


def _runs(threads: Sequence[int], names: Sequence[str]) -> list[str]:
    out = []
    i = 0
    while i < len(threads):
        j = i
        while j < len(threads) and threads[j] == threads[i]:
            j += 1
        name = names[threads[i]]
        out.append(name if j - i == 1 else f"{name} {j - i}")
        i = j
    return out


def save_session(s: Session, path: str, exists: str = REPLACE) -> str:
    """Write `s` to `path` atomically; returns the path written (WriteError).

    Only the state directory (spftui's own) is created when missing: a folder the user
    named that is not there is refused, as `check --save-schedule` refuses it (a typo
    would otherwise leave new folders behind)."""
    directory = os.path.dirname(path)
    if directory and _in_state_dir(directory):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as e:
            raise WriteError(path, f"cannot create the directory {directory}: {e.strerror or e}") from None
    return write_file(path, dump_session(s), exists=exists, what="the session")


def _in_state_dir(directory: str) -> bool:
    own = state_dir()
    return os.path.commonpath([own, os.path.abspath(directory)]) == own


# ------------------------------------------------------------------ reading
@attrs.frozen
class SavedBreakpoint:
    line: int
    key: str
    kind: str
    options: dict[str, Any]
    enabled: bool
    hits: int
    option_lines: tuple[tuple[str, int], ...] = ()  # the line of each option in the file (its expr, condition)


@attrs.frozen
class TimelineLines:
    """Where one [[timeline]] is in its file: its key (`timeline[1]`) and the line of each
    entry of its `steps` and `manual`, so that an error says which entry it is about."""

    key: str
    steps: tuple[int, ...]
    manual: tuple[int, ...]


@attrs.frozen
class SavedSession:
    """A session file, read and checked for form (not yet against a scenario)."""

    path: str
    scenario_name: str
    scenario_hash: str
    hash_line: int
    policy: str
    reuse: str
    strategy: tuple[str, Any]  # ("seed", N) | ("schedule", entries) | ("round-robin", None) | ("scenario", None)
    branch: int
    step: int
    breakpoints: tuple[SavedBreakpoint, ...]
    bookmarks: tuple[tuple[str, int, int, int], ...]  # name, step, line, branch (-1: not saved)
    timelines: tuple[tuple[int, tuple[str, ...], tuple[int, ...], int], ...]  # branch, entries, manual, line
    fixes_off: frozenset[str] | None = None  # the fixes the saved run had out (None: older files)
    branch_line: int = 0  # the line of `branch` (0: not in the file)
    timeline_lines: tuple[TimelineLines, ...] = ()  # one per timeline, in the file's order


def load_session(path: str) -> SavedSession:
    """Read a session file; ScenarioError (`file:line: key: message`) on a bad one."""
    doc = Document(read_text(path, MAX_SESSION_BYTES), path)
    d = doc.data
    if "version" not in d and ("steps" in d or SCENARIO_KEYS & d.keys()):
        key = "steps" if "steps" in d else next(k for k in ("title", "process", "thread") if k in d)
        what = "a schedule file (give it as --schedule FILE)" if key == "steps" else "a scenario file"
        raise doc.error((key,), f"this is {what}, not a session (the debugger saves sessions: q, Ctrl+S)")
    doc.only(d, (), _TOP)
    version = doc.get(d, (), "version", INTEGER)
    if version != VERSION:
        raise doc.error(("version",), f"this spftui reads session files of version {VERSION}, found {version}")
    given = sorted((doc.line((k,)), k) for k in _STRATEGY if k in d)
    if len(given) > 1:  # (one would silently win over the other)
        (first_line, first), (_, second) = given[:2]
        raise doc.error(
            (second,),
            f"a session replays one strategy: give {first} (line {first_line}) or {second}, not both",
        )
    strategy: tuple[str, Any] = ("scenario", None)
    if "seed" in d:
        strategy = ("seed", doc.get(d, (), "seed", INTEGER))
    elif "schedule" in d:
        texts = _strings(doc, d, ("schedule",))
        strategy = ("schedule", tuple((text, doc.line(("schedule", i))) for i, text in enumerate(texts)))
    elif "strategy" in d:
        doc.choice(d, (), "strategy", "strategy", ("round-robin",), "round-robin")
        strategy = ("round-robin", None)
    bps = []
    for where, t in doc.array_of_tables(d, (), "breakpoint", _BREAKPOINT):
        kind = doc.choice(t, where, "kind", "breakpoint kind", ALL_KINDS, "")
        opts: dict[str, Any] = {
            k: doc.get(t, where, k, STRING) for k in ("match", "thread", "expr", "condition") if k in t
        }
        enabled = doc.get(t, where, "enabled", BOOLEAN, True)
        hits = _count(doc, t, where, "hits", 0)
        lines = tuple((k, doc.line((*where, k))) for k in opts)
        bps.append(SavedBreakpoint(doc.line(where), _key(where), kind, opts, enabled, hits, lines))
    tls = []
    places = []
    branches: dict[int, int] = {}  # branch → the line of the [[timeline]] that has it
    for where, t in doc.array_of_tables(d, (), "timeline", _TIMELINE):
        manual = []
        listed: list[Any] = doc.get(t, where, "manual", ARRAY, [])
        for i, v in enumerate(listed):
            k = doc.check((*where, "manual", i), v, INTEGER)
            if k < 1:
                raise doc.error((*where, "manual", i), f"expected a step number ≥ 1, found {k}")
            manual.append(k)
        steps = _strings(doc, t, (*where, "steps"))
        branch = _count(doc, t, where, "branch")
        if branch in branches:  # (the second would silently replace the first)
            raise doc.error((*where, "branch"), f"duplicate branch {branch} (first on line {branches[branch]})")
        branches[branch] = doc.line((*where, "branch"))
        tls.append((branch, steps, tuple(manual), doc.line((*where, "steps"))))
        places.append(
            TimelineLines(
                _key(where),
                tuple(doc.line((*where, "steps", i)) for i in range(len(steps))),
                tuple(doc.line((*where, "manual", i)) for i in range(len(manual))),
            )
        )
    known = sorted(branches) or [0]  # (a file without [[timeline]] is a run from the start: branch 0)
    current = _count(doc, d, (), "branch", 0)
    if current not in known:
        raise doc.error(("branch",), f"no timeline with branch = {current} ({_branches_text(known, tls)})")
    marks = []
    named: dict[str, int] = {}  # bookmark name → the line of the first [[bookmark]] with it
    for where, t in doc.array_of_tables(d, (), "bookmark", _BOOKMARK):
        name, step, line = doc.get(t, where, "name", STRING), _count(doc, t, where, "step"), doc.line((*where, "name"))
        if name in named:  # (the second would silently replace the first)
            raise doc.error((*where, "name"), f"duplicate bookmark {name!r} (first on line {named[name]})")
        named[name] = line
        branch = _count(doc, t, where, "branch") if "branch" in t else -1  # (-1: an older file: this timeline)
        if branch >= 0 and branch not in known:  # (it was moved to the current timeline, silently)
            raise doc.error((*where, "branch"), f"no timeline with branch = {branch} ({_branches_text(known, tls)})")
        marks.append((name, step, line, branch))
    digest = doc.get(d, (), "scenario_hash", STRING)
    check_digest(doc, digest)
    return SavedSession(
        path,
        doc.get(d, (), "scenario_name", STRING, ""),
        digest,
        doc.line(("scenario_hash",)),
        doc.choice(d, (), "policy", "policy", POLICIES, "") if "policy" in d else "",
        doc.choice(d, (), "reuse", "COW reuse rule", REUSE_RULES, "") if "reuse" in d else "",
        strategy,
        current,
        _count(doc, d, (), "step", 0),
        tuple(bps),
        tuple(marks),
        tuple(tls),
        recorded_fixes_off(doc),
        doc.line(("branch",)) if "branch" in d else 0,
        tuple(places),
    )


def _branches_text(known: Sequence[int], tls: Sequence[Any]) -> str:
    if not tls:
        return "the file has no [[timeline]]: its run is branch 0"
    return f"the file's [[timeline]] tables have branch {', '.join(map(str, known))}"


def _key(where: KeyPath) -> str:
    return format_key(where)


def _count(doc: Document, table: dict[str, Any], where: KeyPath, key: str, default: int | None = None) -> int:
    value = doc.get(table, where, key, INTEGER, default)
    if value < 0:
        raise doc.error((*where, key), f"expected a number ≥ 0, found {value}")
    return value


def _strings(doc: Document, table: dict[str, Any], where: KeyPath) -> tuple[str, ...]:
    value = doc.check(where, table.get(str(where[-1]), []), ARRAY)
    return tuple(doc.check((*where, i), v, STRING) for i, v in enumerate(value))


# ---------------------------------------------------------------- applying
def open_session(saved: SavedSession, sc: Scenario) -> tuple[Session, str | None]:
    """A Session on `sc` as `saved` left it, and a warning (or None).

    `sc` is the scenario as loaded (its own policy and reuse rule); the file's
    policy, reuse rule and strategy replace them. Raises ScenarioError at the
    file's line when it was saved on another scenario or does not fit this one.
    """
    mine = scenario_hash(sc)
    if saved.scenario_hash != mine:
        theirs = f"'{saved.scenario_name}'" if saved.scenario_name else "another scenario"
        raise ScenarioError(
            f"saved on {theirs} ({saved.scenario_hash[:19]}), not on '{identity(sc)[0]}' ({mine[:19]}): "
            "its processes, mappings or threads differ",
            saved.path,
            saved.hash_line,
            "scenario_hash",
        )
    if saved.fixes_off is not None:  # the fixes the saved run had out (older files: the scenario's)
        sc = attrs.evolve(sc, fixes_off=saved.fixes_off)
    sc = sc.with_policy(saved.policy or None, saved.reuse or None)
    names = tuple(t.name for t in sc.threads)
    s = Session(sc, strategy=_strategy(saved, sc))
    unfired: list[str] = []
    for b in saved.breakpoints:
        try:
            bp = s.add_breakpoint(b.kind, **b.options)
        except (ValueError, ExprError, SessionError) as err:
            raise ScenarioError(str(err), saved.path, b.line, b.key) from None
        never = _never_fires(saved, b, bp, s)
        if never:
            unfired.append(never)
        bp.enabled, bp.hits = b.enabled, b.hits
    places = saved.timeline_lines or tuple(
        TimelineLines(f"timeline branch {branch}", tuple(line for _ in entries), tuple(line for _ in manual))
        for branch, entries, manual, line in saved.timelines
    )  # (a SavedSession made by hand, without lines: each entry at its `steps`)
    timelines = []
    sizes: list[list[int]] = []  # per timeline, the steps of each entry of its `steps`
    for (branch, entries, manual, _), where in zip(saved.timelines, places, strict=True):
        threads: list[int] = []
        sizes.append([])
        for i, text in enumerate(entries):
            try:
                run = _threads((text,), names)
            except ScenarioError as err:
                raise ScenarioError(err.message, saved.path, where.steps[i], f"{where.key}.steps[{i}]") from None
            threads += run
            sizes[-1].append(len(run))
        for i, k in enumerate(manual):
            if k > len(threads):  # (a step chosen by hand that the timeline does not have: it was ignored)
                raise ScenarioError(
                    f"step {k} is not on this timeline (branch {branch}): its steps add up to {len(threads)}",
                    saved.path,
                    where.manual[i],
                    f"{where.key}.manual[{i}]",
                )
        timelines.append(SavedTimeline(branch, tuple(threads), frozenset(k - 1 for k in manual)))
    # restore_timelines numbers the timelines 0, 1, 2, … in the order of their ids: the file's
    # branch ids (its `branch =` and each bookmark's) are read through this
    order = sorted(range(len(timelines)), key=lambda k: timelines[k].id)
    renumbered = {timelines[k].id: n for n, k in enumerate(order)}
    try:
        drifted = s.restore_timelines(timelines, saved.branch) if timelines else 0
    except SessionError as err:
        raise _not_replayed(saved, timelines, places, sizes, order, s, err) from None
    if timelines and renumbered.get(saved.branch) != s.branch_id:  # (load_session checked it is there)
        raise ScenarioError(f"no timeline with branch = {saved.branch}", saved.path, saved.branch_line, "branch")
    for name, step, line, branch in saved.bookmarks:
        try:  # (beyond this branch's end is another branch's step: kept)
            s.add_bookmark(name, step, renumbered.get(branch) if timelines and branch >= 0 else None)
        except SessionError as err:
            raise ScenarioError(str(err), saved.path, line, "bookmark") from None
    s.goto(min(saved.step, s.length))
    warnings = unfired
    if drifted:
        warnings.append(
            f"{saved.path}: {drifted} recorded step(s) no longer follow the scenario's schedule or seed; "
            "they were restored as steps chosen by hand"
        )
    if saved.step > s.length:
        warnings.append(f"{saved.path}: step = {saved.step}, but the run ends after step {s.length}: opened there")
    return s, "; ".join(warnings) or None


def _never_fires(saved: SavedSession, b: SavedBreakpoint, bp: Any, s: Session) -> str | None:
    """A warning, at its key, for a watch or condition that cannot be evaluated at all (`1/0`,
    `A.mmap_seq > "x"`): it never fires. Said, not refused: the debugger sets a scenario's own
    such `[[breakpoint]]` with a warning, and a session saved there must open again."""
    problem = never_fires(bp, s.machine)
    if problem is None:
        return None
    which, err = problem
    key = "expr" if which == "expression" else "condition"
    line = dict(b.option_lines).get(key, b.line)
    return f"{saved.path}:{line}: {b.key}.{key}: {err.message} at the start of the run: breakpoint {bp.id} never fires"


def _not_replayed(
    saved: SavedSession,
    timelines: Sequence[SavedTimeline],
    places: Sequence[TimelineLines],
    sizes: Sequence[Sequence[int]],
    order: Sequence[int],
    s: Session,
    err: SessionError,
) -> ScenarioError:
    """The error for a [[timeline]] that does not replay on this scenario (`step 24: A1 cannot
    run: it is finished`), at the `steps` entry that has that step. restore_timelines stops on
    the timeline it was rebuilding (numbered by id order: this timeline's branch_id), with the
    steps before the failing one run (its position)."""
    if not 0 <= s.branch_id < len(order):  # (not where it is expected to stop: say it of them all)
        return ScenarioError(f"its timelines do not replay on this scenario: {err}", saved.path)
    k = order[s.branch_id]
    where = places[k]
    text = f"this timeline (branch {timelines[k].id}) does not replay on this scenario: {err}"
    done = 0
    for i, size in enumerate(sizes[k]):
        done += size
        if done > s.position:
            return ScenarioError(text, saved.path, where.steps[i], f"{where.key}.steps[{i}]")
    return ScenarioError(text, saved.path, where.steps[-1] if where.steps else 0, f"{where.key}.steps")


def _strategy(saved: SavedSession, sc: Scenario) -> Strategy | None:
    kind, value = saved.strategy
    if kind == "seed":
        return SeededRandom(value)
    if kind == "schedule":
        names = [t.name for t in sc.threads]
        from ..kernel import all_labels

        entries: list[ScheduleEntry] = []
        for i, (text, line) in enumerate(value):
            try:
                entries.append(parse_entry(text, names, all_labels()))
            except ScenarioError as err:
                raise ScenarioError(err.message, saved.path, line, f"schedule[{i}]") from None
        return Replay(entries)
    if kind == "round-robin":
        return RoundRobin()
    return None


def _threads(entries: Sequence[str], names: Sequence[str]) -> tuple[int, ...]:
    out: list[int] = []
    for text in entries:
        e = parse_entry(text, names)
        if e.until is not None:
            raise ScenarioError(f"'{text}': a timeline counts steps ('{e.thread} 3'), not labels")
        out += [names.index(e.thread)] * e.steps
    return tuple(out)


def load_session_for(path: str, sc: Scenario) -> tuple[Session, str | None]:
    """`open_session(load_session(path), sc)`."""
    return open_session(load_session(path), sc)


__all__ = [
    "STATE_ENV",
    "SavedSession",
    "autosave_path",
    "dump_session",
    "load_session",
    "load_session_for",
    "open_session",
    "save_session",
    "state_dir",
]
