"""The Textual debugger over the engine. Imported lazily by the CLI."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.session import Session


def run_app(
    scenario_path: str | None,
    policy: str | None = None,
    reuse: str | None = None,
    schedule_path: str | None = None,
    seed: int | None = None,
    goto_step: int | None = None,
) -> int:
    """Run the debugger; return the exit status.

    Without a scenario the app opens the scenario picker. A bad scenario or
    schedule file is reported on stderr (`file:line: key: message`), exit 2.
    """
    from ..scenario import ScenarioError
    from .app import SpftuiApp

    if scenario_path is None:
        app = SpftuiApp(None)
    else:
        try:
            session = open_session(scenario_path, policy, reuse, schedule_path, seed, goto_step)
        except ScenarioError as err:
            print(f"spftui: {err}", file=sys.stderr)
            return 2
        app = SpftuiApp(session)
    app.run()
    return app.return_code or 0


def open_session(
    scenario_path: str,
    policy: str | None = None,
    reuse: str | None = None,
    schedule_path: str | None = None,
    seed: int | None = None,
    goto_step: int | None = None,
) -> Session:
    """The session the debugger opens on; raises ScenarioError for a bad file.

    With `schedule_path` the schedule is replayed (under the policy and reuse
    rule the file records, unless given here) and the session is positioned
    at `goto_step`, else at the file's `stop_at`, else at its first violation.
    Without one, `goto_step` runs the scenario's own schedule (or `seed`) that
    far. Breakpoints on aborts and violations are set either way.
    """
    from ..engine import all_labels
    from ..engine.describe import violation_sentence
    from ..engine.schedule import Replay, SeededRandom
    from ..engine.session import Session, StopReason
    from ..scenario import load_schedule_file
    from .app import add_default_breakpoints
    from .screens.picker import load

    sc = load(scenario_path)
    entries = None
    if schedule_path is not None:
        sf = load_schedule_file(schedule_path, threads=[t.name for t in sc.threads], known_labels=all_labels())
        entries = sf.entries
        policy, reuse = policy or sf.policy or None, reuse or sf.reuse or None
        if goto_step is None:
            goto_step = sf.stop_at
    sc = sc.with_policy(policy, reuse)
    if entries is not None:
        session = Session(sc, strategy=Replay(entries))
    else:
        session = Session(sc, strategy=SeededRandom(seed) if seed is not None else None)
    add_default_breakpoints(session.breakpoints)
    if goto_step is not None:
        session.run(limit=goto_step)
        session.goto(goto_step)
        seen = [mk for mk in session.violations() if mk.step < session.position]
        if seen:  # say why we are here, not just where
            mk = seen[-1]
            text = f"{violation_sentence(mk.what, mk.detail)} ({mk.thread} at step {mk.step + 1})"
            session.stop = StopReason("breakpoint", session.position, text)
    elif entries is not None:
        open_at_violation(session)
    return session


def open_at_violation(session: Session) -> None:
    """Continue to the first oracle violation (other breakpoints held off)."""
    held = [b for b in session.breakpoints.items if b.kind != "violation" and b.enabled]
    for b in held:
        b.enabled = False
    try:
        if not any(b.kind == "violation" and b.enabled for b in session.breakpoints.items):
            session.breakpoints.add("violation")
        session.continue_()
    finally:
        for b in held:
            b.enabled = True


__all__ = ["open_session", "run_app"]
