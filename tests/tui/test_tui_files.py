"""Opening scenarios: the picker, a bad file, and the schedule entry point."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, OptionList
from tui_helpers import SEED, press, screen_text, settle, steady, type_text

from spftui.engine.schedule import Replay
from spftui.engine.schedule_file import scenario_hash
from spftui.engine.session import Session
from spftui.tui import open_session
from spftui.tui.app import SpftuiApp, add_default_breakpoints
from spftui.tui.screens.choice import ChoiceDialog
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.error import ErrorDialog
from spftui.tui.screens.picker import PickerScreen, load

BAD = """\
title = "broken"

[[process]]
name = "A"

[[thread]]
name = "A1"
process = "A"
ops = ["wirte 0x10000 1"]
"""


async def test_without_a_scenario_the_app_opens_the_picker_and_loads_the_choice() -> None:
    app = SpftuiApp(None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        assert picker.bundled, "the bundled scenarios are listed"
        index = next(i for i, (path, _, _) in enumerate(picker.bundled) if path.name == SEED.name)
        await press(pilot, "home", *["down"] * index, "enter")
        assert isinstance(app.screen, DebuggerScreen)
        assert app.session is not None
        assert app.session.scenario.title.startswith("COW lost write")


async def test_escape_from_the_first_picker_quits() -> None:
    app = SpftuiApp(None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 0


async def test_o_opens_the_picker_and_a_bad_file_shows_an_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        session = app.session
        assert session is not None
        position = session.position
        await press(pilot, "o")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        picker.query_one("#picker-path").focus()
        await type_text(pilot, str(bad))
        await press(pilot, "enter")
        dialog = app.screen
        assert isinstance(dialog, ErrorDialog)
        message = str(dialog.query_one("#error-message").content)
        assert message.startswith(f"{bad}:9: thread[0].ops[0]: unknown op 'wirte'")
        await press(pilot, "enter")  # closes the error; the picker is still there
        assert app.screen is picker
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)
        assert app.session is session and session.position == position


async def test_a_missing_file_is_reported_too(tmp_path: Path) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "o")
        app.screen.query_one("#picker-path").focus()
        await type_text(pilot, str(tmp_path / "nope.toml"))
        await press(pilot, "enter")
        assert isinstance(app.screen, ErrorDialog)
        assert "cannot read the file" in str(app.screen.query_one("#error-message").content)


async def test_loading_another_scenario_keeps_the_breakpoints(tmp_path: Path) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        assert session is not None
        session.breakpoints.add("step", match="wp_page_copy:copy")
        await press(pilot, "o")
        app.screen.query_one("#picker-path").focus()
        await type_text(pilot, str(SEED))
        await press(pilot, "enter")
        # The unsaved session was saved on the way out, and opening its scenario
        # offers it back once the screen has refreshed: decline.
        for _ in range(50):
            if isinstance(app.screen, ChoiceDialog):
                break
            await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog) and "Restore your last session" in app.screen.title_text
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)
        assert app.session is not session
        assert [b.kind for b in app.session.breakpoints.items] == ["abort", "violation", "step"]


def test_a_schedule_file_opens_at_its_violation() -> None:
    sc = load(SEED).with_policy("spf-refetch-vma")
    assert sc.schedule is not None
    session = Session(sc, strategy=Replay(sc.schedule))
    add_default_breakpoints(session)
    stop = session.continue_(only=("violation",))
    assert stop is session.stop and stop.kind == "breakpoint"
    assert stop.mark is not None and stop.mark.what == "lost_write"
    assert session.stop.text.startswith("lost write")
    assert all(b.enabled for b in session.breakpoints.items)


async def save_schedule_as_proposed(pilot: Pilot, screen: DebuggerScreen) -> None:  # type: ignore[type-arg]
    screen.action_save_schedule()  # the palette's "Save schedule so far"
    await settle(pilot)
    await press(pilot, "enter")  # the name it proposes


async def test_a_saved_schedule_reopens_at_the_same_step(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        session = app.session
        assert session is not None
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        await save_schedule_as_proposed(pilot, screen)
        (saved,) = tmp_path.glob("*.schedule.toml")
        first = saved.read_text()
        assert "scenario_hash" in first  # refused on another scenario
        await save_schedule_as_proposed(pilot, screen)  # the same name again: a numbered file, the first untouched
    assert len(list(tmp_path.glob("*.schedule.toml"))) == 2 and saved.read_text() == first
    again = open_session(str(SEED), schedule_path=str(saved))
    assert again.scenario.policy == "spf-refetch-vma"
    assert again.position == session.position
    assert again.machine.snapshot() == session.machine.snapshot()


def test_a_schedule_without_stop_at_opens_at_the_violation(tmp_path: Path) -> None:
    schedule = tmp_path / "s.toml"
    schedule.write_text(
        'policy = "spf-refetch-vma"\n'
        'steps = ["A1 until wp_page_copy:copy", "A1 4", "B until done", "A2 until done", "A1 until done"]\n'
    )
    session = open_session(str(SEED), schedule_path=str(schedule))
    assert session.stop.text.startswith("lost write")
    assert open_session(str(SEED), schedule_path=str(schedule), goto_step=5).position == 5


async def test_typing_on_the_bundled_list_types_a_path_instead_of_opening_the_highlighted_one(tmp_path: Path) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        session = app.session
        await press(pilot, "o")
        picker = app.screen
        assert isinstance(picker, PickerScreen) and isinstance(app.focused, OptionList)
        await press(pilot, *f"{tmp_path}/x.toml")  # key by key, as typed: the list has focus
        field = picker.query_one("#picker-path", Input)
        assert app.focused is field and field.value == f"{tmp_path}/x.toml"
        await press(pilot, "enter")  # the typed file, which is not there, not the highlighted scenario
        assert isinstance(app.screen, ErrorDialog) and "x.toml" in screen_text(pilot)
        assert app.session is session


async def test_the_picker_opens_a_saved_schedule_at_its_stop_at_step(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c", "S", "S")  # stop short of the violation: the file opens here, not there
        first = app.session
        assert first is not None
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        await save_schedule_as_proposed(pilot, screen)
        (saved,) = tmp_path.glob("*.schedule.toml")
        at, snapshot = first.position, first.machine.snapshot()
        await press(pilot, "r")  # back to step 0 under the scenario's own schedule
        await press(pilot, "o")
        await type_text(pilot, str(saved))
        await press(pilot, "enter")
        for _ in range(50):  # the session left unsaved was kept, and is offered back: decline
            if isinstance(app.screen, ChoiceDialog):
                break
            await pilot.pause()
        await press(pilot, "escape")
        s = app.session
        assert isinstance(app.screen, DebuggerScreen) and s is not first and s is not None
        assert s.scenario.policy == "spf-refetch-vma"
        assert isinstance(s.strategy, Replay)
        assert at > 0 and s.position == at and s.machine.snapshot() == snapshot


async def test_the_first_picker_opens_a_session_file_as_session_does(tmp_path: Path) -> None:
    target = tmp_path / "mine.session.toml"
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s", "s", "s", "m")
        await type_text(pilot, "here")
        await press(pilot, "enter", "s", "ctrl+s")
        await type_text(pilot, str(target))  # over the default path, which is selected
        await press(pilot, "enter")
    assert target.is_file()

    again = SpftuiApp(None)  # `spftui` alone: the picker first
    async with again.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(again.screen, PickerScreen)
        await type_text(pilot, str(target))
        await press(pilot, "enter")
        s = again.session
        assert isinstance(again.screen, DebuggerScreen) and s is not None
        assert s.position == 4 and s.bookmarks == {"here": 3}
        assert again.session_file == str(target)  # q saves to it, as with --session


async def test_a_session_file_whose_scenario_is_not_found_says_how_to_open_it(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(SEED.read_text())
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "s.session.toml"
    app = SpftuiApp(mine)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s")
        assert app.save_session(str(target)) == str(target)
    again = SpftuiApp(SEED.parent / "dontneed_race.toml")  # another one open; `mine` is not beside it nor bundled
    async with again.run_test(size=(120, 40)) as pilot:
        await press(pilot, "o")
        await type_text(pilot, str(target))
        await press(pilot, "enter")
        assert isinstance(again.screen, ErrorDialog)
        message = str(again.screen.query_one("#error-message").content)
        assert "a session file, saved on 'mine'" in message
        assert f"open it with spftui SCENARIO --session {target}" in message


async def test_the_picker_says_how_to_replay_another_versions_schedule_without_a_flag_it_lacks(
    tmp_path: Path,
) -> None:
    """It said "(use --force to replay it anyway)": the debugger has no --force."""
    other = "sha256:0000" + scenario_hash(load(SEED)).removeprefix("sha256:")[4:]
    saved = tmp_path / "v.schedule.toml"
    saved.write_text(f'scenario = "cow_lost_write"\nscenario_name = "cow_lost_write"\nscenario_hash = "{other}"\n')
    saved.write_text(saved.read_text() + 'steps = ["A1 until done"]\n')
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "o")
        app.screen.query_one("#picker-path").focus()
        await type_text(pilot, str(saved))
        await press(pilot, "enter")
        assert isinstance(app.screen, ErrorDialog)
        message = " ".join(str(app.screen.query_one("#error-message").content).split())
        assert "recorded on another version of 'cow_lost_write' (sha256:00001a3e8f94)" in message
        assert message.endswith("(open it from the command line with --force to replay it anyway)")


async def test_save_schedule_to_a_directory_keeps_the_dialog_and_the_path_typed(tmp_path: Path) -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.action_save_schedule()
        await settle(pilot)
        dialog = app.screen
        await press(pilot, "ctrl+u")
        await type_text(pilot, str(tmp_path))
        await press(pilot, "enter")
        assert app.screen is dialog and dialog.query_one("#prompt-input", Input).value == str(tmp_path)
        assert "it is a directory" in str(dialog.query_one("#prompt-error").render())
        await type_text(pilot, "/s.toml")
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen) and (tmp_path / "s.toml").exists()
        assert any(str(tmp_path / "s.toml") in str(n.message).replace("\n", "") for n in app._notifications)
        (toast,) = [str(n.message) for n in app._notifications if n.title == "Schedule saved"]
        assert "FILE" not in toast and toast.replace("\n", "").endswith(f"with:spftui{tmp_path / 's.toml'}")


async def test_the_restore_offer_shows_the_saved_sessions_path_broken_only_after_a_slash_or_a_dot() -> None:
    """At 80 columns the path wrapped mid-name (`….session.tom` / `l`) after `it stays in`."""
    from spftui.engine.session_file import autosave_path, save_session
    from spftui.tui.format import home_path

    path = save_session(Session(load(SEED)), autosave_path(load(SEED)))
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):
            if isinstance(app.screen, ChoiceDialog):
                break
            await steady(pilot)
        lines = screen_text(pilot).splitlines()
        first = next(i for i, line in enumerate(lines) if "a file of its own), in" in line)
        pieces = []
        for line in lines[first + 1 :]:
            piece = line.split("▊", 1)[-1].rsplit("▎", 1)[0].strip()
            if not piece or "▁" in piece:
                break
            pieces.append(piece)
        assert "".join(pieces) == home_path(path) and len(pieces) > 1
        assert all(p.endswith(("/", ".")) for p in pieces[:-1]), pieces
