"""`spftui explore` and `spftui matrix`: the explorer on the command line.

`add_explore_parser` / `add_matrix_parser` register the subcommands; each
sets `func`, which returns the exit status: 0 when every requested policy's
[expect] holds (or there is none), 1 when one does not (or the search was
cut before deciding it), 2 on bad input or when a counterexample file
cannot be written (the report is printed all the same), 130 after Ctrl-C or
SIGTERM (what was found so far is printed first).

This module is imported whenever the parser is built, so it imports the
engine and Rich only inside the handlers. Rich draws a progress line on
stderr when it is a terminal (never with --json).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from .engine.files import cannot_write_in
from .run_options import add_fix_option
from .tool_options import JOBS_HELP, jobs_problem, soft_interrupt, usable_cpus, wrapped

if TYPE_CHECKING:
    from collections.abc import Callable

    from .engine.explorer import Progress, Result
    from .engine.matrix import MatrixRow
    from .scenario.model import Scenario

MODES = ("auto", "exhaustive", "bounded", "random", "pct")
# A bare `spftui matrix` finishes in well under a minute: every bundled cell whose
# search can complete does so within 40,000 states (cow_lost_write's largest takes
# ~38,000); the rest (fork_cow_isolation needs millions) are cut and shown as "?".
MATRIX_MAX_STATES = 40_000
MATRIX_TIMEOUT = 10.0  # seconds per cell: a bound on a slower or busy machine (the state budget decides here)


class BadArgs(Exception):
    """A bad option value: printed as `spftui: error: ...`, exit status 2."""


def add_explore_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explore",
        help="search every interleaving for oracle violations",
        description="Search the scenario's interleavings (ignoring its [schedule]) and give, per policy and "
        "oracle, Sometimes / Never / Unknown, with the counterexample that has the fewest preemptions. "
        "Exit status: 0 when the expectations hold, 1 when not (or undecided), 2 on bad input or when a "
        "counterexample file cannot be written (the report is still printed), 130 when interrupted.",
    )
    p.add_argument("scenario", help="a scenario file, or the name of a bundled scenario")
    p.add_argument(
        "--policy", metavar="NAME", help="a policy, a comma-separated list, or 'all' (default: the scenario's)"
    )
    p.add_argument("--reuse", metavar="RULE", help="COW reuse rule: mapcount, page-count, anon-exclusive")
    p.add_argument("--mode", default="auto", metavar="MODE", help="auto (default), exhaustive, bounded, random or pct")
    p.add_argument("--first", action="store_true", help="stop at the first violation (few preemptions first)")
    p.add_argument("--bound", metavar="N", help="preemption bound: bounded mode's highest (default 2)")
    p.add_argument(
        "--max-states", metavar="N", default="2000000", help="cut the search after N states (default 2,000,000)"
    )
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        help="cut the search after this many wall-clock seconds, not CPU time (default 'none': no limit)",
    )
    p.add_argument("--runs", metavar="N", help="random/pct: schedules to run (default 1000)")
    p.add_argument("--seed", metavar="N", help="random/pct: the seed (default 0)")
    p.add_argument("--depth", metavar="D", help="pct: bug depth (default 3)")
    p.add_argument(
        "--jobs",
        metavar="N",
        default="1",
        help="worker processes: random/pct runs, policies in parallel, or (one policy) "
        f"the exhaustive search split across N processes ({JOBS_HELP}; with --ray, any number)",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="split the exhaustive search over a Ray cluster ('local' starts one here; "
        'needs `pip install "spftui[ray]"`); --jobs N sets the number of workers (default: the cluster\'s CPUs)',
    )
    p.add_argument(
        "--no-reduction", action="store_true", help="naive exhaustive search (no sleep sets), for comparison"
    )
    p.add_argument(
        "--no-local", action="store_true", help="explore every thread at a thread-local step too (no merging)"
    )
    p.add_argument(
        "--no-symmetry",
        action="store_true",
        help="fingerprint states as they are (no canonical form: pfn renaming, history-only fields)",
    )
    p.add_argument(
        "--no-step-cache",
        action="store_true",
        help="run every step (no replay of a step seen before from what it read: the same search, slower)",
    )
    p.add_argument(
        "--compact",
        action="store_true",
        help="hash compaction: store 8-byte state digests (prints the collision-probability estimate)",
    )
    p.add_argument(
        "--save",
        metavar="DIR",
        help="write each counterexample as a schedule file into DIR, made if missing (default: nothing is written)",
    )
    p.add_argument("--save-dir", dest="save", metavar="DIR", help=argparse.SUPPRESS)  # the old name of --save
    p.add_argument("--no-save", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for scripts
    p.add_argument(
        "--force",
        action="store_true",
        help="with --save: replace existing files (default: NAME.2.schedule.toml, …); "
        "with --checkpoint: replace a file that is there (default: refuse, unless it is the one --resume reads)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_fix_option(p)
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save the exhaustive search to FILE every 10 s (at most a tenth of the time) and when it stops "
        "(Ctrl-C, --timeout, --max-states); "
        "a search split by --jobs N or --ray too, between two rounds",
    )
    p.add_argument(
        "--resume",
        metavar="FILE",
        help="continue the exhaustive search saved in FILE (same options; a split one with the same --jobs N, "
        "on processes or --ray alike), saving it back to FILE as it goes (as --checkpoint FILE does) "
        "unless --checkpoint names another file",
    )
    p.set_defaults(func=run_explore)


def add_matrix_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "matrix",
        help="verdicts and abort rates for scenarios × policies",
        description="Explore every scenario under every policy and tabulate the verdicts, with the speculative "
        "abort rate and the share of unnecessary aborts over a fixed budget of random schedules. Each cell's search "
        "has a budget (--max-states, --timeout); a cell it cuts is undecided ('?') and listed below the table. "
        "Exit status: 0 when no decided verdict contradicts an [expect] (undecided cells do not count), 1 when one "
        "does, 2 on bad input, 130 when interrupted. Progress goes to stderr (one line per cell when it is not a "
        "terminal; with --json, one JSON object per cell).",
    )
    p.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="scenario files or bundled names (default: all bundled)"
    )
    p.add_argument("--policies", metavar="LIST", default="all", help="comma-separated policies, or 'all' (default)")
    p.add_argument(
        "--runs", metavar="N", default="200", help="random schedules per cell for the abort figures (default 200)"
    )
    p.add_argument("--seed", metavar="N", default="0", help="seed of the random schedules (default 0)")
    p.add_argument(
        "--jobs",
        metavar="N",
        default=None,
        help=f"cells explored in parallel processes (default: the CPUs this process may use, at most 4; {JOBS_HELP})",
    )
    p.add_argument(
        "--max-states",
        metavar="N",
        default=str(MATRIX_MAX_STATES),
        help=f"cut each cell's search after N states (default {MATRIX_MAX_STATES:,}: enough for every bundled cell "
        "that a search can finish in seconds)",
    )
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        default=str(MATRIX_TIMEOUT),
        help=f"cut each cell's search after this many wall-clock seconds, not CPU time (default {MATRIX_TIMEOUT:g}; "
        "'none': no limit)",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table (the default)")
    add_fix_option(p)
    p.set_defaults(func=run_matrix)


# ------------------------------------------------------------- arguments
def _int(value: str | None, option: str, low: int = 0, default: int | None = None) -> int | None:
    if value is None:
        return default
    try:
        n = int(str(value).replace("_", "").replace(",", ""), 0)
    except ValueError:
        raise BadArgs(f"{option}: expected a whole number, found '{value}'") from None
    if n < low:
        raise BadArgs(f"{option}: expected at least {low}, found {n}")
    return n


def _check_jobs(jobs: int) -> None:
    why = jobs_problem(jobs)
    if why is not None:
        raise BadArgs(f"--jobs: {why}")


def _seconds(value: str | None, option: str) -> float | None:
    """A time limit: a positive number of seconds, or None when not given or 'none' (explore and matrix alike)."""
    if value is None or value.strip().lower() == "none":
        return None
    try:
        x = float(value)
    except ValueError:
        raise BadArgs(f"{option}: expected a number of seconds or 'none', found '{value}'") from None
    if not x > 0:
        raise BadArgs(f"{option}: expected a positive number of seconds, found '{value}'")
    return x


def _policies(value: str | None, default: str, option: str) -> tuple[str, ...]:
    from .scenario.model import POLICIES

    if value is None:
        return (default,)
    if value == "all":
        return POLICIES
    out = []
    for name in value.split(","):
        name = name.strip()
        if name == "all":
            raise BadArgs(f"{option}: 'all' stands alone (every policy); or list some of: {', '.join(POLICIES)}")
        if name not in POLICIES:
            raise BadArgs(f"{option}: unknown policy '{name}' (expected 'all' or one of: {', '.join(POLICIES)})")
        if name not in out:
            out.append(name)
    return tuple(out)


def _load(name: str, fixes: list[tuple[str, bool]] | None = None) -> Scenario:
    from .engine.opening import open_scenario

    return open_scenario(name, fixes=dict(fixes or ())).scenario


def _check_save(folder: str) -> None:
    """Say now, not after a long search, that --save DIR cannot be made or written in
    (a missing DIR is made when there is something to save, as shrink --out makes its)."""
    from .engine.files import WriteError
    from .engine.shrink import check_out

    if not folder.strip():
        raise BadArgs("--save: expected a directory name, found an empty one")
    try:
        check_out(folder)
    except WriteError as e:
        raise BadArgs(f"--save: {e}") from None


def _check_checkpoint(path: str, resume: str | None, force: bool) -> None:
    """Say now, not after a long search, that FILE cannot be written (a missing directory,
    a directory, a FIFO or a device: with --force too), or that a file there (not the
    checkpoint being resumed) would be replaced."""
    from .engine.files import REPLACE, WriteError, check_target

    if not path.strip():
        raise BadArgs("--checkpoint: expected a file name, found an empty one")
    folder = os.path.dirname(path) or "."
    why = cannot_write_in(folder)
    if why is not None:
        raise BadArgs(f"--checkpoint: cannot write in '{folder}': {why}")
    if os.path.isdir(path):
        raise BadArgs(f"--checkpoint: '{path}' is a directory; give a file name")
    try:
        check_target(path, REPLACE, "the checkpoint")  # (a FIFO or a device: never, --force or not)
    except WriteError as e:
        raise BadArgs(f"--checkpoint: {e}") from None
    if not os.path.lexists(path) or force:
        return
    if resume is None or not (os.path.exists(path) and os.path.exists(resume) and os.path.samefile(path, resume)):
        raise BadArgs(
            f"--checkpoint: '{path}' exists; continue its search with --resume {path}, or give --force to replace it"
        )


def _check_resume(path: str) -> None:
    """--resume FILE reads a regular file: a FIFO would block for ever, a device never end."""
    import stat

    if not path.strip():
        raise BadArgs("--resume: expected a file name, found an empty one")
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise BadArgs(f"--resume: {path}: cannot read the checkpoint: {e.strerror or e}") from None
    if stat.S_ISDIR(mode):
        raise BadArgs(f"--resume: '{path}' is a directory; give a checkpoint file")
    if not stat.S_ISREG(mode):
        raise BadArgs(f"--resume: '{path}' is not a regular file (a FIFO, device or socket); give a checkpoint file")


def _resume_checkpoint(resume: str) -> str | None:
    """Where `--resume FILE` without `--checkpoint` saves the search as it goes on: FILE
    itself (replaced atomically, as `--checkpoint FILE` does); None, with a warning, when
    FILE's directory cannot be written (the search still runs)."""
    if not os.path.isfile(resume):
        return None  # (reading it says what is wrong)
    resume = os.path.realpath(resume)  # (through a symbolic link: the file it names is saved, not the link)
    folder = os.path.dirname(resume) or "."
    why = cannot_write_in(folder)
    if why is None:
        return resume
    print(
        f"spftui: warning: --resume {resume}: its progress will not be saved ({folder}: {why}); "
        "give --checkpoint FILE to save it elsewhere",
        file=sys.stderr,
    )
    return None


