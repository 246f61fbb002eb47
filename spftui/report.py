"""What `spftui check` and `spftui trace` print: readable (Rich) or JSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
from rich.console import Console

from .engine.describe import TRACE_SCHEMA, counted, event_fields, notable
from .engine.history import Derivation, windows_start
from .engine.schedule import Replay, SeededRandom
from .engine.session import Session, StepInfo

if TYPE_CHECKING:
    from .kernel.events import Event

SHOW_ALL_UP_TO = 400  # longer traces are elided around the interesting steps unless --full


def unjudged_reason(session: Session) -> str | None:
    """Why "sometimes" cannot be judged from this run (None: it is the scenario's own
    [schedule], the interleaving its [expect] tables are written for)."""
    sc = session.scenario
    strategy = session.strategy
    if not session.finished():  # the oracle may fire in the steps not taken
        return f"the run stopped after {counted(session.position, 'step')}, before its end"
    if isinstance(strategy, Replay) and sc.schedule is not None and strategy.entries == sc.schedule:
        return None
    if isinstance(strategy, SeededRandom):
        return "one random schedule"
    return "one schedule, not the scenario's"


def judge(want: str, seen: bool, unjudged: str | None, finished: bool = True) -> tuple[str, str | None]:
    """(verdict, note) for one oracle: "holds", "fails" or "not judged".

    "never" is judged on any run that ran to its end (one violation refutes it;
    a run stopped early, at a breakpoint or a step limit, may fire it in the steps
    not taken). "sometimes" means some interleaving fires the oracle: a run that
    fires it shows that, but a run that does not proves nothing unless it is the
    scenario's own schedule, whole."""
    if want == "never" and not seen and not finished:
        return "not judged", f"not judged: {unjudged}"
    if (want == "sometimes") == seen:
        return "holds", None
    if want == "sometimes" and unjudged is not None:
        return "not judged", f"not judged: {unjudged} (`spftui explore` searches every interleaving)"
    return "fails", None


def check_report(session: Session, interrupted: bool = False) -> dict[str, Any]:
    """What `spftui check --json` prints (README: "check JSON"); `interrupted`: Ctrl-C
    stopped the run (its stop is "interrupted", not the slice limit it stopped at)."""
    sc = session.scenario
    seen = {mk.what for mk in session.violations()}
    unjudged = unjudged_reason(session)
    table = sc.expect_table()
    expect = {}
    for kind, want in sorted(table.pairs if table is not None else ()):
        verdict, note = judge(want, kind in seen, unjudged, session.finished())
        got = "sometimes" if kind in seen else "never"
        expect[kind] = {"expected": want, "observed": got, "ok": verdict != "fails", "verdict": verdict, "note": note}
    verdicts = {e["verdict"] for e in expect.values()}
    status = (
        "none"
        if not expect
        else "fails"
        if "fails" in verdicts
        else "not judged"
        if "not judged" in verdicts
        else "holds"
    )
    aborts = session.aborts()
    changes = abort_changes(session, {mk.step for mk in aborts}) if aborts else {}
    return {
        "scenario": sc.path,
        "title": sc.title,
        "policy": sc.policy,
        "reuse": sc.reuse,
        "fixes_off": sorted(sc.fixes_off),
        "strategy": session.strategy.summary(),
        "steps": session.position,
        "stop": "interrupted" if interrupted else session.stop.kind,
        "stop_text": f"interrupted after {counted(session.position, 'step')}" if interrupted else session.stop.text,
        "aborts": [
            {
                "thread": mk.thread,
                "step": mk.step + 1,
                "reason": mk.what,
                "detail": mk.detail,
                "label": mk.label,
                "changes": changes.get(mk.step, []),
            }
            for mk in aborts
        ],
        "violations": [
            {"kind": mk.what, "step": mk.step + 1, "thread": mk.thread, "detail": mk.detail, "label": mk.label}
            for mk in session.violations()
        ],
        "expect_table": table.name if table is not None and expect else None,
        "expect": expect,
        "expect_status": status,
        "expect_ok": status != "fails",
    }


