"""`spftui diff SCENARIO SCHEDULE_A SCHEDULE_B`: where two schedules part, and the
reordered pair of conflicting steps that turns the passing one into the failing one."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .run_options import open_with


def add_parser(sub: Any) -> None:
    from .scenario.model import ORACLE_KINDS, POLICIES, REUSE_RULES

    p = sub.add_parser(
        "diff",
        help="compare two schedules: first divergence, the reordered conflicting steps that matter",
        description="Run a scenario under two schedule files and print where they first differ and, when one "
        "reports a violation and the other does not, the smallest set of conflicting step pairs whose order "
        "turns the passing schedule into the failing one (checked by replaying it). Exit status 0; 2 on bad input.",
    )
    p.add_argument("scenario", help="a scenario file, or the name of a bundled scenario")
    p.add_argument("schedule_a", metavar="SCHEDULE_A", help="a schedule file")
    p.add_argument("schedule_b", metavar="SCHEDULE_B", help="another schedule file")
    p.add_argument("--policy", choices=POLICIES, help="validation policy (default: SCHEDULE_A's, else the scenario's)")
    p.add_argument("--reuse", choices=REUSE_RULES, help="COW reuse rule (default: SCHEDULE_A's, else the scenario's)")
    p.add_argument("--oracle", choices=ORACLE_KINDS, help="the violation that decides pass/fail (default: any)")
    p.add_argument("--force", action="store_true", help="accept schedules recorded on another scenario")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_diff)


def _open(args: argparse.Namespace, schedule: str, policy: str | None, reuse: str | None) -> Any:
    ns = argparse.Namespace(
        scenario=args.scenario, policy=policy, reuse=reuse, schedule=schedule, seed=None, force=args.force
    )
    return open_with(ns)


def run_diff(args: argparse.Namespace) -> int:
    from .engine.diff import diff_json, diff_runs
    from .engine.recording import record_entries

    oa = _open(args, args.schedule_a, args.policy, args.reuse)
    sc = oa.scenario
    ob = _open(args, args.schedule_b, sc.policy, sc.reuse)
    a, b = record_entries(sc, oa.entries), record_entries(sc, ob.entries)
    d = diff_runs(sc, a, b, args.oracle)
    if args.json:
        out = diff_json(d, (args.schedule_a, args.schedule_b))
        out.update({"scenario": sc.path, "policy": sc.policy, "reuse": sc.reuse})
        print(json.dumps(out))
        return 0
    print_diff(sc, d, args.schedule_a, args.schedule_b)
    return 0


def _run_line(side: str, path: str, run: Any) -> str:
    vs = run.violations()
    what = "no violation"
    if vs:
        pos, v = vs[0]
        what = f"{v.oracle} at step {pos + 1} ({v.thread})"
    return f"{side} {path}: {len(run.steps)} steps, {what}"


def print_diff(sc: Any, d: Any, path_a: str, path_b: str) -> None:
    from rich.console import Console

    from .engine.narrate import entries_of

    console = Console(highlight=False)
    out = console.print
    out(f"{sc.title}\npolicy {sc.policy} · reuse {sc.reuse}", markup=False)
    out(_run_line("A", path_a, d.a), markup=False)
    out(_run_line("B", path_b, d.b), markup=False)
    if d.divergence is None:
        out("The two schedules run the same steps.")
        return
    k = d.divergence

    def at(run: Any) -> str:
        if k >= len(run.steps):
            return "nothing (the run has ended)"
        s = run.steps[k]
        return f"{d.names[s.thread]} ({s.label})"

    out(f"First divergence at step {k + 1}: A runs {at(d.a)}, B runs {at(d.b)}.", markup=False)
    if d.failing is None:
        both = "report a violation" if d.a.violations() else "pass"
        out(f"Both schedules {both}: no passing/failing pair to explain.")
    else:
        fail, ok = d.failing.upper(), "B" if d.failing == "a" else "A"
        n = len(d.pairs)
        out(f"{d.reordered} pairs of conflicting steps run in opposite orders in {ok} and {fail}.", markup=False)
        if not d.reproduces:
            out(f"Imposing all of them on {ok} does not reproduce {d.oracle}: the runs differ by more than order.")
        else:
            out(
                f"{'This one is' if n == 1 else f'These {n} are'} enough: {ok}'s order with "
                f"{'it' if n == 1 else 'them'} flipped reports {d.oracle}.",
                markup=False,
            )
            for i, p in enumerate(d.pairs, 1):
                was = f"step {p.second.step_pass}" if p.second.step_pass else "never ran"
                out(
                    f"  {i}. {p.first.thread} {p.first.label} ({fail} step {p.first.step_fail}) runs before "
                    f"{p.second.thread} {p.second.label} ({fail} step {p.second.step_fail}; in {ok}: {was}); "
                    f"both touch {', '.join(p.objects)}.",
                    markup=False,
                )
            sched = ", ".join(e.text for e in entries_of(list(d.names), d.flipped))
            out(f"Flipped schedule: {sched}", markup=False)
    console.print(side_by_side(d))


def side_by_side(d: Any) -> Any:
    """A Rich table of both runs around the divergence; the pair steps marked."""
    from rich.table import Table

    fail = d.failing
    marks: dict[str, set[int]] = {"a": set(), "b": set()}
    for p in d.pairs:
        for s in (p.first, p.second):
            marks[fail].add(s.step_fail - 1)
            if s.step_pass:
                marks["b" if fail == "a" else "a"].add(s.step_pass - 1)
    k = d.divergence or 0
    last = max([k + 1, *marks["a"], *marks["b"]])
    end = min(max(len(d.a.steps), len(d.b.steps)), last + 2)
    table = Table(
        title=f"steps {max(k - 1, 0) + 1}–{end} (▶ a flipped pair, bold: first divergence)", title_justify="left"
    )
    table.add_column("#", justify="right")
    table.add_column("A", overflow="fold")
    table.add_column("B", overflow="fold")
    rows = range(max(k - 2, 0), end)
    quiet = 0
    for pos in rows:
        marked = pos == k or pos in marks["a"] or pos in marks["b"]
        near = any(abs(pos - m) <= 1 for m in {k, *marks["a"], *marks["b"]})
        if not near:
            quiet += 1
            continue
        if quiet:
            table.add_row("…", f"({quiet} step{'s' if quiet > 1 else ''})", "")
            quiet = 0
        cells = []
        for side, run in (("a", d.a), ("b", d.b)):
            if pos >= len(run.steps):
                cells.append("")
                continue
            s = run.steps[pos]
            text = f"{'▶ ' if pos in marks[side] else ''}{d.names[s.thread]} {s.label}"
            cells.append(text)
        table.add_row(str(pos + 1), *cells, style="bold" if marked and pos == k else None)
    if quiet:
        table.add_row("…", f"({quiet} step{'s' if quiet > 1 else ''})", "")
    return table
