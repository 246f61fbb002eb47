"""The debugger's second probe: the selected thread stays put, `b` keeps the cursor, `u` to the
next pass, `g` counts hits once, u/f are discoverable, the quit dialog's path, fresh status
lines, the branch comparison's table."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import SEED, cursor_to, palette, palette_hits, press, screen_text, settle, status_words, type_text

from spftui.engine.recording import record_choices
from spftui.tui.app import SpftuiApp
from spftui.tui.format import home_path
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.diff import DiffScreen
from spftui.tui.screens.quit import QuitDialog
from spftui.tui.widgets.source import SourceView
from spftui.tui.widgets.threads import ThreadsPane

SMALL = (80, 24)
# cow_lost_write's own schedule: steps 1-17 are A1's, 18-26 B's, 27-48 A2's, 49-54 A1's.


def debugger(app: SpftuiApp) -> DebuggerScreen:
    screen = app.screen
    assert isinstance(screen, DebuggerScreen)
    return screen


async def goto(pilot, step: int | str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, "g")
    await type_text(pilot, str(step))
    await press(pilot, "enter")
    await settle(pilot)


async def select_in_threads_pane(pilot, app: SpftuiApp, index: int) -> None:  # type: ignore[no-untyped-def]
    """Tab to the Threads pane and move its cursor with ↑ ↓ onto thread `index`."""
    pane = app.screen.query_one(ThreadsPane)
    pane.focus()
    await press(pilot, "home")
    for _ in range(len(pane.owner)):
        if pane.thread_at(pane.cursor) == index and debugger(app).selected == index:
            return
        await press(pilot, "down")
    raise AssertionError(f"the Threads pane's cursor never reached thread {index}")


async def test_a_thread_picked_in_the_threads_pane_stays_selected_over_s_g_and_f_runs_it() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await goto(pilot, 30)
        assert debugger(app).selected == 1  # not picked yet: it follows the thread that ran last (A2)
        await select_in_threads_pane(pilot, app, 0)
        await press(pilot, "S")  # step 29 was A2's
        assert s.position == 29 and debugger(app).selected == 0
        await goto(pilot, 40)
        await press(pilot, "s", "c")
        assert debugger(app).selected == 0
        await goto(pilot, 29)
        await press(pilot, "f")
        assert s.stop.text.startswith("A1 ") and {s.step_thread(i) for i in range(29, s.position)} == {"A1"}


async def test_a_thread_stepped_with_its_digit_stays_selected_over_s_and_back() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "2")
        assert debugger(app).selected == 1
        await press(pilot, "s", "s")  # the schedule's choice: A1
        assert s.step_thread(s.position - 1) == "A1" and debugger(app).selected == 1
        await press(pilot, "S")
        assert debugger(app).selected == 1
        await press(pilot, "f")
        assert s.stop.text.startswith("A2 ")


async def test_b_leaves_the_source_cursor_on_the_line_it_toggled_so_u_runs_to_it() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        listing = app.screen.query_one(SourceView)
        await cursor_to(pilot, app, "wp_page_copy:copy")
        await press(pilot, "b")
        assert listing.label_at(listing.cursor) == "wp_page_copy:copy"
        assert any(b.kind == "step" and b.match == "wp_page_copy:copy" for b in s.breakpoints.items)
        await press(pilot, "u")
        assert s.position == 13 and s.machine.threads[0].pc == "wp_page_copy:copy"
        await press(pilot, "b")  # and off again, the cursor still there
        assert listing.label_at(listing.cursor) == "wp_page_copy:copy"
        await press(pilot, "s")  # a step follows the thread again
        assert listing.label_at(listing.cursor) == s.machine.threads[0].pc


async def test_u_on_the_line_the_thread_is_at_runs_it_to_its_next_pass_there() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "u")  # the cursor starts on A1's next step: its store, retried after the fault
        assert s.position == 22 and "A1 ran 22 steps to user:store" in status_words(app)
        await press(pilot, "r")
        await cursor_to(pilot, app, "wp_page_copy:copy")
        await press(pilot, "u", "u")  # the copy loop: one page at a time
        assert s.position == 14 and s.machine.threads[0].pc == "wp_page_copy:copy"
        assert "A1 ran 1 step to wp_page_copy:copy" in status_words(app)
        await press(pilot, "question_mark")
        assert "next pass" in screen_text(pilot)


async def test_g_over_recorded_steps_counts_no_breakpoint_hit_again_end_or_step_number() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        (violation,) = [b for b in s.breakpoints.items if b.kind == "violation"]
        await goto(pilot, "end")  # run for the first time: the violation at step 52 is passed, once
        assert s.position == 54 and violation.hits == 1
        assert "passed 1 breakpoint stop (step 52)" in status_words(app)
        for target in (0, 54, 0, "end", 30, "end"):
            await goto(pilot, target)
            assert violation.hits == 1 and "passed" not in status_words(app), target
        assert s.position == 54 and "all threads finished after 54 steps" in status_words(app)


async def palette_titles(pilot, app: SpftuiApp, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    commands = await palette_hits(pilot, app, query)
    titles = [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]
    await press(pilot, "escape")
    return titles


async def test_u_and_f_say_how_to_select_a_thread_and_the_palette_names_the_one_they_run() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "question_mark")
        text = " ".join(screen_text(pilot).replace("█", " ").split())  # (the lines of the help, joined)
        assert "click one in Threads, or Shift+Tab there and ↑/↓" in text and "select it (▌) for u and f" in text
        await press(pilot, "escape")
        assert any("Finish A1" in t for t in await palette_titles(pilot, app, "Finish"))
        await press(pilot, "f", "f")  # A1's fault, then its write: A1 has finished
        position = s.position
        await press(pilot, "f")
        assert s.position == position
        said = status_words(app)
        assert "A1 has finished: select another thread for u and f (click it in Threads, or Shift+Tab" in said
        assert "not finished: A2, B" in status_words(app)
        await press(pilot, "u")
        assert s.position == position and "A1 has finished: select another thread" in status_words(app)
        await press(pilot, "2")
        assert any("Run A2 to the cursor" in t for t in await palette_titles(pilot, app, "cursor"))


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_quit_dialog_breaks_the_session_path_after_a_slash_or_a_dot_never_mid_name(
    size: tuple[int, int],
) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=size) as pilot:
        await press(pilot, "s", "q")
        dialog = app.screen
        assert isinstance(dialog, QuitDialog)
        path = home_path(dialog.path)
        assert len(path) > 66  # (the test's state directory: longer than the dialog is wide)
        rows = [row.strip("█▌▐ ") for row in screen_text(pilot).splitlines()]
        at = next(i for i, row in enumerate(rows) if row == "Save writes this file:") + 1
        shown = []
        while "".join(shown) != path:
            assert path.startswith("".join(shown) + rows[at]), rows[at]  # a whole line of the path, no more
            shown.append(rows[at])
            at += 1
        assert len(shown) > 1 and all(line.endswith(("/", ".")) for line in shown[:-1])


async def test_the_status_line_says_what_s_runs_now_and_a_new_save_replaces_an_old_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(200, 40)) as pilot:
        s = app.session
        assert s is not None
        assert "next: schedule entry 1/5: A1 until wp_page_copy:copy" in status_words(app)
        await press(pilot, "f")  # A1's whole write (no fault yet): the entries for A1 are over
        assert not s.next_label(0)
        assert "next: schedule entry 3/5: B until done" in status_words(app)
        await press(pilot, "s")
        assert s.step_thread(s.position - 1) == "B"
        await press(pilot, "x", "enter")  # the Perfetto trace, in the current folder
        await settle(pilot)
        assert "wrote " in status_words(app)
        await palette(pilot, app, "Save schedule so far")
        await press(pilot, "enter")  # the proposed name
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
        assert "wrote " not in status_words(app)
        assert f"saved the schedule to {tmp_path}/cow_lost_write.step24.schedule.toml" in status_words(app)


async def test_compare_shows_a_single_quiet_step_as_its_row_and_no_flipped_pair_legend_without_pairs() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        await press(pilot, "c")
        await settle(pilot)
        s = app.session
        assert s is not None and s.length == 52
        # A1 once more before B takes mmap_lock: the lost write all the same (a branch from step 17)
        own = [0] * 17 + [2] * 9 + [1] * 22 + [0] * 6
        s.follow([step.thread for step in record_choices(s.scenario, [*own[:17], 0, *own[17:]]).steps])
        assert s.branches
        await palette(pilot, app, "compare with branch")
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        for _ in range(600):
            await pilot.pause(0.05)
            if not screen.running:
                break
        assert screen.result is not None and screen.result.failing is None and not screen.result.pairs
        table = DiffScreen.table(screen.result)
        assert str(table.title) == "steps 17–20 (bold: first divergence)"  # no ▶ to explain
        assert [str(c) for c in table.columns[0].cells] == ["17", "18", "19", "20"]  # no "… (1 step)"
        text = screen_text(pilot)
        assert "Both timelines report a violation" in " ".join(text.split())
        assert "▶ a flipped pair" not in text and "(1 step)" not in text
