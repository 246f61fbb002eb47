"""SpftuiApp: the Textual application around one Session.

The app owns the session and the scenario it came from; the debugger screen
(screens/debugger.py) shows it and drives it. Without a scenario the app opens
the picker first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from textual import events
from textual.app import App, SystemCommand
from textual.command import CommandListItem, CommandPalette, SimpleProvider
from textual.screen import Screen
from textual.theme import ThemeProvider
from textual.widget import AwaitMount

from ..engine.schedule import SeededRandom, Strategy
from ..engine.session import Session
from ..scenario import Scenario
from ..scenario.fixes import FIX_LIST
from ..scenario.policies import POLICY_LIST, REUSE_LIST
from .screens.command import SafeCommandPalette
from .screens.debugger import DebuggerScreen
from .screens.picker import PickerScreen, load


def add_default_breakpoints(session: Session) -> None:
    """Stop on any speculative abort and any oracle violation."""
    if not session.breakpoints.items:
        session.add_breakpoint("abort")
        session.add_breakpoint("violation")


class SpftuiApp(App[int]):
    """The debugger.

    Args:
        source: a Session (used as is), a Scenario or a path to a scenario
            file (a session with breakpoints on aborts and violations), or
            None to start with the scenario picker.
        policy, reuse: override the scenario's validation policy / reuse rule.
        seed: schedule with SeededRandom(seed) instead of the scenario's default.
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
    ) -> None:
        super().__init__()
        self.generation = 0
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
        if self.session is None:
            self.push_screen(PickerScreen(first_run=True), self._first_pick)
        else:
            self.push_screen(DebuggerScreen())

    def _first_pick(self, sc: Scenario | None) -> None:
        if sc is None:
            self.exit(0)
            return
        self.install(sc)

    def debugger(self) -> DebuggerScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, DebuggerScreen):
                return screen
        return None

    def install(self, sc: Scenario) -> None:
        """Make `sc` the scenario being debugged; breakpoints carry over."""
        old = self.session
        self.session = Session(sc, breakpoints=old.breakpoints if old is not None else None)
        add_default_breakpoints(self.session)
        self.generation += 1
        screen = self.debugger()
        if screen is None:
            self.push_screen(DebuggerScreen())
        else:
            screen.selected = 0
            screen.refresh_views(follow=True)
            self.notify(f"Loaded {sc.title}.", title=Path(sc.path).name if sc.path else "Scenario")

    def action_open(self) -> None:
        """Open the scenario picker."""
        start = str(Path(self.session.scenario.path).parent) if self.session and self.session.scenario.path else None
        self.push_screen(PickerScreen(start_dir=start if start and Path(start).is_dir() else None), self._picked)

    def _picked(self, sc: Scenario | None) -> None:
        if sc is not None:
            self.install(sc)

    # ---------------------------------------------------------- palette
    def action_command_palette(self) -> None:
        """Ctrl+P: the command palette, guarded against Textual's crashes (screens/command.py)."""
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

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
        await super().on_event(event)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        dbg = screen if isinstance(screen, DebuggerScreen) else None
        if dbg is not None and self.session is not None:
            yield from self._debugger_commands(dbg, self.session)
        yield from super().get_system_commands(screen)

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
        yield SystemCommand("Step back  (S)", "Undo one step", d.action_back)
        yield SystemCommand(
            "Reverse-continue  (C)", "Back to the previous point where a breakpoint fires", d.action_reverse
        )
        yield SystemCommand("Go to step…  (g)", "Jump to any step of this timeline", d.action_goto)
        yield SystemCommand("Go to the start", "Step 0", lambda: d.goto(0))
        yield SystemCommand("Go to the end", "The last recorded step", lambda: d.goto(s.length))
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
        for f in FIX_LIST:
            state = "off" if f.name in s.scenario.fixes_off else "on"
            yield SystemCommand(
                f"Toggle fix {f.name} (now {state})",
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
        for kind in ("abort", "violation", "step", "watch", "condition"):
            yield SystemCommand(
                f"Breakpoint: add {kind}…",
                f"Open the breakpoint dialog for {'an' if kind[0] in 'aeiou' else 'a'} {kind} breakpoint",
                lambda kind=kind: d.action_add_breakpoint(kind),
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
        yield SystemCommand("Next view  (v)", "Narrow terminals: show the next group of panes", d.action_next_view)
        yield SystemCommand("Zoom pane  (z)", "Maximise the focused pane, or restore it", d.action_zoom)
        yield SystemCommand("Help  (?)", "Keys and how to read the panes", d.action_help)
