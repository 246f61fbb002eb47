"""Text that fits: toasts break paths only at separators, the why chain wraps, the key bar drops whole keys, the quit note."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import SEED, press, screen_text, steady

from spftui.tui.app import SpftuiApp
from spftui.tui.format import home_path, path_lines, toast_command, toast_path
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.picker import PickerScreen
from spftui.tui.screens.quit import QuitDialog
from spftui.tui.screens.why import WhyScreen
from spftui.tui.widgets.timeline import TimelinePane


def debugger(app: SpftuiApp) -> DebuggerScreen:
    return next(s for s in app.screen_stack if isinstance(s, DebuggerScreen))


def test_a_toast_path_breaks_after_a_slash_or_a_dot_never_inside_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/u")
    shown = toast_path("/home/u/work/traces/cow_lost_write.spf-refetch-vma.perfetto.json", 80)
    assert shown.replace("\n", "") == "~/work/traces/cow_lost_write.spf-refetch-vma.perfetto.json"
    lines = shown.splitlines()
    assert all(len(line) <= 37 for line in lines)  # a toast at 80 columns: 40 cells, 3 of them padding and edge
    assert all(line.endswith(("/", ".")) for line in lines[:-1])
    assert toast_path("/tmp/x.json", 120) == "/tmp/x.json"


def test_a_toast_command_names_the_file_as_a_shell_takes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "u"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert toast_command("spftui", str(tmp_path / "work" / "s.toml"), 120) == "spftui s.toml"  # in the current folder
    assert toast_command("spftui", str(tmp_path / "u" / "my runs" / "s.toml"), 120) == "spftui ~/'my runs/s.toml'"
    assert toast_command("spftui", "/etc/s.toml", 120) == "spftui /etc/s.toml"
    long = toast_command("spftui cow_lost_write --session", "/srv/a/cow_lost_write.classic.session.toml", 80)
    assert long.splitlines() == ["spftui cow_lost_write --session", "/srv/a/cow_lost_write.classic.", "session.toml"]


async def test_toasts_go_when_a_dialog_opens_and_a_saved_path_is_not_cut_mid_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await press(pilot, "s", "ctrl+s", "enter")
        (toast,) = [n.message for n in app._notifications if n.title == "Session saved"]
        lines = toast.splitlines()
        assert all(len(line) <= 37 for line in lines)  # the paths, broken where a toast at 80 columns can show them
        at = lines.index("Open it with:")
        assert lines[0] == "Saved" and "".join(lines[1:at]) == str(
            tmp_path / "cow_lost_write.spf-refetch-vma.session.toml"
        )
        # the command with the real file (it said FILE), relative: it is in the current folder
        assert lines[at + 1] == "spftui cow_lost_write --session"
        assert "".join(lines[at + 2 :]) == "cow_lost_write.spf-refetch-vma.session.toml"
        await press(pilot, "o")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        assert not app._notifications  # nothing left over the picker


async def test_a_long_cause_wraps_in_the_why_dialog_at_80x24_and_the_start_is_said_once() -> None:
    app = SpftuiApp(SEED, policy="spf-refetch-vma")
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "c")  # the lost write at step 52, passed by ABA twice
        debugger(app).query_one(TimelinePane).focus()
        await press(pilot, "y")
        why = app.screen
        assert isinstance(why, WhyScreen)
        aba = next(i for i, c in enumerate(why.causes) if c.what == "aba")
        await press(pilot, *["down"] * aba)
        text = " ".join(re.sub("[▁-█│]", " ", screen_text(pilot)).split())  # (no borders, no scrollbar)
        assert why.causes[aba].text in text  # read in full: no `…`, no horizontal scroll needed
        await press(pilot, "end")
        detail = str(why.query_one("#why-detail", Static).content)
        assert why.causes[-1].step == -1 and "initial state" in why.causes[-1].text
        assert "initial state" in detail and detail.count("initial state") == 1
        await press(pilot, "enter")
        assert app.session is not None and app.session.position == 0


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_key_bar_leaves_out_whole_keys_that_do_not_fit(size: tuple[int, int]) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=size) as pilot:
        await steady(pilot)
        bar = screen_text(pilot).splitlines()[-1].rstrip()
        words = {"palette", "Step", "Cont", "Back", "Goto", "Help", "Quit", "Thread", "RevCont", "Break", "Watch"}
        words |= {"Policy", "Restart", "Open"}
        last = bar.split()[-1]
        assert last in words, bar  # not `b Bre`
        assert bar.startswith("^p palette") and "C RevCont" in bar
        if size[0] >= 120:
            assert bar.endswith("o Open")


async def test_the_quit_dialog_puts_the_path_on_its_own_line_and_no_line_starts_with_punctuation() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s", "q")
        dialog = app.screen
        assert isinstance(dialog, QuitDialog)
        text = str(dialog.query_one("#quit-what", Static).content)
        shown_path = path_lines(home_path(dialog.path), 66)  # (its own lines, broken after a / or .)
        assert "\n" + shown_path + "\n" in text and "Opening this scenario again offers it back." in text
        shown = screen_text(pilot)
        assert not re.search(r"█\s+[;:,.]", shown)
