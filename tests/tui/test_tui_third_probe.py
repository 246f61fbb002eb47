"""What a third new-user probe of the debugger found (2 December), each through the keys a user presses."""

from __future__ import annotations

from tui_helpers import SEED, cursor_to, press, status_words, type_text

from spftui.engine.view import SpfAbort
from spftui.scenario import load_scenario
from spftui.tui.app import SpftuiApp
from spftui.tui.questions import about_step, answer
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.goto import GotoDialog
from spftui.tui.widgets.breakpoints import BreakpointsPane

SMALL = (80, 24)


def toasts(app: SpftuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_bookmark_after_a_policy_switch_says_it_is_a_step_number_and_g_runs_on_to_it() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        s.run()
        end = s.length
        await press(pilot, "m")
        await type_text(pilot, "lost")
        await press(pilot, "enter")
        assert s.bookmarks == {"lost": end}
        assert isinstance(app.screen, DebuggerScreen)
        app.screen.action_restart(policy="classic")
        await pilot.pause()
        assert s.length == 0 and s.scenario.policy == "classic"
        assert any("Bookmarks are step numbers (lost = step " in t and "may mark other steps" in t for t in toasts(app))
        await press(pilot, "g")
        assert isinstance(app.screen, GotoDialog)
        assert f"lost (step {end})" in str(app.screen.query_one("#goto-bookmarks").render())
        await type_text(pilot, "lost")
        await press(pilot, "enter")
        assert s.position == min(end, s.length)  # (it was refused: "outside this timeline (0 to 0)")
        assert s.position > 0


async def test_a_restart_under_the_same_rules_says_nothing_of_bookmarks() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "s", "s", "m")
        await type_text(pilot, "two")
        await press(pilot, "enter", "r")
        assert s.position == 0 and s.bookmarks == {"two": 2}
        assert not any("Bookmarks are step numbers" in t for t in toasts(app))


def test_the_why_chain_of_an_abort_lists_each_writer_once() -> None:
    from spftui.engine.session import Session

    s = Session(load_scenario(SEED).with_policy("spf-mm-seq", None))
    s.run()
    step, events = next(
        (pos, ev) for pos, _m, ev in s.timeline.replay(0, s.length) if any(type(e) is SpfAbort for e in ev)
    )
    q = about_step(s, step, tuple(events))
    assert q is not None
    causes, problem = answer(s, q)
    assert problem == ""
    steps = [c.step for c in causes[2:]]
    assert len(steps) == len(set(steps)), [c.text for c in causes]  # (the four mprotect writers came twice)
    assert [c.depth for c in causes[:2]] == [0, 1] and all(c.depth >= 2 for c in causes[2:])


async def test_delete_in_the_breakpoints_pane_says_what_went_and_ctrl_z_puts_it_back() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        before = [(b.id, b.describe()) for b in s.breakpoints.items]
        pane = app.screen.query_one(BreakpointsPane)
        pane.focus()
        pane.cursor = 0
        await press(pilot, "delete")
        assert [b.id for b in s.breakpoints.items] == [i for i, _ in before[1:]]
        assert f"deleted breakpoint {before[0][0]}: {before[0][1]} — Ctrl+Z here puts it back" in status_words(app)
        await press(pilot, "ctrl+z")
        assert [(b.id, b.describe()) for b in s.breakpoints.items] == before  # same id, same place
        assert f"breakpoint {before[0][0]} is back" in status_words(app)
        await press(pilot, "ctrl+z")
        assert "no breakpoint deleted to put back" in status_words(app)
        pane.cursor = 0
        await press(pilot, "delete", "delete")  # two in a row: Ctrl+Z puts back each, the last first
        assert s.breakpoints.items == []
        await press(pilot, "ctrl+z", "ctrl+z")
        assert [(b.id, b.describe()) for b in s.breakpoints.items] == before


async def test_breakpoint_hits_start_again_in_a_newly_opened_scenario() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        old = app.session
        assert old is not None
        await press(pilot, "c")
        assert any(b.hits for b in old.breakpoints.items)
        app.install(load_scenario(SEED.parent / "history_fork_vma_lock.toml"))  # what `o` does with the pick
        await pilot.pause()
        new = app.session
        assert new is not None and new is not old and new.position == 0
        assert new.breakpoints.items and all(b.hits == 0 for b in new.breakpoints.items)


async def test_the_palette_says_what_quit_does_and_leaves_out_textuals_duplicates() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Quit"] == "Quit spftui; with unsaved work it asks to save the session first"
        assert "Keys" not in commands and "Maximize" not in commands  # (Help lists the keys; Zoom pane is z)
        assert "Zoom pane  (z)" in commands and "Help  (? or F1)" in commands


async def test_a_long_report_title_wraps_inside_its_dialog_at_80_columns() -> None:
    app = SpftuiApp(load_scenario(SEED.parent / "history_fork_vma_lock.toml"))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
        app.screen.action_coverage()
        await pilot.pause()
        title = app.screen.query_one("#report-title")
        assert title.region.right <= 80 and title.size.height >= 2
        assert "fixed by fb49c455323f" in str(title.render())


async def test_after_u_to_the_schedules_label_next_names_the_following_entry() -> None:
    """Entry 1 is `A1 until wp_page_copy:copy`: once `u` has run A1 there, the status line's
    "next:" said entry 1 still (the next `s` ran A1 on, then jumped to entry 3)."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await cursor_to(pilot, app, "wp_page_copy:copy")
        await press(pilot, "u")
        assert "next: schedule entry 2/5: A1 4 (1 of 4)" in status_words(app)
        await press(pilot, "s", "s", "s")  # (within an entry of steps, "next:" counts them)
        assert "next: schedule entry 2/5: A1 4 (4 of 4)" in status_words(app)


async def test_the_go_to_dialog_wraps_a_long_list_of_bookmarks_and_suggests_across_case() -> None:
    from spftui.tui.screens.goto import parse_target

    app = SpftuiApp(SEED)
    async with app.run_test(size=SMALL) as pilot:
        s = app.session
        assert s is not None
        for i, name in enumerate(["before_the_munmap_of_B", "alpha", "beta", "gamma", "far"]):
            s.add_bookmark(name, i + 2)
        await press(pilot, "g")
        note = app.screen.query_one("#goto-bookmarks")
        assert note.region.right <= SMALL[0] and note.size.height >= 2  # (it was cut at "alpha (ste")
        assert "far (step 6)" in str(note.render())
    try:
        parse_target("ALPHA", 0, 10, {"alpha": 3})
    except ValueError as e:
        assert "did you mean the bookmark 'alpha'?" in str(e)
    else:
        raise AssertionError("ALPHA is not a bookmark")


async def test_going_to_a_bookmark_set_on_a_timeline_that_differs_before_it_warns() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        s.run()
        s.add_bookmark("gamma", 8)
        await press(pilot, "g")
        await type_text(pilot, "6")
        await press(pilot, "enter", "3")  # B steps from step 6: a new branch
        assert len(s.branches) == 1
        await press(pilot, "g")
        await type_text(pilot, "gamma")
        await press(pilot, "enter")
        assert s.position == 8
        assert any("was set on branch 0, which differs from this one from step 7" in t for t in toasts(app))
