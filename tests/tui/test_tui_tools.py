"""The debugger's tools over a whole run, through the palette and keys: a Perfetto export,
a diff between two branches, the race-window coverage, and a scenario's own breakpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from tui_helpers import SEED, press, screen_text, settle, type_text

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.choice import ChoiceDialog
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.error import ErrorDialog
from spftui.tui.screens.prompt import PromptDialog


async def palette(pilot, app: SpftuiApp, text: str) -> None:  # type: ignore[no-untyped-def]
    """Ctrl+P, type `text`, wait for the hits, Enter."""
    await press(pilot, "ctrl+p")
    assert isinstance(app.screen, CommandPalette)
    await type_text(pilot, text)
    commands = app.screen.query_one(CommandList)
    for _ in range(100):  # the palette searches in a worker
        if commands.option_count:
            break
        await pilot.pause()
    await press(pilot, "enter")
    await pilot.pause()


def messages(app: SpftuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def answer_prompt(pilot, app: SpftuiApp, path: str) -> None:  # type: ignore[no-untyped-def]
    prompt = app.screen
    assert isinstance(prompt, PromptDialog)
    field = prompt.query_one("#prompt-input")
    field.value = path  # type: ignore[attr-defined]
    await press(pilot, "enter")


async def test_the_palette_exports_the_timeline_as_a_perfetto_trace_and_asks_before_replacing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPFTUI_SCREENSHOT_DIR", str(tmp_path / "shots"))  # missing: it is made
    monkeypatch.chdir(tmp_path)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "c")
        await settle(pilot)
        s = app.session
        assert s is not None and s.violations()
        await palette(pilot, app, "export perfetto")
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)
        default = prompt.query_one("#prompt-input").value  # type: ignore[attr-defined]
        assert default == str(tmp_path / "shots" / "cow_lost_write.spf-refetch-vma.perfetto.json")
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen)
        trace = json.loads(Path(default).read_text())
        assert trace["otherData"]["steps"] == s.length
        assert any(default in m for m in messages(app))  # says where it went

        # a relative name is in the current folder; a taken one asks first
        (tmp_path / "run.json").write_text("mine")
        await press(pilot, "x")
        await answer_prompt(pilot, app, "run.json")
        ask = app.screen
        assert isinstance(ask, ChoiceDialog) and "already exists" in ask.title_text
        await press(pilot, "escape")  # nothing written
        assert (tmp_path / "run.json").read_text() == "mine"
        await press(pilot, "x")
        await answer_prompt(pilot, app, "run.json")
        await press(pilot, "up", "enter")  # from Cancel: Keep both: the first free numbered name
        assert (tmp_path / "run.json").read_text() == "mine"
        assert json.loads((tmp_path / "run.2.json").read_text())["otherData"]["steps"] == s.length
        await press(pilot, "x")
        await answer_prompt(pilot, app, "run.json")
        await press(pilot, "home", "enter")  # the first: Replace it
        assert json.loads((tmp_path / "run.json").read_text())["otherData"]["steps"] == s.length


async def test_a_missing_folder_or_an_unwritable_one_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s", "x")
        await answer_prompt(pilot, app, str(tmp_path / "nowhere" / "t.json"))
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)  # still open, saying why
        assert f"no such folder: {tmp_path / 'nowhere'}" in str(prompt.query_one("#prompt-error").content)  # type: ignore[attr-defined]
        await answer_prompt(pilot, app, str(tmp_path))
        assert "is a folder" in str(prompt.query_one("#prompt-error").content)  # type: ignore[attr-defined]
        if os.geteuid() != 0:  # root writes anywhere
            locked.chmod(0o500)
            try:
                await answer_prompt(pilot, app, str(locked / "t.json"))
                assert "permission denied" in str(prompt.query_one("#prompt-error").content)  # type: ignore[attr-defined]
            finally:
                locked.chmod(0o700)
        # a failure at write time (the folder went away after the prompt checked it) is a dialog
        await press(pilot, "escape")
        dbg = app.screen
        assert isinstance(dbg, DebuggerScreen)
        dbg._write_trace(str(tmp_path / "gone" / "t.json"), "refuse")
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert "no such directory" in str(app.screen.query_one("#error-message").content)  # type: ignore[attr-defined]
        assert "Traceback" not in screen_text(pilot)
