"""The Textual debugger over the engine. Imported lazily by the CLI."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.opening import Opening
    from ..engine.session import Session


def run_app(opening: Opening | None, goto_step: int | None = None, session_file: str | None = None) -> int:
    """Run the debugger on an opened scenario (None: the scenario picker); return the exit status.

    With `session_file` the session saved there is opened instead (a bad file raises
    ScenarioError before the screen opens)."""
    from .app import SpftuiApp

    if opening is not None and session_file is not None:
        from ..engine.session_file import load_session_for

        session, warning = load_session_for(session_file, opening.scenario)
        if warning:
            print(f"spftui: warning: {warning}", file=sys.stderr)
        if goto_step is not None:
            session.goto(goto_step)
        warnings = [w for w in (opening.warning, warning) if w]
        app = SpftuiApp(session, session_file=session_file, warnings=warnings)
        app.run()
        return app.return_code or 0
    session = None if opening is None else session_for(opening, goto_step)
    warnings = [] if opening is None or session is None else opening_warnings(opening, session, goto_step)
    app = SpftuiApp(session, warnings=warnings)
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
    """The session the debugger opens on; raises ScenarioError for a bad file."""
    from ..engine.opening import open_scenario

    opening = open_scenario(scenario_path, policy, reuse, schedule_path, seed)
    if opening.warning:
        print(f"spftui: warning: {opening.warning}", file=sys.stderr)
    return session_for(opening, goto_step)


def session_for(opening: Opening, goto_step: int | None = None) -> Session:
    """A session on an opened scenario, positioned where the user asked.

    With a schedule file the session is positioned at `goto_step`, else at
    the file's `stop_at`, else at its first violation. Without one,
    `goto_step` runs the scenario's own schedule (or the seed) that far.
    Breakpoints on aborts and violations are set either way.
    """
    from ..engine.session import Session
    from .app import add_default_breakpoints

    session = Session(opening.scenario, strategy=opening.strategy())
    add_default_breakpoints(session)
    if goto_step is None:
        goto_step = opening.stop_at
    if goto_step is not None:
        session.open_at(goto_step)
    elif opening.entries is not None:
        session.continue_(only=("violation",))  # open at the first violation
    return session


def opening_warnings(opening: Opening, session: Session, goto_step: int | None) -> list[str]:
    """What the debugger says on opening (the command line printed it where it is hidden):
    the opening's warning, and a `--goto` or `stop_at` past the run's end (it opens there)."""
    out = [opening.warning] if opening.warning else []
    wanted = goto_step if goto_step is not None else opening.stop_at
    if wanted is not None and session.position < wanted:
        asked = "--goto" if goto_step is not None else "the schedule's stop_at"
        out.append(f"the run ends after step {session.position}: it has no step {wanted} ({asked})")
    return out


__all__ = ["open_session", "opening_warnings", "run_app", "session_for"]
