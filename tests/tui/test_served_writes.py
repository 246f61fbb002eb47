"""A debugger served to a browser (`spftui serve`) writes only in the server's one folder for
the viewers' files: a viewer cannot make it write or replace any other file of the server's user."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.widgets import Input, Label
from tui_helpers import SEED, press, settle

from spftui.serve_cli import WRITE_DIR_ENV as SERVE_SETS
from spftui.tui.app import SpftuiApp
from spftui.tui.places import WRITE_DIR_ENV
from spftui.tui.screens.debugger import DebuggerScreen
from spftui.tui.screens.prompt import PromptDialog


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "served"
    folder.mkdir()
    monkeypatch.setenv(WRITE_DIR_ENV, str(folder))
    monkeypatch.chdir(tmp_path)  # (the server's current folder is elsewhere: --write-dir)
    return folder


async def answer(pilot, app: SpftuiApp, path: str) -> str:  # type: ignore[no-untyped-def]
    """Type `path` in the open file prompt and press Enter; what the prompt then says ("" if it closed)."""
    prompt = app.screen
    assert isinstance(prompt, PromptDialog)
    prompt.query_one("#prompt-input", Input).value = path
    await press(pilot, "enter")
    await settle(pilot)
    if app.screen is prompt:
        return str(prompt.query_one("#prompt-error", Label).content)
    return ""


def test_serve_tells_the_debugger_its_folder_by_the_variable_the_debugger_reads() -> None:
    assert SERVE_SETS == WRITE_DIR_ENV


@pytest.mark.parametrize("keys", [("x",), ("ctrl+s",)], ids=["perfetto", "session"])
async def test_a_served_debugger_refuses_paths_out_of_its_folder(
    keys: tuple[str, ...], served: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("mine")
    (served / "out").symlink_to(tmp_path)  # a symlink leading out of the folder
    (served / "link.json").symlink_to(outside)
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s", *keys)
        prompt = app.screen
        assert isinstance(prompt, PromptDialog)
        assert prompt.query_one("#prompt-input", Input).value.startswith(str(served) + os.sep)  # proposed there
        for path in (str(outside), "../precious.txt", "~/x.json", "out/precious.txt", "link.json", "/etc/x.json"):
            said = await answer(pilot, app, path)
            assert said.startswith(f"this debugger is served: it writes only in {served}"), (path, said)
        assert outside.read_text() == "mine" and not (tmp_path / "x.json").exists()

        said = await answer(pilot, app, "mine.json")  # a name in the folder is written there
        assert said == "" and isinstance(app.screen, DebuggerScreen)
        await settle(pilot)
    written = (served / "mine.json").read_text()
    assert json.loads(written)["otherData"] if keys == ("x",) else 'scenario_name = "cow_lost_write"' in written


async def test_a_served_picker_opens_files_only_in_its_folder_and_the_bundled_ones(
    served: Path, tmp_path: Path
) -> None:
    """A viewer reads the server's disk through `o` too: a file elsewhere is refused before it
    is read (an error would quote its lines); the served folder's and the bundled ones open."""
    from spftui.tui.screens.error import ErrorDialog
    from spftui.tui.screens.picker import PickerScreen

    secret = tmp_path / "secret.toml"
    secret.write_text("password = 'hunter2'\n")
    (served / "mine.toml").write_text(SEED.read_text())
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "o")
        picker = app.screen
        assert isinstance(picker, PickerScreen) and picker.start_dir == str(served)
        for path in (str(secret), "../secret.toml"):
            picker.open(path)
            await settle(pilot)
            assert isinstance(app.screen, ErrorDialog), path
            shown = app.screen.message
            assert "opens files only in" in shown and "hunter2" not in shown
            await press(pilot, "escape")
        picker.open("mine.toml")  # relative to the served folder
        await settle(pilot)
        assert isinstance(app.screen, DebuggerScreen)
