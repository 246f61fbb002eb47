"""Rough edges a new user hit (issue 13), each through the keys and dialogs a user touches."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import SEED, press, screen_text, steady, type_text

from spftui.engine.schedule import Replay
from spftui.engine.session import Session
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.breakpoint import BreakpointDialog
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.narration import NarrationScreen


def titles(app: SpftuiApp) -> list[str]:
    return [n.title for n in app._notifications]


async def test_the_breakpoint_dialog_refuses_a_misspelt_name_with_did_you_mean() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        count = len(app.session.breakpoints.items)  # type: ignore[union-attr]
        dbg.action_add_breakpoint("condition")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BreakpointDialog)
        await type_text(pilot, "A1.sate == 1")
        await press(pilot, "enter")
        assert isinstance(app.screen, BreakpointDialog), "refused: it would never fire"
        error = str(dialog.query_one("#bp-error").render())
        assert "sate" in error and "did you mean 'state'" in error
        await press(pilot, "enter")  # not a state-dependent error: Enter again does not add it
        assert isinstance(app.screen, BreakpointDialog)
        await press(pilot, "escape")
        assert len(app.session.breakpoints.items) == count  # type: ignore[union-attr]


async def test_switching_branches_says_switched_not_branched() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        s = app.session
        assert s is not None
        await press(pilot, *"ssssss", "S", "S")
        await press(pilot, str((s.thread_at(s.position) + 1) % len(s.names) + 1))
        assert titles(app).count("Branched") == 1  # a new branch: told once
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        dbg.switch_branch(0)
        await pilot.pause()
        assert s.branch_id == 0
        dbg.switch_branch(1)
        await pilot.pause()
        assert s.branch_id == 1
        assert titles(app).count("Branched") == 1  # switching made none
        assert "switched to branch 1" in screen_text(pilot)


async def test_after_explore_r_runs_the_scenarios_labelled_schedule_again() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        s = app.session
        assert s is not None
        schedule = s.scenario.schedule
        assert schedule is not None and any(e.until for e in schedule)
        await press(pilot, *"sss")  # a timeline of its own: the counterexample branches off it
        await press(pilot, "e")
        assert isinstance(app.screen, NarrationScreen)
        assert "r and p run the scenario's own schedule" in app.screen.header
        assert not app._notifications  # no toast over it repeating its header
        await press(pilot, "escape")
        assert any(mk.what == "lost_write" and mk.step < s.position for mk in s.violations())
        assert isinstance(s.strategy, Replay) and s.strategy.entries == schedule  # not the explorer's
        assert len(s.branches) == 1 or s.branch_id == 0  # it is a branch (or this timeline from step 0)
        await press(pilot, "r")
        s.run()
        fresh = Session(s.scenario)
        fresh.run()
        assert [s.thread_at(i) for i in range(s.length)] == [fresh.thread_at(i) for i in range(fresh.length)]


async def test_the_narration_screen_shows_the_whole_counterexample_and_copies_it() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "e")
        screen = app.screen
        assert isinstance(screen, NarrationScreen)
        narration = screen.narration
        assert len(narration) > 300  # the toast cut it at 160 characters
        await press(pilot, "c")
        assert copied == [screen.text] and narration in copied[0]
        await press(pilot, "end")  # scrolls to its end: the violation
        assert "lost_write" in screen_text(pilot)
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)
        await press(pilot, "t")  # reread it later
        assert isinstance(app.screen, NarrationScreen) and app.screen.narration == narration
        await press(pilot, "escape")
        await press(pilot, "ctrl+p")
        await type_text(pilot, "narration")
        await press(pilot, "enter")
        assert isinstance(app.screen, NarrationScreen)


async def test_narrating_this_run_from_the_palette_before_exploring() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, *"ssss")
        await press(pilot, "t")
        screen = app.screen
        assert isinstance(screen, NarrationScreen)
        assert "steps 1–4" in screen.title_text and "A1" in screen.narration


async def test_the_screenshot_is_saved_when_downloads_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/Downloads
    monkeypatch.delenv("SPFTUI_SCREENSHOT_DIR", raising=False)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "ctrl+p")
        await type_text(pilot, "screenshot")
        await press(pilot, "enter")
        # Textual's command waits 0.1 s before it takes the picture: on a loaded machine, longer
        for _ in range(50):
            await pilot.pause(0.1)
            shots = list((state_dir / "screenshots").glob("*.svg"))
            if shots:
                break
        assert len(shots) == 1 and shots[0].read_text().startswith("<svg")
        assert any(str(shots[0]) in str(n.message).replace("\n", "") for n in app._notifications)  # says where
    monkeypatch.setenv("SPFTUI_SCREENSHOT_DIR", str(tmp_path / "my" / "shots"))
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        written = app.deliver_screenshot()
        assert written is not None and Path(written).parent == tmp_path / "my" / "shots"


@pytest.mark.parametrize(
    ("policy", "shown"),
    [("spf-mm-seq", "mmap_seq A 0 · B 0"), ("spf-vma-seq", "vm_sequence A 0 · B 0"), ("vma-lock", "mm_lock_seq A 0")],
)
async def test_the_first_screen_at_80x24_shows_the_seqcount_the_policy_checks(policy: str, shown: str) -> None:
    app = SpftuiApp(SEED, policy=policy)
    async with app.run_test(size=(80, 24)) as pilot:
        await steady(pilot)
        status_line = [ln for ln in screen_text(pilot).splitlines() if ln.lstrip().startswith("step 0 of 0")]
        assert status_line and shown in status_line[0]


async def test_a_result_that_comes_up_over_the_open_palette_closes_it() -> None:
    """The explorer's result (a NarrationScreen) came up over an open command palette,
    and the next Ctrl+P opened a second one: Textual's DuplicateIds, a crash (found by
    the tmux monkey at 80x24)."""
    from textual.command import CommandPalette

    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        app.push_screen(NarrationScreen("Explorer: lost_write", "A1 … A2 …"))  # as a background run's result does
        await pilot.pause()
        assert isinstance(app.screen, NarrationScreen)
        assert not any(isinstance(s, CommandPalette) for s in app.screen_stack)
        await press(pilot, "ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        assert sum(isinstance(s, CommandPalette) for s in app.screen_stack) == 1
        await press(pilot, "escape", "escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_restart_asks_before_it_drops_other_branches() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(80, 24)) as pilot:
        s = app.session
        assert s is not None
        await press(pilot, "s", "s", "s", "S", "2")  # A2 stepped from the past: a second timeline
        assert len(s.branches) == 1  # (the other timeline: the one it branched from)
        at = s.position
        # r: Cancel is the default; p and k: Enter on the policy or rule in force restarts nothing
        for keys in (("r", "enter"), ("r", "escape"), ("p", "enter"), ("k", "enter")):
            await press(pilot, *keys)
            assert isinstance(app.screen, DebuggerScreen) and len(s.branches) == 1 and s.position == at, keys
        await press(pilot, "r")
        assert "Restarting drops 1 other timeline" in screen_text(pilot) and "Restart at step 0" in screen_text(pilot)
        await press(pilot, "home", "enter")
        assert not s.branches and s.position == 0


async def test_a_warning_from_the_command_line_is_shown_in_the_debugger_too() -> None:
    """Printed to stderr just before the screen takes the terminal, it was seen only after quitting."""
    app = SpftuiApp(SEED, warnings=["sched.toml: recorded on 'x'; replaying it anyway (--force)"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert [n.message for n in app._notifications if n.severity == "warning"] == [
            "sched.toml: recorded on 'x'; replaying it anyway (--force)"
        ]


def test_a_goto_past_the_runs_end_is_said_on_opening() -> None:
    from spftui.engine.opening import open_scenario
    from spftui.tui import opening_warnings, session_for

    opening = open_scenario(str(SEED))
    session = session_for(opening, 99_999)
    assert session.position == 54
    assert opening_warnings(opening, session, 99_999) == ["the run ends after step 54: it has no step 99999 (--goto)"]
    assert opening_warnings(opening, session_for(opening, 20), 20) == []


def test_a_scenario_breakpoint_that_cannot_be_evaluated_is_said_on_opening(tmp_path: Path) -> None:
    """`spftui check` refuses `when = "1/0"` at its line; the debugger set it silently: it never fired."""
    from spftui.engine.opening import open_scenario
    from spftui.tui import opening_warnings, session_for

    path = tmp_path / "bad_bp.toml"
    path.write_text(Path(SEED).read_text() + '\n[[breakpoint]]\nwhen = "1/0"\n')
    opening = open_scenario(str(path))
    said = opening_warnings(opening, session_for(opening), None)
    assert len(said) == 1 and said[0].startswith("breakpoint 1 (when 1/0): its expression cannot be evaluated ("), said
    assert said[0].endswith("): it never fires")
