"""A long continue runs in a worker: the UI stays live, shows progress, and Esc stops it."""

from __future__ import annotations

import sys

from textual.pilot import Pilot
from tui_helpers import drain, post_key, press, run_workers

from spftui.scenario import parse_scenario
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.background import UI_SWITCH_INTERVAL
from spftui.tui.widgets.status import StatusLine

LONG = """\
title = "two threads, many loops"
policy = "spf-mm-seq"

[[process]]
name = "P"
  [[process.mapping]]
  start = 0x100000
  pages = 8
  populate = true

[[thread]]
name = "T0"
process = "P"
ops = ["write 0x100000 1", "read 0x101000", "mprotect 0x102000 1p r", "mprotect 0x102000 1p rw"]
repeat = 100000

[[thread]]
name = "T1"
process = "P"
ops = ["write 0x103000 2", "read 0x102000"]  # reads survive the mprotect to r; a write would be SIGSEGV
repeat = 100000
"""


async def _until_progress(pilot: Pilot, said: list[str], word: str = "steps/s") -> None:  # type: ignore[type-arg]
    """Wait (by handling the app's queue, not by sleeping a fixed time) for the run's first progress report."""
    for _ in range(500):
        if any(word in text for text in said):
            return
        await pilot.pause(0.01)
    raise AssertionError(f"no progress report; status said {said}")


async def test_escape_interrupts_a_long_continue_and_the_ui_stays_live() -> None:
    app = SpftuiApp(parse_scenario(LONG))
    default_interval = sys.getswitchinterval()
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        assert session is not None
        for b in list(session.breakpoints.items):
            session.breakpoints.remove(b.id)
        status = app.screen.query_one(StatusLine)
        said: list[str] = []
        shown = status.message
        status.message = lambda text, style="": (said.append(text), shown(text, style))  # type: ignore[method-assign]
        post_key(app, "c")
        await _until_progress(pilot, said)  # the worker runs and the UI thread handles its reports
        # The engine never blocks: the UI thread can only take the GIL back quickly at a short switch interval.
        assert sys.getswitchinterval() <= UI_SWITCH_INTERVAL
        post_key(app, "s")  # refused while it runs: a sentence, not a crash
        await drain(app)
        assert any("the continue is still running — press Esc" in text for text in said)
        assert app.screen.busy == "continue"
        (worker,) = run_workers(app)
        post_key(app, "escape")
        await drain(app)
        seen = session.position  # the flag is set now: the engine stops at its next check (every 512 steps)
        await worker.wait()
        await pilot.pause()
        assert session.stop.kind == "interrupted"
        assert 0 < session.position == session.length <= seen + 512
        assert "interrupted at step" in str(status.content)
        assert sys.getswitchinterval() == default_interval
        await press(pilot, "S")  # and it is a normal session again
        assert session.position == session.length - 1


async def test_a_step_during_explore_says_why_and_the_progress_does_not_hide_it_at_once() -> None:
    app = SpftuiApp(parse_scenario(LONG))
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.screen.query_one(StatusLine)
        said: list[str] = []
        shown = status.message
        status.message = lambda text, style="": (said.append(text), shown(text, style))  # type: ignore[method-assign]
        post_key(app, "e")
        await _until_progress(pilot, said, "states")
        post_key(app, "s")
        await drain(app)
        assert said[-1] == "the explore is still running — press Esc to interrupt it"
        await pilot.pause(0.5)  # several progress reports come meanwhile
        assert said[-1] == "the explore is still running — press Esc to interrupt it"
        assert app.session is not None and app.session.position == 0
        post_key(app, "escape")
        for worker in run_workers(app):
            await worker.wait()
        await drain(app)
