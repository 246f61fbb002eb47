"""The page tables & VMAs pane: per process, its VMAs and its PTEs.

Each VMA shows its range, flags, mapped file and anon_vma, with any speculative VMA copy
(`pvma`) beside it. PTEs are grouped by PTE table (with the table's PTL
holder); each shows pfn and W/A/D or a swap entry, what the last step changed
(old → new), the `orig_pte` a fault sampled for it, stale TLB entries, and
the pages threads hold from `gup` there (`pin`/`gup`, with the pfn).
Virtualised: a thousand PTEs cost only the rows on screen.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.text import Text

from ...engine.view import FOLL_PIN, PTRS_PER_PTE, pte_pfn, pte_present, pte_write
from .. import format as fmt
from .. import palette as pal
from ..view import View
from .pane import Pane, retitle


class PteRow(NamedTuple):
    mm: str
    vpn: int
    pte: int
    old: int | None  # the value before the last step, if it changed
    snaps: tuple[tuple[int, int], ...]  # (thread, orig_pte)
    tlbs: tuple[tuple[int, int, bool], ...]  # (cpu, pfn, writable) that disagree with the PTE
    pins: tuple[tuple[int, int, bool], ...] = ()  # (thread, pfn, FOLL_PIN) pages GUP gave for this address


class PtePane(Pane):
    """VMAs and PTEs per process."""

    TITLE = "Page tables & VMAs"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.exprs: dict[int, str] = {}  # row -> what `w` watches there (PTE rows: from the row)
        self.changed_rows: list[int] = []
        self.shown_at: tuple[Any, int, int] | None = None
        """(timeline, position) of the rows built last: a step from there reuses the PTE rows it left alone."""
        self.table_rows: dict[tuple[str, int], tuple[dict[int, int], list[PteRow]]] = {}
        """(mm, pmd) -> the table's entries and the PTE rows last built from them."""
        self.marked: set[tuple[str, int]] = set()
        """PTEs whose rows show more than their value (a change, an `orig_pte`, a stale TLB)."""

    def build(self, view: View) -> list[Any]:
        m = view.machine
        names = view.session.names
        # (the before-state's step too: rows built against another before-state are not reused)
        at = (view.epoch, view.position, view.before.steps if view.before is not None else -1)
        last, self.shown_at = self.shown_at, at
        if last == at:
            return self.rows  # same state (a thread selected, a breakpoint added)
        # A row is reused when its PTE is unchanged and nothing else marks it:
        # only after one step on the same timeline (its "changed" marks are the step's).
        one_step = last is not None and last[0] == at[0] and last[1] == at[1] - 1 == at[2]
        cache = self.table_rows if one_step else {}
        self.table_rows = {}
        rows: list[Any] = []
        self.exprs = {}
        self.changed_rows = []
        snaps: dict[tuple[str, int], list[tuple[int, int]]] = {}
        pvmas: dict[str, list[tuple[int, tuple[int, int, int, int | None]]]] = {}
        pins: dict[tuple[str, int], list[tuple[int, int, bool]]] = {}
        for t in m.threads:
            vmf = t.vmf
            if "orig_pte" in vmf and "addr" in vmf:
                snaps.setdefault((t.mm, vmf["addr"] >> 12), []).append((t.index, vmf["orig_pte"]))
            if "pvma" in vmf:
                pvmas.setdefault(t.mm, []).append((t.index, vmf["pvma"]))
            for addr, pfn, foll, _zaps in t.pins:
                pins.setdefault((t.mm, addr >> 12), []).append((t.index, pfn, bool(foll & FOLL_PIN)))
        tlbs: dict[tuple[str, int], list[tuple[int, int, bool]]] = {}
        for cpu, tlb in enumerate(m.tlbs):
            for (space, vpn), (pfn, w) in tlb.items():
                tlbs.setdefault((space, vpn), []).append((cpu, pfn, w))
        marked = set(view.pte_old) | set(snaps) | set(tlbs) | set(pins)
        redo = marked | self.marked
        self.marked = marked
        redo_tables = {(mm, vpn // PTRS_PER_PTE) for mm, vpn in redo}
        total = 0
        for name, mm in m.mms.items():
            if not mm.exists and not mm.vmas:
                continue  # (not forked yet; once dup_mmap copies into it, its tables show, as the mm pane says)
            head = Text(name, pal.FUNC)
            head.append(
                f"  {fmt.count(len(mm.vmas), 'VMA')} · {fmt.count(len(mm.pgd), 'PTE table')}"
                f" · rss anon {mm.rss_anon} swap {mm.rss_swap}",
                pal.DIM,
            )
            if not mm.exists:
                head.append("  (being forked)", pal.DIM)
            rows.append(head)
            for vid in mm.vmas:
                self.exprs[len(rows)] = f"{name}.vma[{m.vmas[vid].vm_start:#x}]"
                rows.append(self._vma(view, vid, pvmas.get(name, []), names))
            for pmd, tid in sorted(mm.pgd.items()):
                table = m.tables[tid]
                line = Text(f"  pmd {pmd} → PTE table {tid}", pal.LABEL)
                if table.ptl is not None:
                    line.append("  ptl ", pal.LABEL)
                    line.append(names[table.ptl], pal.thread_style(table.ptl))
                    if table.ptl_waiters:
                        line.append(" waiting " + ",".join(names[w] for w in table.ptl_waiters), pal.BLOCKED)
                rows.append(line)
                tkey = (name, pmd)
                shown = cache.get(tkey)
                if shown is not None and tkey not in redo_tables and shown[0] == table.entries:
                    rows.extend(shown[1])  # (a dict compare: C speed, a few µs for 512 PTEs)
                    self.table_rows[tkey] = shown
                    total += len(shown[1])
                    continue
                before = {r.vpn: r for r in shown[1]} if shown is not None else {}
                start = len(rows)
                base = pmd * PTRS_PER_PTE
                entries = table.entries
                for cmm, vpn in view.pte_old:  # a PTE the step cleared still gets its row (old → 0)
                    if cmm == name and vpn // PTRS_PER_PTE == pmd and vpn % PTRS_PER_PTE not in entries:
                        if entries is table.entries:
                            entries = dict(entries)
                        entries[vpn % PTRS_PER_PTE] = 0
                for idx in sorted(entries):
                    vpn = base + idx
                    pte = entries[idx]
                    key = (name, vpn)
                    if key not in redo:
                        row = before.get(vpn)
                        if row is not None and row.pte == pte:
                            rows.append(row)
                            continue
                    old = view.pte_old.get(key)
                    live_tlbs = tuple(
                        (cpu, pfn, w)
                        for cpu, pfn, w in tlbs.get(key, ())
                        if not pte_present(pte) or pte_pfn(pte) != pfn or (w and not pte_write(pte))
                    )
                    if old is not None:
                        self.changed_rows.append(len(rows))
                    rows.append(
                        PteRow(name, vpn, pte, old, tuple(snaps.get(key, ())), live_tlbs, tuple(pins.get(key, ())))
                    )
                total += len(rows) - start
                self.table_rows[tkey] = (dict(table.entries), rows[start:])
        retitle(self, f"Page tables & VMAs · {fmt.count(total, 'PTE')}")
        if self.changed_rows:
            first = self.changed_rows[0]
            self.reveal = (first, False)
        return rows

    def _vma(self, view: View, vid: int, pvmas: list[Any], names: list[str]) -> Text:
        m = view.machine
        v = m.vmas[vid]
        old = view.before.vmas[vid] if view.before is not None and vid < len(view.before.vmas) else None
        line = Text(f"  vma{vid} ", pal.LABEL)
        line.append(fmt.vma_range(v.vm_start, v.vm_end), pal.ADDR)
        flags = fmt.vm_flags(v.vm_flags)
        if old is not None and not old.free and old.vm_flags != v.vm_flags:
            line.append(f" {fmt.vm_flags(old.vm_flags)}→{flags}", pal.CHANGED)
        else:
            line.append(f" {flags}", pal.VALUE)
        line.append(fmt.vma_notes(v.vm_flags), pal.VALUE)
        if v.vm_file:
            line.append(f"  file {v.vm_file}", pal.VALUE)
        line.append(f"  anon_vma {v.anon_vma if v.anon_vma is not None else '—'}", pal.DIM)
        for i, copy in pvmas:
            if copy[0] < v.vm_end and v.vm_start < copy[1]:
                same = copy == v.copy_fields()
                line.append("   ")
                line.append(names[i], pal.thread_style(i))
                line.append(" copy " + ("= live" if same else fmt.pvma(copy)), pal.SAME if same else pal.STALE)
        return line

    def draw(self, row: Any) -> Text:
        assert self.view is not None
        names = self.view.session.names
        r: PteRow = row
        line = Text("   ")
        line.append(fmt.vpn_addr(r.vpn).rjust(9), pal.ADDR)
        line.append(" ")
        if r.old is not None:
            line.append(f"{fmt.pte(r.old)} → {fmt.pte(r.pte)}", pal.CHANGED)
        else:
            line.append(fmt.pte(r.pte).ljust(14), pal.VALUE)
        for i, orig in r.snaps:
            same = orig == r.pte
            line.append("  ")
            line.append(names[i], pal.thread_style(i))
            line.append(" orig_pte ", pal.LABEL)
            line.append("= live" if same else fmt.pte(orig), pal.SAME if same else pal.STALE)
        for cpu, pfn, w in r.tlbs:
            line.append(f"   TLB cpu{cpu} → pfn {pfn} {'W' if w else 'RO'} (stale)", pal.STALE)
        for i, pfn, pin in r.pins:
            line.append("  ")
            line.append(names[i], pal.thread_style(i))
            line.append(f" {'pin' if pin else 'gup'} pfn {pfn}", pal.LABEL)
        return line

    def watch_expr(self) -> str | None:
        if not 0 <= self.cursor < len(self.rows):
            return None
        row = self.rows[self.cursor]
        if isinstance(row, PteRow):
            return f"{row.mm}.pte[{row.vpn << 12:#x}]"
        return self.exprs.get(self.cursor)
