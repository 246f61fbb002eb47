"""The debugger screen: the panes, the keys, and the background run.

Keys follow gdb's TUI single-key mode (s, c, and upper case for reverse).
Every session call happens here, on the UI thread, except `continue` and
reverse-continue, which run in a thread worker that only posts messages; while
one runs, the panes keep showing the state from before it and every other
session command is refused with a sentence in the status line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Header, Tab, Tabs

from ...engine.breakpoints import Breakpoint, true_at_start
from ...engine.files import NUMBER, check_target
from ...engine.inspect import Names
from ...engine.schedule_file import write_schedule
from ...engine.session import Session, SessionError, StopReason, bookmark_name_problem
from ...engine.view import EVENT_KINDS
from ...scenario.fixes import FIX
from ...scenario.policies import POLICY, POLICY_LIST, REUSE_LIST
from ..format import branch_note, home_path, toast_command, toast_path
from ..places import write_dir
from ..recent import Recent
from ..view import View
from ..widgets.breakpoints import BreakpointsPane
from ..widgets.footer import KeyBar
from ..widgets.frames import FramesPane
from ..widgets.mm import MmPane
from ..widgets.pagetables import PtePane
from ..widgets.pane import Pane
from ..widgets.source import SourcePane
from ..widgets.status import StatusLine
from ..widgets.threads import ThreadsPane
from ..widgets.timeline import TimelinePane
from .background import BackgroundRuns, RunFinished, ui_keeps_the_gil
from .breakpoint import BreakpointDialog
from .choice import ChoiceDialog
from .goto import END, GotoDialog
from .help import HelpScreen
from .narration import NarrationScreen
from .prompt import PromptDialog, ask_where_to_save
from .tools import ToolActions

if TYPE_CHECKING:
    from ...engine.narrate import Result
    from ..app import SpftuiApp

VIEWS = ("g-code", "g-memory", "g-trace")
NARROW_WIDTH = 100
NARROW_HEIGHT = 30


class DebuggerScreen(ToolActions, BackgroundRuns):
    """The main screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # (the key bar shows them in this order and a narrow terminal cuts the last: Help and Quit early)
        Binding("s", "step", "Step"),
        Binding("c", "continue", "Cont"),
        Binding("S", "back", "Back"),
        Binding("g", "goto", "Goto"),
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False),
        Binding("q", "quit", "Quit"),
        Binding("1", "step_thread(0)", "Thread", key_display="1-9"),
        *[Binding(str(k), f"step_thread({k - 1})", f"Step thread {k}", show=False) for k in range(2, 10)],
        Binding("C", "reverse", "RevCont"),
        Binding("b", "toggle_breakpoint", "Break"),
        Binding("w", "watch", "Watch"),
        Binding("p", "policy", "Policy"),
        Binding("r", "restart", "Restart"),
        Binding("o", "open", "Open"),
        Binding("v", "next_view", "View"),
        Binding("e", "explore", "Explore", show=False),
        Binding("B", "add_breakpoint", "Add breakpoint", show=False),
        Binding("k", "reuse", "Reuse rule", show=False),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("escape", "interrupt", "Interrupt", show=False),
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True),
        # sessions, bookmarks and the narration (issue 13)
        Binding("m", "bookmark", "Bookmark", show=False),
        Binding("ctrl+s", "save_session_as", "Save session as", show=False),
        Binding("t", "narration", "Narration (tell the story)", show=False),
        # why and search (issue 11): the actions are at the end of this class
        Binding("y", "why", "Why", show=False),
        Binding("slash", "search", "Search", key_display="/", show=False),
        Binding("n", "search_next(1)", "Next hit", show=False),
        Binding("N", "search_next(-1)", "Previous hit", show=False),
        # tools over the whole run (screens/tools.py)
        Binding("x", "export_perfetto", "Export Perfetto trace", show=False),
        # one thread alone: gdb's advance and finish (the actions are at the end of this class)
        Binding("u", "run_to_cursor", "Run to cursor", show=False),
        Binding("f", "finish", "Finish", show=False),
    ]

    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str | None] = "Footer, StatusLine"
    """A zoomed pane (z) keeps the status line under it: stepping goes on while zoomed."""

    def __init__(self) -> None:
        super().__init__()
        self.selected = 0
        self.pinned = False
        """The user picked the selected thread (the Threads pane's cursor, a digit key): steps, jumps
        and runs leave it there, as `u` and `f` run it. Until then it follows the thread that ran last."""
        self.recent = Recent()
        self.init_runs()
        self.view_index = 0
        self.narrow = False
        self.shown_generation = -1
        self.view: View | None = None
        self.narration: tuple[str, str, str] | None = None
        """The explorer's last counterexample: (title, header, narration)."""
        self._removed: list[tuple[int, Breakpoint]] = []  # the breakpoints Delete took, latest last (Ctrl+Z)

    @property
    def spf(self) -> SpftuiApp:
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> Session:
        s = self.spf.session
        assert s is not None
        return s

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header(icon="⏵")
        yield Tabs(
            Tab("Threads · Source", id="tab-g-code"),
            Tab("Memory", id="tab-g-memory"),
            Tab("Trace · Breakpoints", id="tab-g-trace"),
            id="views",
        )
        with Container(id="body"):
            with Vertical(id="g-code", classes="group"):
                yield ThreadsPane(id="threads")
                yield SourcePane(id="source")
            with Vertical(id="g-memory", classes="group"):
                yield MmPane(id="mm")
                yield PtePane(id="ptes")
                yield FramesPane(id="frames")
            with Horizontal(id="g-trace", classes="group"):
                yield TimelinePane(id="timeline")
                yield BreakpointsPane(id="breakpoints")
        yield StatusLine(id="status")
        yield KeyBar(compact=True)

    def on_mount(self) -> None:
        # Kept, not queried each time: a query misses widgets while one pane is zoomed.
        self.status = self.query_one(StatusLine)
        self.source = self.query_one(SourcePane)
        self.panes = list(self.query(Pane))
        self.groups = {gid: self.query_one(f"#{gid}") for gid in VIEWS}
        self.tabs = self.query_one("#views", Tabs)
        self.footer = self.query_one(KeyBar)
        self.first_pane = {gid: self.groups[gid].query(Pane).first() for gid in VIEWS}
        self.mm_pane = self.query_one(MmPane)
        self._apply_layout(self.app.size.width, self.app.size.height)
        self.refresh_views(follow=True)
        self.source.listing.focus()

    def on_resize(self, event: Any) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        self.narrow = narrow
        self.set_class(narrow, "narrow")
        for i, gid in enumerate(VIEWS):
            self.groups[gid].set_class(i == self.view_index, "-shown")
        self.refresh_bindings()

    def _show_view(self, index: int) -> None:
        self.view_index = index % len(VIEWS)
        gid = VIEWS[self.view_index]
        for i, g in enumerate(VIEWS):
            self.groups[g].set_class(i == self.view_index, "-shown")
        if self.tabs.active != f"tab-{gid}":
            self.tabs.active = f"tab-{gid}"
        if self.narrow:
            if self.maximized is not None:
                self.minimize()
            self.first_pane[gid].focus()

    @on(Tabs.TabActivated, "#views")
    def _tab(self, event: Tabs.TabActivated) -> None:
        event.stop()
        tid = event.tab.id or ""
        if tid != self.tabs.active:
            # Stale: the tabs have moved on since (`v` pressed again). Following it
            # would set the tabs back and start two views flipping for ever.
            return
        gid = tid.removeprefix("tab-")
        if gid in VIEWS and VIEWS.index(gid) != self.view_index:
            self._show_view(VIEWS.index(gid))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_view":
            return self.narrow
        return True

    # ------------------------------------------------------------ refresh
    def refresh_views(self, follow: bool = False) -> None:
        """Rebuild every pane from the session (never during a background run)."""
        if self.busy:
            return
        s = self.session
        if follow and s.position > 0 and not self.pinned:
            last = s.last
            name = last.thread if last is not None and last.step == s.position - 1 else s.step_thread(s.position - 1)
            self.selected = s.names.index(name)
        self.selected = max(0, min(self.selected, len(s.names) - 1))
        view = View.build(s, self.selected, self.recent, (self.spf.generation, s.branch_id))
        fresh = self.spf.generation != self.shown_generation
        self.shown_generation = self.spf.generation
        for pane in self.panes:
            if fresh:
                pane.invalidate()
            if pane.id != "source-view":
                pane.show(view)
        self.source.show(view)
        self.status.show(s)
        self.app.sub_title = s.scenario.title
        self.view = view
        if self.recent.missing(s.position):
            self.call_after_refresh(self._backfill, view, s.position)

    def _backfill(self, view: View, position: int) -> None:
        """After a jump: fill the mmap_seq history once the screen is painted."""
        if self.busy or view is not self.view or self.session.position != position:
            return  # something newer has been shown meanwhile
        if self.recent.backfill(self.session):
            self.mm_pane.show(view)

    def say(self, text: str, style: str = "bold #ff5f5f") -> None:
        self.status.message(text, style)

    def on_key(self, event: events.Key) -> None:
        self._acted()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._acted()

    def _acted(self) -> None:
        """A key or click: a one-off message (a refusal, `/x: no step matches`) was about the user's
        last action and may be false now (focus moved, another search). It goes, as an echo area's
        does; this runs before the app checks the key's bindings, so what the key's own action says
        stays. A run's progress stays until the run ends."""
        if not self.busy:
            self.status.unsay()

    def _do(self, fn: Callable[[], object], follow: bool = True, tell_branch: bool = True) -> None:
        """Run a session command; report a refusal instead of raising."""
        if not self._guard():
            return
        s = self.session
        branch, branches = s.branch_id, len(s.branches)
        try:
            fn()
        except SessionError as err:
            self.refresh_views()
            self.say(str(err))
            return
        except Exception as err:  # an engine bug: report it, keep the debugger alive
            self.refresh_views()
            self.say(f"engine error: {type(err).__name__}: {err}")
            self.notify(f"{type(err).__name__}: {err}", title="Engine error", severity="error")
            return
        self.refresh_views(follow=follow)
        if tell_branch and len(s.branches) > branches:  # a new one: a switch keeps the count
            self.notify(
                f"New branch {s.branch_id} starts at step {s.position}; the old future is kept as branch {branch}.",
                title="Branched",
            )

    # ------------------------------------------------------------ stepping
    def action_step(self) -> None:
        def step() -> None:
            if self.session.step() is None:
                raise SessionError("nothing can run: " + self.session.stop.text)

        self._do(step)

    def action_step_thread(self, index: int) -> None:
        names = self.session.names
        if index >= len(names):
            self.say(f"there is no thread {index + 1}: this scenario has {len(names)} ({', '.join(names)})")
            return
        if self._guard():  # (the user names the thread: it stays selected, for u and f)
            self.selected, self.pinned = index, True
        self._do(lambda: self.session.step(index))

    def action_back(self) -> None:
        if self.session.position == 0 and self._guard():
            self.say("already at the start: nothing to step back over", "bold #ffaf00")
            return

        def back() -> None:
            self._travel(self.session.position - 1)
            self.session.back(0)  # (the session's own "stepped back" sentence)

        self._do(back)

    def goto(self, n: int) -> None:
        """Go to step n of the timeline, past its recorded end (run on to it), or to END."""
        if n == END:
            self.goto_end()
            return
        if n > self.session.length:  # past the recorded end: run on to it, off the UI thread as `c`
            self.run_on(n)
            return
        self._do(lambda: self._travel(n))

    def goto_end(self) -> None:
        """`g end`: on to the end of the run (replay the recorded steps, then run on: no
        breakpoint stops it, Esc interrupts), or say it is there already."""
        if not self._guard():
            return
        s = self.session
        if s.position == s.length and s.finished():
            self.say(f"already at the end (step {s.position})", "bold #ffaf00")
            return
        self.run_on(None)

    def _travel(self, n: int) -> None:
        """`session.goto(n)`, stopping at n-1 on the way to hand that state to `recent`.

        The before-state for "what the last step changed" then costs a snapshot
        instead of a second replay from a checkpoint.
        """
        s = self.session
        n = max(0, min(n, s.length))
        if n > 0 and n not in (s.position, s.position + 1):
            s.goto(n - 1)
            self.recent.adopt(s, (self.spf.generation, s.branch_id), s.machine.snapshot(), n - 1)
        s.goto(n)

    def action_goto(self) -> None:
        if not self._guard():
            return
        s = self.session

        dialog = GotoDialog(s.position, s.length, s.bookmarks)

        def typed(n: int | None) -> None:
            if n is None:
                return
            if n != self.session.position:
                self.goto(n)
            elif self._guard():  # (a jump would leave the status saying how the session got here)
                self.say(f"already at step {n}", "bold #ffaf00")
            note = self.session.bookmark_note(dialog.bookmark) if dialog.bookmark else None
            if note:  # (set on another timeline that differs before it: a step number here, not that state)
                self.notify(f"{note[0].upper()}{note[1:]}.", severity="warning", timeout=8)

        self.app.push_screen(dialog, typed)

    def action_restart(self, policy: str | None = None, reuse: str | None = None) -> None:
        """Restart at step 0 (under `policy` or `reuse`, when given). Picking the policy or rule
        already in force in `p`/`k` restarts nothing: Enter on it is how those dialogs close."""
        what = f" under {policy or reuse}" if policy or reuse else ""
        self._restart(lambda: self.session.restart(policy=policy, reuse=reuse), what=what)

    def _restart(self, restart: Callable[[], object], done: str = "", what: str = "") -> None:
        """Restart at step 0; with other branches (an explorer's counterexample, a thread
        stepped from the past) only once the user agrees to drop them."""
        if not self._guard():
            return

        def config() -> tuple[object, ...]:
            sc = self.session.scenario
            return sc.policy, sc.reuse, sc.fixes_off

        def go(answer: str | None = "restart") -> None:
            if answer != "restart":
                return
            before = config()
            restart()
            self.narration = None  # (the explorer's counterexample was a timeline the restart dropped)
            self.spf.generation += 1
            self.refresh_views(follow=True)
            if done:
                self.notify(done)
            marks = self.session.bookmarks
            if marks and config() != before:  # (a bookmark is a step number: in another run, maybe another step)
                named = ", ".join(f"{k} = step {v}" for k, v in marks.items())
                self.notify(f"Bookmarks are step numbers ({named}): in this run they may mark other steps.")

        others = len(self.session.branches)  # (the timelines besides the one shown)
        if others < 1:
            go()
            return
        self.app.push_screen(
            ChoiceDialog(
                f"Restarting drops {others} other timeline{'s' if others > 1 else ''}",
                [
                    ("restart", f"Restart at step 0{what}", "the other branches are gone (save the session first)"),
                    ("cancel", "Cancel", "keep the branches"),
                ],
                "cancel",
                marked=False,
            ),
            go,
        )

    # ------------------------------------------------------- fixes (issue 9)
    def action_toggle_fix(self, name: str) -> None:
        """Restart at step 0 with modelled fix `name` flipped (scenario/fixes.py)."""
        on = name in self.session.scenario.fixes_off  # off now: switch it on
        sc = self.session.scenario
        inert = FIX[name].inert(sc.policy, sc.reuse, sc.features)
        self._restart(
            lambda: self.session.restart(fixes={name: on}),
            f"fix {name} {'on' if on else 'off'}: restarted at step 0" + (f" ({inert})" if inert else ""),
            f" with fix {name} {'on' if on else 'off'}",
        )

    def switch_branch(self, bid: int) -> None:
        self._do(lambda: self.session.switch_branch(bid))

    # --------------------------------------------------------- breakpoints
    def action_toggle_breakpoint(self) -> None:
        if not self._guard():
            return
        label = self.source.selected_label()
        if label is None:
            self.say("put the source cursor on a step to set a breakpoint there", "bold #ffaf00")
            return
        existing = [b for b in self.session.breakpoints.items if b.kind == "step" and b.match == label]
        if existing:
            for b in existing:
                self.session.remove_breakpoint(b.id)
            self.notify(f"Removed the breakpoint at {label}.")
        else:
            b = self.session.add_breakpoint("step", match=label)
            self.notify(f"Breakpoint {b.id}: any thread reaching {label}.")
        self.refresh_views()

    def action_watch(self) -> None:
        if not self._guard():
            return
        focused = self.focused
        expr = focused.watch_expr() if isinstance(focused, Pane) else None
        if expr is None:
            self.action_add_breakpoint("watch")
            return
        self.add_breakpoint({"kind": "watch", "expr": expr})

    def action_add_breakpoint(self, kind: str = "", match: str = "", expr: str = "") -> None:
        if not self._guard():
            return
        # Aborts first where faults speculate; a classic fault never aborts.
        kind = kind or ("abort" if POLICY[self.session.scenario.policy].speculative else "step")
        self.app.push_screen(
            BreakpointDialog(
                list(self.session.names),
                kind=kind,
                match=match,
                expr=expr,
                evaluate=self.session.evaluate,
                known=Names.of(self.session.scenario),
            ),
            lambda values: self.add_breakpoint(values) if values else None,
        )

    def add_breakpoint(self, values: dict[str, Any]) -> None:
        if not self._guard():
            return
        values = dict(values)
        kind = values.pop("kind")
        try:
            old = self.session.breakpoints.like(kind, **values)
            b = old or self.session.add_breakpoint(kind, **values)
        except Exception as err:  # the dialog validates; this is belt and braces
            self.say(f"cannot add that breakpoint: {err}")
            return
        if old is None:
            already = (
                " It is true now: it fires when it turns false, then true again."
                if true_at_start(b, self.session.machine)
                else ""
            )
            self.notify(f"Breakpoint {b.id}: {b.describe()}.{already}")
        elif not old.enabled:  # (a second one would only clutter the pane)
            self.session.enable_breakpoint(old.id)
            self.notify(f"Breakpoint {old.id} ({old.describe()}) is on again.")
        else:
            self.notify(f"Breakpoint {old.id} already stops there: {old.describe()}.")
        self.refresh_views()

    @on(BreakpointsPane.Toggle)
    def _toggle(self, event: BreakpointsPane.Toggle) -> None:
        if not self._guard():
            return
        if self.session.breakpoints.get(event.bid) is not None:
            self.session.toggle_breakpoint(event.bid)
        self.refresh_views()

    @on(BreakpointsPane.Delete)
    def _delete(self, event: BreakpointsPane.Delete) -> None:
        if not self._guard():
            return
        b = self.session.breakpoints.get(event.bid)
        if b is not None:
            self._removed.append(self.session.remove_breakpoint(event.bid))
        self.refresh_views()
        if b is not None:
            self.say(f"deleted breakpoint {b.id}: {b.describe()} — Ctrl+Z here puts it back")

    @on(BreakpointsPane.Undo)
    def _undo_delete(self) -> None:
        if not self._guard():
            return
        if not self._removed:
            self.say("no breakpoint deleted to put back", "bold #ffaf00")
            return
        b = self.session.restore_breakpoint(self._removed.pop())
        self.refresh_views()
        self.say(f"breakpoint {b.id} is back: {b.describe()}")

    @on(BreakpointsPane.Add)
    def _add(self) -> None:
        self.action_add_breakpoint()

    # ------------------------------------------------------- other panes
    @on(TimelinePane.Jump)
    def _timeline_jump(self, event: TimelinePane.Jump) -> None:
        self.goto(event.n)

    @on(ThreadsPane.Selected)
    def _select(self, event: ThreadsPane.Selected) -> None:
        self.pinned = True  # (the pane posts it only for the user's own moves)
        if event.index != self.selected:
            self.selected = event.index
            self.refresh_views()

    # -------------------------------------------------- policies, files
    def action_policy(self) -> None:
        if not self._guard():
            return
        options = [(p.name, p.name, p.description) for p in POLICY_LIST]
        self.app.push_screen(
            ChoiceDialog(
                "Validation policy (restarts at step 0; breakpoints stay)", options, self.session.scenario.policy
            ),
            lambda p: self.action_restart(policy=p) if p and p != self.session.scenario.policy else None,
        )

    def action_reuse(self) -> None:
        if not self._guard():
            return
        options = [(r.name, r.name, f"{r.releases}: {r.description}") for r in REUSE_LIST]
        self.app.push_screen(
            ChoiceDialog("COW reuse rule in do_wp_page (restarts at step 0)", options, self.session.scenario.reuse),
            lambda r: self.action_restart(reuse=r) if r and r != self.session.scenario.reuse else None,
        )

    def action_branches(self) -> None:
        if not self._guard():
            return
        s = self.session
        if not s.branches:
            self.say("there is only one timeline: step a different thread from the past to branch", "bold #ffaf00")
            return
        options = [(str(s.branch_id), f"branch {s.branch_id}", f"this one · {s.length} steps")]
        for b in s.branches:
            options.append((str(b.id), f"branch {b.id}", branch_note(b)))
        self.app.push_screen(
            ChoiceDialog("Switch branch", options, str(s.branch_id)),
            lambda bid: self.switch_branch(int(bid)) if bid and int(bid) != s.branch_id else None,
        )

    def action_open(self) -> None:
        if self._guard():
            self.spf.action_open()

    def action_save_schedule(self) -> None:
        """Save the schedule so far to a file you name (a taken name gets a number); a file
        that cannot be written keeps the dialog open with the path typed and the reason."""
        if not self._guard():
            return
        s = self.session
        stem = Path(s.scenario.path).stem if s.scenario.path else "session"

        def write(target: str) -> str:  # atomically, with the scenario's identity; never over a file
            check_target(target, NUMBER, "the schedule")
            return write_schedule(
                target, s.scenario, s.schedule_entries(s.position), f"saved by spftui at step {s.position}: {s.stop.text}",
                policy=s.scenario.policy, reuse=s.scenario.reuse, stop_at=s.position, exists=NUMBER,
            )  # fmt: skip

        def told(written: str) -> str:  # (the status line said what an earlier save or export wrote)
            self.say(f"saved the schedule to {home_path(written)}", "bold #87d7ff")
            return (
                f"Saved\n{toast_path(written, self.app.size.width)}\nOpen it at step {s.position} with:\n"
                + toast_command("spftui", written, self.app.size.width)
            )

        ask_where_to_save(
            self.app,
            f"Save the schedule up to step {s.position} as…",
            os.path.join(write_dir(), f"{stem}.step{s.position}.schedule.toml"),
            write,
            "A name that is taken gets a number.",
            told,
            "Schedule",
        )

    def show_exploration(self, r: Result) -> None:
        """The explorer finished: land on its counterexample, or report the verdicts."""
        cx = r.counterexample
        if cx is None:
            self.refresh_views()
            if r.stop == "interrupted":
                text = f"explorer interrupted after {r.states:,} states: no violation found so far"
            elif r.complete:
                text = f"explorer: no violation in {r.states:,} states (complete)"
            else:
                text = f"explorer: no violation in {r.states:,} states (bounded: stopped by {r.stop})"
            self.say(text, "bold #87d7ff" if r.stop != "interrupted" else "bold #ffaf00")
            self.notify(text, title="Explorer")
            return
        s = self.session
        before = s.branch_id

        def jump() -> None:
            # The counterexample becomes a branch of this timeline (or this timeline, from step 0);
            # the session keeps its strategy, so `r` and `p` run the scenario's own schedule again.
            if (r.policy, r.reuse) != (s.scenario.policy, s.scenario.reuse):
                s.restart(policy=r.policy, reuse=r.reuse)
            self.spf.generation += 1
            s.follow(cx.choices)
            self._travel(cx.stop_at)
            s.open_at(cx.stop_at, because="explorer counterexample", oracle=cx.kind)

        self._do(jump, tell_branch=False)  # (the narration's header says which branch it is)
        plural = "" if cx.preemptions == 1 else "s"
        verdict = r.verdicts.get(cx.kind, "sometimes")
        text = (
            f"explorer: {cx.kind} {verdict.capitalize()} — counterexample with "
            f"{cx.preemptions} preemption{plural}; at step {s.position}"
        )
        self.say(text, "bold #ff5f5f")
        where = (
            f"It is branch {s.branch_id}; branch {before} is kept (Ctrl+P: Switch branch)."
            if s.branch_id != before
            else "It is this timeline."
        )
        # No toast: at 80x24 one covered this screen and said what its header says.
        header = (
            f"{cx.kind} ({verdict}) under {r.policy}, reuse {r.reuse}: {cx.detail}\n"
            f"{cx.preemptions} preemption{plural}; the violation is at step {cx.stop_at}. {where} "
            "r and p run the scenario's own schedule; t rereads this."
        )
        self.narration = (f"Explorer: {cx.kind} at step {cx.stop_at}", header, cx.narration or text)
        self.action_narration()

    # --------------------------------------------------------- view keys
    def action_next_view(self) -> None:
        self._show_view(self.view_index + 1)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        target = self.source if focused is not None and self.source in focused.ancestors_with_self else focused
        if not isinstance(target, (Pane, SourcePane)):  # (the view tabs: maximizing them blanked the screen)
            self.say("put the focus on a pane to zoom it (Tab moves it)", "bold #ffaf00")
            return
        self.maximize(target, container=False)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        self.spf.request_quit()  # asks when there is unsaved work; interrupts a run first

    # ------------------------------------ sessions, bookmarks, narration (issue 13)
    def action_bookmark(self) -> None:
        """`m`: name the current step (`g` then takes the name)."""
        if not self._guard():
            return
        s = self.session
        pos = s.position

        def done(name: str | None) -> None:
            if name:
                s.add_bookmark(name, pos)
                self.notify(f"Bookmark {name!r} at step {pos}: g then {name} comes back here.", title="Bookmark")

        taken = ", ".join(f"{k} ({v})" for k, v in s.bookmarks.items())
        self.app.push_screen(
            PromptDialog(
                f"Bookmark step {pos} as",
                "a name such as lost_write",
                check=bookmark_name_problem,
                note=f"Bookmarks: {taken} (a name taken moves)" if taken else "g (go to) takes the name",
            ),
            done,
        )

    def action_save_session_as(self) -> None:
        """Ctrl+S: write the session (breakpoints, bookmarks, branches, step) to a file you name."""
        if self._guard():
            self.spf.save_session_as()

    def action_narration(self) -> None:
        """`t`: the explorer's narrated counterexample, or a narration of this run up to here."""
        if self.narration is not None:
            title, header, text = self.narration
        else:
            if not self._guard():
                return
            from ...engine.narrate import narrate

            s = self.session
            choices = [s.thread_at(i) for i in range(s.position)]
            title = f"This run, steps 1–{s.position}" if s.position else "This run"
            header = (
                f"{s.scenario.title} under {s.scenario.policy}, reuse {s.scenario.reuse} (e explores for a violation)"
            )
            text = narrate(s.scenario, choices)
        self.app.push_screen(NarrationScreen(title, text, header))

    # ------------------------------------------- why (y) and search (/, n, N)
    def action_why(self) -> None:
        """Explain the value under the cursor of the focused pane (tui/questions.py)."""
        from ..questions import Question, about_step, candidates, value

        if not self._guard():
            return
        s = self.session
        focused = self.focused
        if isinstance(focused, TimelinePane):
            index = focused.index_at(focused.cursor)
            q = about_step(s, index - 1, focused.step_events(index)) if index > 0 else None
            if q is None:
                self.say(
                    "nothing to explain on this row: pick a step that checks, aborts or writes a PTE", "bold #ffaf00"
                )
                return
            self._why(q)
            return
        expr = focused.watch_expr() if isinstance(focused, Pane) else None
        choices = candidates(s, expr) if expr is not None else []
        if not choices and s.position > 0:
            # Nothing under the cursor (the Source pane has the focus at start): the step just run,
            # as `y` on its timeline row explains it (a violation or abort it stopped at, first).
            panes = self.query(TimelinePane)
            q = about_step(s, s.position - 1, panes.first().step_events(s.position)) if panes else None
            if q is not None:
                self._why(q)
                return
        if not choices:
            self.say(
                "put the cursor on a value (a PTE, a frame, a seqcount, a VMA, a thread in a fault) or a timeline step",
                "bold #ffaf00",
            )
            return
        if len(choices) == 1:
            self._why(
                Question(f"why {choices[0]} = {value(s, choices[0])} at step {s.position}", s.position, choices[0])
            )
            return
        options = [(c, f"{c} = {value(s, c)}", "") for c in choices]

        def chosen(c: str | None) -> None:
            if c:
                self._why(Question(f"why {c} = {value(s, c)} at step {s.position}", s.position, c))

        self.app.push_screen(ChoiceDialog("Why… which value?", options), chosen)

    def _why(self, q: Any) -> None:
        from ..questions import answer
        from .why import WhyScreen

        causes, problem = answer(self.session, q)
        self.app.push_screen(WhyScreen(q.title, causes, problem), lambda n: self.goto(n) if n is not None else None)

    def _timeline(self) -> TimelinePane:
        return next(p for p in self.panes if isinstance(p, TimelinePane))  # (a query misses a zoomed-out pane)

    def action_search(self) -> None:
        from .search import SearchDialog

        timeline = self._timeline()
        current = timeline.search.text if timeline.search is not None else ""

        def done(q: Any) -> None:
            if q is None or not self._guard():
                return
            timeline.set_query(q or None)
            if q:
                self._show_view(VIEWS.index("g-trace"))
                if not timeline.hits:
                    hint = q.hint(self.session.names, EVENT_KINDS)
                    self.say(f"/{q.text}: no step matches" + (f" — {hint}" if hint else ""), "bold #ffaf00")
                elif self.session.position not in timeline.hits:
                    self.action_search_next(1)  # (the timeline's title counts the hits)

        self.app.push_screen(SearchDialog(current), done)

    def action_search_next(self, direction: int) -> None:
        if not self._guard():
            return
        timeline = self._timeline()
        if timeline.search is None:
            self.say("no search: press / to search the timeline", "bold #ffaf00")
            return
        pos, every = self.session.position, timeline.hits
        if not every:
            self.say(f"/{timeline.search.text}: no step matches", "bold #ffaf00")
            return
        hits = [h for h in every if (h > pos if direction > 0 else h < pos)]
        if hits:
            self.goto(hits[0] if direction > 0 else hits[-1])
            return
        self.goto(every[0] if direction > 0 else every[-1])  # wrap around, as vim's n does
        self.say(f"/{timeline.search.text}: wrapped to the {'first' if direction > 0 else 'last'} hit", "bold #87d7ff")

    # --------------------------------------- one thread alone: run to cursor (u), finish (f)
    def action_run_to_cursor(self) -> None:
        """`u`: the selected thread (the Source pane's title names it) runs alone until its next
        step is the source line under the cursor (gdb's advance); on the line it is at, until it
        comes back to it (a loop's next pass), as the engine's `run_thread_until` runs."""
        if not self._guard():
            return
        s = self.session
        index, label = self.selected, self.source.selected_label()
        name = s.names[index]
        if label is None:
            self.say("put the source cursor on a step: u runs the selected thread to it", "bold #ffaf00")
            return
        if self._finished(index):
            return
        self._run_thread(f"run of {name} to {label}", lambda **kw: s.run_thread_until(index, label, **kw))

    def action_finish(self) -> None:
        """`f`: the selected thread runs alone until its fault returns, else its operation completes."""
        if not self._guard():
            return
        s, index = self.session, self.selected
        if self._finished(index):
            return
        self._run_thread(f"finish of {s.names[index]}", lambda **kw: s.finish(index, **kw))

    def _finished(self, index: int) -> bool:
        """Whether thread `index` has nothing left to run (then say which other thread to select)."""
        s = self.session
        if s.next_label(index):
            return False
        others = [n for i, n in enumerate(s.names) if i != index and s.next_label(i)]
        if others:
            self.say(
                f"{s.names[index]} has finished: select another thread for u and f (click it in Threads, "
                f"or Shift+Tab there and ↑/↓, or its digit key) — not finished: {', '.join(others)}",
                "bold #ffaf00",
            )
        else:
            self.say("every thread has finished: nothing is left to run", "bold #ffaf00")
        return True

    def _run_thread(self, kind: str, run: Callable[..., StopReason]) -> None:
        """A one-thread run, in the background as `c` is (it may be long: a thread's ops repeat)."""
        self._begin(kind)
        self._thread_worker(kind, run)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _thread_worker(self, kind: str, run: Callable[..., StopReason]) -> None:
        s = self.session
        branch, branches = s.branch_id, len(s.branches)
        try:
            with ui_keeps_the_gil():
                stop = run(interrupted=self.interrupt.is_set, progress=self._progress)
        except Exception as err:  # an engine bug must not take the debugger down
            self.post_message(RunFinished(kind, None, err))
            return
        old = next((b for b in s.branches if b.id == branch), None)
        if len(s.branches) > branches and old is not None:  # (notify is thread-safe), as a thread key tells it
            self.notify(
                f"New branch {s.branch_id} leaves at step {old.at + 1}; the old future is kept as branch {branch}.",
                title="Branched",
            )
        self.post_message(RunFinished(kind, stop))
