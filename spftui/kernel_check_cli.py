"""`spftui kernel-check`: compare the simulator with the kernel this machine runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .tool_options import seed, soft_interrupt


def add_kernel_check_parser(sub: Any) -> None:
    from .scenario.model import REUSE_RULES

    p = sub.add_parser(
        "kernel-check",
        help="run random op sequences on this kernel and in the model, and compare",
        description="Run seeded random write/read/fork/mprotect/munmap/MADV_DONTNEED sequences on a private "
        "anonymous mapping, on the host kernel (ctypes) and in the simulator, and compare each op's "
        "observations. Exit status: 0 when all agree, 1 on a mismatch, 2 on bad input (a --scenario it cannot "
        "run on the host: its file:line and key are named) or when the host is not Linux, "
        "130 when interrupted (Ctrl-C prints the seeds checked so far).",
    )
    p.add_argument("--seeds", type=_positive, help="how many sequences (default 50)")
    p.add_argument("--seed-start", type=seed, metavar="N", help="the first seed (default 0)")
    p.add_argument("--ops", type=_positive, help="ops per sequence (default 20)")
    p.add_argument(
        "--pages", type=int, choices=range(3, 17), metavar="3..16", help="at most this many pages (default 4)"
    )
    p.add_argument("--reuse", choices=REUSE_RULES, help="the model's COW reuse rule (default: from uname -r)")
    p.add_argument("--no-minimise", action="store_true", help="print the first failing sequence as it is")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="compare this scenario's ops instead (a file or bundled name; its threads run one after another)",
    )
    p.set_defaults(func=run_kernel_check)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {n}")
    return n


RANDOM_DEFAULTS = {"seeds": 50, "seed_start": 0, "ops": 20, "pages": 4}  # the random sequences' options


def run_kernel_check(args: argparse.Namespace) -> int:
    given = [f"--{k.replace('_', '-')}" for k in RANDOM_DEFAULTS if getattr(args, k) is not None]
    if args.scenario and given:  # (they would be ignored without a word)
        print(
            f"spftui: error: {', '.join(given)} choose the random sequences; --scenario compares the scenario's ops",
            file=sys.stderr,
        )
        return 2
    for k, v in RANDOM_DEFAULTS.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if not sys.platform.startswith("linux") or not os.path.exists("/proc/self/pagemap"):
        print(f"spftui: kernel-check needs a Linux host with /proc (this is {sys.platform})", file=sys.stderr)
        return 2
    from .fidelity.compare import PFN_COLUMNS, check
    from .fidelity.host import pfns_readable

    pfns = pfns_readable()
    if not pfns:
        note = f"not root: PFNs are unreadable, so {', '.join(PFN_COLUMNS)} and the zero page are not compared"
        print(f"spftui: {note}", file=sys.stderr)
    if args.scenario:
        report = _check_scenario(args, pfns)
    else:
        seeds = range(args.seed_start, args.seed_start + args.seeds)
        with soft_interrupt() as stopped:
            report = check(
                seeds, args.ops, args.pages, reuse=args.reuse, pfns=pfns, minimise=not args.no_minimise,
                cancelled=stopped,
            )  # fmt: skip
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    elif args.scenario:
        print(
            f"kernel {report.release} · model reuse {report.reuse} · scenario {report.scenario}, one thread after another:"
        )
        for text in report.ops:
            print(f"  {text}")
        print(f"ops={len(report.ops)} agree={'yes' if report.agree else 'no'}")
    else:
        print(f"kernel {report.release} · model reuse {report.reuse} · {args.ops} ops · up to {args.pages} pages")
        print(f"seeds={report.seeds} agree={report.agree}")
    if not args.json:
        if report.flaky:
            print(f"(agreed on a re-run, the first kernel run differed: seeds {report.flaky})")
        for klass, entry in report.classes.items():
            _print_class(klass, entry)
        if report.interrupted:
            done = f"seeds {args.seed_start} to {args.seed_start + report.seeds - 1}" if report.seeds else "none"
            print(f"Interrupted after {report.seeds} of {args.seeds} seeds ({done}): the figures above are theirs.")
    if report.interrupted:
        return 130
    return 0 if report.agree == report.seeds else 1


def _check_scenario(args: argparse.Namespace, pfns: bool) -> Any:
    """The scenario's ops, as fidelity/scenario_ops.py translates them (ScenarioError when they do not fit)."""
    from .fidelity.compare import check_ops
    from .fidelity.scenario_ops import scenario_ops
    from .scenario import load_scenario
    from .scenario.files import resolve_scenario

    sc = load_scenario(resolve_scenario(args.scenario))
    ops, npages = scenario_ops(sc)
    name = os.path.splitext(os.path.basename(sc.path))[0]
    return check_ops(name, ops, npages, sc.words_per_page, reuse=args.reuse, pfns=pfns, minimise=not args.no_minimise)


def _print_class(klass: str, entry: dict[str, Any]) -> None:
    seeds = entry["seeds"]
    print(f"\nmismatch {klass} — {len(seeds)} seed(s), e.g. {seeds[0]}; minimised, {entry['pages']} pages:")
    cols = [c for c in ("result", "pages", "cow", "mapcount", "exclusive") if c in entry["kernel"][0]]
    for text, k, m in zip(entry["ops"], entry["kernel"], entry["model"], strict=True):
        print(f"  {text}")
        for c in cols:
            mark = "≠" if k.get(c) != m.get(c) else " "
            print(f"    {mark} {c:<9} kernel: {k.get(c, ''):<40} model: {m.get(c, '')}")
    if entry.get("model_notes"):
        print(f"  model says: {entry['model_notes']}")