def _continue_hint(args: argparse.Namespace, results: list[Result]) -> str:
    """For a search cut short with a checkpoint: whether its last save was written, what the
    file holds now and the command that continues from it (or that nothing usable is there);
    "" otherwise."""
    for r in results:
        ck = r.extra.get("checkpoint")
        if ck is None or r.complete:
            continue
        return checkpoint_sentence(args, r.policy, ck)
    return ""


def _resume_command(args: argparse.Namespace, policy: str, file: str) -> str:
    import shlex

    command = ["spftui", "explore", args.scenario, "--policy", policy]
    if args.reuse is not None:
        command += ["--reuse", args.reuse]
    if args.jobs is not None and args.jobs != "1":
        command += ["--jobs", str(args.jobs)]
    if args.ray is not None:
        command += ["--ray", args.ray]
    return shlex.join([*command, "--resume", file])


def _states_ago(ck: dict[str, Any]) -> str:
    parts = [] if ck.get("states") is None else [f"{ck['states']:,} states"]
    if ck.get("age") is not None:
        parts.append(f"saved {ck['age']:.0f} s ago")
    return f" ({', '.join(parts)})" if parts else ""


def checkpoint_sentence(args: argparse.Namespace, policy: str, ck: dict[str, Any]) -> str:
    """What a search cut short left in its checkpoint file, truthfully (explorer's checkpoint_report)."""
    file, holds, error = ck["file"], ck.get("holds"), ck.get("error")
    go_on = "(and the other options this search had; it goes on saving to the same file)"
    if ck["written"] and holds in ("this search", None):
        return f"Checkpoint written to {file}: continue with `{_resume_command(args, policy, file)}` {go_on}."
    why = f"the last save failed: {error}" if error else "the search stopped before its first one"
    if holds == "this search":
        return (
            f"The last checkpoint was not written ({why}); {file} holds this search's previous one"
            f"{_states_ago(ck)}: continue from there with `{_resume_command(args, policy, file)}` {go_on}."
        )
    if holds == "resumed":
        return (
            f"No checkpoint of this run was written ({why}); {file} still holds the checkpoint it resumed from"
            f"{_states_ago(ck)}: `{_resume_command(args, policy, file)}` continues from there again."
        )
    if holds == "another":
        return (
            f"No usable checkpoint: {file} was written by another program while this search ran (another search "
            f"with the same --checkpoint?), so it does not hold this search's progress ({why})."
        )
    if holds == "before":
        return f"No checkpoint was written to {file} ({why}); the file there is the one that was there before."
    return f"No checkpoint was written to {file} ({why})."


