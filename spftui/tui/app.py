"""SpftuiApp: the Textual application around one Session.

The app owns the session and the scenario it came from; the debugger screen
(screens/debugger.py) shows it and drives it. Without a scenario the app opens
the picker first.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from textual import events, messages
from textual.app import App, SystemCommand
from textual.command import CommandListItem, CommandPalette, SimpleProvider
from textual.errors import NoWidget
from textual.filter import LineFilter
from textual.screen import ModalScreen, Screen
from textual.theme import ThemeProvider
from textual.widget import AwaitMount

from ..engine.files import NUMBER, REPLACE, WriteError, check_target, write_file
from ..engine.opening import Opening
from ..engine.schedule import SeededRandom, Strategy
from ..engine.schedule_file import identity
from ..engine.session import Session
from ..engine.session_file import (
    SavedSession,
    autosave_path,
    dump_session,
    load_session,
    load_session_for,
    save_session,
    set_aside_if_unreadable,
)
from ..scenario import Scenario, ScenarioError
from ..scenario.fixes import FIX_LIST
from ..scenario.policies import POLICY_LIST, REUSE_LIST
from .contrast import DARK_MIN_CONTRAST, MIN_CONTRAST, ContrastFilter
from .format import home_path, path_lines, toast_command, toast_path
from .places import SCREENSHOT_ENV as SCREENSHOT_ENV
from .places import screenshot_dir, write_dir
from .saved import Seen, next_free, saved_sessions
from .screens.choice import ChoiceDialog
from .screens.command import SafeCommandPalette
from .screens.debugger import DebuggerScreen
from .screens.error import ErrorDialog
from .screens.picker import Picked, PickerScreen, load
from .screens.prompt import ask_where_to_save
from .screens.quit import DISCARD, SAVE, QuitDialog
from .start import add_default_breakpoints, session_for


def count(n: int, one: str, many: str = "") -> str:
    """`1 bookmark`, `2 bookmarks`."""
    return f"{n} {one if n == 1 else many or one + 's'}"


class SpftuiApp(App[int]):
    """The debugger.

    Args:
        source: a Session (used as is), a Scenario or a path to a scenario
            file (a session with breakpoints on aborts and violations), or
            None to start with the scenario picker.
        policy, reuse: override the scenario's validation policy / reuse rule.
        seed: schedule with SeededRandom(seed) instead of the scenario's default.
        session_file: the session file `source` was loaded from (`--session`): `q` saves
            to it. Without one, sessions are saved to the state directory
            (engine/session_file.py) and the one saved for a scenario is offered
            when that scenario is opened again.
    """

    CSS_PATH = "app.tcss"
    TITLE = "spftui"

    def __init__(
        self,
        source: Session | Scenario | str | Path | None = None,
        *,
        policy: str | None = None,
        reuse: str | None = None,
        seed: int | None = None,
        strategy: Strategy | None = None,
        session_file: str | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.warnings = tuple(warnings)
        """What the command line warned of before the screen opened (shown in it too: stderr is hidden)."""
        self.generation = 0
        self.session_file = session_file
        self.saved_text: str | None = None
        """The session as last saved or opened (`q` asks only when it differs)."""
        self.seen = Seen()
        """What the session files this debugger saves to held when it last read or wrote them (saved.py)."""
        self.own_state_file: str | None = None
        """The state directory's file this debugger saves to when it is not the scenario's own
        (the one it restored, or a numbered one a save took when another debugger had saved there)."""
        self.leaving = False
        """The user asked to quit (q, Ctrl+Q, the picker closed): any other exit is one from outside."""
        self.stopped_by: int | None = None
        """The signal that stopped the debugger (SIGTERM, SIGHUP, SIGINT), if one did."""
        self.saved_on_exit: str | None = None
        """Where a stop from outside saved the unsaved work (said on stderr once the screen is gone)."""
        self.session: Session | None = None
        if isinstance(source, Session):
            self.session = source
        elif source is not None:
            sc = source if isinstance(source, Scenario) else load(source)
            sc = sc.with_policy(policy, reuse)
            if strategy is None and seed is not None:
                strategy = SeededRandom(seed)
            self.session = Session(sc, strategy=strategy)
            add_default_breakpoints(self.session)

    # ------------------------------------------------------------ screens
    def on_mount(self) -> None:
        self.screen_change_signal.subscribe(self, self._screen_changed)
        self._catch_stop_signals()
        if self.session is None:
            self.push_screen(PickerScreen(first_run=True), self._first_pick)
        else:
            self.push_screen(DebuggerScreen())
            self.opened()
        for warning in self.warnings:
            self.notify(warning, title="Warning", severity="warning", timeout=15, markup=False)

    def _screen_changed(self, screen: Screen[object]) -> None:
        """A dialog opens: the toasts go (they sat over it, e.g. a saved path over the picker).
        One raised while the dialog is open (about the dialog itself) stays."""
        if isinstance(screen, ModalScreen):
            self.clear_notifications()

    def _first_pick(self, picked: Picked | None) -> None:
        if picked is None:
            self.exit(0)
            return
        self.install(picked)

    def debugger(self) -> DebuggerScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, DebuggerScreen):
                return screen
        return None

    def install(self, picked: Scenario | Picked) -> None:
        """Make the scenario (or schedule, or session file) picked the one being debugged;
        breakpoints carry over, except into a saved session, which has its own."""
        if isinstance(picked, Scenario):
            picked = Picked(Opening(picked))
        opening = picked.opening
        sc = opening.scenario
        old = self.session
        if old is not None and self.unsaved():
            # into the state directory, where opening that scenario again offers it back (a session
            # with a file of its own, Ctrl+S's or --session's, is not written over unasked: beside it)
            aside = None if self.session_file is None else autosave_path(old.scenario)
            try:
                saved = toast_path(self.save_session(aside, NUMBER if aside else REPLACE), self.size.width)
                self.notify(f"Saved the session of {identity(old.scenario)[0]} to\n{saved}", markup=False)
            except WriteError as err:
                self.notify(f"Cannot save the session: {err}", severity="warning", markup=False)
        if picked.session is not None:
            self.session = picked.session
        else:  # where `spftui SCHEDULE` opens: its stop_at, else its first violation
            self.session = session_for(opening, breakpoints=old.breakpoints if old is not None else None)
        self.generation += 1
        self.session_file = picked.session_file
        self.own_state_file = None
        screen = self.debugger()
        if screen is None:
            self.push_screen(DebuggerScreen())
        else:
            screen.selected, screen.pinned = 0, False  # (another scenario: other threads)
            screen.refresh_views(follow=True)
            where = f" at step {self.session.position}" if self.session.position else ""
            self.notify(f"Loaded {sc.title}{where}.", title=Path(sc.path).name if sc.path else "Scenario")
        if picked.warning:
            self.notify(picked.warning, severity="warning", timeout=10, markup=False)
        self.opened()

    # --------------------------------------------------------- sessions
    def opened(self) -> None:
        """A session is shown: remember it as saved, and offer the ones saved for this scenario."""
        s = self.session
        if s is None:
            return
        self.saved_text = dump_session(s)
        # A save finds out whether another debugger wrote the file since. A session saved in the
        # state directory is replaced only by the debugger that restored it, never by one that
        # started fresh beside it (that one gets a file of its own): Start fresh loses nothing.
        if self.session_file is not None:
            self.seen.look(self.session_target())
        base = autosave_path(s.scenario)
        if self.session_file is None:
            paths = saved_sessions(base)
            if paths:
                self.call_after_refresh(self._offer, base, paths)

    def _offer(self, base: str, paths: list[str]) -> None:
        """Offer the sessions saved for this scenario: the last one, or (several debuggers saved
        one, e.g. tabs of `spftui serve`) each, newest first."""
        s = self.session
        if s is None or autosave_path(s.scenario) != base:
            return
        readable = []
        for path in paths:
            try:
                readable.append((path, load_session(path)))
            except ScenarioError as err:  # left as it is: the user may want to mend it
                self.notify(
                    str(err), title="The saved session cannot be read", severity="warning", timeout=10, markup=False
                )
        if not readable:
            return
        width = max(20, self.size.width - 23)  # (the dialog's, less the list's scrollbar)
        name = identity(s.scenario)[0]
        if len(readable) == 1:
            path, saved = readable[0]
            shown = path_lines(home_path(path), width)
            self.push_screen(
                ChoiceDialog(
                    f"Restore your last session of {name}?",
                    [
                        ("restore", "Restore it", self._saved_what(saved)),
                        ("fresh", "Start fresh", f"it stays (a save writes a file of its own), in\n{shown}"),
                    ],
                    "restore",
                    marked=False,
                ),
                lambda choice: self.restore(path) if choice == "restore" else None,
            )
            return
        options = []
        for i, (path, saved) in enumerate(readable):
            shown = path_lines(home_path(path), width)
            when = _when(path)
            options.append((str(i), f"Restore the one saved {when}", f"{self._saved_what(saved)}\n{shown}"))
        options.append(("fresh", "Start fresh", self._stays("they")))
        self.push_screen(
            ChoiceDialog(
                f"Restore a saved session of {name}?\n{len(readable)} saved, newest first; Esc starts fresh",
                options,
                "0",
                marked=False,
            ),
            lambda choice: self.restore(readable[int(choice)][0]) if choice and choice.isdigit() else None,
        )

    def _stays(self, it: str) -> str:
        return f"{it} stay{'s' if it == 'it' else ''}: saving this session writes a file of its own"

    def _saved_what(self, saved: SavedSession) -> str:
        assert self.session is not None
        what = (
            f"{count(len(saved.breakpoints), 'breakpoint')}, {count(len(saved.bookmarks), 'bookmark')}, "
            f"{count(max(len(saved.timelines), 1), 'timeline')}, at step {saved.step}"
        )
        return what + "".join(f"; {d}" for d in _rules_differ(saved, self.session.scenario))

    def restore(self, path: str) -> bool:
        """Replace the session by the one saved in `path` (an error dialog if it cannot be)."""
        assert self.session is not None
        try:
            s, warning = load_session_for(path, self.session.scenario)
        except ScenarioError as err:
            self.push_screen(ErrorDialog("Cannot restore the session", str(err)))
            return False
        self.session = s
        self.generation += 1
        self.saved_text = dump_session(s)
        if self.session_file is None:  # (q saves back to the file restored, as its own)
            self.own_state_file = path
        self.seen.look(path)
        screen = self.debugger()
        if screen is not None:
            screen.refresh_views(follow=True)
        if warning:
            self.notify(warning, title="Session restored", severity="warning", timeout=10, markup=False)
        else:
            self.notify(f"Restored from\n{toast_path(path, self.size.width)}", title="Session restored", markup=False)
        return True

    def session_target(self) -> str:
        """Where `q` saves: the `--session` file, else the state directory's file for this scenario."""
        assert self.session is not None
        return self.session_file or self.own_state_file or autosave_path(self.session.scenario)

    def save_session(self, path: str | None = None, exists: str = REPLACE) -> str:
        """Save the session (WriteError); the file written becomes where `q` saves.

        A file another debugger wrote since this one last read or wrote it is not replaced:
        the save takes the first free numbered name beside it (saved.py)."""
        assert self.session is not None
        target = path or self.session_target()
        check_target(target, REPLACE, "the session")  # a directory's name is refused, not numbered past
        if exists == REPLACE and self.seen.changed(target):
            exists = NUMBER
        if exists == REPLACE:
            kept = set_aside_if_unreadable(target)  # the user may mean to mend it: never lost
            if kept is not None:
                self.notify(f"The session file there could not be read: kept as {kept}.", markup=False, timeout=10)
        written = save_session(self.session, target, exists=exists)
        if path is not None or self.session_file is not None:
            self.session_file = written
        elif written != autosave_path(self.session.scenario):
            self.own_state_file = written
        self.seen.look(written)
        self.saved_text = dump_session(self.session)
        return written

    def save_plan(self) -> tuple[str, str | None]:
        """Where `q`'s Save writes: (the file, None), or when another debugger saved to this one's
        file since it was opened, (the numbered file it takes instead, that file)."""
        target = self.session_target()
        if self.seen.changed(target):
            return next_free(target), target
        return target, None

    def save_session_as(self) -> None:
        """Ctrl+S: ask for a file and save the session there. A file that cannot be written
        keeps the dialog open with the path typed and the reason, so nothing typed is lost."""
        s = self.session
        assert s is not None
        name = identity(s.scenario)[0]
        # This session's own file once it has one (a Ctrl+S or --session), updated in place as
        # an editor's Save does; else in the current folder, a file to pass on (q keeps its own in
        # the state directory), named as explore names a schedule: one scenario's sessions under
        # two policies stay apart. Any other taken name gets a number.
        own = self.session_file

        def save(path: str) -> str:
            mine = own is not None and os.path.abspath(path) == os.path.abspath(own)
            return self.save_session(path, exists=REPLACE if mine else NUMBER)

        def told(written: str) -> str:
            dbg = self.debugger()
            if dbg is not None:  # (the status line said what an earlier save or export wrote)
                dbg.say(f"saved the session to {home_path(written)}", "bold #87d7ff")
            command = toast_command(f"spftui {name} --session", written, self.size.width)
            return f"Saved\n{toast_path(written, self.size.width)}\nOpen it with:\n{command}"

        ask_where_to_save(
            self,
            "Save session as…",
            own or os.path.join(write_dir(), f"{name}.{s.scenario.policy}.session.toml"),
            save,
            (
                "Enter updates this session's file; another name that is taken gets a number."
                if own
                else "A name that is taken gets a number. From now on, q saves to this file."
            ),
            told,
            "Session",
        )

    def unsaved(self) -> bool:
        return self.session is not None and dump_session(self.session) != self.saved_text

    async def action_quit(self) -> None:
        """Ctrl+Q and the palette's Quit."""
        self.request_quit()

    def request_quit(self) -> None:
        """`q`, Ctrl+Q and the palette's Quit: ask first when there is unsaved work."""
        dbg = self.debugger()
        if dbg is not None and dbg.busy:
            dbg.interrupt.set()
            dbg.say("interrupted the run: press q again to quit", "bold #ffaf00")
            return
        if not self.unsaved():
            self.exit(0)
            return
        if isinstance(self.screen, QuitDialog):
            return
        s = self.session
        assert s is not None
        watches = sum(b.kind == "watch" for b in s.breakpoints.items)
        what = (
            f"{count(len(s.breakpoints.items), 'breakpoint')} ({count(watches, 'watch', 'watches')}), "
            f"{count(len(s.bookmarks), 'bookmark')}, {count(len(s.branches) + 1, 'timeline')}, at step {s.position}."
        )
        target, taken = self.save_plan()
        # Sentences of their own, the path alone on its line: a long path wrapped (or cut
        # inside) left a line starting with "; offered again…".
        note = (
            "Opening this scenario again offers it back."
            if self.session_file is None
            else f"Open it again with: spftui {identity(s.scenario)[0]} --session <that file>"
        )
        if taken is not None:
            note = (
                f"{os.path.basename(taken)} holds a session this debugger did not open (saved before, or by "
                f"another debugger since): Save keeps both. {note}"
            )
        self.push_screen(QuitDialog(what, target, note), self._quit_answer)

    def _quit_answer(self, choice: str | None) -> None:
        if choice == SAVE:
            try:
                self.save_session()
            except WriteError as err:
                self.push_screen(ErrorDialog("Cannot save the session", str(err)))
                return
            self.exit(0)
        elif choice == DISCARD:
            self.exit(0)

    def exit(self, result: int | None = None, return_code: int = 0, message: object = None) -> None:  # type: ignore[override]
        """The user quits (q, Ctrl+Q, the picker closed): unsaved work was asked about."""
        self.leaving = True
        super().exit(result, return_code, message)  # type: ignore[arg-type]

    # ------------------------------------------------- stopped from outside
    def _catch_stop_signals(self) -> None:
        """SIGTERM, SIGHUP (the terminal closed) and a SIGINT sent to the process stop the
        debugger as a quit from outside (which saves unsaved work), not in the middle of a step.
        Served to a browser, Textual's web driver stops on SIGINT and SIGTERM the same way."""
        if self.is_headless or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop_from_outside, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def stop_from_outside(self, sig: int) -> None:
        if self.stopped_by is None:
            self.stopped_by = sig
        self.post_message(messages.ExitApp())

    async def on_exit_app(self, message: messages.ExitApp) -> None:
        """Before the app exits: told to from outside (`spftui serve` stopping, a signal) with
        unsaved work, save it as the quit dialog's Save does; opening the scenario again offers
        it back. (Runs before Textual's own handler, which ends the app.)"""
        if self.leaving or self.saved_on_exit is not None:
            return
        dbg = self.debugger()
        if dbg is not None and dbg.busy:  # a background run: stop it first, its session is in use
            dbg.interrupt.set()
            runs = [w for w in self.workers if w.group == "run" and not w.is_finished]
            if runs:
                await asyncio.wait([asyncio.ensure_future(w.wait()) for w in runs], timeout=5)
        try:
            if self.unsaved():
                assert self.session is not None
                name = identity(self.session.scenario)[0]
                self.saved_on_exit = self.save_session()
                again = "opening it again offers it back" if self.session_file is None else "--session opens it"
                self.exit_note = f"saved the unsaved session of {name} to {self.saved_on_exit} ({again})"
        except (WriteError, OSError) as err:
            self.saved_on_exit = ""
            self.exit_note = f"cannot save the session: {err}"
        except Exception as err:  # (a bug here must not keep the app from exiting)
            self.saved_on_exit = ""
            self.exit_note = f"cannot save the session: {type(err).__name__}: {err}"

    exit_note: str = ""
    """What the exit says on stderr about the session (run_app prints it once the screen is gone)."""

    def action_open(self) -> None:
        """Open the scenario picker."""
        start = str(Path(self.session.scenario.path).parent) if self.session and self.session.scenario.path else None
        current = self.session.scenario.path if self.session else None
        self.push_screen(
            PickerScreen(start_dir=start if start and Path(start).is_dir() else None, current=current), self._picked
        )

    def _picked(self, picked: Picked | None) -> None:
        if picked is not None:
            self.install(picked)

    # ----------------------------------------------------------- themes
    _contrast: ClassVar[dict[bool, ContrastFilter]] = {
        True: ContrastFilter(DARK_MIN_CONTRAST),
        False: ContrastFilter(MIN_CONTRAST),
    }

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, and one that keeps the panes' colours readable on the theme (contrast.py).

        Not on the ANSI themes: their colours are the terminal's, unknown here."""
        filters = list(super().get_line_filters())
        theme = self.current_theme
        if not theme.ansi:
            filters.append(self._contrast[theme.dark])
        return filters

    # -------------------------------------------------------- screenshot
    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's "Save screenshot": an SVG in `screenshot_dir()` (created), saying where.

        Textual's own writes to ~/Downloads and fails when that does not exist."""
        from textual._files import generate_datetime_filename

        directory = path or screenshot_dir()
        name = filename or generate_datetime_filename(self.title, ".svg", time_format)
        target = os.path.join(directory, name)
        try:
            os.makedirs(directory, exist_ok=True)
            written = write_file(target, self.export_screenshot(), exists=NUMBER, what="the screenshot")
        except (OSError, WriteError) as err:
            reason = err if isinstance(err, WriteError) else f"{directory}: {err.strerror or err}"
            self.notify(
                f"Cannot save the screenshot: {reason}", title="Screenshot", severity="error", timeout=10, markup=False
            )
            return None
        self.notify(f"Saved\n{toast_path(written, self.size.width)}", title="Screenshot", markup=False)
        return written

    # ---------------------------------------------------------- palette
    def action_command_palette(self) -> None:
        """Ctrl+P: the command palette, guarded against Textual's crashes (screens/command.py)."""
        if self.use_command_palette and not any(isinstance(s, CommandPalette) for s in self.screen_stack):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    def push_screen(self, screen, callback=None, wait_for_dismiss=False, *, mode=None):  # type: ignore[no-untyped-def,override]
        """A screen that comes up by itself over the open palette (a background run's
        result) closes the palette first: one left under it made the next Ctrl+P open a
        second, and Textual crashed on the two palettes' one id (DuplicateIds). A palette
        command runs after its palette has closed, so none is lost here."""
        top = self.screen_stack[-1] if self.screen_stack else None
        if isinstance(screen, Screen) and not isinstance(screen, CommandPalette) and isinstance(top, CommandPalette):
            self.pop_screen()
        return super().push_screen(screen, callback, wait_for_dismiss, mode=mode)

    def search_commands(
        self, commands: Sequence[CommandListItem], placeholder: str = "Search for commands…"
    ) -> AwaitMount:
        """A palette over `commands` (Textual's opens its unguarded CommandPalette)."""
        return self.push_screen(
            SafeCommandPalette(providers=[SimpleProvider(self.screen, commands)], placeholder=placeholder)
        )

    def search_themes(self) -> None:
        """The palette's "Change theme" (Textual's opens its unguarded CommandPalette)."""
        self.push_screen(SafeCommandPalette(providers=[ThemeProvider], placeholder="Search for themes…"))

    async def on_event(self, event: events.Event) -> None:
        # Textual 8.2.8: a key or click queued behind an exit (the palette's
        # "Quit" picked, then more typing) reaches App.on_event after the last
        # screen is gone, whose `self.screen` raises ScreenStackError.
        if isinstance(event, events.InputEvent) and not self.screen_stack:
            return
        if isinstance(event, events.MouseDown) and self._detached_at(event.x, event.y):
            return
        await super().on_event(event)

    def _detached_at(self, x: int, y: int) -> bool:
        """Textual 8.2.8: a click on a widget removed since the last repaint (a
        pane rebuilding its rows) starts a text selection on a parentless widget
        and raises AttributeError in Screen._forward_event; such a click has
        nothing to land on, so it is dropped."""
        try:
            widget, _ = self.screen.get_widget_and_offset_at(x, y)
        except NoWidget:  # nothing there: let Textual decide
            return False
        return widget is not None and not isinstance(widget, Screen) and widget.parent is None

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        dbg = screen if isinstance(screen, DebuggerScreen) else None
        if dbg is not None and self.session is not None:
            yield from self._debugger_commands(dbg, self.session)
        for c in super().get_system_commands(screen):
            if c.title == "Quit":  # (Textual's says "as soon as possible"; with unsaved work ours asks first)
                yield c._replace(help="Quit spftui; with unsaved work it asks to save the session first")
            elif dbg is not None and c.title in ("Keys", "Maximize", "Minimize"):
                continue  # the debugger has its own: Help (?) lists its keys, Zoom pane (z)
            else:
                yield c

    def _debugger_commands(self, d: DebuggerScreen, s: Session) -> Iterable[SystemCommand]:
        yield SystemCommand("Step  (s)", "Run one step: the recorded future, or the strategy's choice", d.action_step)
        for i, name in enumerate(s.names):
            key = f"  ({i + 1})" if i < 9 else ""
            yield SystemCommand(
                f"Step thread {name}{key}",
                f"One step of {name}; from the past this starts a new branch",
                lambda i=i: d.action_step_thread(i),
            )
        yield SystemCommand(
            "Continue  (c)", "Run to the next breakpoint in the background (Esc interrupts)", d.action_continue
        )
        selected = s.names[d.selected] if 0 <= d.selected < len(s.names) else "the selected thread"
        yield SystemCommand(
            f"Run {selected} to the cursor  (u)",
            "The selected thread runs alone until its next step is the source line under the cursor (gdb's advance)",
            d.action_run_to_cursor,
        )
        yield SystemCommand(
            f"Finish {selected}  (f)",
            "The selected thread runs alone until its fault returns, else its operation completes (gdb's finish)",
            d.action_finish,
        )
        yield SystemCommand("Step back  (S)", "Undo one step", d.action_back)
        yield SystemCommand(
            "Reverse-continue  (C)", "Back to the previous point where a breakpoint fires", d.action_reverse
        )
        yield SystemCommand("Go to step…  (g)", "Jump to any step of this timeline", d.action_goto)
        yield SystemCommand("Go to the start", "Step 0", lambda: d.goto(0))
        yield SystemCommand("Go to the end", "The run's end: replays the recorded steps, then runs on", d.goto_end)
        yield SystemCommand(
            "Explore interleavings  (e)",
            "Search the schedules for a violation in the background (Esc interrupts) and jump to it",
            d.action_explore,
        )
        yield SystemCommand("Restart  (r)", "Back to step 0 under the same rules; breakpoints stay", d.action_restart)
        for p in POLICY_LIST:
            mark = " (current)" if p.name == s.scenario.policy else ""
            yield SystemCommand(
                f"Policy: {p.name}{mark}",
                f"{p.description} — restarts at step 0",
                lambda p=p.name: d.action_restart(policy=p),
            )
        for r in REUSE_LIST:
            mark = " (current)" if r.name == s.scenario.reuse else ""
            yield SystemCommand(
                f"Reuse rule: {r.name}{mark}",
                f"{r.releases}: {r.description} — restarts at step 0",
                lambda r=r.name: d.action_restart(reuse=r),
            )
        shown = {t.fix_off for t in s.scenario.expect}  # (a history scenario's own fix first)
        for f in sorted(FIX_LIST, key=lambda f: (f.name not in s.scenario.fixes_off, f.name not in shown)):
            state = "off" if f.name in s.scenario.fixes_off else "on"
            inert = f.inert(s.scenario.policy, s.scenario.reuse, s.scenario.features)
            yield SystemCommand(
                f"Toggle fix {f.name} (now {state}{f'; {inert}' if inert else ''})",
                f"{f.title} ({f.commit}) — restarts at step 0",
                lambda n=f.name: d.action_toggle_fix(n),
            )
        yield SystemCommand(
            "Breakpoint: toggle at the source cursor  (b)",
            "A step breakpoint on the selected source line",
            d.action_toggle_breakpoint,
        )
        yield SystemCommand(
            "Breakpoint: watch the selected value  (w)", "Stop when the value under the cursor changes", d.action_watch
        )
        yield SystemCommand(
            "Breakpoint: on any spf abort",
            "Stop when a speculative fault aborts",
            lambda: d.add_breakpoint({"kind": "abort"}),
        )
        yield SystemCommand(
            "Breakpoint: on any violation",
            "Stop when an oracle fires (lost write, use-after-free, …)",
            lambda: d.add_breakpoint({"kind": "violation"}),
        )
        yield SystemCommand(
            "Breakpoint: on a validation passed by ABA",
            "Stop when a check passes although what it compared changed and changed back (an aba breakpoint)",
            lambda: d.add_breakpoint({"kind": "aba"}),
        )
        for kind in ("abort", "violation", "aba", "step", "watch", "condition"):
            yield SystemCommand(
                f"Breakpoint: add {kind}…",
                f"Open the breakpoint dialog for {'an' if kind[0] in 'aeiou' else 'a'} {kind} breakpoint",
                lambda kind=kind: d.action_add_breakpoint(kind),
            )
        yield SystemCommand(
            "Compare with branch…",
            "Where this timeline and another part, and the reordered pair of conflicting steps that matters",
            d.action_compare_branch,
        )
        yield SystemCommand(
            "Race-window coverage",
            "Which writer steps ever ran inside which speculative window, over 200 random schedules "
            "(PCT or every schedule from there)",
            d.action_coverage,
        )
        if s.branches:
            yield SystemCommand("Switch branch…", "Choose another saved timeline", d.action_branches)
            for b in s.branches:
                yield SystemCommand(
                    f"Switch to branch {b.id}",
                    f"It leaves this timeline at step {b.at}; {len(b)} steps",
                    lambda bid=b.id: d.switch_branch(bid),
                )
        yield SystemCommand("Switch policy…  (p)", "Choose the validation policy", d.action_policy)
        yield SystemCommand("Switch reuse rule…  (k)", "Choose the COW reuse rule", d.action_reuse)
        yield SystemCommand("Open scenario…  (o)", "Pick a bundled scenario or a file", d.action_open)
        yield SystemCommand(
            "Save schedule so far",
            "Write the steps up to here as a schedule file (for --schedule)",
            d.action_save_schedule,
        )
        yield SystemCommand(
            "Show the narration  (t)",
            "The explorer's narrated counterexample (or this run, told step by step): reread and copy it",
            d.action_narration,
        )
        yield SystemCommand("Bookmark this step…  (m)", "Name the current step; g takes the name", d.action_bookmark)
        yield SystemCommand(
            "Save session as…  (Ctrl+S)",
            "Breakpoints, watches, bookmarks, branches and the step, as a TOML file (--session FILE opens it)",
            d.action_save_session_as,
        )
        yield SystemCommand(
            "Export Perfetto trace…  (x)",
            "Write this timeline as a Chrome JSON trace for ui.perfetto.dev (asks for the file)",
            d.action_export_perfetto,
        )
        yield SystemCommand("Next view  (v)", "Narrow terminals: show the next group of panes", d.action_next_view)
        yield SystemCommand("Zoom pane  (z)", "Maximise the focused pane, or restore it", d.action_zoom)
        yield SystemCommand(
            "Why? the value under the cursor  (y)",
            "The chain of causes of a PTE, a frame word, a count, a seqcount, a VMA field, an abort or a violation",
            d.action_why,
        )
        yield SystemCommand(
            "Search the timeline…  (/)",
            "Filter the steps by thread, label, event kind or object; n / N",
            d.action_search,
        )
        yield SystemCommand("Help  (? or F1)", "Keys and how to read the panes", d.action_help)


def _rules_differ(saved: SavedSession, sc: Scenario) -> list[str]:
    """What a saved session would change besides the steps: its policy, reuse rule and
    fixes replace those of the run opened (`--fix` on the command line too)."""
    out = []
    if saved.policy and saved.policy != sc.policy:
        out.append(f"policy {saved.policy} (not {sc.policy})")
    if saved.reuse and saved.reuse != sc.reuse:
        out.append(f"reuse {saved.reuse} (not {sc.reuse})")
    if saved.fixes_off is not None and saved.fixes_off != sc.fixes_off:
        named = ", ".join(sorted(saved.fixes_off)) or "none"
        now = ", ".join(sorted(sc.fixes_off)) or "none"
        out.append(f"fixes off: {named} (not {now})")
    return out


def _when(path: str) -> str:
    """`at 14:03:12 today` or `on 2025-05-01 14:03`: when `path` was last written."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return "earlier"
    if time.strftime("%Y-%m-%d", time.localtime(mtime)) == time.strftime("%Y-%m-%d"):
        return time.strftime("at %H:%M:%S today", time.localtime(mtime))
    return time.strftime("on %Y-%m-%d %H:%M", time.localtime(mtime))
