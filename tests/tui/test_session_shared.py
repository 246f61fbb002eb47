"""Sessions several debuggers share (every tab of `spftui serve` shares the server's state
directory), and a debugger told to quit from outside: no one's work is lost or overwritten."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual import messages
from tui_helpers import SEED, press, screen_text, steady, type_text

from spftui.engine.session_file import autosave_path, load_session
from spftui.tui.app import SpftuiApp
from spftui.tui.places import WRITE_DIR_ENV
from spftui.tui.screens.choice import ChoiceDialog
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.quit import QuitDialog


async def bookmark(pilot, steps: int, name: str) -> None:  # type: ignore[no-untyped-def]
    await press(pilot, *"s" * steps, "m")
    await type_text(pilot, name)
    await press(pilot, "enter")


async def until_exited(app: SpftuiApp) -> None:
    for _ in range(200):
        if not app.is_running:
            return
        await asyncio.sleep(0.01)


async def test_a_debugger_told_to_quit_from_outside_saves_its_unsaved_work(state_dir: Path) -> None:
    """What `spftui serve` does to each tab when it stops (the web driver's quit), and what a
    SIGTERM or SIGHUP does to a debugger in a terminal: the quit dialog is skipped, the work saved."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await bookmark(pilot, 2, "bk1")
        await press(pilot, "b")
        app.post_message(messages.ExitApp())  # (the web driver's answer to the server's "quit")
        await until_exited(app)
    path = autosave_path(app.session.scenario)  # type: ignore[union-attr]
    assert app.saved_on_exit == path and "saved the unsaved session of cow_lost_write" in app.exit_note
    saved = load_session(path)
    assert [b[0] for b in saved.bookmarks] == ["bk1"] and saved.step == 2

    again = SpftuiApp(SEED)
    async with again.run_test(size=(120, 40)) as pilot:
        await steady(pilot)
        assert isinstance(again.screen, ChoiceDialog) and "Restore your last session" in screen_text(pilot)
        await press(pilot, "enter")
        assert again.session is not None and again.session.bookmarks == {"bk1": 2}


async def test_the_quit_dialogs_discard_is_not_undone_by_the_exit(state_dir: Path) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await bookmark(pilot, 1, "gone")
        await press(pilot, "q")
        await pilot.pause()
        assert isinstance(app.screen, QuitDialog)
        await press(pilot, "d")
        await until_exited(app)
    assert app.saved_on_exit is None and not state_dir.exists()


async def test_two_debuggers_on_one_scenario_keep_both_saved_sessions(state_dir: Path) -> None:
    """The first saves, then the second: the second's dialog says another debugger saved
    there, and its Save takes a numbered name beside it; a third is offered both."""
    first, second = SpftuiApp(SEED), SpftuiApp(SEED)
    async with first.run_test(size=(120, 40)) as one, second.run_test(size=(120, 40)) as two:
        await bookmark(one, 3, "alpha")
        await bookmark(two, 2, "beta")
        await press(one, "q")
        await one.pause()
        await press(one, "s")
        await until_exited(first)
        await press(two, "q")
        await two.pause()
        assert isinstance(second.screen, QuitDialog)
        said = " ".join(screen_text(two).replace("█", " ").split())  # (the words, across the dialog's lines)
        assert "holds a session this debugger did not open" in said and "Save keeps both" in said
        assert ".2.session.toml" in said
        await press(two, "s")
        await until_exited(second)
    base = Path(autosave_path(first.session.scenario))  # type: ignore[union-attr]
    numbered = base.with_name(base.name.replace(".session.toml", ".2.session.toml"))
    assert [b[0] for b in load_session(str(base)).bookmarks] == ["alpha"]
    assert [b[0] for b in load_session(str(numbered)).bookmarks] == ["beta"]

    third = SpftuiApp(SEED)
    async with third.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(third.screen, ChoiceDialog)
        said = " ".join(screen_text(pilot).replace("█", " ").split())  # (the words, across the title's lines)
        assert "Restore a saved session of cow_lost_write? 2 saved, newest first; Esc starts fresh" in said
        assert said.count("Restore the one saved") == 2
        await press(pilot, "enter")  # the newest: beta's
        assert isinstance(third.screen, DebuggerScreen)
        assert third.session is not None and third.session.bookmarks == {"beta": 2}
        await bookmark(pilot, 1, "gamma")
        await press(pilot, "q")
        await steady(pilot)
        assert "Another debugger" not in screen_text(pilot)  # its own file, unchanged since: replaced
        await press(pilot, "s")
        await until_exited(third)
    assert sorted(b[0] for b in load_session(str(numbered)).bookmarks) == ["beta", "gamma"]
    assert [b[0] for b in load_session(str(base)).bookmarks] == ["alpha"]
    assert len(list(base.parent.glob("*.session.toml"))) == 2


async def test_a_debugger_stopped_from_outside_after_another_saved_keeps_both(state_dir: Path) -> None:
    first, second = SpftuiApp(SEED), SpftuiApp(SEED)
    async with first.run_test(size=(120, 40)) as one, second.run_test(size=(120, 40)) as two:
        await bookmark(one, 3, "alpha")
        await bookmark(two, 2, "beta")
        first.post_message(messages.ExitApp())
        await until_exited(first)
        second.post_message(messages.ExitApp())
        await until_exited(second)
    assert first.saved_on_exit and second.saved_on_exit and first.saved_on_exit != second.saved_on_exit
    assert [b[0] for b in load_session(first.saved_on_exit).bookmarks] == ["alpha"]
    assert [b[0] for b in load_session(second.saved_on_exit).bookmarks] == ["beta"]


async def test_a_served_viewer_who_starts_fresh_never_replaces_another_viewers_saved_session(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a terminal, Start fresh then Save replaces your own last session (the offer says so);
    served to a browser the state directory is every viewer's, so the save gets a file of its own."""
    monkeypatch.setenv(WRITE_DIR_ENV, str(tmp_path))
    first = SpftuiApp(SEED)
    async with first.run_test(size=(120, 40)) as pilot:
        await bookmark(pilot, 3, "alpha")
        first.post_message(messages.ExitApp())
        await until_exited(first)
    second = SpftuiApp(SEED)
    async with second.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(second.screen, ChoiceDialog)
        assert "a save writes a file of its own" in " ".join(screen_text(pilot).replace("█", " ").split())
        await press(pilot, "down", "enter")  # Start fresh
        assert isinstance(second.screen, DebuggerScreen)
        await bookmark(pilot, 1, "beta")
        await press(pilot, "q", "s")
        await until_exited(second)
    base = Path(autosave_path(first.session.scenario))  # type: ignore[union-attr]
    assert [b[0] for b in load_session(str(base)).bookmarks] == ["alpha"]
    numbered = base.with_name(base.name.replace(".session.toml", ".2.session.toml"))
    assert [b[0] for b in load_session(str(numbered)).bookmarks] == ["beta"]