def _lost_worker_hint(args: argparse.Namespace, policy: str) -> str:
    """After a worker died: the checkpoint the search left, and the command that resumes it ("" if none)."""
    from .engine.resume import age_of, header_of

    file = args.checkpoint
    if file is None or header_of(file) is None:
        return ""
    age = age_of(file)
    when = "" if age is None else f", saved {age:.0f} s ago"
    return (
        f"; the search is saved up to its last checkpoint ({file}{when}): "
        f"`{_resume_command(args, policy, file)}` continues it from there"
    )


def _check_ray(args: argparse.Namespace) -> None:
    """--ray is the partitioned exhaustive search, Ray is an optional extra, and the cluster must answer:
    say so before any work."""
    if args.mode not in ("auto", "exhaustive"):
        raise BadArgs(f"--ray: splits the exhaustive search; not with --mode {args.mode}")
    try:
        import ray  # noqa: F401  (imported here to say so before the search; the engine imports it again)
    except ImportError as e:
        raise BadArgs(
            f'--ray: Ray is not installed ({e}); install it with `pip install "spftui[ray]"` (or `pip install ray`)'
        ) from None
    from .engine.ray_backend import ClusterError, check_address

    try:
        check_address(args.ray)
    except ClusterError as e:
        raise BadArgs(f"--ray: {e}") from None