def abort_changes(session: Session, steps: set[int]) -> dict[int, list[dict[str, Any]]]:
    """For each of `steps` (aborts), what the failed check's object went through since
    the sample (its `invalidated` event), as JSON: one replay of the timeline up to the last."""
    out: dict[int, list[dict[str, Any]]] = {}
    for step, _, derived in Derivation().along(session.timeline, max(steps) + 1):
        if step in steps:
            inv = [e for e in derived if e.kind == "invalidated"]
            out[step] = list(event_fields(inv[0])["changes"]) if inv else []  # type: ignore[call-overload]
    return out


def trace_steps(session: Session, limit: int) -> Iterator[StepInfo]:
    """Step the session to `limit`, yielding each step taken (with its derived events: aba, invalidated)."""
    follow = Derivation()
    for _ in follow.along(session.timeline, session.position):  # the steps taken before
        pass
    while session.position < limit:
        info = session.step()
        if info is None:
            return
        derived = follow.feed(info.thread, info.label, info.events)
        yield attrs.evolve(info, events=info.events + derived) if derived else info


def trace_json(info: StepInfo) -> dict[str, Any]:
    """One line of `spftui trace --json` (README: "Trace JSON", schema TRACE_SCHEMA)."""
    return {
        "schema": TRACE_SCHEMA,
        "step": info.step + 1,
        "thread": info.thread,
        "label": info.label,
        "events": [event_fields(e) for e in info.events],
    }


def _console() -> Any:
    return console(soft_wrap=True)


class PipeConsole(Console):
    """A Rich console whose reader going away (`| head`) is a BrokenPipeError for
    cli.main, not Rich's own SystemExit(1): a status that reads as "expectations do NOT hold"."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


MIN_WIDTH = 20
"""Narrower than this (`COLUMNS=0`: Rich printed nothing at all) is taken as 80 columns."""


def console(**options: Any) -> PipeConsole:
    con = PipeConsole(highlight=False, **options)
    if con.width < MIN_WIDTH:
        con.width = 80
    return con


def fixes_off_header(sc: Any) -> str:
    """` · fixes off: A, B` for a header line (check, trace, diff), or nothing when every modelled fix is in."""
    return f" · fixes off: {', '.join(sorted(sc.fixes_off))}" if sc.fixes_off else ""


def _step_line(step: int, thread: str, label: str, events: list[str]) -> str:
    from rich.markup import escape

    what = "; ".join(events)
    style = "bold red" if "VIOLATION" in what else "yellow" if "spf abort" in what else ""
    text = f"{step:>5}  {thread:<6} {label:<38} {escape(what)}".rstrip()  # (no padding after an empty column)
    return f"[{style}]{text}[/]" if style else text


def print_trace(session: Session, limit: int) -> None:
    con = _console()
    sc = session.scenario
    con.print(
        f"[bold]{sc.title}[/] · policy {sc.policy} · reuse {sc.reuse}{fixes_off_header(sc)} · {session.strategy.summary()}"
    )
    con.print(f"[dim]{'step':>5}  {'thread':<6} {'step label':<38} what happened[/]")
    for info in trace_steps(session, limit):
        con.print(_step_line(info.step + 1, info.thread, info.label, notable(info.events)))
    con.print(f"[bold]{session.stop.text if session.finished() else 'stopped at the step limit'}[/]")


def _segments(steps: set[int]) -> list[tuple[int, int]]:
    """`steps` as runs of consecutive steps [lo, hi), in order."""
    runs: list[tuple[int, int]] = []
    for s in sorted(steps):
        if runs and runs[-1][1] == s:
            runs[-1] = (runs[-1][0], s + 1)
        else:
            runs.append((s, s + 1))
    return runs


def _print_rows(con: Any, session: Session, show: set[int]) -> None:
    """The rows of the steps in `show`, `… N steps …` for the others. Replays only the steps shown
    (and, for their derived events, the fault windows their checks read: `windows_start`), not
    the whole run: on a 105,000-step run the listing replayed every step (1.6 s of 3.5)."""
    tl = session.timeline
    n = session.length
    done = 0
    for lo, hi in _segments({s for s in show if 0 <= s < n}):
        if lo > done:
            con.print(f"[dim]  … {lo - done} steps …[/]")
        if lo == 0:  # (one pass, as it goes: the whole run with --full)
            rows: Iterable[tuple[int, tuple[Event, ...], tuple[Event, ...]]] = Derivation().along(tl, hi)
        else:
            chunk = [(pos, events) for pos, _, events in tl.replay(lo, hi)]
            derived = {pos: d for pos, _, d in Derivation(windows_start(tl, chunk)).along(tl, hi) if pos >= lo}
            rows = ((pos, events, derived.get(pos, ())) for pos, events in chunk)
        for pos, events, more in rows:
            shown = notable((*events, *more))
            con.print(_step_line(pos + 1, session.step_thread(pos), session.step_label(pos), shown))
        done = hi
    if n > done:
        con.print(f"[dim]  … {n - done} steps …[/]")


def _print_listing(con: Any, session: Session, full: bool) -> None:
    """The report's heading and its listing of the steps (elided around the interesting ones unless `full`)."""
    from rich.markup import escape

    sc = session.scenario
    con.print(f"[bold]{escape(sc.title)}[/]")
    summary = escape(session.strategy.summary())
    con.print(f"[dim]{sc.path} · policy {sc.policy} · reuse {sc.reuse}{fixes_off_header(sc)} · {summary}[/]")
    con.print()
    n = session.length
    marked = {mk.step for mk in session.marks}
    show = (
        set(range(n))
        if full or n <= SHOW_ALL_UP_TO
        else (set(range(100)) | set(range(n - 100, n)) | {s + d for s in marked for d in range(-5, 6)})
    )
    con.print(f"[dim]{'step':>5}  {'thread':<6} {'step label':<38} what happened[/]")
    _print_rows(con, session, show)


