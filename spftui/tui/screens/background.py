"""Long runs (continue, reverse-continue) in a thread worker.

The worker only calls the session and posts messages; the UI stays live,
shows progress (steps and steps/s) and can interrupt it (Esc, Ctrl+C). While
a run is in flight `busy` names it and every other session command is refused.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from textual import work
from textual.actions import SkipAction
from textual.message import Message
from textual.screen import Screen

from ...engine.describe import counted
from ...engine.narrate import estimate_text
from ...engine.session import StopReason

if TYPE_CHECKING:
    from ...engine.explorer import Progress
    from ...engine.narrate import Result
    from ...engine.session import Session
    from ...scenario.model import Scenario


PROGRESS_EVERY = 0.1
"""Seconds between two progress reports of a run (the engine offers one every 512 steps)."""

REFUSAL_SHOWN = 3.0
"""Seconds a refused key's sentence stays before the run's progress comes back over it."""

RUN_TO_END = "run to the end"
"""The background run of `g end`: on to the run's end (all threads finished, or a deadlock)."""

UI_SWITCH_INTERVAL = 0.001
"""CPython's GIL switch interval while a worker runs the engine (the default is 5 ms)."""


@contextmanager
def ui_keeps_the_gil() -> Iterator[None]:
    """Let the UI thread take the GIL back quickly while the engine runs in a worker.

    The engine never blocks, so on an idle multi-core machine it holds the GIL
    all the time, and the UI thread, which gives the GIL up at every `select()`
    of its event loop, waits a whole switch interval each time it wants it
    back. At the default 5 ms a key press took seconds to get through Textual's
    queues: Esc did not interrupt a continue before it ran to the end (on a
    loaded machine the OS preempts the worker and hides this). At 1 ms Esc
    is handled within milliseconds.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, UI_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


class RunProgress(Message):
    """A background run reached step `position` (newer replaces older)."""

    def __init__(self, position: int) -> None:
        super().__init__()
        self.position = position

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgress)


class RunFinished(Message):
    """A background run ended (with its stop reason, or the error it raised); `passed`: the
    steps where a breakpoint fired that a `g` past the recorded end went on over."""

    def __init__(
        self, kind: str, reason: StopReason | None, error: BaseException | None = None, passed: tuple[int, ...] = ()
    ) -> None:
        super().__init__()
        self.kind = kind
        self.reason = reason  # (not `stop`: Message.stop() stops a message bubbling)
        self.error = error
        self.passed = passed


def run_on_over_breakpoints(
    s: Session,
    target: int | None,
    interrupted: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[StopReason, tuple[int, ...]]:
    """`s.run_on(target)` (None: the run's end), and the steps where a breakpoint fired on
    the way. `g` is a jump, as gdb's `jump`: it does not stop there, but says what it went
    over. Each is a hit, as gdb counts a hit its ignore count skips; only steps run for the first
    time count: the recorded ones are gone over as `g N` within them goes (no hits, nothing said),
    so `g end` and `g N` to the same step agree however often they are repeated."""
    passed: list[int] = []
    s.goto(s.length)  # (the recorded end: a jump, as within the timeline)
    if s.breakpoints.active():
        while True:
            room = None if target is None else target - s.position - 1  # the last step: run_on's
            if room is not None and room <= 0:
                break
            stop = s.continue_(room, interrupted, progress)
            if stop.kind != "breakpoint":
                if stop.kind == "limit":
                    break
                return stop, tuple(passed)  # the run's end, or interrupted
            passed.append(stop.step)
    return s.run_on(target, interrupted, progress), tuple(passed)


class ExploreProgress(Message):
    """The explorer reported progress (newer replaces older)."""

    def __init__(self, report: Progress) -> None:
        super().__init__()
        self.report = report

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ExploreProgress)


class ExploreFinished(Message):
    """The explorer ended (with its result, or the error it raised)."""

    def __init__(self, result: Result | None, error: BaseException | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class BackgroundRuns(Screen[None]):
    """The debugger screen's base: runs the session off the UI thread."""

    @property
    def session(self) -> Session:
        raise NotImplementedError

    def refresh_views(self, follow: bool = False) -> None:
        raise NotImplementedError

    def say(self, text: str, style: str = "bold #ff5f5f") -> None:
        raise NotImplementedError

    def init_runs(self) -> None:
        self.busy: str | None = None
        self.run_target: int | None = 0  # the step a "run on" goes to (None: the run's end)
        self.interrupt = threading.Event()
        self.run_started = 0.0
        self.run_from = 0
        self.next_progress = 0.0
        self.refused_at = -REFUSAL_SHOWN  # when a key was refused during a run (the sentence stays a while)

    def action_continue(self) -> None:
        self._start("continue")

    def action_reverse(self) -> None:
        self._start("reverse-continue")

    def run_on(self, step: int | None) -> None:
        """Go to a step past the recorded end, or (None) to the run's end: run on (the schedule,
        else the strategy), no breakpoint stopping it, as `spftui SCENARIO --goto N` does
        (Esc interrupts)."""
        self.run_target = step
        self._start(f"run on to step {step:,}" if step is not None else RUN_TO_END)

    def _guard(self) -> bool:
        """False (and a sentence) while a background run owns the session."""
        if self.busy:
            self.say(f"the {self.busy} is still running — press Esc to interrupt it", "bold #ffaf00")
            # The run's progress (several a second) would overwrite this at once: it waits.
            self.refused_at = time.perf_counter()
            return False
        return True

    def _progress_shown(self) -> bool:
        """Whether a progress line may replace the status now (not just after a refused key)."""
        return time.perf_counter() - self.refused_at >= REFUSAL_SHOWN

    def _start(self, kind: str) -> None:
        if not self._guard():
            return
        self._begin(kind)
        self._run(kind)

    def _begin(self, kind: str) -> None:
        """A background run of `kind` owns the session from now until it ends."""
        self.busy = kind
        self.interrupt.clear()
        self.run_started = time.perf_counter()
        self.run_from = self.session.position
        self.next_progress = 0.0
        self.say(f"{kind}… (Esc interrupts)", "bold #87d7ff")

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _run(self, kind: str) -> None:
        s = self.session
        passed: tuple[int, ...] = ()
        try:
            with ui_keeps_the_gil():
                if kind == "continue":
                    stop = s.continue_(interrupted=self.interrupt.is_set, progress=self._progress)
                elif kind.startswith("run on") or kind == RUN_TO_END:
                    stop, passed = run_on_over_breakpoints(s, self.run_target, self.interrupt.is_set, self._progress)
                else:
                    stop = s.reverse_continue(interrupted=self.interrupt.is_set)
        except Exception as err:  # an engine bug must not take the debugger down
            self.post_message(RunFinished(kind, None, err))
            return
        self.post_message(RunFinished(kind, stop, passed=passed))

    def _progress(self, position: int) -> None:
        """Called in the worker thread: only post, and only a few times a second.

        Every report costs the UI thread a repaint of the status line, time the
        worker then waits for; hundreds a second halved a continue's speed.
        """
        now = time.monotonic()
        if now >= self.next_progress:
            self.next_progress = now + PROGRESS_EVERY
            self.post_message(RunProgress(position))

    def on_run_progress(self, message: RunProgress) -> None:
        if not self.busy or not self._progress_shown():
            return
        elapsed = max(time.perf_counter() - self.run_started, 1e-6)
        rate = (message.position - self.run_from) / elapsed
        self.say(f"{self.busy}… step {message.position:,} · {rate:,.0f} steps/s · Esc interrupts", "bold #87d7ff")

    def on_run_finished(self, message: RunFinished) -> None:
        self.busy = None
        # A long run leaves many checkpoints (tuples that live as long as the
        # session): keep the cyclic GC from re-walking them on every collection,
        # which otherwise shows up as 100 ms pauses in later steps and jumps.
        gc.freeze()
        self.refresh_views(follow=True)
        if message.error is not None:
            self.say(f"the {message.kind} failed: {message.error!r}")
        elif message.kind.startswith("run on") and self.run_target is not None:
            # (reaching the step, the stop says "went on to step N" itself)
            reason, pos = message.reason, self.session.position
            if pos < self.run_target and reason is not None and reason.kind != "interrupted":
                self.notify(f"the run ends after step {pos}: there is no step {self.run_target}")
        if message.passed and message.reason is not None:
            n = len(message.passed)
            steps = ", ".join(str(k) for k in message.passed[:3]) + (", …" if n > 3 else "")
            self.say(
                f"{message.reason.text} · passed {counted(n, 'breakpoint stop')} (step{'s' if n > 1 else ''} {steps}): "
                "g jumps, c stops at them",
                "bold #ffaf00",
            )

    # ------------------------------------------------------------ explorer
    def action_explore(self) -> None:
        """Run the interleaving explorer on the loaded scenario (Esc interrupts)."""
        if not self._guard():
            return
        self.busy = "explore"
        self.interrupt.clear()
        self.run_started = time.perf_counter()
        self.say("exploring interleavings… (Esc interrupts)", "bold #87d7ff")
        self._explore(self.session.scenario)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _explore(self, scenario: Scenario) -> None:
        from ...engine.explorer import explore

        try:
            with ui_keeps_the_gil():
                r = explore(
                    scenario,
                    scenario.policy,
                    scenario.reuse,
                    first=True,
                    progress=lambda p: self.post_message(ExploreProgress(p)),
                    cancelled=self.interrupt.is_set,
                )
        except Exception as err:  # an engine bug must not take the debugger down
            self.post_message(ExploreFinished(None, err))
            return
        self.post_message(ExploreFinished(r))

    def on_explore_progress(self, message: ExploreProgress) -> None:
        if self.busy != "explore" or not self._progress_shown():
            return
        p = message.report
        rate = p.states / max(p.seconds, 1e-6)
        estimate = estimate_text(p)
        # One line (the status pads it and puts "■ " before it): the rate gives way
        # first, then the phase's name, then the estimate.
        for phase, speed, guess in ((1, 1, 1), (1, 0, 1), (0, 0, 1), (0, 0, 0)):
            parts = [
                f"exploring{f' ({p.phase})' if phase else ''}… {p.states:,} states",
                f"{rate:,.0f} states/s" if speed else "",
                estimate if guess else "",
                "Esc interrupts",
            ]
            line = " · ".join(x for x in parts if x)
            if len(line) <= self.app.size.width - 4:
                break
        self.say(line, "bold #87d7ff")

    def on_explore_finished(self, message: ExploreFinished) -> None:
        self.busy = None
        if message.error is not None or message.result is None:
            self.refresh_views()
            self.say(f"the explorer failed: {message.error!r}")
            return
        self.show_exploration(message.result)

    def show_exploration(self, r: Result) -> None:
        raise NotImplementedError

    def on_unmount(self) -> None:
        # The app is closing (a palette Quit, the terminal gone): a run left
        # going would keep the process alive until it ends on its own.
        self.interrupt.set()

    def action_interrupt(self) -> None:
        if self.busy:
            self.interrupt.set()
            self.say(f"interrupting the {self.busy}…", "bold #ffaf00")
            return
        if self.maximized is not None:
            self.minimize()
            return
        raise SkipAction()
