"""The key bar: Textual's Footer, rebuilt only when what it shows changes.

Textual 8.2.8's Footer recomposes (a new widget per key, each restyled) on
every `bindings_updated` signal, and a screen sends one for each focus
change, whether or not a shown key changed: starting the debugger rebuilt
its 14 keys eight times (about a tenth of the start-up), and Tab twice.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class KeyBar(Footer):
    """A Footer that skips a recompose which would show the same keys."""

    _shown: tuple[Any, ...] | None = None

    def _keys_shown(self) -> tuple[Any, ...]:
        """What `Footer.compose` draws from: each shown binding, enabled or not, and the palette key."""
        active = self.screen.active_bindings
        display = self.app.get_key_display
        keys = tuple(
            (b.key, display(b), b.description, b.action, b.group, enabled, tooltip)
            for _node, b, enabled, tooltip in active.values()
            if b.show
        )
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        palette_key = None if palette is None else (display(palette[1]), *palette[1:])
        return (keys, palette_key, self.compact, self.show_command_palette, self.combine_groups, self._bindings_ready)

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()
