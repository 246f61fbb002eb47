"""Run to cursor (u) and finish (f): the selected thread alone, through the keys, at 80x24."""

from __future__ import annotations

from tui_helpers import SEED, cursor_to, palette, press, screen_text, status_words, type_text

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.help import HelpScreen

SMALL = (80, 24)


def others_names(app: SpftuiApp) -> list[str]:
    return [n.title or "" for n in app._notifications]


async def test_u_runs_a1_to_the_source_cursor_and_f_finishes_its_fault_then_its_write() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None and isinstance(app.screen, DebuggerScreen)
        await cursor_to(pilot, app, "wp_page_copy:copy")
        await press(pilot, "u")
        assert s.position == 13 and s.machine.threads[0].pc == "wp_page_copy:copy"
        assert {s.step_thread(i) for i in range(13)} == {"A1"}
        assert "A1 ran 13 steps to wp_page_copy:copy" in status_words(app)
        await press(pilot, "f")
        assert "A1 finished its fault at step 22 (9 steps); next user:store" in status_words(app)
        await press(pilot, "f")
        assert "A1 finished write 0x10000 11 at step 23 (1 step) → wrote 11" in status_words(app)
        assert "done" in screen_text(pilot)  # the Threads pane
        # rewinding after them works as after single steps
        await press(pilot, "S")
        assert s.position == 22 and s.machine.snapshot() == s.timeline.machine_at(22).snapshot()
        await press(pilot, "g")
        await type_text(pilot, "13")
        await press(pilot, "enter")
        assert s.position == 13 and s.machine.threads[0].pc == "wp_page_copy:copy"
        assert s.machine.snapshot() == s.timeline.machine_at(13).snapshot()


async def test_from_the_past_another_thread_run_branches_and_says_so() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await cursor_to(pilot, app, "wp_page_copy:copy")
        await press(pilot, "u")
        await press(pilot, "g")
        await type_text(pilot, "5")
        await press(pilot, "enter")
        app.screen.query_one("#threads").focus()  # the Threads pane's cursor selects B
        await press(pilot, "end")
        await press(pilot, "f")
        assert "B finished munmap 0x10000 1p at step 14 (9 steps) → 0" in status_words(app)
        assert [b.at for b in s.branches] == [5] and s.length == 14
        assert "Branched" in others_names(app)
        await press(pilot, "S")  # and back over B's steps
        assert s.position == 13 and s.step_thread(12) == "B"


async def test_a_blocked_thread_says_what_it_waits_for_and_who_holds_it() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        # A1 faults; A2 finishes its write fault, stores, and takes mmap_lock for its mprotect
        await press(pilot, "1", "2", "f", "2", "2", "2", "1")
        assert s.machine.mms["A"].lock_writer == 1
        await press(pilot, "f")
        assert "A1 ran 1 step and is blocked: it waits for mmap_lock(A) read, held by A2" in status_words(app)
        position = s.position
        await press(pilot, "f")
        assert "A1 is blocked: it waits for mmap_lock(A) read, held by A2" in status_words(app)
        assert s.position == position


async def test_a_breakpoint_stops_run_to_cursor_first() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await cursor_to(pilot, app, "pte_map_lock:trylock")
        await press(pilot, "b")
        await cursor_to(pilot, app, "wp_page_copy:copy")
        await press(pilot, "u")
        assert s.stop.kind == "breakpoint" and s.position == 6
        assert "A1 reached pte_map_lock:trylock (breakpoint 3)" in status_words(app)


async def test_the_help_and_the_palette_offer_run_to_cursor_and_finish() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(screen_text(pilot).split())
        assert (
            "run to the cursor: the selected thread (▌; click one in" in text and "finish: the selected thread" in text
        )
        await press(pilot, "escape")
        await palette(pilot, app, "Finish")
        assert isinstance(app.screen, DebuggerScreen)
        assert s.stop.text == "A1 finished write 0x10000 11 at step 23 (23 steps) → wrote 11"  # (no fault yet)
