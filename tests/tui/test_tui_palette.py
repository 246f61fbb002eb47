"""Keys that crashed Textual 8.2.8's command palette, and other races between queued keys.

Keys are posted together (as a fast typist or a paste delivers them) before
the app has handled the first: that is what reached Textual's unguarded
paths (see spftui/tui/screens/command.py).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from rich.style import Style
from textual.command import CommandList, CommandPalette
from tui_helpers import SEED, drain, post_key, press, settle

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.breakpoint import BreakpointDialog
from spftui.tui.screens.command import SafeCommandList, SafeCommandPalette
from spftui.tui.screens.debugger import DebuggerScreen

SIZES = [(120, 40), (80, 24)]


async def _burst(app: SpftuiApp, *keys: str) -> None:
    for key in keys:
        post_key(app, key)
    await drain(app)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("paging", ["pageup", "pagedown", "ctrl+home", "ctrl+end"])
async def test_paging_in_the_palette_before_its_first_layout_does_not_crash(size: tuple[int, int], paging: str) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await _burst(app, "ctrl+p", paging, paging)  # KeyError in OptionList._move_page with the stock palette
        await pilot.pause()
        assert isinstance(app.screen, SafeCommandPalette)
        await press(pilot, paging, "down", "up", paging)  # and paging once it is laid out
        assert isinstance(app.screen, CommandPalette)
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)
    assert app.return_value is None  # still running when the test closed it


@pytest.mark.parametrize(
    "keys", [("escape", "pageup"), ("escape", "down"), ("escape", "escape", "up"), ("x", "escape", "pagedown")]
)
async def test_keys_queued_behind_the_palette_closing_do_not_crash(keys: tuple[str, ...]) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await _burst(app, "ctrl+p", *keys)
        await pilot.pause()
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)
        await press(pilot, "s")
        assert app.session is not None and app.session.position == 1


@pytest.mark.parametrize("later", [0, 10, 20, 25, 30, 40])
async def test_keys_queued_behind_quit_end_the_app_cleanly(later: int) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await press(pilot, "ctrl+p", *"quit the app")
        assert isinstance(app.screen, CommandPalette)
        post_key(app, "enter")  # the one match, "Quit the application", runs
        for _ in range(later):  # (how far the exit has got when the keys arrive)
            await asyncio.sleep(0)
        for key in ("s", "pageup", "escape", "ctrl+p"):  # reach App.on_event with no screen left
            post_key(app, key)
    assert app.return_value in (None, 0)


async def test_stepping_back_with_the_source_zoomed_and_the_threads_pane_detached() -> None:
    app = SpftuiApp(SEED, policy="spf-mm-seq")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await press(pilot, "s", "s", "s", "z")  # zoom: the other panes leave the layout
        await _burst(app, "S", "S", "v", "S", "z", "S", "tab", "S")  # NoScreen in ThreadsPane._room
        await settle(pilot)
        assert app.session is not None and app.session.position == 0
        assert isinstance(app.screen, DebuggerScreen)


@pytest.mark.parametrize("expr", ['A.pte["x"]', 'A.pte["0x10000"] + 1', 'frame["x"].count'])
@pytest.mark.parametrize("kind", ["watch", "condition"])
async def test_an_expression_the_engine_cannot_evaluate_is_an_error_in_the_dialog(kind: str, expr: str) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.action_add_breakpoint(kind)
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BreakpointDialog)
        await press(pilot, *expr, "enter")
        error = str(dialog.query_one("#bp-error").render())
        assert isinstance(app.screen, BreakpointDialog), "the dialog stays open"
        assert error, "and says why"
        await press(pilot, "enter")  # pressing Enter again is no way round an evaluator failure
        assert isinstance(app.screen, BreakpointDialog) or app.session is not None
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)
        await press(pilot, "s", "s", "c")  # and the session goes on
        assert app.session is not None and app.session.position >= 2


async def test_a_state_dependent_evaluation_error_is_shown_once_then_enter_adds_the_watch() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.action_add_breakpoint("watch")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BreakpointDialog)
        await press(pilot, *"frame[99].count", "enter")
        assert isinstance(app.screen, BreakpointDialog)
        assert "Enter again" in str(dialog.query_one("#bp-error").render())
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen)
        assert app.session is not None
        assert any(b.kind == "watch" for b in app.session.breakpoints.items)


@pytest.mark.parametrize("size", SIZES)
async def test_paging_with_the_command_list_focused_does_not_crash(size: tuple[int, int]) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await press(pilot, "ctrl+p", "tab")  # focus leaves the input for the list
        await _burst(app, "x", "backspace", "pagedown", "pageup", "tab", "pagedown", "end", "pageup")
        await pilot.pause()
        await press(pilot, "escape", "escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_pressing_v_quickly_settles_on_one_view() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        shown: list[int] = []
        show = screen._show_view
        screen._show_view = lambda index: (shown.append(index), show(index))  # type: ignore[method-assign]
        await _burst(app, *"vvvvvvv")  # stale tab events used to flip two views back and forth for ever
        await settle(pilot)
        await pilot.pause()
        assert screen.view_index == 7 % 3
        assert screen.tabs.active == f"tab-{('g-code', 'g-memory', 'g-trace')[screen.view_index]}"
        assert len(shown) <= 14


@pytest.mark.parametrize("paging", ["pageup", "pagedown"])
async def test_the_theme_palette_is_guarded_too(paging: str) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.search_themes()  # what the palette's theme command calls: Textual's opened its own, unguarded palette
        await _burst(app, paging, paging, "tab", paging)
        await pilot.pause()
        assert isinstance(app.screen, SafeCommandPalette)
        await press(pilot, "escape", "escape")
        assert isinstance(app.screen, DebuggerScreen)


async def test_a_click_on_a_hit_that_a_search_replaced_does_nothing() -> None:
    """The stock OptionList indexes its options with the clicked row's old index (IndexError)."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "ctrl+p")
        hits = app.screen.query_one(SafeCommandList)
        stale = SimpleNamespace(style=Style(meta={"option": hits.option_count + 5}))
        await hits._on_click(stale)  # type: ignore[arg-type]
        with pytest.raises(IndexError):  # what Textual 8.2.8's CommandList does with it
            await CommandList._on_click(hits, stale)  # type: ignore[arg-type]
        assert isinstance(app.screen, SafeCommandPalette)
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen)
