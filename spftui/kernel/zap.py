"""Tearing down PTEs: zap_pte_range, free_pgtables and tlb_finish_mmu (B.9).

Shared by munmap's unmap_region and MADV_DONTNEED's zap_page_range. The
range and the work left live in the thread's locals: `start`/`end` (vpns),
`pmds` (tables still to zap), `batch` (the mmu_gather: pages whose PTE is
gone but whose reference is only dropped after the TLB flush),
`free_tables`, and `stale`: the vpns whose PTE this zap cleared while a
CPU's TLB still mapped the same page there (its pfn is in `batch`, or is the
zero page). Until tlb_finish_mmu flushes, a thread may load or store through
such an entry, even after another thread has faulted a new page in
(MADV_DONTNEED holds only the mmap read lock): the lost-write oracle accepts
either outcome for those accesses (`oracles.zapped_unflushed`). `stale`
exists only while such an entry does, so a zap with no stale TLB entry
around adds nothing to the state; it holds vpns, not pfns, so the explorer's
pfn renaming (engine/symmetry.py) has nothing to rename in it.

Fidelity: the kernel's unmap_vmas / zap_page_range walk VMA by VMA, each
clamped to the range, and skip empty pmds (pmd_none_or_clear_bad). Here the
zap covers the operation's whole range, VMA or not, one step per PTE table
that is present (`Machine.tables_in`): the cost follows the tables that
exist, never the range's length (munmap of the whole user space is cheap).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from . import locks
from .events import Pgtable
from .filemap import after_zap
from .gup import unpin_coherence
from .pte import PTRS_PER_PTE, is_swap_pte, pte_pfn, pte_present, pte_special, pte_swp_offset, vpn_of
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Mm, PteTable, Thread


def begin_zap(m: Machine, t: Thread, start_vpn: int, end_vpn: int, discard: bool = True) -> None:
    """The range and its tables; `discard` (munmap, MADV_DONTNEED; not MADV_FREE): the process gives
    the range up, so a pin at an address whose PTE is already gone (reclaim discarded a lazyfree
    page) owes it nothing from here, as zap_pte_range says of the PTEs it clears."""
    mm = m.thread_mm(t)
    t.vmf["start"], t.vmf["end"] = start_vpn, end_vpn
    t.vmf["pmds"] = tuple(m.tables_in(mm, start_vpn, end_vpn))
    t.vmf["batch"] = ()
    if discard:
        pinned = {vpn_of(p[0]) for th in m.threads if th.mm == mm.name for p in th.pins}
        for vpn in sorted(pinned):
            if start_vpn <= vpn < end_vpn and m.pte_lookup(mm, vpn) == 0:
                unpin_coherence(m, mm, vpn)


def range_table(m: Machine, t: Thread, mm: Mm) -> PteTable | None:
    """The range's next PTE table, its PTL taken; None when this step has nothing more to do (the
    range is done, the table was freed by a concurrent free_pgtables, or the PTL is held: it waits)."""
    pmds = t.vmf["pmds"]
    if not pmds:
        m.ret_(t)
        return None
    m.touched.add(("mm", mm.name))  # reads pgd
    tid = mm.pgd.get(pmds[0])
    if tid is None:  # nothing left to walk in it
        next_table(m, t)
        return None
    table = m.table_ref(tid)
    return table if locks.ptl_lock(m, t, table) else None


def range_ptes(t: Thread, table: PteTable) -> list[tuple[int, int]]:
    """(vpn, pte) of the table's entries inside the range, in order."""
    lo, hi = t.vmf["start"], t.vmf["end"]
    base = table.pmd * PTRS_PER_PTE
    return [(base + idx, table.entries[idx]) for idx in sorted(table.entries) if lo <= base + idx < hi]


def next_table(m: Machine, t: Thread) -> None:
    """On to the range's next table; the walk returns after the last."""
    t.vmf["pmds"] = t.vmf["pmds"][1:]
    if not t.vmf["pmds"]:
        m.ret_(t)


