"""What `spftui check` and `spftui trace` print: readable (Rich) or JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from .engine.describe import TRACE_SCHEMA, event_fields, notable
from .engine.history import derived_events, with_derived
from .engine.session import Session, StepInfo

SHOW_ALL_UP_TO = 400  # longer traces are elided around the interesting steps unless --full


def check_report(session: Session) -> dict[str, Any]:
    sc = session.scenario
    seen = {mk.what for mk in session.violations()}
    expect = {}
    for kind, want in sorted(sc.expectations(sc.policy).items()):
        got = "sometimes" if kind in seen else "never"
        expect[kind] = {"expected": want, "observed": got, "ok": want == got}
    return {
        "scenario": sc.path,
        "title": sc.title,
        "policy": sc.policy,
        "reuse": sc.reuse,
        "strategy": session.strategy.summary(),
        "steps": session.position,
        "stop": session.stop.kind,
        "stop_text": session.stop.text,
        "aborts": [
            {
                "thread": mk.thread,
                "step": mk.step,
                "reason": mk.what,
                "detail": mk.detail,
                "label": mk.label,
                "changes": abort_changes(session, mk.step),
            }
            for mk in session.aborts()
        ],
        "violations": [
            {"kind": mk.what, "step": mk.step, "thread": mk.thread, "detail": mk.detail, "label": mk.label}
            for mk in session.violations()
        ],
        "expect": expect,
        "expect_ok": all(v["ok"] for v in expect.values()),
    }


def abort_changes(session: Session, step: int) -> list[dict[str, Any]]:
    """What the failed check's object went through since the sample (the `invalidated` event), as JSON."""
    for e in derived_events(session.timeline, step, session.events_of(step)):
        if e.kind == "invalidated":
            return list(event_fields(e)["changes"])  # type: ignore[call-overload]
    return []


def trace_steps(session: Session, limit: int) -> Iterator[StepInfo]:
    """Step the session to `limit`, yielding each step taken (with its derived events: aba, invalidated)."""
    while session.position < limit:
        info = session.step()
        if info is None:
            return
        derived = derived_events(session.timeline, info.step, info.events)
        yield attrs.evolve(info, events=info.events + derived) if derived else info


def trace_json(info: StepInfo) -> dict[str, Any]:
    """One line of `spftui trace --json` (README: "Trace JSON", schema TRACE_SCHEMA)."""
    return {
        "schema": TRACE_SCHEMA,
        "step": info.step,
        "thread": info.thread,
        "label": info.label,
        "events": [event_fields(e) for e in info.events],
    }


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _step_line(step: int, thread: str, label: str, events: list[str]) -> str:
    from rich.markup import escape

    what = "; ".join(events)
    style = "bold red" if "VIOLATION" in what else "yellow" if "spf abort" in what else ""
    text = f"{step:>5}  {thread:<6} {label:<38} {escape(what)}"
    return f"[{style}]{text}[/]" if style else text


def print_trace(session: Session, limit: int) -> None:
    con = _console()
    sc = session.scenario
    con.print(f"[bold]{sc.title}[/] · policy {sc.policy} · reuse {sc.reuse} · {session.strategy.summary()}")
    con.print(f"[dim]{'step':>5}  {'thread':<6} {'step label':<38} what happened[/]")
    for info in trace_steps(session, limit):
        con.print(_step_line(info.step, info.thread, info.label, notable(info.events)))
    con.print(f"[bold]{session.stop.text if session.finished() else 'stopped at the step limit'}[/]")


def print_check(session: Session, report: dict[str, Any], full: bool = False) -> None:
    from rich.markup import escape

    con = _console()
    sc = session.scenario
    con.print(f"[bold]{escape(sc.title)}[/]")
    con.print(f"[dim]{sc.path} · policy {sc.policy} · reuse {sc.reuse} · {escape(session.strategy.summary())}[/]")
    con.print()
    n = session.length
    marked = {mk.step for mk in session.marks}
    show = (
        set(range(n))
        if full or n <= SHOW_ALL_UP_TO
        else (set(range(100)) | set(range(n - 100, n)) | {s + d for s in marked for d in range(-5, 6)})
    )
    con.print(f"[dim]{'step':>5}  {'thread':<6} {'step label':<38} what happened[/]")
    skipped = 0
    for step, _, events in session.timeline.replay(0, n):
        if step not in show:
            skipped += 1
            continue
        if skipped:
            con.print(f"[dim]  … {skipped} steps …[/]")
            skipped = 0
        shown = notable(with_derived(session.timeline, step, events))
        con.print(_step_line(step, session.step_thread(step), session.step_label(step), shown))
    if skipped:
        con.print(f"[dim]  … {skipped} steps …[/]")
    con.print()
    con.print(f"[bold]Result:[/] {escape(session.stop.text)}")
    aborts = report["aborts"]
    if aborts:
        con.print(f"[bold]Speculative aborts ({len(aborts)}):[/]")
        for a in aborts:
            con.print(
                f"  [yellow]{a['thread']} at step {a['step']} ({a['label']}): {a['reason']} — "
                f"{escape(a['detail'])}[/]; retried on the classic path"
            )
    else:
        con.print("[bold]Speculative aborts:[/] none")
    violations = report["violations"]
    if violations:
        con.print(f"[bold red]Violations ({len(violations)}):[/]")
        for v in violations:
            con.print(
                f"  [bold red]{v['kind'].replace('_', ' ').upper()}[/] at step {v['step']} "
                f"({v['thread']}, {v['label']}): {escape(v['detail'])}"
            )
    else:
        con.print("[bold green]Violations:[/] none")
    if report["expect"]:
        note = (
            ""
            if sc.schedule is not None and session.strategy.name == "schedule"
            else " (written for the scenario's fixed schedule)"
        )
        con.print(f"[bold]Expectations under {sc.policy}{note}:[/]")
        for kind, e in report["expect"].items():
            mark = "[green]✓[/]" if e["ok"] else "[red]✗[/]"
            con.print(f"  {mark} {kind}: expected {e['expected']}, observed {e['observed']}")
        con.print(
            "[bold green]expectations hold[/]" if report["expect_ok"] else "[bold red]expectations do NOT hold[/]"
        )
    else:
        con.print(f"[dim]no expectations for {sc.policy}[/]")
