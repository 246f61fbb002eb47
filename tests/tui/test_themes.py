"""Every Textual theme is readable: the text on the debugger's screen has enough contrast.

Light themes must reach WCAG AA for body text (4.5:1), dark ones 3:1 (their
faint styles are meant to recede). Borders, scrollbars and block glyphs are
decoration and not counted; the ANSI themes use the terminal's own colours.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from tui_helpers import SEED, press

from spftui.tui.app import SpftuiApp
from spftui.tui.contrast import DARK_MIN_CONTRAST, MIN_CONTRAST, _rgb, contrast, luminance

DECORATION = re.compile(r"[\u2500-\u259f\s]")


def worst_text(app: SpftuiApp) -> tuple[float, str]:
    """The lowest contrast of any text cell on the screen, and that text."""
    worst = (21.0, "")
    for strip in app.screen._compositor.render_strips():  # type: ignore[attr-defined]
        for seg in strip:
            style = seg.style
            if style is None or not DECORATION.sub("", seg.text):
                continue
            if style.bgcolor is None:  # the terminal's own background shows: a dark band on a light theme
                worst = min(worst, (0.0, f"no background: {seg.text.strip()}"))
                continue
            if style.color is None:
                continue
            fg, bg = _rgb(style.color), _rgb(style.bgcolor)
            if not app.current_theme.dark and luminance(bg) < 0.05:  # a band tuned for dark themes
                worst = min(worst, (0.0, f"dark band: {seg.text.strip()}"))
                continue
            if style.reverse:
                fg, bg = bg, fg
            worst = min(worst, (contrast(fg, bg), seg.text.strip()))
    return worst


FAMILIES = [(False, MIN_CONTRAST), (True, DARK_MIN_CONTRAST)]


@pytest.mark.parametrize(("dark", "minimum"), FAMILIES, ids=["light", "dark"])
async def test_three_themes_of_the_family_keep_the_panes_text_readable(dark: bool, minimum: float) -> None:
    """The first, middle and last of the family by name (the slow variant: all of them)."""
    await readable(dark, minimum, lambda names: [names[0], names[len(names) // 2], names[-1]])


@pytest.mark.slow
@pytest.mark.parametrize(("dark", "minimum"), FAMILIES, ids=["light", "dark"])
async def test_every_theme_of_the_family_keeps_the_panes_text_readable(dark: bool, minimum: float) -> None:
    await readable(dark, minimum, lambda names: names)


async def readable(dark: bool, minimum: float, which: Callable[[list[str]], list[str]]) -> None:
    app = SpftuiApp(SEED)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, *"s" * 30)  # a screen with changed values, a future, marks
        family = sorted(n for n, t in app.available_themes.items() if t.dark == dark and not t.ansi)
        assert len(family) >= (5 if not dark else 10)
        themes = which(family)
        low = {}
        for name in themes:
            app.theme = name
            await pilot.pause()
            score, text = worst_text(app)
            if score < minimum - 0.01:
                low[name] = (round(score, 2), text)
        assert not low, f"text below {minimum}:1 contrast: {low}"
