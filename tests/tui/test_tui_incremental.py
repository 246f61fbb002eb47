"""The frames and page-table panes rebuild only what a step changed: the rows must equal a full rebuild."""

from __future__ import annotations

from typing import Any

from tui_helpers import SEED, press

from spftui.scenario import parse_scenario
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.widgets.frames import FramesPane
from spftui.tui.widgets.pagetables import PtePane
from spftui.tui.widgets.pane import Pane, row_signature

BUSY = """\
title = "two threads writing and protecting pages"
policy = "spf-mm-seq"

[[process]]
name = "P"
  [[process.mapping]]
  start = 0x100000
  pages = 6
  populate = true

[[thread]]
name = "T0"
process = "P"
ops = ["write 0x100000 1", "write 0x101000 2", "mprotect 0x102000 1p r", "read 0x103000", "mprotect 0x102000 1p rw"]
repeat = 3

[[thread]]
name = "T1"
process = "P"
ops = ["write 0x102000 3", "munmap 0x105000 1p", "write 0x104000 4", "read 0x100000"]
repeat = 2
"""


def _full(pane: Any) -> list[object]:
    """What the pane shows when built from nothing."""
    fresh = type(pane)()
    assert pane.view is not None
    fresh._size = pane.size  # (a width for the few rows that wrap)
    return [row_signature(r) for r in fresh.build(pane.view)]


def _check(screen: DebuggerScreen) -> None:
    for cls in (FramesPane, PtePane):
        pane = screen.query_one(cls)
        shown: Pane = pane
        got, want = [row_signature(r) for r in shown.rows], _full(pane)
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b]
        assert got == want, f"{cls.__name__} at step {pane.view.position}: {diff[:3]}"


async def test_incremental_rows_equal_a_full_rebuild_step_by_step() -> None:
    app = SpftuiApp(parse_scenario(BUSY))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        s = app.session
        assert s is not None
        changed = 0
        for i in range(120):
            if s.finished():
                break
            await press(pilot, "2" if i % 7 == 6 else "s")
            _check(screen)
            changed += bool(screen.query_one(FramesPane).changed_rows) + bool(screen.query_one(PtePane).changed_rows)
        assert changed > 5  # (steps that changed frames or PTEs were among them)


async def test_incremental_rows_equal_a_full_rebuild_through_steps_jumps_and_branches() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        s = app.session
        assert s is not None
        for keys in ("s", "s", "1", "2", "3", "s", "S", "s", "c", "S", "S", "3", "s", "r", "s", "c"):
            await press(pilot, keys)
            _check(screen)
        for target in (0, 5, 6, 4, s.length, s.length - 1):
            screen.goto(target)
            await pilot.pause()
            _check(screen)
        assert s.position > 0


async def test_a_step_never_shrinks_the_threads_pane() -> None:
    """Its height follows its rows: padding to the most rows shown keeps the panes below from reflowing."""
    app = SpftuiApp(parse_scenario(BUSY))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        threads = screen.query_one("#threads")
        heights = []
        for _ in range(40):
            await press(pilot, "s")
            await pilot.pause()
            heights.append(threads.size.height)
        assert heights == sorted(heights), heights


async def test_the_pages_pane_shows_pg_anon_exclusive_only_where_the_release_has_it() -> None:
    """PG_anon_exclusive is 5.19's (the anon-exclusive rule): under the mapcount rule the
    model keeps the bit but the pane does not claim the flag, nor on a freed page."""
    for reuse, shown in (("mapcount", False), ("anon-exclusive", True)):
        app = SpftuiApp(SEED, reuse=reuse)
        async with app.run_test(size=(120, 40)) as pilot:
            await press(pilot, "c")
            pane = app.screen.query_one(FramesPane)
            text = "\n".join(str(getattr(r, "plain", r)) for r in pane.build(pane.view))
            assert ("anon_excl" in text) is shown, (reuse, text)
            assert "freed anon_excl" not in text
