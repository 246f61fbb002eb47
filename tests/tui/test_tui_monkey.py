"""A monkey: random keys and clicks from a seeded RNG, at 120x40 and 80x24.

Every debugger binding (but `q`), Ctrl+P with the keys the palette takes, and
the paging keys are pressed at each size, then random ones. Nothing may
raise, and afterwards the session must still be consistent: its position
within its timeline, and its machine equal to a fresh replay of the same
steps. The quick run presses a few hundred events per size; the slow run
(`pytest -m slow tests/tui/test_tui_monkey.py`) 2,000 from each of three
seeds. Events are posted straight into the app's queue (Pilot's per-key idle
waits would make a thousand presses take minutes) and the queue is drained
every few events.
"""

from __future__ import annotations

import random

import pytest
from tui_helpers import SEED, drain, post_click, post_key, settle

from spftui.engine.schedule import Fixed
from spftui.engine.session import Session
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.debugger import DebuggerScreen

pytestmark = pytest.mark.every_frame  # a widget whose render raises on some random state is caught here

BINDINGS = sorted({k.strip() for b in DebuggerScreen.BINDINGS for k in b.key.split(",")} - {"q"})  # type: ignore[union-attr]
PAGING = ["pageup", "pagedown", "home", "end", "ctrl+home", "ctrl+end"]
MUST = [*BINDINGS, "ctrl+p", *PAGING, "escape", "enter", "tab", "shift+tab"]
KEYS = (
    # weighted towards moving through time, with the palette and paging often
    *"sssssss123SSSccCC", *BINDINGS, *["ctrl+p"] * 4, *PAGING * 2,
    "escape", "escape", "enter", "enter", "tab", "shift+tab", "up", "down", "space", "delete", "left", "right",
    "backspace",
    # and a little typing for the dialogs and the palette
    *"0123456789+-aexyA.[]_ ",
)  # fmt: skip


async def _monkey(size: tuple[int, int], count: int, rng: random.Random) -> set[str]:
    """`count` events into a fresh app at `size`; returns the keys pressed."""
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    # The palette's Quit (typed `p`, then enter or a click) is a legitimate way out; the
    # monkey keeps going (an exception still ends the app: Textual does not call exit for it).
    quits: list[object] = []
    app.exit = lambda *a, **k: quits.append(a)  # type: ignore[method-assign]
    pressed: set[str] = set()
    ended = ""
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        keys = rng.sample(MUST, len(MUST)) + [rng.choice(KEYS) for _ in range(count - len(MUST))]
        for i, key in enumerate(keys):
            if not app.is_running:  # (an exception in the app is raised when the block ends)
                ended = f"the app ended after {i} events; the last keys: {keys[max(0, i - 12) : i]!r}"
                break
            if rng.random() < 0.85 or i < len(MUST):
                post_key(app, key)
                pressed.add(key)
            else:
                # Not the top row (the header's icon opens the palette) nor the footer (its `q` quits).
                post_click(app, rng.randrange(size[0]), rng.randrange(1, size[1] - 1), 1 + (rng.random() < 0.2))
            if i % 8 == 7:
                await drain(app, 0.2)
            if i % 150 == 149:
                post_key(app, "escape")  # a run the monkey started (explore, continue) ends here
                await settle(pilot)
        if not ended:
            post_key(app, "escape")
            await settle(pilot)
            _assert_consistent(app)
    assert not ended, ended
    return pressed


def _assert_consistent(app: SpftuiApp) -> None:
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


@pytest.mark.parametrize(("size", "count"), [((120, 40), 250), ((80, 24), 200)])
async def test_random_keys_and_clicks_leave_the_session_consistent(
    size: tuple[int, int], count: int, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # nothing the monkey does may write into the repository
    pressed = await _monkey(size, count, random.Random(20210430 + size[0]))
    assert set(MUST) <= pressed


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_a_long_monkey_leaves_the_session_consistent(
    size: tuple[int, int], seed: int, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    pressed = await _monkey(size, 2000, random.Random(seed * 1000 + size[0]))
    assert set(MUST) <= pressed
