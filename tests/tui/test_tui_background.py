"""A long continue runs in a worker: the UI stays live, shows progress, and Esc stops it."""

from __future__ import annotations

import asyncio

from tui_helpers import post_key, press, settle

from spftui.scenario import parse_scenario
from spftui.tui.app import SpftuiApp
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
ops = ["write 0x102000 2", "read 0x100000"]
repeat = 100000
"""


async def test_escape_interrupts_a_long_continue_and_the_ui_stays_live() -> None:
    app = SpftuiApp(parse_scenario(LONG))
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        assert session is not None
        for b in list(session.breakpoints.items):
            session.breakpoints.remove(b.id)
        post_key(app, "c")
        await asyncio.sleep(0.3)  # the run is going; the app keeps handling keys
        post_key(app, "s")  # refused while it runs: a sentence, not a crash
        await asyncio.sleep(0.3)
        status = str(app.screen.query_one(StatusLine).content)
        assert "continue" in status
        assert app.screen.busy == "continue"
        post_key(app, "escape")
        await settle(pilot)
        assert session.stop.kind == "interrupted"
        assert 0 < session.position == session.length
        assert "interrupted at step" in str(app.screen.query_one(StatusLine).content)
        await press(pilot, "S")  # and it is a normal session again
        assert session.position == session.length - 1
