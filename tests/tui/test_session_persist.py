"""Sessions that persist: `q` saves, the next open offers the session back, `--session FILE` opens one."""

from __future__ import annotations

from pathlib import Path

from cli_run import spftui
from textual.widgets import Input, Label
from tui_helpers import SEED, press, screen_text, steady, type_text

from spftui.engine.session_file import autosave_path, dump_session, load_session_for
from spftui.tui.app import SpftuiApp
from spftui.tui.screens.choice import ChoiceDialog
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.error import ErrorDialog
from spftui.tui.screens.goto import GotoDialog
from spftui.tui.screens.prompt import PromptDialog
from spftui.tui.screens.quit import QuitDialog


def state(app: SpftuiApp) -> tuple:  # type: ignore[type-arg]
    s = app.session
    assert s is not None
    bps = tuple((b.kind, b.match, b.thread, str(b.expr), str(b.condition), b.enabled) for b in s.breakpoints.items)
    return (s.position, s.branch_id, s.saved_timelines(), bps, s.bookmarks)


async def work(pilot, app: SpftuiApp) -> None:  # type: ignore[no-untyped-def]
    """What a user does: steps, a branch, a watch, a conditional breakpoint, a bookmark."""
    dbg = app.screen
    assert isinstance(dbg, DebuggerScreen)
    await press(pilot, *"ssssssss")
    await press(pilot, "S", "S", "S")
    s = app.session
    assert s is not None
    other = (s.thread_at(s.position) + 1) % len(s.names)
    await press(pilot, str(other + 1), "s", "s")  # from the past: a new branch
    assert len(s.branches) == 1
    dbg.add_breakpoint({"kind": "watch", "expr": "A1.state"})
    dbg.add_breakpoint({"kind": "step", "match": "wp_page_copy:copy", "condition": "A2.state == 'running'"})
    await press(pilot, "m")
    await type_text(pilot, "here")
    await press(pilot, "enter")
    assert s.bookmarks == {"here": s.position}
    await press(pilot, "s", "s")


async def test_a_session_saved_on_q_is_restored_after_a_restart(state_dir: Path) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await work(pilot, app)
        before = state(app)
        await press(pilot, "q")
        await pilot.pause()
        assert isinstance(app.screen, QuitDialog)  # unsaved work: it asks
        await press(pilot, "s")
    assert app.return_code == 0
    saved = autosave_path(app.session.scenario)  # type: ignore[union-attr]
    assert saved.startswith(str(state_dir)) and Path(saved).is_file()

    again = SpftuiApp(SEED)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(again.screen, ChoiceDialog)  # "Restore the session saved for …?"
        assert "Restore" in screen_text(pilot)
        await press(pilot, "enter")
        assert isinstance(again.screen, DebuggerScreen)
        assert state(again) == before
        assert len(again.session.branches) == 1  # type: ignore[union-attr]
        # g takes the bookmark's name
        await press(pilot, "s", "s")
        assert again.session.position == before[0] + 2  # type: ignore[union-attr]
        await press(pilot, "g")
        assert isinstance(again.screen, GotoDialog)
        await type_text(pilot, "here")
        await press(pilot, "enter")
        assert again.session.position == before[4]["here"]  # type: ignore[union-attr]


async def test_q_without_unsaved_work_quits_and_cancel_stays() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s")
        await press(pilot, "q")
        await pilot.pause()
        assert isinstance(app.screen, QuitDialog)
        assert "Save" in screen_text(pilot) and "Discard" in screen_text(pilot)
        await press(pilot, "escape")  # cancel: still debugging
        assert isinstance(app.screen, DebuggerScreen) and app.is_running
        await press(pilot, "q")
        await pilot.pause()  # (a screen switch takes a moment)
        assert isinstance(app.screen, QuitDialog)
        await press(pilot, "d")  # discard
    assert app.return_code == 0
    assert not Path(autosave_path(app.session.scenario)).exists()  # type: ignore[union-attr]

    fresh = SpftuiApp(SEED)
    async with fresh.run_test(size=(80, 24)) as pilot:
        await press(pilot, "q")  # nothing to lose: no question
    assert fresh.return_code == 0


async def test_start_fresh_keeps_the_saved_session_and_a_bad_one_is_left_alone(state_dir: Path) -> None:
    app = SpftuiApp(SEED)
    path = Path(autosave_path(app.session.scenario))  # type: ignore[union-attr]
    path.parent.mkdir(parents=True)
    path.write_text("version = 1\nscenario_hash = [\n")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)  # told in a toast, not asked
        assert any("cannot be read" in (n.title or "") for n in app._notifications)
    assert path.read_text() == "version = 1\nscenario_hash = [\n"


