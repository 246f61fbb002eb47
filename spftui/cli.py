"""The `spftui` command: the debugger, and headless check / trace / scenarios
/ explore / matrix. Textual is imported only when the debugger opens."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from . import __version__
from .run_options import BadInput as BadInput  # (raised by the commands: printed as `spftui: error:`)
from .run_options import add_fix_option, add_run_options, open_with, save_schedule
from .tool_options import seed, soft_interrupt, step_number

SUBCOMMANDS = (
    "check",
    "trace",
    "scenarios",
    "explore",
    "matrix",
    "why",
    "kernel-check",
    "diff",
    "coverage",
    "shrink",
    "fuzz",
    "serve",
    "fixes",
)


def load(args: argparse.Namespace) -> Any:
    """Scenario + strategy from the common options; raises ScenarioError/BadInput."""
    opening = open_with(args)
    return opening.scenario, opening.strategy(), opening.stop_at


def run_check(args: argparse.Namespace, trace_only: bool = False) -> int:
    from .engine.describe import counted
    from .engine.session import Session
    from .report import check_report, print_check, print_trace, trace_json, trace_steps

    opening = open_with(args)
    save_to = getattr(args, "save_schedule", None)
    if save_to is not None:
        _can_write(save_to, args.force, "the schedule")
    if not trace_only and (args.break_ or (opening.scenario.breakpoints and not args.no_break)):
        from .why_cli import run_to_break

        return run_to_break(args, opening)
    sc, strategy = opening.scenario, opening.strategy()
    session = Session(sc, strategy=strategy)
    if trace_only and args.format == "perfetto":
        if args.json:
            raise BadInput("--json with --format perfetto: the Perfetto trace is JSON already; give one of them")
        return write_perfetto(session, args)
    if trace_only:
        with _output_to(args.output, args.force, "the trace") as out:
            if args.json:
                for info in trace_steps(session, args.max_steps):
                    print(json.dumps(trace_json(info)))
            else:
                print_trace(session, args.max_steps)
        if out:
            print(f"wrote {out[0]}: {counted(session.length, 'step')}")
        return 0
    with soft_interrupt() as stopped:
        interrupted = _run(session, args.max_steps, stopped)
    report = check_report(session, interrupted)
    if args.json:
        print(json.dumps(report))
    elif print_check(session, report, full=args.full):  # (Ctrl-C while it listed the steps: the rest came)
        print("spftui: interrupted", file=sys.stderr)
        interrupted = True
    status = 130 if interrupted else 0 if report["expect_ok"] else 1
    return status if args.save_schedule is None else save_schedule(session, args.save_schedule, args.force, status)


RUN_SLICE = 10_000
"""`check` runs this many steps at a time (a fifth of a second or so), so Ctrl-C stops it between two."""


def _run(session: Any, limit: int, stopped: Callable[[], bool]) -> bool:
    """Run `session` to its end or `limit`; True when Ctrl-C stopped it first (the steps run so far stay)."""
    while session.position < limit:
        before = session.position
        session.run(limit=min(limit, before + RUN_SLICE))
        if session.position == before or session.finished():
            return False
        if stopped():
            return True
    return False


def _can_write(path: str, force: bool, what: str) -> None:
    """BadInput now, before the run, if `path` cannot be written (files.check_target), or its
    directory is missing or closed to us (a long run, then "no such directory")."""
    from .engine.files import REFUSE, REPLACE, WriteError, cannot_create, check_target

    try:
        check_target(path, REPLACE if force else REFUSE, what)
    except WriteError as e:
        raise BadInput(str(e)) from None
    why = cannot_create(path)
    if why is not None:
        raise BadInput(f"{path}: cannot write {what}: {why}")


@contextlib.contextmanager
def _output_to(path: str | None, force: bool, what: str) -> Iterator[list[str]]:
    """Send what the block prints to stdout to the file `path` instead (written atomically
    at the end, refused if it exists unless `force`); the list gets the path written."""
    written: list[str] = []
    if path is None or path == "-":  # (`-o -`: standard output, as most tools read it)
        yield written
        return
    from .engine.files import REFUSE, REPLACE, WriteError, write_file

    _can_write(path, force, what)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield written
    try:
        written.append(write_file(path, buf.getvalue(), exists=REPLACE if force else REFUSE, what=what))
    except WriteError as e:
        raise BadInput(str(e)) from None


def write_perfetto(session: Any, args: argparse.Namespace) -> int:
    """`trace --format perfetto -o FILE`: the run as a Chrome JSON trace (engine/perfetto.py);
    `-o -` prints it to standard output (one JSON document, nothing else)."""
    from .engine.describe import counted
    from .engine.files import REFUSE, REPLACE, WriteError
    from .engine.perfetto import config_text, trace_text, write_trace

    if args.output is None:
        raise BadInput("--format perfetto needs -o FILE, or -o - for standard output (the trace is one JSON document)")
    if args.output == "-":  # (as `-o -` is for the text and --json traces)
        session.run(limit=args.max_steps)
        sys.stdout.write(trace_text(session.timeline))
        return 0
    _can_write(args.output, args.force, "the trace")
    session.run(limit=args.max_steps)
    try:
        path = write_trace(args.output, session.timeline, exists=REPLACE if args.force else REFUSE)
    except WriteError as e:
        print(f"spftui: error: {e}", file=sys.stderr)
        return 2
    steps = counted(session.length, "step")
    print(
        f"wrote {path}: {steps} ({config_text(session.scenario)}); open it at https://ui.perfetto.dev or chrome://tracing"
    )
    return 0


def run_scenarios(args: argparse.Namespace) -> int:
    from .scenario import list_bundled

    rows = list_bundled()
    if args.json:
        print(json.dumps([{"file": p.name, "path": str(p), "title": t} for p, t in rows]))
        return 0
    width = max((len(p.stem) for p, _ in rows), default=10)
    for p, title in rows:
        print(f"{p.stem:<{width}}  {title}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spftui",
        description="A time-travel debugger for Linux page-fault concurrency.",
        epilog="Run `spftui SCENARIO` to open the debugger, or `spftui` to pick a bundled scenario.",
    )
    parser.add_argument("--version", action="version", version=f"spftui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "check",
        help="run a scenario headless and check its [expect]",
        description="Run a scenario headless and check its [expect]. Exit status: 0 when the expectations hold, "
        "cannot be judged from this run (a 'sometimes' on a random schedule) or none covers this policy and reuse "
        "rule; 1 when the run contradicts one; 2 on bad input or when --save-schedule cannot write its file (the "
        "report is printed first); 130 on Ctrl-C, after the report of the steps run so far.",
    )
    add_run_options(p, replaces="--save-schedule")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--full", action="store_true", help="print every step of a long trace")
    p.add_argument("--save-schedule", metavar="FILE", help="save this run as a schedule file (replays it exactly)")
    from . import why_cli

    why_cli.add_break_option(p)
    p.set_defaults(func=run_check)
    p = sub.add_parser(
        "trace",
        help="print the step-by-step trace",
        description="Run a scenario headless and print every step: its thread, its label and what happened "
        "(--json: one JSON object per step; --format perfetto: a Chrome JSON trace for ui.perfetto.dev), to "
        "standard output or, with -o FILE, into FILE (written atomically, never over a file without --force). "
        "A trace judges nothing: violations are listed as they happen. Exit status: 0 when printed or written; "
        "2 on bad input or when -o cannot write its file (a missing directory is named before the run); "
        "130 on Ctrl-C.",
    )
    add_run_options(p, replaces="-o")
    p.add_argument("--json", action="store_true", help="JSON lines, one per step")
    p.add_argument(
        "--format",
        choices=("text", "perfetto"),
        default="text",
        help="perfetto: a Chrome JSON trace for ui.perfetto.dev",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the trace to FILE (refused if it exists; --force replaces it); -o -: standard output",
    )
    p.set_defaults(func=lambda a: run_check(a, trace_only=True))
    p = sub.add_parser("scenarios", help="list the bundled scenarios")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_scenarios)
    from . import explore_cli

    explore_cli.add_explore_parser(sub)
    explore_cli.add_matrix_parser(sub)
    why_cli.add_why_parser(sub)
    from . import coverage_cli, diff_cli, fuzz_cli, shrink_cli

    for tool in (diff_cli, coverage_cli, shrink_cli, fuzz_cli):
        tool.add_parser(sub)

    from .kernel_check_cli import add_kernel_check_parser

    add_kernel_check_parser(sub)
    from .serve_cli import add_serve_parser

    add_serve_parser(sub)
    from .fixes_cli import add_fixes_parser

    add_fixes_parser(sub)
    return parser


def tui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spftui", description="Open the debugger (the TUI).")
    parser.add_argument("scenario", nargs="?", help="a scenario file or bundled scenario name (default: a picker)")
    from .scenario.model import POLICIES, REUSE_RULES

    parser.add_argument("--policy", choices=POLICIES)
    parser.add_argument("--reuse", choices=REUSE_RULES)
    parser.add_argument("--schedule", metavar="FILE", help="replay this schedule (opens at its stop_at step)")
    parser.add_argument("--seed", type=seed)
    parser.add_argument(
        "--goto", type=step_number, metavar="N", help="open right after step N (the N-th step taken; 0: the start)"
    )
    parser.add_argument("--force", action="store_true", help="replay a schedule recorded on another scenario")
    parser.add_argument(
        "--session",
        metavar="FILE",
        help="open a saved session (its breakpoints, bookmarks, branches, step, policy and schedule); q saves to it",
    )
    add_fix_option(parser)
    return parser


_TERMINATED = [False]


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM stops a headless run the way Ctrl-C does: workers end, results so far are printed."""
    _TERMINATED[0] = True
    raise KeyboardInterrupt


