"""The Textual debugger over the engine. Imported lazily by the CLI."""

from __future__ import annotations

import sys


def run_app(
    scenario_path: str | None,
    policy: str | None = None,
    reuse: str | None = None,
    schedule_path: str | None = None,
    seed: int | None = None,
    goto_step: int | None = None,
) -> int:
    """Run the debugger; return the exit status.

    Without a scenario the app opens the scenario picker. With `schedule_path`
    the schedule is replayed and the app opens at its first violation (or at
    `goto_step`, when given).
    """
    from ..engine.schedule import Replay, SeededRandom
    from ..engine.session import Session
    from ..kernel.steps import all_labels
    from ..scenario import ScenarioError, parse_schedule_file
    from .app import SpftuiApp, add_default_breakpoints
    from .screens.picker import load

    if scenario_path is None:
        app = SpftuiApp(None)
    else:
        try:
            sc = load(scenario_path).with_policy(policy, reuse)
            entries = None
            if schedule_path is not None:
                entries = parse_schedule_file(schedule_path, threads=[t.name for t in sc.threads], known_labels=all_labels())
        except ScenarioError as err:
            print(f"spftui: {err}", file=sys.stderr)
            return 2
        if entries is not None:
            session = Session(sc, strategy=Replay(entries))
        else:
            session = Session(sc, strategy=SeededRandom(seed) if seed is not None else None)
        add_default_breakpoints(session.breakpoints)
        if goto_step is not None:
            session.run(limit=goto_step)
            session.goto(goto_step)
        elif entries is not None:
            open_at_violation(session)
        app = SpftuiApp(session)
    app.run()
    return app.return_code or 0


def open_at_violation(session: object) -> None:
    """Continue to the first oracle violation (other breakpoints held off)."""
    from ..engine.session import Session

    assert isinstance(session, Session)
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


__all__ = ["run_app"]
