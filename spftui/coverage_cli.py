"""`spftui coverage SCENARIO`: which writer steps ever landed inside which speculative window."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .run_options import add_fix_option, open_with
from .tool_options import count, seed, soft_interrupt


def add_parser(sub: Any) -> None:
    from .scenario.model import POLICIES, REUSE_RULES

    p = sub.add_parser(
        "coverage",
        help="race-window coverage: which writer steps landed inside which speculative windows",
        description="Run random (default), PCT or every schedule of a scenario and tabulate, for each speculative "
        "check of one thread (SEQ1, REFETCH, pte_same, ...) and each writer step of another (a step that changes a "
        "PTE, a sequence count or a VMA), how often the writer ran between the fault's snapshot and that check. A "
        "pair never interleaved is a window the search never explored. Exit status 0; 2 on bad input; 130 after Ctrl-C, which stops the runs and prints the matrix so far.",
    )
    p.add_argument("scenario", help="a scenario file, or the name of a bundled scenario")
    p.add_argument("--policy", choices=POLICIES, help="validation policy (default: the scenario's)")
    p.add_argument("--reuse", choices=REUSE_RULES, help="COW reuse rule (default: the scenario's)")
    add_fix_option(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--pct", action="store_true", help="PCT schedules instead of uniformly random ones")
    how.add_argument("--exhaustive", action="store_true", help="every schedule (up to --max-states states)")
    p.add_argument("--runs", type=count, metavar="N", help="schedules to sample (default 200; not with --exhaustive)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the sampled schedules (default 0)")
    p.add_argument("--depth", type=count, help="PCT bug depth (default 3)")
    p.add_argument("--max-states", type=count, metavar="N", help="exhaustive: cut after N states (default 200,000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_coverage)


def run_coverage(args: argparse.Namespace) -> int:
    from .engine.coverage import coverage

    ns = argparse.Namespace(
        scenario=args.scenario,
        policy=args.policy,
        reuse=args.reuse,
        schedule=None,
        seed=None,
        force=False,
        fix=args.fix,
    )
    for given, option, needs, wanted in (
        (args.depth, "--depth", args.pct, "--pct"),
        (args.max_states, "--max-states", args.exhaustive, "--exhaustive"),
        (args.runs, "--runs", not args.exhaustive, "random or --pct"),
    ):
        if given is not None and not needs:  # (it would be ignored without a word)
            print(f"spftui: error: {option} is for {wanted} runs; leave it out here", file=sys.stderr)
            return 2
    sc = open_with(ns).scenario
    mode = "exhaustive" if args.exhaustive else "pct" if args.pct else "random"
    runs = args.runs or 200
    with soft_interrupt() as stopped, _progress(sys.stderr.isatty() and not args.json) as show:
        cov = coverage(
            sc,
            mode=mode,
            runs=runs,
            seed=args.seed,
            depth=args.depth or 3,
            max_states=args.max_states or 200_000,
            cancelled=stopped,
            progress=lambda n: show(f"{n:,} states" if mode == "exhaustive" else f"{n:,} of {runs:,} schedules"),
        )
    if args.json:
        head = {"scenario": sc.path, "reuse": sc.reuse, "fixes_off": sorted(sc.fixes_off)}
        print(json.dumps({**head, **cov.to_json(), "interrupted": stopped()}))
    else:
        print_coverage(sc, cov, stopped())
    return 130 if stopped() else 0


@contextlib.contextmanager
def _progress(live: bool) -> Iterator[Callable[[str], None]]:
    """A one-line progress display on stderr when it is a terminal."""
    if not live:
        yield lambda text: None
        return
    from rich.console import Console

    with Console(stderr=True).status("coverage…") as status:
        yield lambda text: status.update(f"coverage: {text}  (Ctrl-C stops and shows what it has)")


def _fit(label: str, width: int) -> str:
    """`A2 do_mprotect_pkey:mmap_write_unlock` in `width` columns: the thread, then the end of
    the step's name (cut at the end, three rows read alike: `A2 do_mprotect_pkey:mma…`)."""
    if len(label) <= width:
        return label
    thread, _, step = label.partition(" ")
    keep = width - len(thread) - 2
    return f"{thread} …{step[-keep:]}" if keep > 0 else label[: width - 1] + "…"


def _n(k: int) -> str:
    return str(k) if k < 100 else "99+"


def print_coverage(sc: Any, cov: Any, interrupted: bool = False) -> None:
    from rich import box
    from rich.table import Table

    from .report import console as make_console
    from .report import fixes_off_header

    # Prose lines are whole lines (as check's); the matrix alone is fitted to the
    # width: the terminal's, or Rich's 80 columns (COLUMNS) when piped.
    console = make_console(soft_wrap=True)
    data = cov.to_json()
    cut = ", stopped by Ctrl-C" if interrupted else "" if cov.complete else ", cut by --max-states"
    if cov.mode == "exhaustive":
        how = f"every schedule ({cov.runs:,} states{cut})"
    else:
        how = f"{cov.runs:,} {'PCT' if cov.mode == 'pct' else 'random'} schedules{cut if interrupted else ''}"
    console.print(f"{sc.title}\npolicy {sc.policy} · reuse {sc.reuse}{fixes_off_header(sc)} · {how}", markup=False)
    if not cov.rows:
        console.print("No speculative check ran: no window to cover (a classic policy takes mmap_lock).")
        return
    cells = cov.cells()
    hit = sum(1 for *_, n in cells if n)
    console.print(
        f"{hit} of {len(cells)} windows interleaved. A cell counts the times (over all runs) the writer"
        " step ran inside the check's window; · never, blank: same thread."
    )
    ids = [c["id"] for c in data["checks"]]
    labels = [f"{col[0]} {col[1]}" for col in cov.cols]
    # Column groups that fit the terminal, rather than letting rich fold the
    # step names into three lines each or squeeze the counts to "9…".
    cell = max(3, *(len(i) for i in ids))
    label_w = min(max(map(len, labels)), max(24, console.width - (cell + 1) * len(ids) - 2))
    per_table = max(1, (console.width - label_w - 2) // (cell + 1))
    for first in range(0, len(ids), per_table):
        part = range(first, min(first + per_table, len(ids)))
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=0)
        table.add_column("writer step", width=label_w, no_wrap=True, overflow="ellipsis")
        for i in part:
            table.add_column(ids[i], justify="right", width=cell)
        for col, label in zip(cov.cols, (_fit(x, label_w) for x in labels), strict=True):
            row = []
            for i in part:
                r = cov.rows[i]
                k = cov.hits.get((r, col), 0)
                row.append("" if r[0] == col[0] else _n(k) if k else "[red]·[/red]")
            table.add_row(label, *row)
        console.print(table)
    for c in data["checks"]:
        console.print(f"{c['id']:>4} {c['thread']} {c['label']} ({c['check']}), ran {c['count']:,}×", markup=False)
    never = cov.never()
    if never:
        console.print(f"Never interleaved ({len(never)}):")
        rid = {r: i for r, i in zip(cov.rows, ids, strict=True)}
        for r in cov.rows:
            writers = [f"{c[0]} {c[1]}" for rr, c in never if rr == r]
            if writers:
                console.print(f"{rid[r]:>4} × " + ", ".join(writers), markup=False)
