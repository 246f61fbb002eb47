"""A monkey: thousands of random keys and clicks from a seeded RNG.

Nothing may raise, and afterwards the session must still be consistent: its
position within its timeline, and its machine equal to a fresh replay of the
same steps. Events are posted straight into the app's queue (Pilot's
per-key idle waits would make a few thousand presses take minutes) and the
queue is drained every few events.
"""

from __future__ import annotations

import asyncio
import random

from textual import events
from textual.geometry import Offset
from textual.pilot import _get_mouse_message_arguments
from textual.worker import WorkerState
from tui_helpers import SEED, drain, post_key

from spftui.engine.schedule import Fixed
from spftui.engine.session import Session
from spftui.tui.app import SpftuiApp

KEYS = (
    # the debugger's keys, weighted towards moving through time
    *"sssssss123SSSccCCgbwBpkrovz?",
    "escape", "enter", "tab", "shift+tab", "up", "down", "pageup", "pagedown", "home", "end",
    "space", "delete", "left", "right", "backspace",
    # and a little typing for the dialogs
    *"0123456789+-aexyA.[]_ ",
)  # fmt: skip


def _click(app: SpftuiApp, x: int, y: int, chain: int) -> None:
    screen = app.screen
    args = _get_mouse_message_arguments(screen, (x, y))
    app.mouse_position = Offset(x, y)
    for cls in (events.MouseDown, events.MouseUp):
        screen._forward_event(cls(**args))
    screen._forward_event(events.Click(**args, chain=chain))


async def _quiet(app: SpftuiApp) -> None:
    """Wait until no background run is in flight (other widgets' workers may live on)."""
    for _ in range(600):
        if not any(w.group == "run" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers):
            break
        await asyncio.sleep(0.05)
    await drain(app, 0.2)


async def test_random_keys_and_clicks_leave_the_session_consistent(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # nothing the monkey does may write into the repository
    rng = random.Random(20210430)
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for size, count in (((120, 40), 1400), ((80, 24), 600)):
            await pilot.resize_terminal(*size)
            await drain(app)
            for i in range(count):
                if rng.random() < 0.85:
                    post_key(app, rng.choice(KEYS))
                else:
                    # Not the top row (the header's icon opens the palette) nor the footer (its `q` quits).
                    _click(app, rng.randrange(size[0]), rng.randrange(1, size[1] - 1), 1 + (rng.random() < 0.2))
                if i % 8 == 7:
                    await drain(app, 0.2)
                if i % 200 == 199:
                    await _quiet(app)
        await _quiet(app)
        await _quiet(app)
        s = app.session
        assert s is not None
        assert 0 <= s.position <= s.length
        snap = s.machine.snapshot()
        fresh = Session(s.scenario, strategy=Fixed([s.thread_at(i) for i in range(s.position)]))
        fresh.run(limit=s.position)
        assert fresh.position == s.position
        assert fresh.machine.snapshot() == snap
        pos = s.position
        s.goto(0)
        s.goto(pos)
        assert s.machine.snapshot() == snap
