"""`spftui shrink SCENARIO --out DIR`: the smallest scenario and schedule that still show the violation."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .run_options import add_fix_option, open_with
from .tool_options import count, held_interrupts, wrapped

SIZE_NAMES = (("threads", "threads"), ("ops", "ops"), ("processes", "processes"))
MEMORY_NAMES = (("mappings", "mappings"), ("pages", "pages"), ("data", "data words"))
SCHEDULE_NAMES = (("steps", "steps"), ("entries", "entries"), ("preemptions", "preemptions"))
MINIMISED = " (minimised by spftui shrink)"
PARTLY = " (partly minimised by spftui shrink: interrupted)"


def add_parser(sub: Any) -> None:
    from .engine.limits import SHRINK_MAX_STATES as DEFAULT_MAX_STATES
    from .scenario.model import ORACLE_KINDS, POLICIES, REUSE_RULES

    p = sub.add_parser(
        "shrink",
        help="shrink a scenario and its schedule while a violation persists",
        description="Find a violation with the explorer, then drop threads, ops, processes, mappings, pages and "
        "data words one at a time while the explorer still finds it, then drop runs of the schedule; write the "
        "minimal scenario and its schedule into --out DIR (never over an existing file) and print the sizes "
        "before and after. Ctrl-C after the violation was found writes the smallest scenario reached so far "
        "(shrink that file to go on). Exit status: 0 when written, 1 when no violation was found, 2 on bad input "
        "or when a file cannot be written, 130 when interrupted (Ctrl-C).",
    )
    p.add_argument("scenario", help="a scenario file, or the name of a bundled scenario")
    p.add_argument("--policy", choices=POLICIES, help="validation policy (default: the scenario's)")
    p.add_argument("--reuse", choices=REUSE_RULES, help="COW reuse rule (default: the scenario's)")
    p.add_argument(
        "--oracle",
        metavar="ORACLE",
        help="the violation to keep (default: the first found); one of: "
        + ", ".join(ORACLE_KINDS)
        + " or the scenario's own ([[oracle]])",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="write the shrunk scenario and schedule here")
    p.add_argument(
        "--max-states",
        type=count,
        default=DEFAULT_MAX_STATES,
        metavar="N",
        help=f"each search's state budget (default {DEFAULT_MAX_STATES:,})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_fix_option(p)  # (the shrunk scenario's [fixes] says so: it replays without the option)
    p.set_defaults(func=run_shrink)


def sizes_text(before: Any, after: Any) -> list[str]:
    b, a = before.as_dict(), after.as_dict()

    def line(names: tuple[tuple[str, str], ...]) -> str:
        return ", ".join(f"{label} {b[k]} → {a[k]}" for k, label in names)

    return [line(SIZE_NAMES), line(MEMORY_NAMES), "schedule: " + line(SCHEDULE_NAMES)]


def run_shrink(args: argparse.Namespace) -> int:
    import attrs

    from .engine.files import WriteError
    from .engine.shrink import ShrinkError, check_out, save, scenario_text, shrink

    ns = argparse.Namespace(
        scenario=args.scenario, policy=args.policy, reuse=args.reuse, schedule=None, seed=None, force=False,
        fix=args.fix,
    )  # fmt: skip
    sc = open_with(ns).scenario
    if args.oracle is not None and args.oracle not in sc.oracle_kinds:
        print(
            f"spftui: error: argument --oracle: unknown oracle {args.oracle!r} (one of: {', '.join(sc.oracle_kinds)})",
            file=sys.stderr,
        )
        return 2
    stem = os.path.splitext(os.path.basename(sc.path))[0] + ".min"
    if not args.out.strip():
        print("spftui: error: --out: expected a directory name, found an empty one", file=sys.stderr)
        return 2
    try:
        check_out(args.out, stem)  # before the searches, which may take minutes
    except WriteError as e:
        print(f"spftui: error: --out: {e}", file=sys.stderr)
        return 2
    try:
        result = shrink(sc, args.oracle, max_states=args.max_states)
    except ShrinkError as e:
        print(f"spftui: {e}", file=sys.stderr)
        return 1
    cut = result.interrupted  # (Ctrl-C after the find: the smallest reached so far is saved)
    how = "Partly shrunk (interrupted)" if cut else "Shrunk"
    description = (
        f"{how} by `spftui shrink` from {sc.path} under {sc.policy}, reuse {sc.reuse}.\n"
        f"{result.oracle}: {result.detail}"
    )
    # the title says what the file is: a scenario of its own, minimised from the input
    original = sc.title.removesuffix(MINIMISED).removesuffix(PARTLY)
    title = original + (PARTLY if cut else MINIMISED)
    result = attrs.evolve(result, scenario=attrs.evolve(result.scenario, title=title))
    paths: tuple[str, str] | None = None
    error: str | None = None
    try:
        with held_interrupts() as asked:  # (a Ctrl-C now waits: the files are written whole)
            paths = save(result, args.out, stem, description)
    except WriteError as e:  # (a full disk: the result is printed all the same, the scenario's text too)
        error = str(e)
    cut = cut or asked()
    status = 130 if cut else 2 if error else 0
    text = None
    if paths is None:
        text = scenario_text(result, os.path.join(args.out, f"{stem}.toml"), description)
    if args.json:
        out = {
            "scenario": sc.path, "policy": sc.policy, "reuse": sc.reuse, "oracle": result.oracle,
            "detail": result.detail, "before": result.before.as_dict(), "after": result.after.as_dict(),
            "searches": result.tries, "files": list(paths or ()), "schedule": [e.text for e in result.entries],
            "breakpoints": [len(sc.breakpoints), len(result.scenario.breakpoints)], "interrupted": cut,
        }  # fmt: skip
        if paths is None:
            out |= {"error": error, "scenario_text": text}
        print(json.dumps(out))
    else:
        _print_report(sc, result, paths, text, cut)
    if error:
        print(f"spftui: error: {error}", file=sys.stderr)
    return status


def _print_report(sc: Any, result: Any, paths: tuple[str, str] | None, text: str | None, cut: bool) -> None:
    say = print  # (whole lines, as check and explore print them)
    say(sc.title)
    say(f"policy {sc.policy} · reuse {sc.reuse}")
    say(f"{result.oracle}: {result.detail}")
    for line in sizes_text(result.before, result.after):
        say(line)
    if sc.breakpoints:
        kept = len(result.scenario.breakpoints)
        dropped = "" if kept == len(sc.breakpoints) else " (those naming a thread or process that is gone are dropped)"
        say(f"breakpoints {len(sc.breakpoints)} → {kept}{dropped}")
    say(f"schedule ({result.tries} searches): {', '.join(e.text for e in result.entries)}")
    if paths is None:  # (nothing written: the scenario here, whole, to be saved by hand)
        say("Not saved (see the error below); the minimised scenario, whose [schedule] replays the violation:")
        say("")
        print(text, end="" if text and text.endswith("\n") else "\n")
        return
    for path in paths:
        print(f"wrote {path}")
    # (its breakpoints would stop the replay before the violation)
    no_break = " --no-break" if result.scenario.breakpoints else ""
    print(f"replay: spftui check {paths[0]} --schedule {paths[1]}{no_break}")
    if cut:
        wrapped(
            f"Interrupted: the shrinking stopped after {result.tries} searches; the smallest scenario reached "
            f"so far is saved (`spftui shrink {paths[0]} --out DIR` goes on from it)."
        )
