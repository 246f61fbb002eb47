"""The key bar: Textual's Footer, rebuilt only when what it shows changes.

Keys that do not fit are left out whole (Textual cuts the last one mid-word: `b Bre`
at 80 columns), in order: the first keys stay, the palette key always.

Textual 8.2.8's Footer recomposes (a new widget per key, each restyled) on
every `bindings_updated` signal, and a screen sends one for each focus
change, whether or not a shown key changed: starting the debugger rebuilt
its 14 keys eight times (about a tenth of the start-up), and Tab twice.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


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
        self._fit(self.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """Show the keys, in order, while they fit in `width` cells beside the palette key; hide the rest."""
        keys = list(self.query_children(FooterKey))
        if not keys or width <= 0:
            return
        room = width
        for key in keys:
            if key.has_class("-command-palette"):
                room -= self._width_of(key)
        for key in keys:
            if key.has_class("-command-palette"):
                continue
            need = self._width_of(key)
            fits = need - key.styles.margin.right <= room  # (the last key's right margin may fall off)
            key.display = fits
            room = room - need if fits else -1  # (after one left out, the rest go too: the order stays)

    @staticmethod
    def _width_of(key: FooterKey) -> int:
        """The cells `key` takes: its text, padding, border and margins."""
        return key.render().cell_len + key.styles.gutter.width + key.styles.margin.width