async def test_quitting_with_save_keeps_an_unreadable_saved_session_aside(state_dir: Path) -> None:
    """It may be a session the user means to mend: the save never goes over it (a session this
    debugger did not open is kept: the save takes a numbered name beside it)."""
    app = SpftuiApp(SEED)
    path = Path(autosave_path(app.session.scenario))  # type: ignore[union-attr]
    path.parent.mkdir(parents=True)
    broken = 'version = 1\n[[bookmark]]\nname = "my precious bookmark"\nhits = "one"\n'
    path.write_text(broken)
    async with app.run_test(size=(120, 40)) as pilot:
        await work(pilot, app)
        await press(pilot, "q", "enter")  # Save (the dialog's first choice)
    assert path.read_text() == broken
    saved = path.with_name(path.name.replace(".session.toml", ".2.session.toml"))
    assert "[[bookmark]]" in saved.read_text() and load_session_for(str(saved), app.session.scenario)  # type: ignore[union-attr]


async def test_save_session_as_writes_a_file_that_session_opens(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    target = tmp_path / "mine" / "shared.session.toml"
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await work(pilot, app)
        before = state(app)
        await press(pilot, "ctrl+s")
        inp = app.screen.query_one("#prompt-input")
        inp.value = str(target)  # type: ignore[attr-defined]
        await press(pilot, "enter")
        assert target.is_file()
        assert app.session_file == str(target)
        await press(pilot, "q")  # saved just now: no question
    assert app.return_code == 0
    text = target.read_text()
    assert 'scenario_name = "cow_lost_write"' in text and "[[bookmark]]" in text

    s, _ = load_session_for(str(target), app.session.scenario)  # type: ignore[union-attr]
    assert dump_session(s) == text
    opened = SpftuiApp(s, session_file=str(target))
    async with opened.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(opened.screen, DebuggerScreen)  # no restore offer over an explicit file
        assert state(opened) == before


def test_session_with_a_bad_file_exits_2_with_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.session.toml"
    text = 'version = 1\nscenario_hash = "sha256:' + "0" * 64 + '"\n'
    bad.write_text(text)
    r = spftui(str(SEED), "--session", str(bad))
    assert r.returncode == 2
    assert f"{bad}:2: scenario_hash: saved on another scenario" in r.stderr
    assert "Traceback" not in r.stderr
    assert bad.read_text() == text


def test_session_with_negative_hits_or_a_duplicate_branch_exits_2_at_its_line(tmp_path: Path) -> None:
    """`hits = -2` showed as "-2 hits"; a second `branch = 1` silently dropped the first."""
    from spftui.engine.session import Session
    from spftui.scenario import load_scenario

    s = Session(load_scenario(SEED))
    s.add_breakpoint("abort")
    s.run()
    s.goto(10)
    s.step((s.thread_at(10) + 1) % len(s.names))  # a second timeline: branch 1
    text = dump_session(s)
    # the timelines' `branch = 0` becomes a second `branch = 1`, marked to find its line
    dup = "branch = 1  # again\n".join(text.replace("branch = 0\n", "branch = 1\n").rsplit("branch = 1\n", 1))
    for edit, marked, message in (
        (text.replace('kind = "abort"', 'kind = "abort"\nhits = -2'), "hits = -2", "hits: expected a number ≥ 0"),
        (dup, "branch = 1  # again", "duplicate branch 1 (first on line"),
    ):
        bad = tmp_path / "bad.session.toml"
        bad.write_text(edit)
        line = edit.splitlines().index(marked) + 1
        r = spftui(str(SEED), "--session", str(bad))
        assert r.returncode == 2, r.stderr
        assert f"{bad}:{line}: " in r.stderr and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and bad.read_text() == edit


async def test_a_session_file_for_another_scenario_is_an_error_dialog_on_restore(tmp_path: Path) -> None:
    app = SpftuiApp(SEED)
    other = tmp_path / "other.toml"
    other.write_text('version = 1\nscenario_hash = "sha256:00"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not app.restore(str(other))
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert "scenario_hash" in screen_text(pilot)


async def test_save_session_to_a_path_that_cannot_be_written_keeps_what_was_typed(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file, not a directory")
    bad = tmp_path / "plain" / "x.session.toml"
    good = tmp_path / "x.session.toml"
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s", "ctrl+s")
        await type_text(pilot, str(bad))  # over the default, which is selected
        await press(pilot, "enter")
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)  # still open, with the path typed and the reason
        assert prompt.query_one("#prompt-input", Input).value == str(bad)
        assert f"not a directory: {tmp_path / 'plain'}" in str(prompt.query_one("#prompt-error", Label).content)
        prompt.query_one("#prompt-input", Input).value = str(good)  # mended
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen) and good.is_file()
        assert app.session_file == str(good)
        toast = [n.message for n in app._notifications if n.title == "Session saved"]
        assert [m.replace("\n", "") for m in toast] == [
            f"Saved{good}Open it with:spftui cow_lost_write --session{good}"
        ]  # (the path on lines of its own, broken after a / or a .; no literal FILE)


async def test_the_save_dialogs_refuse_a_missing_directory_and_keep_the_name_typed(tmp_path: Path) -> None:
    """Ctrl+S made /nonexist/dir/ and saved there, while `check --save-schedule` refuses it."""
    missing = tmp_path / "nonexist" / "dir"
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        for keys, what in (("ctrl+s",), "the session"), (("x",), None), ((), "the schedule"):
            if keys:
                await press(pilot, "s", *keys)
            else:
                dbg.action_save_schedule()  # (the palette's "Save schedule")
                await pilot.pause()
            prompt = app.screen
            assert isinstance(prompt, PromptDialog)
            field = prompt.query_one("#prompt-input", Input)
            field.value = str(missing / "x.toml")
            await press(pilot, "enter")
            assert app.screen is prompt and field.value == str(missing / "x.toml")  # kept open, as typed
            error = str(prompt.query_one("#prompt-error", Label).content)
            said = f"cannot write {what}: no such directory: {missing}" if what else f"no such directory: {missing}"
            assert said in error, error
            await press(pilot, "escape")
        assert not (tmp_path / "nonexist").exists() and app.session_file is None
        # q's Save to a session file whose folder has gone: a dialog, not a new folder
        app.session_file = str(missing / "x.session.toml")
        await press(pilot, "q", "enter")
        assert isinstance(app.screen, ErrorDialog) and app.return_code is None
        assert f"no such directory: {missing}" in str(app.screen.query_one("#error-message").content)  # type: ignore[attr-defined]
    assert not (tmp_path / "nonexist").exists()


async def test_save_session_to_a_directory_is_refused_not_saved_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s", "ctrl+s")
        await type_text(pilot, str(folder))
        await press(pilot, "enter")
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)
        assert prompt.query_one("#prompt-input", Input).value == str(folder)
        assert "it is a directory" in str(prompt.query_one("#prompt-error", Label).content)
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("folder")] == ["folder"]  # no folder.2
        assert app.session_file is None


