"""The debugger's tools over the whole run: a Perfetto export, a diff between two
branches, the race-window coverage of the scenario.

A mixin of the debugger screen (screens/debugger.py), which stays about
stepping and panes. Each tool reads the Session through its public API and
hands the work to the engine (engine/perfetto.py, diff.py, coverage.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from ...engine.describe import counted
from ...engine.files import NUMBER, REFUSE, REPLACE, WriteError
from ...engine.schedule_file import scenario_name
from ..format import branch_note, toast_path
from ..places import outside_write_dir, typed_path, write_dir
from .choice import ChoiceDialog
from .error import ErrorDialog
from .prompt import PromptDialog

if TYPE_CHECKING:
    from ...engine.session import Session
    from ...engine.timeline import Timeline
    from ..app import SpftuiApp


class ExportFinished(Message):
    """The Perfetto export ended: the path written, or why it could not be."""

    def __init__(self, path: str, steps: int, error: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.steps = steps
        self.error = error


def trace_path_problem(text: str) -> str | None:
    """Why `text` cannot be where the trace goes (None: it can)."""
    refused = outside_write_dir(text)
    if refused is not None:
        return refused
    path = typed_path(text)
    if os.path.isdir(path):
        return f"{path} is a folder: add a file name, e.g. {os.path.join(text, 'run.perfetto.json')}"
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return f"no such directory: {folder}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in {folder}: permission denied"
    return None


class ToolActions:
    """Palette commands of the debugger screen (mixed into DebuggerScreen)."""

    if TYPE_CHECKING:
        app: SpftuiApp
        session: Session
        busy: str | None

        def _guard(self) -> bool: ...
        def refresh_views(self, follow: bool = False) -> None: ...
        def say(self, text: str, style: str = ...) -> None: ...
        def notify(self, message: str, **kw: object) -> None: ...

    # ------------------------------------------------------ Perfetto (issue 13)
    def action_export_perfetto(self) -> None:
        """`x`: write this timeline as a Chrome JSON trace (engine/perfetto.py); asks before replacing a file."""
        if not self._guard():
            return
        s = self.session
        # In the current folder, as Ctrl+S proposes a session file (and as `spftui trace --format
        # perfetto -o FILE` writes a relative FILE): the trace is a file to share, not app state.
        # Served to a browser: in the server's one folder for the viewers' files (places.py).
        folder = write_dir()
        branch = f".branch{s.branch_id}" if s.branches else ""
        default = os.path.join(folder, f"{scenario_name(s.scenario)}.{s.scenario.policy}{branch}.perfetto.json")
        what = counted(s.length, "step") + (f" of branch {s.branch_id}" if s.branches else "")

        def chosen(text: str | None) -> None:
            if text:
                self._export_to(typed_path(text))

        self.app.push_screen(
            PromptDialog(
                "Export this timeline as a Perfetto trace",
                "a file name (relative to the current folder)" if folder == os.getcwd() else f"a file name in {folder}",
                default,
                check=trace_path_problem,
                note=f"The whole timeline ({what}), one track per thread, lock slices, seqcount counters. "
                "Open it at ui.perfetto.dev or chrome://tracing.",
            ),
            chosen,
        )

    def _export_to(self, path: str) -> None:
        if os.path.lexists(path):
            options = [
                ("replace", "Replace it", path),
                ("number", "Keep both", "write to the first free numbered name beside it"),
                ("cancel", "Cancel", "write nothing"),
            ]

            def answer(choice: str | None) -> None:
                if choice in ("replace", "number"):
                    self._write_trace(path, REPLACE if choice == "replace" else NUMBER)

            self.app.push_screen(
                ChoiceDialog(f"{os.path.basename(path)} already exists", options, "cancel", marked=False), answer
            )
            return
        self._write_trace(path, REFUSE)

    def _write_trace(self, path: str, exists: str) -> None:
        """Write in a thread worker (a long run takes seconds); the session is `busy` meanwhile."""
        if not self._guard():
            return
        refused = outside_write_dir(path)  # (again: a symlink may have been made since it was typed)
        if refused is not None:
            self.app.push_screen(ErrorDialog("Cannot export the trace", refused))
            return
        s = self.session
        self.busy = "Perfetto export"
        self.say(f"writing the Perfetto trace of {counted(s.length, 'step')}…", "bold #87d7ff")
        self._export(path, exists, s.timeline, s.length)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _export(self, path: str, exists: str, timeline: Timeline, steps: int) -> None:
        from ...engine.perfetto import write_trace

        try:
            written = write_trace(path, timeline, exists=exists)
        except OSError as err:
            self.post_message(ExportFinished(path, steps, f"{err.filename or path}: {err.strerror or err}"))
        except WriteError as err:
            self.post_message(ExportFinished(path, steps, str(err)))
        except Exception as err:  # an engine bug is a sentence, never a crash
            self.post_message(ExportFinished(path, steps, f"{type(err).__name__}: {err}"))
        else:
            self.post_message(ExportFinished(written, steps))

    def on_export_finished(self, message: ExportFinished) -> None:
        self.busy = None
        self.refresh_views()
        if message.error is not None:
            self.say("the Perfetto export failed")
            self.app.push_screen(ErrorDialog("Cannot export the trace", message.error))
            return
        self.say(f"wrote {message.path}", "bold #87d7ff")
        self.notify(
            f"Wrote {message.steps} steps to\n{toast_path(message.path, self.app.size.width)}\n"
            "Open it at ui.perfetto.dev or chrome://tracing.",
            title="Perfetto trace",
            markup=False,
            timeout=10,
        )

    # ----------------------------------------------------- branch diff (issue 11)
    def action_compare_branch(self) -> None:
        """Pick another timeline and show the diff of this one against it (screens/diff.py)."""
        if not self._guard():
            return
        s = self.session
        timelines = {t.id: t.threads for t in s.saved_timelines()}
        others = list(s.branches)
        if not others:
            self.say(
                "there is only one timeline: step another thread from the past (1-9) or explore (e) to branch",
                "bold #ffaf00",
            )
            return

        def compare(bid: str | None) -> None:
            if bid is None:
                return
            from .diff import DiffScreen

            b = int(bid)
            self.app.push_screen(
                DiffScreen(
                    s.scenario,
                    timelines[s.branch_id],
                    timelines[b],
                    (f"this timeline (branch {s.branch_id})", f"branch {b}"),
                )
            )

        if len(others) == 1:
            compare(str(others[0].id))
            return
        options = [(str(b.id), f"branch {b.id}", branch_note(b)) for b in others]
        self.app.push_screen(ChoiceDialog(f"Compare branch {s.branch_id} with…", options), compare)

    # ------------------------------------------------ race-window coverage (issue 11)
    def action_coverage(self) -> None:
        """The race-window matrix of this scenario under its policy, worked out in the background."""
        from .coverage import CoverageScreen

        self.app.push_screen(CoverageScreen(self.session.scenario))
