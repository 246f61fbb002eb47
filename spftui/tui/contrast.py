"""Readable colours on every theme: a line filter that darkens text too light for its background.

The panes' colours (palette.py, and a few styles in the widgets) are tuned for
dark themes; on a light theme a pale yellow or light blue on near-white cannot
be read. Rather than a second palette that every pane must remember to use,
the app runs this filter over what it draws: a foreground whose WCAG contrast with the cell's background is below
`MIN_CONTRAST` is blended towards black (keeping its hue) until it reaches
it. Text that is readable already is left as it is.
"""

from __future__ import annotations

from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

MIN_CONTRAST = 4.5
"""On light themes: WCAG AA for body text."""
DARK_MIN_CONTRAST = 3.0
"""On dark themes, whose faint styles (future steps, separators) are meant to recede: WCAG AA for large text."""

RGB = tuple[int, int, int]


def luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: RGB, bg: RGB) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


@lru_cache(maxsize=4096)
def readable(fg: RGB, bg: RGB, minimum: float = MIN_CONTRAST) -> RGB:
    """`fg`, or `fg` blended towards black (white on a dark `bg`) just enough to reach `minimum`."""
    if contrast(fg, bg) >= minimum:
        return fg
    target = 0 if luminance(bg) > 0.18 else 255
    lo, hi = 0.0, 1.0
    for _ in range(12):  # bisect the blend: the smallest change that is readable
        mid = (lo + hi) / 2
        mixed = tuple(round(c + (target - c) * mid) for c in fg)
        if contrast(mixed, bg) >= minimum:  # type: ignore[arg-type]
            hi = mid
        else:
            lo = mid
    return tuple(round(c + (target - c) * hi) for c in fg)  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _lighten(dark: RGB, base: RGB) -> RGB:
    """A dark highlight as a pale tint of its hue on a light background (80% of the way to it)."""
    return tuple(round(d + (b - d) * 0.8) for d, b in zip(dark, base, strict=True))  # type: ignore[return-value]


def _rgb(color: RichColor) -> RGB:
    t = color.get_truecolor()
    return (t.red, t.green, t.blue)


class ContrastFilter(LineFilter):
    """Darkens (or lightens) foregrounds below `minimum` contrast with their background."""

    def __init__(self, minimum: float = MIN_CONTRAST, enabled: bool = True) -> None:
        super().__init__(enabled=enabled)
        self.minimum = minimum

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        base = background.rgb
        light = luminance(base) > 0.5
        out = []
        for seg in segments:
            style = seg.style
            if style is None or style.color is None or not seg.text.strip() or style.color.is_default:
                out.append(seg)
                continue
            fg, bg = style.color, style.bgcolor
            bg_rgb = _rgb(bg) if bg is not None and not bg.is_default else base
            if light and bg is not None and luminance(bg_rgb) < 0.05:
                # a dark band (palette.CHANGED's) made for dark themes: its tint on this one
                bg_rgb = _lighten(bg_rgb, base)
                style = style + Style(bgcolor=RichColor.from_rgb(*bg_rgb))
                seg = Segment(seg.text, style, seg.control)
            if style.reverse:
                out.append(seg)  # (the colours swap on screen: leave such cells to their author)
                continue
            fixed = readable(_rgb(fg), bg_rgb, self.minimum)
            if fixed == _rgb(fg):
                out.append(seg)
            else:
                out.append(Segment(seg.text, style + Style(color=RichColor.from_rgb(*fixed)), seg.control))
        return out
