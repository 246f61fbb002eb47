"""Where the debugger opens: the session for an opened scenario (its schedule's stop_at,
`--goto`, its first violation) with the default breakpoints, and what to warn of."""

from __future__ import annotations

import sys

from ..engine.breakpoints import BreakpointSet, never_fires
from ..engine.opening import Opening, open_scenario
from ..engine.scenario_breakpoints import set_breakpoints
from ..engine.session import Session


def add_default_breakpoints(session: Session) -> None:
    """The scenario's own `[[breakpoint]]`s (those the session lacks), else, on a session
    without breakpoints, stop on any speculative abort and any oracle violation."""
    if session.scenario.breakpoints:
        set_breakpoints(session)
    elif not session.breakpoints.items:
        session.add_breakpoint("abort")
        session.add_breakpoint("violation")


def open_session(
    scenario_path: str,
    policy: str | None = None,
    reuse: str | None = None,
    schedule_path: str | None = None,
    seed: int | None = None,
    goto_step: int | None = None,
) -> Session:
    """The session the debugger opens on; raises ScenarioError for a bad file."""
    opening = open_scenario(scenario_path, policy, reuse, schedule_path, seed)
    if opening.warning:
        print(f"spftui: warning: {opening.warning}", file=sys.stderr)
    return session_for(opening, goto_step)


def session_for(opening: Opening, goto_step: int | None = None, breakpoints: BreakpointSet | None = None) -> Session:
    """A session on an opened scenario, positioned where the user asked.

    With a schedule file the session is positioned at `goto_step`, else at
    the file's `stop_at`, else at its first violation. Without one,
    `goto_step` runs the scenario's own schedule (or the seed) that far.
    Breakpoints on aborts and violations are set either way (beside `breakpoints`,
    those of the session it replaces).
    """
    session = Session(opening.scenario, strategy=opening.strategy(), breakpoints=breakpoints)
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
    the opening's warning, a `--goto` or `stop_at` past the run's end (it opens there), and a
    scenario breakpoint whose expression cannot be evaluated at all (`when = "1/0"`)."""
    out = [opening.warning] if opening.warning else []
    wanted = goto_step if goto_step is not None else opening.stop_at
    if wanted is not None and session.position < wanted:
        asked = "--goto" if goto_step is not None else "the schedule's stop_at"
        out.append(f"the run ends after step {session.position}: it has no step {wanted} ({asked})")
    for b in session.breakpoints.items:  # (spftui check refuses these tables: here they are set, and said)
        problem = never_fires(b, session.machine)
        if problem is not None:
            which, err = problem
            out.append(
                f"breakpoint {b.id} ({b.describe()}): its {which} cannot be evaluated ({err.message}): it never fires"
            )
    return out
