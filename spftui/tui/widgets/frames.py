"""The physical pages pane: one row per page frame.

pfn, `page_count`, `page_mapcount`, contents, flags (page cache FILE[index],
anon-exclusive, FOLL_PIN pins, swap cache, PG_locked, freed), who maps it and which threads hold references.
Fields the last step changed are shown as old→new. Virtualised.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.text import Text

from ...engine.view import ZERO_PFN, pte_pfn, pte_present
from .. import format as fmt
from .. import palette as pal
from ..lookup import pte_at
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


def _sig(f: Any) -> tuple[Any, ...]:
    """What a frame's row shows, cheaply: equal signatures draw equal rows (with the PTE events)."""
    return (
        f.count,
        f.mapcount,
        f.free,
        f.anon_exclusive,
        f.swapcache,
        f.locked,
        len(f.ptes),
        f.pincount,
        f.lazyfree,
        *f.words,
    )


def pte_at_row(m: Any, key: tuple[str, int]) -> int:
    """The live PTE for (mm, vpn), 0 if none."""
    return pte_at(m, key[0], key[1])


def _flags(f: Any, names: list[str], exclusive: bool) -> tuple[str, ...]:
    """The row's flags; PG_anon_exclusive only where the release has it (the anon-exclusive
    rule, 5.19) and on a live page (the model keeps the bit under every rule)."""
    out = []
    if f.free and f.pfn != ZERO_PFN:
        out.append("freed")
    if f.mapping:
        out.append(f"page cache {f.mapping}[{f.index}]")
    if exclusive and f.anon_exclusive and not f.free:
        out.append("anon_excl")
    if f.pincount:
        out.append(f"pinned ×{f.pincount}")
    if f.lazyfree and not f.free:  # (a freed page keeps the flag until alloc_page clears it)
        out.append("lazyfree" if f.lazyfree == 1 else "discarded")  # (2: reclaim discarded it while it was held)
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
        self.shown_at: tuple[Any, int, int] | None = None
        """(timeline, position) of the rows built last: a step from there rebuilds only what it changed."""
        self.sigs: list[tuple[Any, ...]] = []
        self.refs: dict[int, list[int]] = {}
        self.live = 0

    def build(self, view: View) -> list[Any]:
        m = view.machine
        names = view.session.names
        refs: dict[int, list[int]] = {}
        for t in m.threads:
            for pfn in t.refs:
                refs.setdefault(pfn, []).append(t.index)
        # (the before-state's step too: rows built against another before-state are not reused)
        at = (view.epoch, view.position, view.before.steps if view.before is not None else -1)
        last, self.shown_at = self.shown_at, at
        n = len(m.frames)
        if last is not None and len(self.sigs) == n and last[0] == at[0]:
            if last[1:] == at[1:]:
                return self.rows  # same state (a thread selected, a breakpoint added)
            if last[1] == at[1] - 1 == at[2] and view.before is not None:
                return self._after_one_step(view, names, refs)
        return self._build_all(view, names, refs)

    def _build_all(self, view: View, names: list[str], refs: dict[int, list[int]]) -> list[Any]:
        m = view.machine
        before = view.before.frames if view.before is not None else None
        exclusive = m.reuse.anon_exclusive
        head = Text("   pfn  count   map  contents", pal.LABEL)
        rows: list[Any] = [head]
        self.changed_rows = []
        self.sigs = []
        self.live = 0
        for f in m.frames:
            flags = _flags(f, names, exclusive)
            words = tuple(f.words)
            old = None
            if before is not None:
                if f.pfn < len(before):
                    b = before[f.pfn]
                    prev = (b.count, b.mapcount, tuple(b.words), _flags(b, names, exclusive))
                else:
                    prev = (0, 0, (), ("new",))
                if prev != (f.count, f.mapcount, words, flags):
                    old = prev
                    self.changed_rows.append(len(rows))
            if not f.free:
                self.live += 1
            self.sigs.append(_sig(f))
            rows.append(self._row(f, words, flags, refs, old))
        self.refs = refs
        return self._finish(rows)

    def _after_one_step(self, view: View, names: list[str], refs: dict[int, list[int]]) -> list[Any]:
        """One step on from the rows shown: redraw the frames it changed, and those it no longer has as changed.

        A frame's signature (its fields, and the length of its PTE set) finds
        what changed; the step's PTE events and the threads' references name
        the frames whose mappings or holders changed without that.
        """
        m = view.machine
        assert view.before is not None
        before = view.before.frames
        exclusive = m.reuse.anon_exclusive
        sigs = self.sigs
        # Rows showing an old value are redrawn too (their "was" is the previous step's), not only
        # the ones `changed_rows` lists: rows are pfn + 1 (the header is row 0).
        dirty = {i - 1 for i in self.changed_rows}
        dirty.update(i - 1 for i, r in enumerate(self.rows) if isinstance(r, FrameRow) and r.old is not None)
        for i, f in enumerate(m.frames):
            sig = _sig(f)
            if sig != sigs[i]:
                self.live += sigs[i][2] - sig[2]  # (free is a bool: a freed frame leaves `live`)
                sigs[i] = sig
                dirty.add(i)
        for old, new in ((view.pte_old[k], pte_at_row(m, k)) for k in view.pte_old):
            dirty.update(pte_pfn(p) for p in (old, new) if pte_present(p))
        if refs != self.refs:
            dirty.update(refs)
            dirty.update(self.refs)
        self.refs = refs
        rows = list(self.rows)
        self.changed_rows = []
        for pfn in sorted(d for d in dirty if 0 <= d < len(m.frames)):
            f = m.frames[pfn]
            words = tuple(f.words)
            flags = _flags(f, names, exclusive)
            b = before[pfn] if pfn < len(before) else None
            prev = (
                (b.count, b.mapcount, tuple(b.words), _flags(b, names, exclusive))
                if b is not None
                else (0, 0, (), ("new",))
            )
            old = prev if prev != (f.count, f.mapcount, words, flags) else None
            if old is not None:
                self.changed_rows.append(pfn + 1)
            rows[pfn + 1] = self._row(f, words, flags, refs, old)
        return self._finish(rows)

    def _row(
        self, f: Any, words: tuple[int, ...], flags: tuple[str, ...], refs: dict[int, list[int]], old: Any
    ) -> FrameRow:
        return FrameRow(
            f.pfn, f.count, f.mapcount, words, flags, tuple(sorted(f.ptes)), tuple(refs.get(f.pfn, ())), old
        )

    def _finish(self, rows: list[Any]) -> list[Any]:
        retitle(self, f"Physical pages · {self.live} in use")
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
