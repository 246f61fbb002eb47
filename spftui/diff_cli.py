"""`spftui diff SCENARIO SCHEDULE_1 SCHEDULE_2`: where two schedules part, and the
reordered pair of conflicting steps that turns the passing one into the failing one.
The runs are "run 1" and "run 2" (engine/diff.RUNS): never A and B, which read as threads."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .run_options import add_fix_option, open_with


def add_parser(sub: Any) -> None:
    from .scenario.model import ORACLE_KINDS, POLICIES, REUSE_RULES

    p = sub.add_parser(
        "diff",
        help="compare two schedules: first divergence, the reordered conflicting steps that matter",
        description="Run a scenario under two schedule files (run 1 and run 2) and print where they first differ "
        "and, when one "
        "reports a violation and the other does not, the smallest set of conflicting step pairs whose order "
        "turns the passing schedule into the failing one (checked by replaying it). Both run under one policy, "
        "reuse rule and set of fixes (SCHEDULE_1's, or --policy, --reuse, --fix); a note says when SCHEDULE_2 was "
        "saved with others, and what it reports under its own. Exit status 0; 2 on bad input; 130 on Ctrl-C.",
    )
    p.add_argument("scenario", help="a scenario file, or the name of a bundled scenario")
    p.add_argument("schedule_a", metavar="SCHEDULE_1", help="a schedule file (run 1)")
    p.add_argument("schedule_b", metavar="SCHEDULE_2", help="another schedule file (run 2)")
    p.add_argument("--policy", choices=POLICIES, help="validation policy (default: SCHEDULE_1's, else the scenario's)")
    p.add_argument("--reuse", choices=REUSE_RULES, help="COW reuse rule (default: SCHEDULE_1's, else the scenario's)")
    p.add_argument(
        "--oracle",
        metavar="ORACLE",
        help="the violation that decides pass/fail (default: any); one of: "
        + ", ".join(ORACLE_KINDS)
        + " or the scenario's own ([[oracle]])",
    )
    add_fix_option(p)  # (over SCHEDULE_1's recorded fixes, as check --schedule takes it)
    p.add_argument("--force", action="store_true", help="accept schedules recorded on another scenario")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_diff)


def _open(args: argparse.Namespace, schedule: str, policy: str | None, reuse: str | None) -> Any:
    ns = argparse.Namespace(
        scenario=args.scenario, policy=policy, reuse=reuse, schedule=schedule, seed=None, force=args.force,
        fix=args.fix,
    )  # fmt: skip
    return open_with(ns)


def run_diff(args: argparse.Namespace) -> int:
    from .engine.diff import diff_json, diff_runs
    from .engine.recording import record_entries

    oa = _open(args, args.schedule_a, args.policy, args.reuse)
    sc = oa.scenario
    if args.oracle is not None and args.oracle not in sc.oracle_kinds:
        print(
            f"spftui: error: argument --oracle: unknown oracle {args.oracle!r} (one of: {', '.join(sc.oracle_kinds)})",
            file=sys.stderr,
        )
        return 2
    # Run 2 under its own policy and reuse, to say when run 1's override them, but with the
    # user's --fix: a fix switched on the command line is chosen, not a difference to note.
    ob = _open(args, args.schedule_b, None, None)
    a, b = record_entries(sc, oa.entries), record_entries(sc, ob.entries)
    d = diff_runs(sc, a, b, args.oracle)
    notes = _overridden(args, sc, ob, b)
    if args.json:
        out = diff_json(d, (args.schedule_a, args.schedule_b))
        out.update({"scenario": sc.path, "policy": sc.policy, "reuse": sc.reuse, "fixes_off": sorted(sc.fixes_off)})
        out["notes"] = notes
        print(json.dumps(out))
        return 0
    print_diff(sc, d, args.schedule_a, args.schedule_b, notes)
    return 0


def _overridden(args: argparse.Namespace, sc: Any, ob: Any, b: Any) -> list[str]:
    """Notes for when SCHEDULE_2's file asks for other settings than the ones both run under.

    The pairs are replayed under one policy, so run 2 runs under run 1's settings (or
    --policy, --reuse); when its own differ, its verdict here may not be the one
    it was saved with, and the report says so, with its run under its own."""
    from .engine.describe import counted
    from .engine.recording import record_entries

    own = ob.scenario
    differ = []
    if args.policy is None and own.policy != sc.policy:
        differ.append(f"policy {own.policy}")
    if args.reuse is None and own.reuse != sc.reuse:
        differ.append(f"reuse {own.reuse}")
    if own.fixes_off != sc.fixes_off:
        differ.append(f"fixes off: {', '.join(sorted(own.fixes_off)) or 'none'}")
    if not differ:
        return []
    alone = record_entries(own, ob.entries)
    vs = alone.violations()
    what = f"{vs[0][1].oracle} at step {vs[0][0] + 1} ({vs[0][1].thread})" if vs else "no violation"
    same = {v.oracle for _, v in vs} == {v.oracle for _, v in b.violations()}
    fixes = f", fixes off: {', '.join(sorted(sc.fixes_off))}" if sc.fixes_off else ""
    return [
        f"SCHEDULE_2 (run 2) was saved with {', '.join(differ)}; here both schedules run under policy "
        f"{sc.policy}, reuse {sc.reuse}{fixes} (--policy, --reuse and --fix choose).",
        f"Under its own settings run 2 takes {counted(len(alone.steps), 'step')}, {what}"
        f"{': the same verdict' if same else ': another verdict than here'}.",
    ]


def print_diff(sc: Any, d: Any, path_a: str, path_b: str, notes: list[str]) -> None:
    from .engine.diff import prose
    from .report import console as make_console
    from .report import fixes_off_header

    console = make_console(soft_wrap=True)  # (as check's: a line is a line, whatever reads it)
    out = console.print
    out(f"{sc.title}\npolicy {sc.policy} · reuse {sc.reuse}{fixes_off_header(sc)}", markup=False)
    for note in notes:
        out(f"note: {note}", markup=False)
    for line in prose(d, (path_a, path_b)):
        out(line, markup=False)
    if d.divergence is not None:
        console.print(side_by_side(d, console.width))


def side_by_side(d: Any, width: int = 80) -> Any:
    """A Rich table of both runs around the divergence, the pair steps marked (engine/diff.side_rows),
    `width` columns wide at most. A step too long for its column breaks after its kernel function
    (as the debugger's Compare screen does), never inside a word; a part still too long is cut with "…"."""
    from rich.table import Table
    from rich.text import Text

    from .engine.diff import RUNS, side_rows, side_title

    rows = side_rows(d)
    num = max([1, *(len(str(r.step)) for r in rows)])
    longest = max([1, *(len(c) + 2 for r in rows if r.step for c in (r.a, r.b))])
    room = max(12, min(longest, (width - num - 10) // 2))  # 4 rules and 3 cells' padding of 2
    table = Table(title=side_title(d), title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    for name in RUNS:
        table.add_column(name, width=room, no_wrap=True, overflow="ellipsis")
    for r in rows:
        if not r.step:
            table.add_row("…", Text(r.a), Text(r.b))
            continue
        a = f"▶ {step_cell(r.a, room - 2)}" if r.marked_a and r.a else step_cell(r.a, room)
        b = f"▶ {step_cell(r.b, room - 2)}" if r.marked_b and r.b else step_cell(r.b, room)
        table.add_row(str(r.step), Text(a), Text(b), style="bold" if r.divergence else None)
    return table


def step_cell(text: str, room: int) -> str:
    """`A2 change_protection:flush_tlb_range` (thread, step label); longer than `room`, broken
    after the kernel function (a label breaks nowhere else), as the TUI's screens/report.step_cell."""
    thread, _, label = text.partition(" ")
    func, colon, step = label.partition(":")
    if len(text) <= room or not colon:
        return text
    return f"{thread} {func}:\n   {step}"
