"""The Textual debugger over the engine. Imported lazily by the CLI."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .start import add_default_breakpoints, open_session, opening_warnings, session_for

if TYPE_CHECKING:
    from ..engine.opening import Opening
    from .app import SpftuiApp


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
    else:
        session = None if opening is None else session_for(opening, goto_step)
        warnings = [] if opening is None or session is None else opening_warnings(opening, session, goto_step)
        app = SpftuiApp(session, warnings=warnings)
    app.run()
    return _exited(app)


def _exited(app: SpftuiApp) -> int:
    """The exit status; a stop from outside (a signal, `spftui serve` stopping) says on stderr
    where it saved the unsaved work, and exits as every command does on that signal."""
    import contextlib
    import signal

    with contextlib.suppress(OSError, ValueError):  # (SIGHUP: the terminal may be gone)
        if app.exit_note:
            print(f"spftui: {app.exit_note}", file=sys.stderr, flush=True)
        if app.stopped_by is not None:
            print(
                "spftui: terminated" if app.stopped_by != signal.SIGINT else "spftui: interrupted",
                file=sys.stderr,
                flush=True,
            )
    if app.stopped_by is not None:
        return 128 + app.stopped_by
    return app.return_code or 0


__all__ = ["add_default_breakpoints", "open_session", "opening_warnings", "run_app", "session_for"]