def print_check(session: Session, report: dict[str, Any], full: bool = False) -> bool:
    """The text report of `check`; True when Ctrl-C cut its listing of the steps short
    (what follows the listing, the result and the expectations, is printed all the same)."""
    from rich.markup import escape

    con = _console()
    sc = session.scenario
    stopped = False
    try:  # (Ctrl-C while the steps are listed: the rest of the report still comes)
        _print_listing(con, session, full)
    except KeyboardInterrupt:
        stopped = True
        con.print("[dim]  … the listing was interrupted …[/]")
    con.print()
    con.print(f"[bold]Result:[/] {escape(report['stop_text'])}")
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
    table = report["expect_table"]
    where = f"policy {sc.policy}, reuse {sc.reuse}{fixes_off_header(sc).replace(' · ', ', ')}"
    if not report["expect"]:
        con.print(f"[dim]no expectation for this configuration ({where}): nothing to judge[/]")
        return stopped
    con.print(f"[bold]Expectations under {where}[/] [dim]({escape(f'{table}, on {session.strategy.summary()}')})[/]:")
    for kind, e in report["expect"].items():
        if e["verdict"] == "not judged":
            con.print(f"  [yellow]–[/] {kind}: expected {e['expected']}, observed {e['observed']} — {e['note']}")
            continue
        mark = "[green]✓[/]" if e["ok"] else "[red]✗[/]"
        con.print(f"  {mark} {kind}: expected {e['expected']}, observed {e['observed']}")
    status = report["expect_status"]
    if status == "holds":
        con.print("[bold green]expectations hold[/]")
    elif status == "not judged":
        con.print("[bold yellow]expectations not judged on this run[/] [dim](none contradicted)[/]")
    else:
        con.print("[bold red]expectations do NOT hold[/]")
    return stopped