def _error(e: Exception) -> int:
    print(f"spftui: error: {e}", file=sys.stderr)
    return 2


# --------------------------------------------------------------- explore
def run_explore(args: argparse.Namespace) -> int:
    from .scenario import ScenarioError
    from .scenario.model import REUSE_RULES

    try:
        if args.mode not in MODES:
            raise BadArgs(f"--mode: unknown mode '{args.mode}' (expected one of: {', '.join(MODES)})")
        for option, value, modes in (("--runs", args.runs, ("random", "pct")), ("--seed", args.seed, ("random", "pct")),
                                     ("--depth", args.depth, ("pct",))):  # fmt: skip
            if value is not None and args.mode not in modes:  # (it would be ignored without a word)
                raise BadArgs(f"{option} is for --mode {' or '.join(modes)}, not --mode {args.mode}")
        if args.reuse is not None and args.reuse not in REUSE_RULES:
            raise BadArgs(f"--reuse: unknown rule '{args.reuse}' (expected one of: {', '.join(REUSE_RULES)})")
        opts = {
            "mode": args.mode,
            "first": args.first,
            "bound": _int(args.bound, "--bound"),
            "max_states": _int(args.max_states, "--max-states", 1),
            "timeout": _seconds(args.timeout, "--timeout"),
            "runs": _int(args.runs, "--runs", 1, 1000),
            "seed": _int(args.seed, "--seed", 0, 0),
            "depth": _int(args.depth, "--depth", 1, 3),
            "reduction": not args.no_reduction,
            "local": not args.no_local,
            "symmetry": not args.no_symmetry,
            "cache": not args.no_step_cache,
            "compact": args.compact,
            "checkpoint": args.checkpoint,
            "resume": args.resume,
        }
        if args.ray is not None:
            _check_ray(args)
            opts["ray"] = args.ray
        jobs = _int(args.jobs, "--jobs", 1) or 1
        if args.ray is None:  # (Ray's workers are the cluster's, not this machine's)
            _check_jobs(jobs)
        save = None if args.no_save else args.save
        if save is not None:
            _check_save(save)
        if args.resume is not None:
            _check_resume(args.resume)
        if args.checkpoint is None and args.resume is not None:  # (--resume F goes on saving to F)
            args.checkpoint = _resume_checkpoint(args.resume)
            opts["checkpoint"] = args.checkpoint
        if args.checkpoint is not None:
            _check_checkpoint(args.checkpoint, args.resume, args.force)
        sc = _load(args.scenario, args.fix)
        policies = _policies(args.policy, sc.policy, "--policy")
        if (args.checkpoint or args.resume) and len(policies) > 1:
            raise BadArgs("--checkpoint/--resume: one search at a time (give one --policy)")
    except (ScenarioError, BadArgs) as e:
        return _error(e)
    from .engine.explorer import ExploreError
    from .engine.ray_backend import ClusterError
    from .engine.workers import WorkerLost

    try:
        # (with --checkpoint the first Ctrl-C stops the search between two transitions: a whole checkpoint)
        with soft_interrupt(args.checkpoint is not None) as cancelled:
            results = _run_policies(
                sc, policies, args.reuse, jobs, opts,
                live=not args.json and sys.stderr.isatty(), json_lines=args.json, cancelled=cancelled,
            )  # fmt: skip
    except (ExploreError, ClusterError) as e:  # (ClusterError: Ray found no cluster where it looked)
        return _error(e)
    except WorkerLost as e:  # (the search cannot go on without that worker's states: its checkpoint can)
        return _error(Exception(f"{e}{_lost_worker_hint(args, policies[0])}"))
    files, failed = ({}, False) if save is None else _save(sc, results, save, args.force)
    if args.json:
        print(json.dumps(explore_json(sc, results, files)))
    else:
        print_results(sc, results, files)
        if save is None and any(r.counterexamples for r in results):
            wrapped(
                "Counterexamples are not saved: `--save DIR` writes each as a schedule file that "
                f"`spftui check {args.scenario} --schedule FILE` replays and `spftui {args.scenario} --schedule FILE` "
                "opens at the violating step."
            )
        hint = _continue_hint(args, results)
        if hint:
            wrapped(hint)
        elif args.resume is not None and args.checkpoint is None and not all(r.complete for r in results):
            wrapped(f"No checkpoint was written: {args.resume}'s directory cannot be written (see the warning above).")
        missing = [p for p in policies if p not in {r.policy for r in results}]
        if missing:
            print(f"Not explored (stopped before they started): {', '.join(missing)}.")
    if any(r.stop == "interrupted" for r in results) or len(results) < len(policies):
        return 130
    if failed:
        return 2
    return 0 if all(r.expect_ok for r in results) else 1