@step("zap_pte_range:zap")
def zap_pte_range(m: Machine, t: Thread) -> None:
    """One PTE table under its PTL: clear each PTE, page_remove_rmap, batch the page (its reference stays until the flush)."""
    mm = m.thread_mm(t)
    m.touched.add(("shadow", mm.name))  # the discarded data leaves the shadow
    table = range_table(m, t, mm)
    if table is None:
        return
    batch = list(t.vmf["batch"])
    pinned = any(th.pins and th.mm == mm.name for th in m.threads)
    # Only a CPU running a thread of mm can hold a TLB entry of mm (cpu == thread index).
    cpus = [th.index for th in m.threads if th.mm == mm.name]
    stale = list(t.vmf.get("stale", ()))
    for vpn, pte in range_ptes(t, table):
        m.set_pte(mm, table, vpn, 0)  # ptep_get_and_clear_full
        mm.shadow.pop(vpn, None)  # the data is discarded
        after_zap(m, mm, vpn)  # (a private file page reads the file again)
        if pinned:
            unpin_coherence(m, mm, vpn)
        if pte_present(pte) and _in_a_tlb(m, cpus, (mm.name, vpn), pte_pfn(pte)):
            stale.append(vpn)
        if pte_present(pte) and not pte_special(pte):
            pfn = pte_pfn(pte)
            f = m.frame(pfn)
            f.mapcount -= 1  # page_remove_rmap
            if not f.mapping:
                mm.rss_anon -= 1
            t.refs.append(pfn)  # the PTE's reference moves to the mmu_gather batch
            batch.append(pfn)
        elif is_swap_pte(pte):
            mm.rss_swap -= 1
            m.free_swap_and_cache(pte_swp_offset(pte))
    t.vmf["batch"] = tuple(batch)
    if stale:
        t.vmf["stale"] = tuple(stale)
    locks.ptl_unlock(m, t, table)
    next_table(m, t)


def _in_a_tlb(m: Machine, cpus: list[int], key: tuple[str, int], pfn: int) -> bool:
    """Does one of `cpus` hold a TLB entry for `key` that maps `pfn`?"""
    found = False
    for cpu in cpus:
        m.touched.add(("tlb", cpu))
        ent = m.tlbs[cpu].get(key)
        found = found or (ent is not None and ent[0] == pfn)
    return found


@step("free_pgtables:free")
def free_pgtables(m: Machine, t: Thread) -> None:
    """Unhook PTE tables no VMA needs any more from the pmd; they are freed after the flush and an RCU grace period."""
    mm = m.thread_mm(t)
    freed = []
    for pmd in m.tables_in(mm, t.vmf["start"], t.vmf["end"]):
        tid = mm.pgd[pmd]
        if _vma_overlaps(m, mm, pmd * PTRS_PER_PTE << 12, (pmd + 1) * PTRS_PER_PTE << 12):
            continue
        del mm.pgd[pmd]
        freed.append(tid)
        m.emit(Pgtable(mm.name, tid, "unhooked"))
    t.vmf["free_tables"] = tuple(freed)
    m.touched.add(("mm", mm.name))
    m.ret_(t)


def _vma_overlaps(m: Machine, mm: Mm, lo: int, hi: int) -> bool:
    """Does a VMA of mm overlap [lo, hi)? The index is sorted and its VMAs do not
    overlap, so only the last VMA starting below hi can reach past lo."""
    i = bisect_left(mm.starts, hi) - 1
    return i >= 0 and m.vmas[mm.vmas[i]].vm_end > lo


@step("tlb_finish_mmu:flush")
def tlb_finish_mmu(m: Machine, t: Thread) -> None:
    """Flush the TLBs for the range, then put_page the batched pages and queue the tables for RCU freeing."""
    mm = m.thread_mm(t)
    m.flush_tlb_range(mm, t.vmf["start"], t.vmf["end"])
    if t.vmf.pop("stale", None) is not None:
        m.touched.add(("shadow", mm.name))  # the lost-write oracle's exemption ends (oracles.zapped_unflushed)
    for pfn in t.vmf.pop("batch", ()):
        m.put_page(t, pfn)
    for tid in t.vmf.pop("free_tables", ()):
        m.call_rcu("table", tid)
    m.ret_(t)
