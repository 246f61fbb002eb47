"""Open a scenario with the common options, once, for the CLI and the debugger.

`spftui check`, `spftui trace` and the debugger all take a scenario (a path
or a bundled name) plus --policy, --reuse, --schedule, --seed, --fix and --force.
`open_scenario` reads and validates the files once and says how to run it;
it raises ScenarioError (`file:line: key: message`) on bad input. A schedule
file given as the scenario opens the scenario it names and replays it.
"""

from __future__ import annotations

import os
import tomllib

import attrs

from ..kernel import all_labels
from ..scenario import Scenario, load_scenario, load_schedule_file
from ..scenario.document import Document
from ..scenario.errors import ScenarioError
from ..scenario.files import MAX_SCHEDULE_BYTES, near_bundled, read_text, resolve_scenario
from ..scenario.loader import SCENARIO_KEYS
from ..scenario.model import ScheduleEntry, ScheduleFile
from ..scenario.syntax import NAME
from .scenario_breakpoints import check_breakpoints
from .schedule import Replay, SeededRandom, Strategy
from .schedule_file import FORCE_HINT, check_identity, scenario_for
from .user_oracles import check_oracles


@attrs.frozen
class Opening:
    """A validated scenario and how to run it.

    scenario  the scenario under the chosen policy and reuse rule
    entries   a schedule file's entries (None: the scenario's own schedule or a seed)
    seed      a seeded random schedule instead of the scenario's
    stop_at   where the schedule file says its story ends (None: not given)
    warning   something the user should read (e.g. a schedule without identity)
    """

    scenario: Scenario
    entries: tuple[ScheduleEntry, ...] | None = None
    seed: int | None = None
    stop_at: int | None = None
    warning: str | None = None

    def strategy(self) -> Strategy | None:
        """A fresh strategy for a new Session (None: the scenario's default)."""
        if self.entries is not None:
            return Replay(self.entries)
        if self.seed is not None:
            return SeededRandom(self.seed)
        return None


def open_scenario(
    scenario: str,
    policy: str | None = None,
    reuse: str | None = None,
    schedule: str | None = None,
    seed: int | None = None,
    force: bool = False,
    fixes: dict[str, bool] | None = None,
    force_hint: str = FORCE_HINT,
) -> Opening:
    """Load `scenario` (a file or a bundled name) and, if given, the `schedule` file;
    `fixes` switches modelled fixes on (True) or off (False) over the scenario's own;
    `force_hint` ends the error for a schedule of another scenario (what to do instead)."""
    labels = all_labels()
    note = None  # a schedule's scenario not found: what opens instead
    kind = file_kind(scenario)  # (read once: a schedule file given as the scenario opens its scenario)
    _not_a_session(scenario, kind, "a scenario")
    if schedule is not None:
        _not_a_session(schedule, file_kind(schedule), "a schedule")
    if seed is not None and (schedule is not None or kind == "schedule"):
        raise ScenarioError("--seed with a schedule: give one (a schedule replays its own interleaving)")
    if schedule is None and kind == "schedule":
        schedule = scenario
        sf = load_schedule_file(schedule, known_labels=labels)
        scenario, note = _recorded_on(schedule, sf)
    path = resolve_scenario(scenario)
    if not os.path.lexists(path) and (near := near_bundled(path)) is not None:
        raise ScenarioError(f"no such file, nor a bundled scenario of that name; did you mean {near}?", path)
    if not os.path.lexists(path) and NAME.fullmatch(path) and not path.endswith(".toml"):  # (meant as a name)
        raise ScenarioError("no such file, nor a bundled scenario of that name (`spftui scenarios` lists them)", path)
    sc = load_scenario(path, known_labels=labels)
    check_breakpoints(sc)
    check_oracles(sc)
    if fixes:
        sc = sc.with_fixes(fixes)
    if schedule is None:
        return Opening(sc.with_policy(policy, reuse), seed=seed)
    # Its identity first: a schedule of another scenario names other threads, and
    # "unknown thread 'A3'" would hide that it belongs elsewhere. Then its entries
    # against this scenario's threads (a second read: errors keep their lines).
    warning = check_identity(sc, load_schedule_file(schedule, known_labels=labels), schedule, force, force_hint)
    warning = "; ".join(w for w in (note, warning) if w) or None
    sf = load_schedule_file(schedule, threads=[t.name for t in sc.threads], known_labels=labels)
    if sf.fixes_off is not None:  # the recorded run's fixes, then the user's --fix over them
        sc = attrs.evolve(sc, fixes_off=sf.fixes_off).with_fixes(fixes or {})
    sc = sc.with_policy(policy or sf.policy or None, reuse or sf.reuse or None)
    return Opening(sc, entries=tuple(sf.entries), stop_at=sf.stop_at, warning=warning)


def _recorded_on(schedule: str, sf: ScheduleFile) -> tuple[str, str | None]:
    """The scenario a schedule given as the scenario names, and a note when that is a fallback."""
    found, note = scenario_for(schedule, sf)
    ref = sf.scenario
    expected = "expected a scenario file or a bundled scenario's name"
    if ref and os.path.isdir(os.path.join(os.path.dirname(schedule), ref)):
        raise _at_scenario_key(schedule, f"'{ref}' is a directory; {expected}")
    if found is None:
        named = ref or sf.scenario_name or "none"
        raise _at_scenario_key(
            schedule, f"cannot find the scenario it was recorded on ({named}): name it, as in SCENARIO --schedule FILE"
        )
    if (kind := file_kind(found)) in ("schedule", "session"):  # e.g. the schedule itself
        raise _at_scenario_key(schedule, f"'{ref}' is a {kind} file; {expected}")
    return found, note


def _at_scenario_key(schedule: str, message: str) -> ScenarioError:
    """An error at the schedule's `scenario` key (the whole file when it has none)."""
    doc = Document(read_text(schedule, MAX_SCHEDULE_BYTES), schedule)
    if "scenario" not in doc.data:
        return ScenarioError(message, schedule)
    return doc.error(("scenario",), message)


def _not_a_session(path: str, kind: str | None, what: str) -> None:
    if kind == "session":
        name = tomllib.loads(read_text(path, MAX_SCHEDULE_BYTES)).get("scenario_name")
        on = f" (it was saved on {name!r})" if isinstance(name, str) and name else ""
        raise ScenarioError(
            f"this is a session file, not {what}: open it with spftui SCENARIO --session {path}{on}", path
        )


def is_schedule_file(path: str) -> bool:
    """Is `path` a schedule file (a top-level `steps = [...]`; a scenario has `[schedule]`)?
    One with `scenario =` and no scenario keys is one too, with its `steps` misspelt:
    the schedule reader says so, where a scenario's would call `scenario` unknown."""
    return file_kind(path) == "schedule"


def file_kind(path: str) -> str | None:
    """What a file is by its top-level keys: "scenario", "schedule" or "session" (a
    `version`: saved by the debugger); None when it cannot be read as TOML (its reader
    then says why)."""
    if not os.path.isfile(path):
        return None
    try:
        doc = tomllib.loads(read_text(path, MAX_SCHEDULE_BYTES))
    except (ScenarioError, tomllib.TOMLDecodeError):
        return None  # reported when it is read as a scenario
    if SCENARIO_KEYS & doc.keys():
        return "scenario"
    if "steps" in doc or "scenario" in doc:
        return "schedule"
    return "session" if "version" in doc else "scenario"