def _run_policies(
    sc: Scenario,
    policies: tuple[str, ...],
    reuse: str | None,
    jobs: int,
    opts: dict[str, Any],
    live: bool,
    json_lines: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> list[Result]:
    from .engine.explorer import explore
    from .engine.matrix import explore_policies

    if jobs > 1 and len(policies) > 1 and opts["mode"] not in ("random", "pct") and "ray" not in opts:
        with _Live(live, json_lines) as show:
            show.text(f"exploring {len(policies)} policies in {jobs} processes")
            return explore_policies(sc, policies, reuse, jobs, opts, on_result=show.finished)
    results = []
    with _Live(live, json_lines, first=bool(opts.get("first"))) as show:
        for policy in policies:
            found = functools.partial(show.found, policy)
            r = explore(sc, policy, reuse, jobs=jobs, progress=show.update, found=found, cancelled=cancelled, **opts)
            results.append(r)
            if r.stop == "interrupted":
                break
    return results


class _Live:
    """Progress on stderr: a one-line Rich display on a terminal, JSON lines
    with --json (one a second, and one per oracle kind as soon as it is
    found), or nothing."""

    def __init__(self, enabled: bool, json_lines: bool = False, first: bool = False) -> None:
        self.enabled = enabled
        self.first = first  # --first: the search stops at a find
        self.status: Any = None
        self.json_lines = json_lines
        self._next_line = 0.0
        self._save_error = ""  # the checkpoint failure last warned of

    def __enter__(self) -> _Live:
        if self.enabled:
            from rich.console import Console

            self.status = Console(stderr=True).status("exploring…")
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(None, None, None)

    def text(self, s: str) -> None:
        if self.status is not None:
            self.status.update(s)

    def say(self, line: str) -> None:
        """A line on stderr above the live display."""
        if self.status is not None:
            self.status.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def found(self, policy: str, kind: str, phase: str, seconds: float) -> None:
        """A kind was found: say so now, before the proof of the other kinds ends."""
        if self.json_lines:
            line = {"event": "found", "policy": policy, "kind": kind, "phase": phase, "seconds": round(seconds, 3)}
            print(json.dumps(line), file=sys.stderr, flush=True)
        else:
            on = "" if self.first else "; the search goes on"
            self.say(f"{policy}: {kind} sometimes (found in {seconds:.1f} s, {phase}){on}")

    def finished(self, r: Result) -> None:
        """A policy searched in a worker process (policies side by side) is done: its finds, in the
        order they were made, then its last progress line (the worker's own lines stay there)."""
        if not self.json_lines:
            return
        for kind, seconds in sorted(r.found_seconds.items(), key=lambda kv: (kv[1], kv[0])):
            self.found(r.policy, kind, r.mode, seconds)
        line = {
            "event": "progress", "policy": r.policy, "phase": r.mode, "states": r.states,
            "transitions": r.transitions, "states_per_second": round(r.states / r.seconds) if r.seconds else 0,
            "depth": r.max_depth, "queue": 0, "seconds": round(r.seconds, 1), "found": sorted(r.found_seconds),
            "done": 1.0 if r.complete else None, "seconds_left": 0.0 if r.complete else None,
            "checkpoint_age": None, "stop": r.stop,
        }  # fmt: skip
        print(json.dumps(line), file=sys.stderr, flush=True)

    def update(self, p: Progress) -> None:
        if p.save_error and p.save_error != self._save_error:  # at once, not after an hour's search
            if self.json_lines:
                line = {"event": "checkpoint_error", "policy": p.policy, "error": p.save_error}
                print(json.dumps(line), file=sys.stderr, flush=True)
            else:
                self.say(f"spftui: warning: checkpoint not written: {p.save_error}; the search goes on")
        self._save_error = p.save_error
        if self.json_lines and p.seconds >= self._next_line:
            self._next_line = p.seconds + 1.0
            line = {
                "event": "progress", "policy": p.policy, "phase": p.phase, "states": p.states,
                "transitions": p.transitions, "states_per_second": round(p.states / p.seconds) if p.seconds else 0,
                "depth": p.depth, "queue": p.frontier, "seconds": round(p.seconds, 1), "found": list(p.found),
                "done": None if p.done is None else round(p.done, 3),
                "seconds_left": None if p.left is None else round(p.left, 1),
                "checkpoint_age": None if p.saved is None else round(p.saved, 1),
            }  # fmt: skip
            print(json.dumps(line), file=sys.stderr, flush=True)
        if self.status is not None:
            from .engine.narrate import estimate_text

            found = f" · found {', '.join(p.found)}" if p.found else ""
            estimate = estimate_text(p, lead=" · ")
            saved = "" if p.saved is None else f" · saved {p.saved:.0f} s ago"
            if p.save_error:
                saved = " · [bold red]checkpoint not written[/]"
            self.status.update(
                f"{p.policy} · {p.phase}: {p.states:,} states ({p.states / max(p.seconds, 1e-9):,.0f}/s), "
                f"depth {p.depth}, frontier {p.frontier:,}, {p.seconds:.1f} s{estimate}{found}{saved} · Ctrl-C stops"
            )


def schedule_file_name(sc: Scenario, policy: str, kind: str | None) -> str:
    stem = os.path.splitext(os.path.basename(sc.path))[0] or "scenario"
    return f"{stem}.{policy}.schedule.toml" if kind is None else f"{stem}.{policy}.{kind}.schedule.toml"


def _save(sc: Scenario, results: list[Result], where: str, force: bool) -> tuple[dict[tuple[str, str], str], bool]:
    """Write each counterexample as a schedule file: ({(policy, kind): path}, whether a write failed).

    spftui picks the names, so a taken one is never replaced unless `force`:
    the next free NAME.2.schedule.toml, NAME.3... is used instead."""
    from .engine.files import WriteError
    from .engine.schedule_file import NUMBER, REPLACE, write_schedule

    files: dict[tuple[str, str], str] = {}
    failed = False
    if any(r.counterexamples for r in results):  # (nothing found: no empty folder left behind)
        try:
            os.makedirs(where, exist_ok=True)
        except OSError as e:
            print(f"spftui: error: {where}: cannot make the directory: {e.strerror or e}", file=sys.stderr)
            return files, True
    for r in results:
        primary = r.counterexample
        for kind, cx in sorted(r.counterexamples.items()):
            path = os.path.join(where, schedule_file_name(sc, r.policy, None if cx is primary else kind))
            comment = "\n".join(
                [
                    f"Counterexample found by `spftui explore` ({r.mode} search): {kind} under {r.policy}, reuse {r.reuse}.",
                    f"Step {cx.stop_at} ({cx.thread} at {cx.label}): {cx.detail}",
                    f"{cx.preemptions} preemption(s); `stop_at` opens the debugger right after the violating step.",
                    *(
                        [f"Found with fixes off ({', '.join(sorted(sc.fixes_off))}): `fixes_off` replays them."]
                        if sc.fixes_off
                        else []
                    ),
                    "",
                    *textwrap.wrap(cx.narration, 96),
                ]
            )
            try:
                files[(r.policy, kind)] = write_schedule(
                    path, sc, cx.entries, comment, policy=r.policy, reuse=r.reuse, stop_at=cx.stop_at,
                    exists=REPLACE if force else NUMBER,
                )  # fmt: skip
            except WriteError as e:
                print(f"spftui: error: {e}", file=sys.stderr)
                failed = True
    return files, failed


def explore_json(sc: Scenario, results: list[Result], files: dict[tuple[str, str], str]) -> dict[str, Any]:
    policies = {}
    for r in results:
        d = r.to_json()
        for kind, cx in d["counterexamples"].items():
            cx["schedule_file"] = files.get((r.policy, kind))
        if d["counterexample"] is not None:
            d["counterexample"]["schedule_file"] = files.get((r.policy, d["counterexample"]["kind"]))
        policies[r.policy] = d
    return {
        "scenario": sc.path,
        "title": sc.title,
        "fixes_off": sorted(sc.fixes_off),
        "policies": policies,
        "expect_ok": all(r.expect_ok for r in results),
    }


_VERDICT = {"sometimes": "Sometimes", "never": "Never", "unknown": "Unknown"}


def describe_search(r: Result) -> str:
    if r.mode in ("random", "pct"):
        what = f"{r.mode} ({r.extra.get('runs', r.schedules):,} runs, seed {r.extra.get('seed', 0)})"
        cut = f", {r.extra['cut_runs']} cut" if r.extra.get("cut_runs") else ""
        return f"{what}{cut}, {r.states:,} steps, {r.seconds:.2f} s" + ("" if r.stop == "runs" else f" ({r.stop})")
    if r.mode == "bounded":
        n = r.bound if r.bound is not None else 0
        what = f"bounded (≤ {n} preemption{'s' if n != 1 else ''})"
        status = "complete" if r.complete else ("not complete" if r.stop == "bound" else f"not complete ({r.stop})")
    else:
        what, status = r.mode, "complete" if r.complete else f"not complete ({r.stop})"  # ("bounded" is a mode)
    return (
        f"{what}, {status}: {r.states:,} states, {r.transitions:,} transitions, "
        f"{r.schedules:,} schedules, {r.seconds:.2f} s"
    )


def print_results(sc: Scenario, results: list[Result], files: dict[tuple[str, str], str]) -> None:
    print(f"{sc.title}  [{sc.path}]")
    if sc.fixes_off:
        print(f"Fixes off: {', '.join(sorted(sc.fixes_off))}")
    width = max(len(k) for k in sc.oracle_kinds) + 1
    for r in results:
        print()
        print(f"{r.policy}  (reuse {r.reuse})  {describe_search(r)}")
        for kind in sc.oracle_kinds:
            v = r.verdicts.get(kind, "unknown")
            line = f"  {kind + ':':<{width}} {_VERDICT[v]:<9}"
            want = r.expectations.get(kind)
            if want is not None:
                if want == v:
                    line += "  ✓ expected"
                elif v == "unknown":  # (a cut search contradicts nothing: not decided)
                    line += f"  ? expected {_VERDICT[want]} (undecided)"
                else:
                    line += f"  ✗ expected {_VERDICT[want]}"
            cx = r.counterexamples.get(kind)
            if cx is not None:
                n = cx.preemptions
                shortest = "fewest" if cx.minimal else "not minimised"
                saved = f"; saved to {files[(r.policy, kind)]}" if (r.policy, kind) in files else ""
                line += f"  ({shortest}: {n} preemption{'s' if n != 1 else ''}, {cx.stop_at} steps{saved})"
            print(line.rstrip())
        store = r.extra.get("store")
        if store is not None:
            print(
                f"  store: {store['digest_bits']}-bit digests, {store['bytes_per_state']:.0f} bytes per state, "
                f"collision probability ≤ {store['collision_probability']:.1e}"
            )
        for note in r.extra.get("notes", ()):
            print(f"  note: {note}")
        # every Sometimes' counterexample, the primary one first (each named when there are several)
        primary = [r.counterexample.kind] if r.counterexample is not None else []
        kinds = dict.fromkeys([*primary, *sc.oracle_kinds, *sorted(r.counterexamples)])  # (then kinds the file lacks)
        told = [r.counterexamples[k] for k in kinds if k in r.counterexamples]
        for cx in told:
            if cx.narration:
                wrapped(f"{cx.kind}: {cx.narration}" if len(told) > 1 else cx.narration, indent="  ", hang="  ")
    print()
    failures = [f"{r.policy} {f}" for r in results for f in r.contradictions()]
    undecided = [f"{r.policy} {f}" for r in results for f in r.undecided_expectations()]
    if any(r.stop == "interrupted" for r in results):
        print("Interrupted: the verdicts above are what was decided so far.")
    if failures:
        print("Expectations do not hold:")
        for f in failures:
            print(f"  {f}")
    if undecided:  # (not a contradiction: the search stopped before it could decide)
        print("Not decided:")
        for f in undecided:
            print(f"  {f}")
    if failures or undecided:
        return
    if any(r.expectations for r in results):
        print("Expectations hold.")
    elif sc.expect:  # (the file has tables, none for these runs: say so, not nothing)
        fixes = ", ".join(sorted(sc.fixes_off)) or "none"
        rules = ", ".join(dict.fromkeys(r.reuse for r in results))  # the runs' rule (--reuse), not the file's
        runs = f"policy {', '.join(r.policy for r in results)}, reuse {rules}, fixes off: {fixes}"
        print(f"No [expect] table of the file is for these runs ({runs}): nothing judged.")


# ---------------------------------------------------------------- matrix
def default_matrix_jobs() -> int:
    """The cells are independent: one worker per usable CPU, at most 4 (a shared box stays usable)."""
    return max(1, min(4, usable_cpus()))


def run_matrix(args: argparse.Namespace) -> int:
    from .engine.describe import counted
    from .scenario import ScenarioError, list_bundled

    try:
        policies = _policies(args.policies, "", "--policies")
        runs = _int(args.runs, "--runs", 0) or 0
        seed = _int(args.seed, "--seed") or 0
        jobs = _int(args.jobs, "--jobs", 1) or 1 if args.jobs is not None else default_matrix_jobs()
        _check_jobs(jobs)
        max_states = _int(args.max_states, "--max-states", 1) or 1
        timeout = _seconds(args.timeout, "--timeout")
        names = list(dict.fromkeys(args.scenarios)) or [str(p) for p, _ in list_bundled()]  # (each once, as --policies)
        scenarios = [_load(n, args.fix) for n in names]
    except (ScenarioError, BadArgs) as e:
        return _error(e)
    from .engine.matrix import fixes_off_line, matrix_markdown, policy_matrix

    tty = sys.stderr.isatty()
    total = len(scenarios) * len(policies)
    with _Live(tty and not args.json) as show:
        count = [0]

        def on_row(row: MatrixRow) -> None:
            count[0] += 1
            show.text(f"matrix: {count[0]}/{total} cells done (last: {row.scenario} × {row.policy})  (Ctrl-C stops)")
            r = row.result
            if args.json:  # (JSON lines, as explore --json writes its progress)
                line = {
                    "event": "cell", "done": count[0], "cells": total, "scenario": row.scenario,
                    "policy": row.policy, "complete": r.complete, "stop": r.stop, "states": r.states,
                    "seconds": round(r.seconds, 1),
                }  # fmt: skip
                print(json.dumps(line), file=sys.stderr, flush=True)
            elif not tty:  # piped or redirected: one plain line per cell
                state = "complete" if r.complete else f"undecided ({r.stop})"
                print(
                    f"matrix: {count[0]}/{total} {row.scenario} × {row.policy}: {state}, {r.states:,} states, "
                    f"{r.seconds:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )

        show.text(f"matrix: 0/{total} cells")
        if args.json:
            line = {"event": "start", "cells": total, "scenarios": len(scenarios), "policies": len(policies)}
            print(json.dumps(line), file=sys.stderr, flush=True)
        elif not tty:
            shape = f"{len(scenarios)} scenario{'s' if len(scenarios) != 1 else ''} × {len(policies)} polic"
            print(f"matrix: {counted(total, 'cell')} ({shape}{'ies' if len(policies) != 1 else 'y'})", file=sys.stderr)
        rows = policy_matrix(
            scenarios, policies, runs=runs, seed=seed, jobs=jobs, max_states=max_states, timeout=timeout, on_row=on_row
        )
    contradicted = [f"{row.scenario} × {row.policy}" for row in rows if _contradicts(row.result)]
    undecided = [
        f"{row.scenario} × {row.policy}"
        for row in rows
        if row.result.stop != "interrupted" and any(v == "unknown" for v in row.result.verdicts.values())
    ]
    limits = f"{max_states:,} states" + (f" or {timeout:g} s" if timeout is not None else "")
    if args.json:
        out: dict[str, Any] = {"runs": runs, "seed": seed, "max_states": max_states, "timeout": timeout}
        out |= {"rows": [row.to_json() for row in rows], "undecided": undecided, "contradicted": contradicted}
        print(json.dumps(out | {"expect_ok": not contradicted}))
    else:
        fixes = fixes_off_line(rows)
        if fixes is not None:  # (the verdicts are for that kernel, not the scenarios' own)
            print(fixes)
            print()
        print(matrix_markdown(rows))
        print()
        kinds = [set(row.result.verdicts) for row in rows]
        own = bool(kinds) and any(k != kinds[0] for k in kinds)  # (a column some row's scenario lacks)
        print(
            f"Verdicts: exhaustive search per cell, cut after {limits} (✗: contradicts the scenario's [expect]; "
            f"?: undecided, the search was cut{'; –: the scenario has no such oracle' if own else ''}). "
            f"Aborts: {runs} random "
            f"schedules per cell (seed {seed}); an abort is unnecessary when the same fault run alone from its start "
            "commits the same PTE and page contents as the classic retry did."
        )
        if undecided:
            print(
                f"Undecided ({len(undecided)}; raise --max-states or --timeout, or `spftui explore SCENARIO` one): "
                + ", ".join(undecided)
                + "."
            )
        if contradicted:
            print("Expectations do not hold: " + ", ".join(contradicted) + ".")
    cut = [f"{row.scenario} × {row.policy}" for row in rows if row.result.stop == "interrupted"]
    if cut or len(rows) < total:
        if not args.json:
            print(
                f"Interrupted: {len(rows) - len(cut)} of {total} cells finished"
                + (f"; partial (verdicts so far, no abort figures): {', '.join(cut)}" if cut else "")
                + "."
            )
        return 130
    return 1 if contradicted else 0


def _contradicts(r: Result) -> bool:
    """A decided verdict that is not what [expect] says (an undecided one is not a failure)."""
    return any(r.verdicts.get(k, "unknown") not in ("unknown", want) for k, want in r.expectations.items())