def _stop_on_sigterm() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def main(argv: list[str] | None = None) -> int:
    """The `spftui` command. Ctrl-C at any moment, while its modules load too, is
    `spftui: interrupted` and exit 130 (SIGTERM: `terminated`, 143), never a traceback."""
    try:
        return _main(argv)
    except (KeyboardInterrupt, RuntimeError) as e:
        # (Python wraps a Ctrl-C that lands in __set_name__, while a module makes a class, in a RuntimeError)
        if isinstance(e, RuntimeError) and not isinstance(e.__cause__, KeyboardInterrupt):
            raise
        print("spftui: terminated" if _TERMINATED[0] else "spftui: interrupted", file=sys.stderr)
        return 143 if _TERMINATED[0] else 130


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--version"], ["-V"]):
        print(f"spftui {__version__}")
        return 0
    from .engine.workers import WorkerLost
    from .scenario import ScenarioError

    _TERMINATED[0] = False
    try:
        if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
            _refuse_misspelt_command(argv)
            return open_tui(_parse(tui_parser(), argv))
        _stop_on_sigterm()
        _replace_what_cannot_be_encoded()
        args = _parse(build_parser(), argv)
        status = int(args.func(args))
        return 143 if status == 130 and _TERMINATED[0] else status
    except (ScenarioError, BadInput, WorkerLost) as e:
        print(f"spftui: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): it has what it wanted
        _detach_stdout()
        return 0
    except OSError as e:
        if e.filename is not None:  # (files the commands write report WriteError themselves)
            print(f"spftui: error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        else:  # the output itself: `> /dev/full`, a full disk, a dead terminal
            _detach_stdout()
            print(f"spftui: error: cannot write the output: {e.strerror or e}", file=sys.stderr)
        return 2


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """parse_args, but an argument the command does not take is refused by the command's own parser
    (`usage: spftui check ...`, not the top level's), with the option meant when one is close."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        command = commands[0].choices.get(getattr(args, "command", None) or "") if commands else None
        owner = command if isinstance(command, argparse.ArgumentParser) else parser
        owner.error(f"unrecognized arguments: {' '.join(extras)}{_option_hint(owner, extras)}")  # (exits 2)
    return args


def _option_hint(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """`; did you mean --at?` for the first unknown option close to one of the parser's, by name or by
    what it takes (`--step` is `--at STEP`), or ""."""
    import difflib

    names: dict[str, str] = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or action.help == argparse.SUPPRESS:
            continue
        for o in longs:
            names.setdefault(o[2:].lower(), o)
        if isinstance(action.metavar, str) and action.metavar.isalpha():
            names.setdefault(action.metavar.lower(), longs[0])
    for word in extras:
        if word.startswith("-") and len(word) > 1:
            key = word.split("=", 1)[0].lstrip("-").lower()
            close = difflib.get_close_matches(key, list(names), n=1)
            if close:
                return f"; did you mean {names[close[0]]}?"
    return ""


def _replace_what_cannot_be_encoded() -> None:
    """On an output that cannot encode what spftui prints (`PYTHONIOENCODING=ascii`: the
    `·`, `→` and `✓` of its reports), print `?` for those characters, not a traceback."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
        if encoding != "utf8" and isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")


def _detach_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so the flush at exit cannot fail again
    (the recipe of the Python docs' note on SIGPIPE)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (tests read a StringIO)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _refuse_misspelt_command(argv: list[str]) -> None:
    """`spftui chek SCENARIO` (or a bare `spftui explroe`, or `spftui fix`, the start of one)
    is a misspelt command, not a scenario called `chek` that does not exist: say which
    command was meant (`spftui help`: --help). Any other
    word is a scenario (`spftui my_race` is not `trace` misspelt), whose opening names
    the bundled scenario meant, if one is close."""
    from .scenario.files import bundled_scenarios_dir, resolve_scenario

    if not argv or argv[0].startswith("-") or os.path.lexists(resolve_scenario(argv[0])):
        return  # (no arguments: the picker; a file or a bundled name: a scenario)
    word = argv[0].lower()
    if word == "help":  # (`spftui help`, `spftui help check`: git's way)
        of = argv[1] if len(argv) > 1 and argv[1] in SUBCOMMANDS else ""
        meant = f"spftui {of} --help" if of else "--help"
        raise BadInput(f"unknown command '{argv[0]}'; did you mean {meant}? (commands: {', '.join(SUBCOMMANDS)})")
    if len(word) > max(map(len, SUBCOMMANDS)) + 2:
        return  # (more than two slips from every command)
    command = min(SUBCOMMANDS, key=lambda c: _edits(word, c))
    typo = _edits(word, command)
    starting = [c for c in SUBCOMMANDS if len(word) >= 3 and c.startswith(word)]
    if len(starting) == 1 and typo > 1:  # (the start of one command, `fix` for fixes: as near as one slip)
        command, typo = starting[0], 1
    if typo > (1 if len(command) <= 5 else 2):
        return
    try:
        stems = [p.stem for p in bundled_scenarios_dir().glob("*.toml")]
    except OSError:
        stems = []
    if any(_edits(word, stem) <= typo for stem in stems):
        return  # (as near a scenario's name: opening it names that)
    raise BadInput(f"unknown command '{argv[0]}'; did you mean {command}? (commands: {', '.join(SUBCOMMANDS)})")


def _edits(a: str, b: str) -> int:
    """How many one-letter insertions, deletions, changes or swaps of two neighbours make `a` into `b`."""
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        earlier, before, row = before, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(before[j] + 1, row[j - 1] + 1, before[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], earlier[j - 2] + 1)
    return row[-1]


def open_tui(args: argparse.Namespace) -> int:
    if args.scenario is None and args.schedule:
        raise BadInput("--schedule needs a scenario")
    if args.session and (
        args.scenario is None or args.schedule or args.seed is not None or args.policy or args.reuse or args.fix
    ):
        raise BadInput(
            "--session replaces --schedule, --seed, --policy, --reuse and --fix (the session file records them)"
            if args.scenario is not None
            else "--session needs a scenario: spftui SCENARIO --session FILE"
        )
    # validated here, once, before the screen opens: errors go to stderr, exit 2
    opening = open_with(args) if args.scenario else None
    from .tui import run_app

    return run_app(opening, goto_step=args.goto, session_file=args.session)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
