"""`spftui why` (backward dataflow) and `spftui check --break KIND` (stop at a breakpoint)."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from .run_options import BadInput, add_run_options, open_with, save_schedule

BREAK_KINDS = ("aba", "abort", "violation", "step", "watch", "when")
# `when` is a [[breakpoint]] table's word for a condition breakpoint
_EXPR_KINDS = {"watch": "watch", "when": "condition"}


class BreakArg(NamedTuple):
    """One `--break KIND[:MATCH]`: the kind as the user wrote it (`when`), the engine's kind
    (`condition`) and the keyword arguments of Session.add_breakpoint."""

    word: str
    kind: str
    options: dict[str, str]


def break_error(word: str, message: object) -> Exception:
    """Every --break error says it one way: `spftui: error: --break when: ...` (exit 2), whether
    found while parsing the option or on the scenario (an argparse error printed the usage
    and `argument --break: `; one found on the scenario did not)."""
    return BadInput(f"--break {word}: {message}")


def break_spec(text: str) -> BreakArg:
    """`aba`, `aba:REFETCH`, `abort:SEQ1`, `violation:lost_write`, `step:LABEL`, `watch:EXPR`,
    `when:EXPR` → a BreakArg; BadInput (not argparse's error) when it cannot fire."""
    kind, _, match = text.partition(":")
    if kind not in BREAK_KINDS:
        near = difflib.get_close_matches(kind, BREAK_KINDS, n=1)
        hint = f"; did you mean {near[0]}?" if near else ""
        raise break_error(kind, f"unknown breakpoint kind {kind!r}{hint} (expected one of {', '.join(BREAK_KINDS)})")
    if kind in _EXPR_KINDS:  # (parsed now; names are checked on the scenario, values on its start)
        from .engine.breakpoints import make_breakpoint
        from .engine.expr import ExprError

        try:
            make_breakpoint(0, _EXPR_KINDS[kind], expr=match)
        except (ExprError, ValueError) as e:
            raise break_error(kind, e) from None
        return BreakArg(kind, _EXPR_KINDS[kind], {"expr": match})
    if kind == "step":
        from .engine.timeline import LABELS

        if match not in LABELS:
            near = difflib.get_close_matches(match, sorted(LABELS), n=1)
            hint = f"; did you mean {near[0]}?" if near else " (e.g. wp_page_copy:copy)"
            raise break_error(kind, f"no step label {match!r}{hint}")
    else:  # as a [[breakpoint]] table's `match` is checked: a typo would never fire
        from .engine.breakpoints import check_match

        try:
            check_match(kind, match, deferred=True)  # (a violation may name the scenario's own oracle)
        except ValueError as e:
            raise break_error(kind, e) from None
    return BreakArg(kind, kind, {"match": match})


def add_break_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--break",
        dest="break_",
        action="append",
        type=break_spec,
        metavar="KIND[:MATCH]",
        help="stop at the first step where this breakpoint fires and print it (aba, abort[:REASON], "
        "violation[:ORACLE], step:LABEL, watch:EXPR (when it changes), when:EXPR (when it becomes true); "
        "repeatable; replaces the scenario's [[breakpoint]] tables). "
        "Exit status then: 0 when one fired, 1 when the run ended first",
    )
    p.add_argument(
        "--no-break",
        action="store_true",
        help="ignore the scenario's [[breakpoint]] tables (without --break, check then runs to the end as usual)",
    )


