"""The physical pages pane: one row per page frame.

pfn, `page_count`, `page_mapcount`, contents, flags (anon-exclusive, swap
cache, PG_locked, freed), who maps it and which threads hold references.
Fields the last step changed are shown as old→new. Virtualised.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.text import Text

from ...engine.view import ZERO_PFN
from .. import format as fmt
from .. import palette as pal
from ..view import View
from .pane import Pane, retitle


class FrameRow(NamedTuple):
    pfn: int
    page_count: int
    mapcount: int
    words: tuple[int, ...]
    flags: tuple[str, ...]
    maps: tuple[tuple[str, int], ...]
    refs: tuple[int, ...]  # thread indices holding a reference
    old: tuple[Any, ...] | None  # (count, mapcount, words, flags) before the last step, if different


def _flags(f: Any, names: list[str]) -> tuple[str, ...]:
    out = []
    if f.free and f.pfn != ZERO_PFN:
        out.append("freed")
    if f.anon_exclusive:
        out.append("anon_excl")
    if f.swapcache is not None:
        out.append(f"swapcache {f.swapcache}")
    if f.locked is not None:
        out.append(f"locked {names[f.locked]}")
    return tuple(out)


class FramesPane(Pane):
    """Page frames."""

    TITLE = "Physical pages"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.changed_rows: list[int] = []

    def build(self, view: View) -> list[Any]:
        m = view.machine
        names = view.session.names
        refs: dict[int, list[int]] = {}
        for t in m.threads:
            for pfn in t.refs:
                refs.setdefault(pfn, []).append(t.index)
        before = view.before.frames if view.before is not None else None
        head = Text("   pfn  count   map  contents", pal.LABEL)
        rows: list[Any] = [head]
        self.changed_rows = []
        live = 0
        for f in m.frames:
            flags = _flags(f, names)
            words = tuple(f.words)
            old = None
            if before is not None:
                if f.pfn < len(before):
                    b = before[f.pfn]
                    prev = (b.count, b.mapcount, tuple(b.words), _flags(b, names))
                else:
                    prev = (0, 0, (), ("new",))
                if prev != (f.count, f.mapcount, words, flags):
                    old = prev
                    self.changed_rows.append(len(rows))
            if not f.free:
                live += 1
            rows.append(
                FrameRow(
                    f.pfn, f.count, f.mapcount, words, flags, tuple(sorted(f.ptes)), tuple(refs.get(f.pfn, ())), old
                )
            )
        retitle(self, f"Physical pages · {live} in use")
        if self.changed_rows:
            self.reveal = (self.changed_rows[0], False)
        return rows

    def selectable(self, index: int) -> bool:
        return index > 0

    def draw(self, row: Any) -> Text:
        assert self.view is not None
        names = self.view.session.names
        r: FrameRow = row
        old = r.old
        dead = "freed" in r.flags
        base = pal.DIM if dead else pal.VALUE
        line = Text(f"{r.pfn:>6}", pal.ADDR if not dead else pal.DIM)
        if r.pfn == ZERO_PFN:
            line.append("  zero page", pal.DIM)
            return line
        line.append("  ")
        self._field(line, r.page_count, old[0] if old else None, 5, base)
        line.append("  ")
        self._field(line, r.mapcount, old[1] if old else None, 4, base)
        line.append("  ")
        if old is not None and old[2] and old[2] != r.words:
            line.append(fmt.words(r.words), pal.CHANGED)
        else:
            line.append(fmt.words(r.words), base)
        flags = " ".join(r.flags)
        if flags:
            changed = old is not None and old[3] != r.flags
            line.append("  " + flags, pal.CHANGED if changed else (pal.STALE if dead else pal.ODD))
        if r.maps:
            line.append("  ← " + " ".join(f"{mm}:{vpn << 12:#x}" for mm, vpn in r.maps), pal.DIM)
        for i in r.refs:
            line.append(" ref ", pal.DIM)
            line.append(names[i], pal.thread_style(i))
        return line

    def _field(self, line: Text, value: int, old: int | None, width: int, base: Any) -> None:
        if old is not None and old != value:
            line.append(f"{old}→{value}".rjust(width), pal.CHANGED)
        else:
            line.append(str(value).rjust(width), base)

    def watch_expr(self) -> str | None:
        if 0 < self.cursor < len(self.rows):
            return f"frame[{self.rows[self.cursor].pfn}]"
        return None