async def test_the_restore_offer_says_when_the_saved_run_has_other_fixes() -> None:
    """Restoring replaces the run's rules too (`--fix` on the command line): the offer said
    only how many breakpoints and steps it had."""
    from spftui.engine import Session
    from spftui.engine.session_file import save_session
    from spftui.scenario import load_scenario

    sc = load_scenario(SEED.parent / "history_fork_pinned.toml")
    saved = Session(sc)
    saved.run()
    save_session(saved, autosave_path(sc))
    app = SpftuiApp(sc.with_fixes({"fork_copy_pinned": False}))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(50):
            if isinstance(app.screen, ChoiceDialog):
                break
            await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog)
        await steady(pilot)
        text = "".join(c for c in screen_text(pilot) if not 0x2500 <= ord(c) <= 0x259F)  # (the dialog's frame)
        text = " ".join(text.split())
        assert "fixes off: none (not fork_copy_pinned)" in text, text


async def test_opening_another_scenario_keeps_the_unsaved_work_of_a_session_with_its_own_file(
    state_dir: Path, tmp_path: Path
) -> None:
    """After Ctrl+S the session had a file of its own, and `o` dropped what was done since:
    it is saved beside it in the state directory (the file itself is not written over unasked)."""
    from spftui.tui.screens.picker import PickerScreen

    mine = tmp_path / "mine.session.toml"
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s", "ctrl+s")
        app.screen.query_one("#prompt-input", Input).value = str(mine)
        await press(pilot, "enter")
        written = mine.read_text()
        await press(pilot, "s", "s", "m")
        await type_text(pilot, "after")
        await press(pilot, "enter")
        scenario = app.session.scenario  # type: ignore[union-attr]
        await press(pilot, "o")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        picker.open(str(SEED.parent / "dontneed_race.toml"))
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
    assert mine.read_text() == written
    kept = load_session_for(autosave_path(scenario), scenario)[0]
    assert kept.bookmarks == {"after": 3}
