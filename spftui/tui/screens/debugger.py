"""The debugger screen: the panes, the keys, and the background run.

Keys follow gdb's TUI single-key mode (s, c, and upper case for reverse).
Every session call happens here, on the UI thread, except `continue` and
reverse-continue, which run in a thread worker that only posts messages; while
one runs, the panes keep showing the state from before it and every other
session command is refused with a sentence in the status line.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Tab, Tabs

from ...engine.session import Session, SessionError, StopReason
from ...kernel.policies import DESCRIPTIONS
from ...scenario import dump_schedule
from ...scenario.model import POLICIES, REUSE_RULES
from ..recent import Recent
from ..view import View
from ..widgets.breakpoints import BreakpointsPane
from ..widgets.frames import FramesPane
from ..widgets.mm import MmPane
from ..widgets.pagetables import PtePane
from ..widgets.pane import Pane
from ..widgets.source import SourcePane
from ..widgets.status import StatusLine
from ..widgets.threads import ThreadsPane
from ..widgets.timeline import TimelinePane
from .breakpoint import BreakpointDialog
from .choice import ChoiceDialog
from .goto import GotoDialog
from .help import HelpScreen

if TYPE_CHECKING:
    from ..app import SpftuiApp

REUSE_DESCRIPTIONS = {
    "mapcount": "≤ 5.8: reuse when mapcount + swapcount ≤ 1 (extra references ignored)",
    "page-count": "5.9–5.17: reuse only when page_count == 1",
    "anon-exclusive": "5.18+: reuse when PageAnonExclusive",
}

VIEWS = ("g-code", "g-memory", "g-trace")
NARROW_WIDTH = 100
NARROW_HEIGHT = 30


class RunProgress(Message):
    """A background run reached step `position` (newer replaces older)."""

    def __init__(self, position: int) -> None:
        super().__init__()
        self.position = position

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgress)


class RunFinished(Message):
    """A background run ended (with its stop reason, or the error it raised)."""

    def __init__(self, kind: str, stop: StopReason | None, error: BaseException | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.stop = stop
        self.error = error


class DebuggerScreen(Screen[None]):
    """The main screen."""

    BINDINGS = [
        Binding("s", "step", "Step"),
        Binding("1", "step_thread(0)", "Thread", key_display="1-9"),
        *[Binding(str(k), f"step_thread({k - 1})", f"Step thread {k}", show=False) for k in range(2, 10)],
        Binding("c", "continue", "Cont"),
        Binding("S", "back", "Back"),
        Binding("C", "reverse", "RevCont"),
        Binding("g", "goto", "Goto"),
        Binding("b", "toggle_breakpoint", "Break"),
        Binding("w", "watch", "Watch"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("p", "policy", "Policy"),
        Binding("r", "restart", "Restart"),
        Binding("o", "open", "Open"),
        Binding("v", "next_view", "View"),
        Binding("B", "add_breakpoint", "Add breakpoint", show=False),
        Binding("k", "reuse", "Reuse rule", show=False),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("escape", "interrupt", "Interrupt", show=False),
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected = 0
        self.recent = Recent()
        self.busy: str | None = None
        self.interrupt = threading.Event()
        self.run_started = 0.0
        self.run_from = 0
        self.view_index = 0
        self.narrow = False
        self.shown_generation = -1

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
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Kept, not queried each time: a query misses widgets while one pane is zoomed.
        self.status = self.query_one(StatusLine)
        self.source = self.query_one(SourcePane)
        self.panes = list(self.query(Pane))
        self.groups = {gid: self.query_one(f"#{gid}") for gid in VIEWS}
        self.tabs = self.query_one("#views", Tabs)
        self.footer = self.query_one(Footer)
        self.first_pane = {gid: self.groups[gid].query(Pane).first() for gid in VIEWS}
        self._apply_layout(self.app.size.width, self.app.size.height)
        self.refresh_views(follow=True)
        self.source.listing.focus()

    def on_resize(self, event: Any) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        narrow = width < NARROW_WIDTH or height < NARROW_HEIGHT
        self.narrow = narrow
        self.set_class(narrow, "narrow")
        # Narrow: the keys need the whole footer (Ctrl+P is in the help screen).
        self.footer.show_command_palette = not narrow
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
        if follow and s.position > 0:
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

    def say(self, text: str, style: str = "bold #ff5f5f") -> None:
        self.status.message(text, style)

    def _guard(self) -> bool:
        """False (and a sentence) while a background run owns the session."""
        if self.busy:
            self.say(f"a {self.busy} is running — press Esc to interrupt it", "bold #ffaf00")
            return False
        return True

    def _do(self, fn: Callable[[], object], follow: bool = True) -> None:
        """Run a session command; report a refusal instead of raising."""
        if not self._guard():
            return
        s = self.session
        branch = s.branch_id
        try:
            fn()
        except SessionError as err:
            self.refresh_views()
            self.say(str(err))
            return
        self.refresh_views(follow=follow)
        if s.branch_id != branch and s.branches:
            self.notify(
                f"New branch {s.branch_id} starts at step {s.position - 1}; the old future is kept as branch {branch}.",
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
        self._do(lambda: self.session.step(index))

    def action_back(self) -> None:
        if self.session.position == 0 and self._guard():
            self.say("already at the start: nothing to step back over", "bold #ffaf00")
            return
        self._do(lambda: self.session.back(1))

    def goto(self, n: int) -> None:
        self._do(lambda: self.session.goto(n))

    def action_goto(self) -> None:
        if not self._guard():
            return
        s = self.session
        self.app.push_screen(GotoDialog(s.position, s.length), lambda n: self.goto(n) if n is not None else None)

    def action_restart(self, policy: str | None = None, reuse: str | None = None) -> None:
        if not self._guard():
            return
        self.session.restart(policy=policy, reuse=reuse)
        self.spf.generation += 1
        self.refresh_views(follow=True)

    def switch_branch(self, bid: int) -> None:
        self._do(lambda: self.session.switch_branch(bid))

    # ------------------------------------------------------ background runs
    def action_continue(self) -> None:
        self._start("continue")

    def action_reverse(self) -> None:
        self._start("reverse-continue")

    def _start(self, kind: str) -> None:
        if not self._guard():
            return
        self.busy = kind
        self.interrupt.clear()
        self.run_started = time.perf_counter()
        self.run_from = self.session.position
        self.say(f"{kind}… (Esc interrupts)", "bold #87d7ff")
        self._run(kind)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _run(self, kind: str) -> None:
        s = self.session
        try:
            if kind == "continue":
                stop = s.continue_(interrupted=self.interrupt.is_set, progress=lambda p: self.post_message(RunProgress(p)))
            else:
                stop = s.reverse_continue(interrupted=self.interrupt.is_set)
        except Exception as err:  # an engine bug must not take the debugger down
            self.post_message(RunFinished(kind, None, err))
            return
        self.post_message(RunFinished(kind, stop))

    def on_run_progress(self, message: RunProgress) -> None:
        if not self.busy:
            return
        elapsed = max(time.perf_counter() - self.run_started, 1e-6)
        rate = (message.position - self.run_from) / elapsed
        self.say(f"{self.busy}… step {message.position:,} · {rate:,.0f} steps/s · Esc interrupts", "bold #87d7ff")

    def on_run_finished(self, message: RunFinished) -> None:
        self.busy = None
        self.refresh_views(follow=True)
        if message.error is not None:
            self.say(f"the {message.kind} failed: {message.error!r}")

    def action_interrupt(self) -> None:
        if self.busy:
            self.interrupt.set()
            self.say(f"interrupting the {self.busy}…", "bold #ffaf00")
            return
        if self.maximized is not None:
            self.minimize()
            return
        raise SkipAction()

    # --------------------------------------------------------- breakpoints
    def action_toggle_breakpoint(self) -> None:
        if not self._guard():
            return
        label = self.source.selected_label()
        if label is None:
            self.say("put the source cursor on a step to set a breakpoint there", "bold #ffaf00")
            return
        bps = self.session.breakpoints
        existing = [b for b in bps.items if b.kind == "step" and b.match == label]
        if existing:
            for b in existing:
                bps.remove(b.id)
            self.notify(f"Removed the breakpoint at {label}.")
        else:
            b = bps.add("step", match=label)
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

    def action_add_breakpoint(self, kind: str = "abort", match: str = "", expr: str = "") -> None:
        if not self._guard():
            return
        self.app.push_screen(
            BreakpointDialog(list(self.session.names), kind=kind, match=match, expr=expr),
            lambda values: self.add_breakpoint(values) if values else None,
        )

    def add_breakpoint(self, values: dict[str, Any]) -> None:
        if not self._guard():
            return
        kind = values.pop("kind")
        try:
            b = self.session.breakpoints.add(kind, **values)
        except Exception as err:  # the dialog validates; this is belt and braces
            self.say(f"cannot add that breakpoint: {err}")
            return
        self.session.breakpoints.prime(self.session.machine)
        self.notify(f"Breakpoint {b.id}: {b.describe()}.")
        self.refresh_views()

    @on(BreakpointsPane.Toggle)
    def _toggle(self, event: BreakpointsPane.Toggle) -> None:
        if not self._guard():
            return
        b = self.session.breakpoints.get(event.bid)
        if b is not None:
            b.enabled = not b.enabled
        self.refresh_views()

    @on(BreakpointsPane.Delete)
    def _delete(self, event: BreakpointsPane.Delete) -> None:
        if not self._guard():
            return
        self.session.breakpoints.remove(event.bid)
        self.refresh_views()

    @on(BreakpointsPane.Add)
    def _add(self) -> None:
        self.action_add_breakpoint()

    # ------------------------------------------------------- other panes
    @on(TimelinePane.Jump)
    def _jump(self, event: TimelinePane.Jump) -> None:
        self.goto(event.n)

    @on(ThreadsPane.Selected)
    def _select(self, event: ThreadsPane.Selected) -> None:
        if event.index != self.selected:
            self.selected = event.index
            self.refresh_views()

    # -------------------------------------------------- policies, files
    def action_policy(self) -> None:
        if not self._guard():
            return
        options = [(p, p, DESCRIPTIONS.get(p, "")) for p in POLICIES]
        self.app.push_screen(
            ChoiceDialog("Validation policy (restarts at step 0; breakpoints stay)", options, self.session.scenario.policy),
            lambda p: self.action_restart(policy=p) if p else None,
        )

    def action_reuse(self) -> None:
        if not self._guard():
            return
        options = [(r, r, REUSE_DESCRIPTIONS.get(r, "")) for r in REUSE_RULES]
        self.app.push_screen(
            ChoiceDialog("COW reuse rule in do_wp_page (restarts at step 0)", options, self.session.scenario.reuse),
            lambda r: self.action_restart(reuse=r) if r else None,
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
            options.append((str(b.id), f"branch {b.id}", f"leaves at step {b.at} · {len(b.choices)} steps · {len(b.marks)} marks"))
        self.app.push_screen(
            ChoiceDialog("Switch branch", options, str(s.branch_id)),
            lambda bid: self.switch_branch(int(bid)) if bid and int(bid) != s.branch_id else None,
        )

    def action_open(self) -> None:
        if self._guard():
            self.spf.action_open()

    def action_save_schedule(self) -> None:
        if not self._guard():
            return
        s = self.session
        stem = Path(s.scenario.path).stem if s.scenario.path else "session"
        target = Path.cwd() / f"{stem}.step{s.position}.schedule.toml"
        text = dump_schedule(s.schedule_entries(s.position), s.scenario.path or None, f"saved by spftui at step {s.position} under {s.scenario.policy}")
        try:
            target.write_text(text)
        except OSError as err:
            self.say(f"cannot write {target}: {err.strerror or err}")
            return
        self.notify(f"Saved {target.name}: replay it with --schedule.", title="Schedule saved")

    def action_explore(self) -> None:
        """Hand the scenario to the interleaving explorer (a later change fills this in)."""
        self.notify("The explorer is not wired into the TUI yet.", severity="warning")

    # --------------------------------------------------------- view keys
    def action_next_view(self) -> None:
        self._show_view(self.view_index + 1)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        target = focused.parent if focused is not None and focused.id == "source-view" else focused
        if target is not None:
            self.maximize(target, container=False)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        self.interrupt.set()
        self.app.exit(0)