def run_to_break(args: argparse.Namespace, opening: Any = None) -> int:
    """`spftui check --break …` (or a scenario with `[[breakpoint]]` tables): run until a
    breakpoint fires; print the steps so far and the stop."""
    from .engine.describe import event_fields, notable
    from .engine.expr import ExprError
    from .engine.history import with_derived
    from .engine.scenario_breakpoints import set_breakpoints
    from .engine.session import Session, SessionError
    from .report import check_report
    from .scenario import ScenarioError

    opening = opening or open_with(args)
    session = Session(opening.scenario, strategy=opening.strategy())
    if args.break_:
        source = "--break"
        for arg in args.break_:
            try:
                b = session.add_breakpoint(arg.kind, **arg.options)
            except (ExprError, ValueError, SessionError) as e:  # (a name the scenario lacks: `A1.sate`)
                raise break_error(arg.word, e) from None
            said = f"--break {arg.word}:{arg.options.get('expr', '')}"
            _check_start(session, b, lambda _, message, w=arg.word: break_error(w, message), said)
    else:
        source = "the scenario's [[breakpoint]] tables (--no-break ignores them)"
        sc = session.scenario
        for spec, b in set_breakpoints(session):

            def refuse(which: str, message: str, spec: Any = spec) -> Exception:
                if which == "only if":
                    return ScenarioError(message, sc.path, spec.condition_line or spec.line, f"{spec.key}.condition")
                return ScenarioError(message, sc.path, spec.expr_line or spec.line, spec.expr_key)

            _check_start(session, b, refuse, f"{spec.key} ({b.describe()})")
    stop = session.continue_(limit=args.max_steps)
    fired = stop.kind == "breakpoint"
    report = check_report(session)
    report["breakpoints"] = [
        {"kind": b.kind, "text": b.describe(), "enabled": b.enabled, "hits": b.hits} for b in session.breakpoints.items
    ]
    report["breakpoints_from"] = "--break" if args.break_ else "scenario"
    tl = session.timeline
    if fired:
        step = stop.step - 1
        events = with_derived(tl, step, session.events_of(step))
        report["break"] = {
            "step": stop.step,  # 1-based: the N-th executed step
            "thread": session.step_thread(step),
            "label": session.step_label(step),
            "text": stop.text,
            "events": [event_fields(e) for e in events],
        }
    status = 0 if fired else 1
    save_to = getattr(args, "save_schedule", None)  # (checked before the run: cli.run_check)
    if args.json:
        print(json.dumps(report))
        return (
            status if save_to is None else save_schedule(session, save_to, args.force, status, stop if fired else None)
        )
    sc = session.scenario
    print(f"{sc.title} · policy {sc.policy} · reuse {sc.reuse} · {session.strategy.summary()}")
    listed = "; ".join(b.describe() + ("" if b.enabled else " (disabled)") for b in session.breakpoints.items)
    print(f"Breakpoints from {source}: {listed}")
    for pos, _, events in tl.replay(0, session.position):
        what = "; ".join(notable(with_derived(tl, pos, events)))
        print(f"{pos + 1:>5}  {session.step_thread(pos):<6} {session.step_label(pos):<38} {what}".rstrip())
    if fired:
        text = stop.text.removesuffix(f" (step {stop.step})")  # (the hit text names it for the TUI)
        print(f"Stopped after step {stop.step}: {text}")
    else:
        print(f"No breakpoint fired: {stop.text}")
    failing = [
        f"{k} expected {e['expected']}, observed {e['observed']}" for k, e in report["expect"].items() if not e["ok"]
    ]
    if failing:  # (a "never" refuted before the stop: --json says so too, as expect_ok)
        print(f"Expectations that fail on this run ({report['expect_table']}): {'; '.join(failing)}")
    return status if save_to is None else save_schedule(session, save_to, args.force, status, stop if fired else None)


def _check_start(session: Any, b: Any, refuse: Callable[[str, str], Exception], name: str) -> None:
    """Refuse (`refuse(which, message)`: which is "expression" or "only if") a watch or condition
    that cannot be evaluated at all (`1/0`, `A.mmap_seq > "x"`: it would never fire, and the
    TUI's `B` dialog refuses it); a note on stderr for a condition already true at the start
    (it fires when it becomes true)."""
    from .engine.breakpoints import never_fires, true_at_start
    from .engine.expr import ExprError

    problem = never_fires(b, session.machine)
    if problem is not None:
        which, err = problem
        caret = str(ExprError(err.message, err.position, err.source)).partition("\n")[2]
        raise refuse(which, f"{err.message} — at the start of the run: it would never fire\n{caret}")
    if true_at_start(b, session.machine):
        print(
            f"spftui: note: {name} is already true at the start: it fires only when it turns false and then true again",
            file=sys.stderr,
        )


def add_why_parser(sub: Any) -> None:
    p = sub.add_parser(
        "why",
        help="why does a value have its value at a step? (backward dataflow)",
        description="Print the chain of causes of a value at a step: the step that last wrote it, then where a "
        "copied value came from, the checks that let a commit through, the writers that bumped a seqcount.",
    )
    add_run_options(p)
    p.add_argument("--at", type=int, metavar="STEP", help="the state after this many steps (default: the end)")
    p.add_argument(
        "expr",
        help="an expression: A.pte[0x10000], frame[2].words[1], A.mmap_seq, A.vma[0x10000].vm_flags; "
        "or a thread's: A1.pc, A1.refs (the pages it holds), A1.vmf (its fault's struct vm_fault, or its op's "
        "locals), A1.vmf.orig_pte (or A1.orig_pte; also seq, pvma, page, new_page, ...)",
    )
    p.add_argument("--json", action="store_true", help="print the chain as a JSON list")
    p.set_defaults(func=run_why)


def run_why(args: argparse.Namespace) -> int:
    from .engine.expr import ExprError
    from .engine.session import Session
    from .engine.why import WhyError, why
    from .report import fixes_off_header

    opening = open_with(args)
    session = Session(opening.scenario, strategy=opening.strategy())
    session.run(limit=args.max_steps)
    at = session.length if args.at is None else args.at
    if not 0 <= at <= session.length:
        print(f"spftui: error: --at {at}: the run has steps 0 to {session.length}", file=sys.stderr)
        return 2
    try:
        chain = why(session, at, args.expr)
    except (ExprError, WhyError) as e:
        print(f"spftui: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                [
                    {
                        k: (c.step + 1 if k == "step" and c.step >= 0 else getattr(c, k))
                        for k in ("step", "thread", "label", "what", "value", "text", "depth")
                    }
                    for c in chain
                ]
            )
        )  # fmt: skip (steps 1-based, -1: the initial state)
        return 0
    sc = session.scenario
    print(f"why {args.expr} at step {at} ({sc.title}, {sc.policy}{fixes_off_header(sc).replace(' · ', ', ')}):")
    for i, c in enumerate(chain, 1):
        where = f"step {c.step + 1}" if c.step >= 0 else "start"
        print(f"{'  ' * c.depth}{i}. [{where}] {c.text}")
    return 0
