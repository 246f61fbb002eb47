"""The options every run command shares (scenario, policy, reuse, schedule, seed, limits) and
opening a scenario from them: one place for `check`, `trace`, `why` and the debugger."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .tool_options import count, held_interrupts, seed


class BadInput(Exception):
    """Bad user input: printed as `spftui: error: ...`, exit status 2 (by cli.main)."""


def open_with(args: argparse.Namespace) -> Any:
    """The engine's Opening for the common options; prints its warning, if any."""
    from .engine.opening import open_scenario

    opening = open_scenario(
        args.scenario,
        args.policy,
        args.reuse,
        args.schedule,
        args.seed,
        force=getattr(args, "force", False),
        fixes=dict(getattr(args, "fix", None) or ()),
    )
    if opening.warning:
        print(f"spftui: warning: {opening.warning}", file=sys.stderr)
    return opening


def fix_switch(text: str) -> tuple[str, bool]:
    """argparse type of `--fix NAME=off|on`: a bad one exits 2 with a did-you-mean."""
    from .scenario.fixes import parse_switch

    try:
        return parse_switch(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_fix_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fix",
        action="append",
        type=fix_switch,
        metavar="NAME=off|on",
        help="switch a modelled kernel fix off (or back on) for this run, over the scenario's [fixes] and "
        "kernel preset; repeatable (`spftui fixes` lists them)",
    )


def add_run_options(p: argparse.ArgumentParser, replaces: str = "") -> None:
    """The options of a run; `replaces`: the file option --force also lets replace a file."""
    from .scenario.model import POLICIES, REUSE_RULES

    p.add_argument("scenario", help="a scenario file, or the name of a bundled scenario")
    p.add_argument("--policy", choices=POLICIES, help="validation policy (default: the scenario's)")
    p.add_argument("--reuse", choices=REUSE_RULES, help="COW reuse rule (default: the scenario's)")
    p.add_argument("--schedule", metavar="FILE", help="replay this schedule file instead of the scenario's")
    p.add_argument("--seed", type=seed, help="run a seeded random schedule instead of the scenario's")
    add_fix_option(p)
    p.add_argument("--max-steps", type=count, default=1_000_000, help="stop after this many steps (default 1,000,000)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replay a schedule recorded on another scenario"
        + (f"; let {replaces} replace an existing file" if replaces else ""),
    )


def save_schedule(session: Any, path: str, force: bool, status: int, stop: Any = None) -> int:
    """`--save-schedule FILE`: write the run as a schedule file that replays it exactly
    (atomically; an existing file only with `force`), after the report (printed first,
    whatever happens to the file). Returns `status`, or 2 when the file cannot be written,
    130 when Ctrl-C came while it was written (the file is written whole first).
    `stop`: the breakpoint stop the run ended at (`check --break`), where the file opens."""
    from .engine.files import WriteError
    from .engine.schedule_file import REFUSE, REPLACE, write_schedule

    sc = session.scenario
    comment = f"{sc.title}: a recorded run under {sc.policy}, reuse {sc.reuse} ({session.strategy.summary()})"
    marks = session.violations()
    stop_at = None
    if stop is not None:
        stop_at = stop.step
        comment += f"\nstop_at: step {stop_at}, where the run stopped: {stop.text}"
    elif marks:
        stop_at = marks[0].step + 1
        comment += f"\nstop_at: step {stop_at} ({marks[0].thread} at {marks[0].label}), where {marks[0].what} fired: "
        comment += marks[0].detail
    sys.stdout.flush()
    try:
        with held_interrupts() as asked:  # (a Ctrl-C while a large schedule is written waits for it)
            write_schedule(
                path, sc, session.schedule_entries(), comment, policy=sc.policy, reuse=sc.reuse, stop_at=stop_at,
                exists=REPLACE if force else REFUSE,
            )  # fmt: skip
    except WriteError as e:
        print(f"spftui: error: {e}", file=sys.stderr)
        return 2
    if asked():
        print(f"spftui: interrupted (after writing {path})", file=sys.stderr)
        return 130
    return status
