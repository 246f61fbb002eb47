"""`spftui fuzz --policy P --out DIR`: random scenarios, random and PCT schedules, every violation shrunk and saved."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import attrs

from .tool_options import JOBS_HELP, count, jobs, seconds, seed, wrapped


def add_parser(sub: Any) -> None:
    from .scenario.model import POLICIES

    p = sub.add_parser(
        "fuzz",
        help="random scenarios and schedules; shrink and save every violation",
        description="Generate random valid scenarios (processes, mappings, fork children, two or three threads "
        "with ops from the whole op set), run random and PCT schedules on each, shrink every violation and save "
        "it in --out DIR as a scenario and a schedule file, with a one-line description. The same --seed draws "
        "the same scenarios on any machine and any --jobs; --time only decides how many. A name that is taken "
        "gets the next free number (NAME.2.toml, ...). A violation under a "
        "policy that should close every race (classic, spf-mm-seq, spf-vma-seq, vma-lock) is reported as a "
        "possible model bug. Ctrl-C stops it: what was found so far is saved (not shrunk if it was not yet) "
        "and listed. A finding that cannot be saved (a full disk) is printed instead, whole, and the run stops. "
        "Exit status: 0 when nothing was found, 1 when a violation was, 2 on bad input, when a file cannot be "
        "written or when not one scenario could be run in --time, 130 when interrupted.",
    )
    p.add_argument("--policy", choices=POLICIES, required=True, help="validation policy")
    p.add_argument("--time", type=seconds, default=60.0, metavar="SECONDS", help="wall-time budget (default 60)")
    p.add_argument("--seed", type=seed, default=0, help="which scenarios and schedules (default 0)")
    p.add_argument("--jobs", type=jobs, default=1, metavar="N", help=f"worker processes (default 1; {JOBS_HELP})")
    p.add_argument("--runs", type=count, default=32, metavar="N", help="random and PCT schedules each, per scenario")
    p.add_argument("--scenarios", type=count, metavar="N", help="stop after N scenarios (default: when time is up)")
    p.add_argument("--out", required=True, metavar="DIR", help="write each shrunk violation here")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(func=run_fuzz)


def run_fuzz(args: argparse.Namespace) -> int:
    import os

    from .engine.files import WriteError
    from .engine.fuzz import Saved, describe, fuzz
    from .engine.shrink import check_out, save, scenario_text
    from .scenario.policies import POLICY

    if not args.out.strip():
        print("spftui: error: --out: expected a directory name, found an empty one", file=sys.stderr)
        return 2
    try:
        check_out(args.out)  # before the fuzzing, not at its first find
    except WriteError as e:
        print(f"spftui: error: {e}", file=sys.stderr)
        return 2

    sound = POLICY[args.policy].sound
    found: list[dict[str, Any]] = []
    unsaved: list[dict[str, Any]] = []  # found, not saved (a full disk): printed whole instead
    errors: list[str] = []

    def on_saved(s: Saved) -> None:
        f, sh = s.finding, s.shrunk
        if not s.new:
            return
        stem = f"fuzz-{args.seed}-{f.index}-{f.oracle}"
        line = f"{describe(sh.scenario)} — {f.oracle}: {sh.detail}"
        sc = sh.scenario
        sh = attrs.evolve(
            sh, scenario=attrs.evolve(sc, title=f"fuzz {args.seed}/{f.index}: {f.oracle} under {sc.policy}")
        )
        b, a = sh.before, sh.after
        item = {
            "index": f.index, "oracle": f.oracle, "description": line, "cpu_to_find": round(s.cpu_to_find, 3),
            "before": b.as_dict(), "after": a.as_dict(), "shrunk": s.how, "possible_model_bug": sound,
        }  # fmt: skip
        paths = None
        if not errors:  # (after a failed save, the next finds are printed, not tried on the same disk)
            try:
                paths = save(sh, args.out, stem, line, number=True)  # (a rerun of a seed: NAME.2)
            except WriteError as e:
                errors.append(str(e))
        if paths is None:
            text = scenario_text(sh, os.path.join(args.out, f"{stem}.toml"), line)
            unsaved.append(item | {"scenario_text": text})
            if not args.json:
                print(f"NOT SAVED ({stem}.toml: see the error below); the scenario, whose [schedule] shows it:")
                wrapped(f"  {line}")
                print(text)
            sys.stdout.flush()
            return
        found.append({"scenario": paths[0], "schedule": paths[1], **item})
        if not args.json:
            print(paths[0])
            wrapped(f"  {line}")
            sizes = (
                f"threads {b.threads} → {a.threads}, ops {b.ops} → {a.ops}, preemptions {b.preemptions} → {a.preemptions}"
                if s.how.startswith(("shrunk", "partly"))
                else f"threads {b.threads}, ops {b.ops}, preemptions {b.preemptions}"
            )
            wrapped(f"  found after {s.cpu_to_find:.1f} CPU s; {s.how}: {sizes}")
            if sound:
                wrapped(f"  possible model bug: {args.policy} should never show {f.oracle}; see the file above")
        sys.stdout.flush()

    stats = fuzz(
        args.policy, seconds=args.time, seed=args.seed, jobs=args.jobs, runs=args.runs, limit=args.scenarios,
        on_saved=on_saved, stop=lambda: bool(errors),
    )  # fmt: skip
    none_run = stats.scenarios == 0 and stats.stop == "time"
    if args.json:
        print(
            json.dumps({
                "policy": args.policy, "seed": args.seed, "scenarios": stats.scenarios, "cpu": round(stats.cpu, 3),
                "stop": stats.stop, "found": found, "unsaved": unsaved,
            })
        )  # fmt: skip
    elif not none_run:
        kinds = sorted({f["oracle"] for f in found + unsaved})
        what = f"{len(found)} violation(s) saved ({', '.join(kinds)})" if found else "no violation"
        if unsaved:
            what = (
                f"{len(found)} violation(s) saved, {len(unsaved)} found but not saved ({', '.join(kinds)}: printed "
                "above); stopped"
            )
        wrapped(
            f"{stats.scenarios:,} scenarios under {args.policy} in {stats.cpu:.1f} CPU s (seed {args.seed}): {what}"
        )
        if stats.stop == "interrupted":
            listed = "every violation listed above is saved" if not unsaved else "the violations above are listed"
            wrapped(f"Interrupted: the run stopped early; {listed}.")
    for e in errors:
        print(f"spftui: error: {e}", file=sys.stderr)
    if stats.stop == "interrupted":
        return 130
    if errors:
        return 2
    if none_run:
        took = f" (starting {args.jobs} worker processes took it)" if args.jobs > 1 else ""
        print(
            f"spftui: error: not one scenario was run within --time {args.time:g} s{took}: nothing was fuzzed; "
            "give a longer --time" + (" or fewer --jobs" if args.jobs > 1 else ""),
            file=sys.stderr,
        )
        return 2
    return 1 if found else 0
