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
from tui_helpers import SEED, drain, post_key, press, settle, type_text

from spftui.tui.app import SpftuiApp
from spftui.tui.screens.breakpoint import BreakpointDialog
from spftui.tui.screens.command import SafeCommandList, SafeCommandPalette
from spftui.tui.screens.debugger import DebuggerScreen

SIZES = [(120, 40), (80, 24)]


async def _burst(app: SpftuiApp, *keys: str) -> None:
    for key in keys:
        post_key(app, key)
    await drain(app)


PAGING = ["pageup", "pagedown", "ctrl+home", "ctrl+end"]


@pytest.mark.parametrize("size", SIZES)
async def test_paging_in_the_palette_before_its_first_layout_does_not_crash(size: tuple[int, int]) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for paging in PAGING:  # the palette opened afresh for each
            await _burst(app, "ctrl+p", paging, paging)  # KeyError in OptionList._move_page with the stock palette
            await pilot.pause()
            assert isinstance(app.screen, SafeCommandPalette), paging
            await press(pilot, paging, "down", "up", paging)  # and paging once it is laid out
            assert isinstance(app.screen, CommandPalette), paging
            await press(pilot, "escape")
            assert isinstance(app.screen, DebuggerScreen), paging
    assert app.return_value is None  # still running when the test closed it


async def test_keys_queued_behind_the_palette_closing_do_not_crash() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        bursts = [("escape", "pageup"), ("escape", "down"), ("escape", "escape", "up"), ("x", "escape", "pagedown")]
        for n, keys in enumerate(bursts, 1):
            await _burst(app, "ctrl+p", *keys)
            await pilot.pause()
            await press(pilot, "escape")
            assert isinstance(app.screen, DebuggerScreen), keys
            await press(pilot, "s")
            assert app.session is not None and app.session.position == n, keys


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


@pytest.mark.parametrize("kind", ["watch", "condition"])
async def test_an_expression_the_engine_cannot_evaluate_is_an_error_in_the_dialog(kind: str) -> None:
    """An evaluation error is shown, and the dialog stays open; Enter again adds the
    expression anyway (the error may be this state's: test_a_state_dependent_...)."""
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen) and app.session is not None
        had = len(app.session.breakpoints.items)  # (the scenario's own)
        for n, expr in enumerate(("A.vma[0x90000].vm_flags", 'A.mmap_seq + "1"', "frame[7].count"), 1):
            screen.action_add_breakpoint(kind)
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, BreakpointDialog)
            # a condition's expression is its condition: no second "only if" field beside it
            assert dialog.query_one("#bp-condition-row").display == (kind != "condition")
            await type_text(pilot, expr)
            await press(pilot, "enter")
            error = str(dialog.query_one("#bp-error").render())
            assert isinstance(app.screen, BreakpointDialog), f"{expr}: the dialog stays open"
            assert "right now; Enter again adds it anyway" in error, (expr, error)
            await press(pilot, "enter")
            assert isinstance(app.screen, DebuggerScreen), expr
            added = app.session.breakpoints.items[-1]
            assert len(app.session.breakpoints.items) == had + n
            assert (added.kind, str(added.expr)) == (kind, expr)
            await press(pilot, "s", "s")  # and the session goes on
        assert app.session.position == 6
        screen.action_add_breakpoint(kind)  # a key no state can have: refused however often Enter is pressed
        await pilot.pause()
        await type_text(pilot, 'A.pte["x"]')
        await press(pilot, "enter", "enter")
        assert "expected an address (an int), found str 'x'" in str(app.screen.query_one("#bp-error").render())
        assert isinstance(app.screen, BreakpointDialog) and len(app.session.breakpoints.items) == had + 3


async def test_an_evaluator_failure_is_refused_however_often_enter_is_pressed() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen) and app.session is not None

        def broken(expr: object) -> object:
            raise RuntimeError("an engine bug")

        app.session.evaluate = broken  # type: ignore[method-assign]
        before = list(app.session.breakpoints.items)
        screen.action_add_breakpoint("watch")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BreakpointDialog)
        await type_text(pilot, "A.pte[0x10000]")
        await press(pilot, "enter", "enter", "enter")
        assert isinstance(app.screen, BreakpointDialog)
        error = str(dialog.query_one("#bp-error").render())
        assert "cannot be evaluated: RuntimeError: an engine bug" in error
        await press(pilot, "escape")
        assert isinstance(app.screen, DebuggerScreen) and app.session.breakpoints.items == before


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
        await type_text(pilot, "frame[99].count")
        await press(pilot, "enter")
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


async def test_the_theme_palette_is_guarded_too() -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for paging in ("pageup", "pagedown"):
            app.search_themes()  # what the palette's theme command calls: Textual's opened its own, unguarded palette
            await _burst(app, paging, paging, "tab", paging)
            await pilot.pause()
            assert isinstance(app.screen, SafeCommandPalette), paging
            await press(pilot, "escape", "escape")
            assert isinstance(app.screen, DebuggerScreen), paging


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
