"""The command palette, guarded against Textual 8.2.8's crashes under fast keys.

Random keys in a terminal crashed the stock `CommandPalette`:

- PageUp/PageDown before the command list has had its first layout (Ctrl+P
  then PageUp typed quickly), or while a search refills it:
  `OptionList._move_page` reads a line map that is not built yet → `KeyError`;
- a key handled while the palette is being dismissed: its children are gone
  and `query_one(CommandList)` raises `NoMatches`;
- a click on a hit that a search has just replaced: `OptionList._on_click`
  indexes the old option list → `IndexError` (`SafeCommandList`);
- a selection queued behind Esc (or a second one): `Screen.dismiss` pops
  whatever screen is on top, so it popped the debugger (or raised
  `ScreenStackError` with nothing left to pop).

`SafeCommandPalette` (pushed by `SpftuiApp.action_command_palette`, and for
the palette's own "Change theme" by `search_themes`) ignores
those keys in those states, which is what they would do anyway. Re-check
each guard when upgrading Textual; tests/tui/test_tui_palette.py presses the
same keys.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.command import CommandInput, CommandList, CommandPalette, SearchIcon
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, LoadingIndicator

PAGING = frozenset({"page_up", "page_down"})


class SafeCommandList(CommandList):
    """The palette's hit list: a click on a hit that is no longer there does nothing."""

    async def _on_click(self, event: events.Click) -> None:
        clicked: int | None = event.style.meta.get("option")
        if clicked is not None and not 0 <= clicked < self.option_count:
            return
        await super()._on_click(event)


class SafeCommandPalette(CommandPalette):
    """Textual's command palette, minus the crashes (Textual 8.2.8)."""

    def compose(self) -> ComposeResult:
        """Textual's own layout (8.2.8), with `SafeCommandList` for its hit list."""
        with Vertical(id="--container"):
            with Horizontal(id="--input"):
                yield SearchIcon()
                yield CommandInput(placeholder=self._placeholder, select_on_focus=False)
                if not self.run_on_select:
                    yield Button("\u25b6")
            with Vertical(id="--results"):
                yield SafeCommandList()
                yield LoadingIndicator()

    # Priority: also when the list itself has focus (Tab, a click), whose own
    # OptionList bindings would page without the guard below.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown", "command_list('page_down')", "Next page", show=False, priority=True),
        Binding("pageup", "command_list('page_up')", "Previous page", show=False, priority=True),
    ]

    def _command_list(self) -> CommandList | None:
        """The list, or None while the palette is being torn down."""
        try:
            return self.query_one(CommandList)
        except NoMatches:
            return None

    def _action_command_list(self, action: str) -> None:
        commands = self._command_list()
        if commands is None:
            return
        if action in PAGING and not commands.scrollable_content_region:
            return  # no layout yet: OptionList has no line map to page through
        try:
            super()._action_command_list(action)
        except KeyError:
            # Its line map can also lag the options being replaced under a new search.
            if action not in PAGING:
                raise

    def _action_cursor_down(self) -> None:
        if self._command_list() is not None:
            super()._action_cursor_down()

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self._dismissing or self.app.screen is not self:
            return AwaitComplete()  # already closing, or another screen on top: nothing of ours to pop
        self._dismissing = True
        return super().dismiss(result)

    _dismissing = False

    def _watch__list_visible(self) -> None:
        if self._command_list() is not None:
            super()._watch__list_visible()

    async def _watch__show_busy(self) -> None:
        if self._command_list() is not None:
            await super()._watch__show_busy()
