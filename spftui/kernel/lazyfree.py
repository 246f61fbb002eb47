"""MADV_FREE: lazily freed anonymous pages, and reclaim discarding them (history.md §6.2).

`madvise ADDR LEN free` runs madvise_free_single_vma under the mmap *read*
lock: madvise_free_pte_range, one step per PTE table under its PTL, then
tlb_finish_mmu. A swap PTE is dropped at once (free_swap_and_cache: the data
is discarded without a swap-in). A present anonymous page is made clean and
old (ptep_get_and_clear_full, pte_mkold, pte_mkclean, set_pte_at) and marked
lazyfree (mark_page_lazyfree: ClearPageSwapBacked, `Frame.lazyfree`); a
swap-cache page is first freed from the swap cache (try_to_free_swap).

Reclaim (swap.py) then treats a lazyfree page as the kernel does: no
add_to_swap; try_to_unmap_one clears the PTE and, if neither the PTE nor the
page is dirty, discards the page (`discard`) — the process reads zeros there
next. A page written again since (its PTE dirty) is remapped and made
swap-backed again. Before 6c8e2a256915 (`madv_free_refcount_check`, 5.18 by
date; the stable queues of April 2022 took it back to 4.9.y) an extra
reference did not stop the discard: a direct-IO read whose
get_user_pages_fast reference was taken after MADV_FREE wrote its data into
a page nobody mapped any more, and the process read zeros. The fix discards
only when page_count == 1 (reclaim's isolation) + mapcount.

What the lost-write oracle is told (oracles.py): after MADV_FREE each word
of a marked page may read back as it was or as zero (`either`), until a
store makes it definite — except a store that leaves the PTE clean, through
a TLB entry loaded before MADV_FREE cleaned it and not yet flushed (a store
racing madvise), which reclaim may still discard (`store_racing_madv_free`).
A page reclaim discards while a GUP reference holds it is marked
`DISCARDED`: a write through that reference is a write to the address it
was taken on (the process expects to read it there, whatever it maps there
by then), so the zeros it reads are a lost write.

Simplifications: only a page this process alone maps is marked (the kernel
marks a clean shared page too, and reclaim then discards it from every clean
mapping); PG_dirty of an anonymous page is not modelled apart from the PTE's
dirty bit, except that releasing a FOLL_WRITE reference (`unpin`, as a
direct-IO completion's set_page_dirty_lock + put_page) makes a lazyfree page
swap-backed again at once (the kernel sets PG_dirty, and reclaim makes it
swap-backed on its next pass); GUP has no fast path (gup.py), and its slow
path touches no dirty bit here, as get_user_pages_fast does not (the
kernel's slow path with FOLL_TOUCH|FOLL_WRITE calls set_page_dirty, which
would have saved the page: the race needs GUP-fast); try_to_unmap_one
flushes at once (ptep_clear_flush), where 5.x reclaim batches the flush;
mark_page_lazyfree acts at once, where the kernel batches it per CPU; a page
kept because of an extra reference is made swap-backed, as 5.18 to 6.14 do
(6.15's "mm: Set folio swapbacked iff folios are dirty in try_to_unmap_one"
keeps it lazyfree, so a later pass may still discard it: not modelled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import Decision
from .gup import unpin_coherence
from .oracles import either
from .pte import (
    ZERO_PFN,
    is_swap_pte,
    pte_dirty,
    pte_mkclean,
    pte_mkold,
    pte_pfn,
    pte_present,
    pte_special,
    pte_swp_offset,
    pte_young,
)
from .state import DISCARDED, LAZYFREE, SWAPBACKED
from .steps import step
from .zap import next_table, range_ptes, range_table

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Frame, Mm, Thread


@step("madvise_free_pte_range:walk")
def madvise_free_pte_range(m: Machine, t: Thread) -> None:
    """One PTE table under its PTL: drop swap PTEs; clean and age each present anonymous PTE (its TLB entry batched
    for tlb_finish_mmu's flush) and mark_page_lazyfree its page."""
    mm = m.thread_mm(t)
    table = range_table(m, t, mm)
    if table is None:
        return
    for vpn, pte in range_ptes(t, table):
        if is_swap_pte(pte):  # "just clear page table to prevent swap-in"
            m.set_pte(mm, table, vpn, 0)
            mm.rss_swap -= 1
            m.touched.add(("shadow", mm.name))
            mm.shadow.pop(vpn, None)  # the data is discarded, as by MADV_DONTNEED
            unpin_coherence(m, mm, vpn)
            m.free_swap_and_cache(pte_swp_offset(pte))
            continue
        if not pte_present(pte) or pte_special(pte) or pte_pfn(pte) == ZERO_PFN:
            continue
        f = m.frame(pte_pfn(pte))
        # mark_page_lazyfree takes only a page on the LRU: one reclaim has isolated (it holds it
        # locked, in the model) is not marked, nor one left in the swap cache
        if f.mapping or f.mapcount != 1 or f.locked is not None or not _free_swap(m, t, f):
            continue
        if pte_young(pte) or pte_dirty(pte):
            m.set_pte(mm, table, vpn, pte_mkclean(pte_mkold(pte)))
        f.lazyfree = LAZYFREE
        _may_discard(m, mm, vpn)
    locks.ptl_unlock(m, t, table)
    next_table(m, t)


def _free_swap(m: Machine, t: Thread, f: Frame) -> bool:
    """A swap-cache page: trylock_page, try_to_free_swap (no other swap PTE may still name it); False: skip it."""
    if f.swapcache is None:
        return True
    if not locks.trylock_page(m, t, f):
        return False
    freed = m.swap_map.get(f.swapcache, 0) == 0
    if freed:
        m.delete_from_swap_cache(f)
    locks.unlock_page(m, t, f)
    return freed


def _may_discard(m: Machine, mm: Mm, vpn: int) -> None:
    """The shadow: every word at vpn may now read back as it is or as zero, until a store."""
    words = mm.shadow.get(vpn)
    if words is None:
        return
    m.touched.add(("shadow", mm.name))
    mm.shadow[vpn] = [either(w, 0) if w != 0 else 0 for w in words]


def unmap_lazyfree(m: Machine, t: Thread, f: Frame, mm: Mm, vpn: int) -> bool:
    """try_to_unmap_one's MADV_FREE branch, under the PTL, the PTE mapping `f`: discard the page from this
    mapping, or (written again, or with the fix an extra reference) remap it and make it swap-backed. True: discarded."""
    table = m.pmd_table(mm, vpn)
    assert table is not None
    pteval = m.get_pte(table, vpn)
    m.set_pte(mm, table, vpn, 0)  # ptep_clear_flush
    m.flush_tlb_range(mm, vpn, vpn + 1)
    others = f.count - 1 - f.mapcount  # beside reclaim's isolation reference and the mappings'
    dirty = pte_dirty(pteval)  # (set_page_dirty)
    held = others > 0 and m.fixed("madv_free_refcount_check")
    if dirty or held:
        m.set_pte(mm, table, vpn, pteval)
        f.lazyfree = SWAPBACKED  # SetPageSwapBacked: reclaim fails for this page
        why = (
            "the PTE is dirty: written since MADV_FREE"
            if dirty
            else f"page_count {f.count} ≠ 1 + mapcount {f.mapcount}"
        )
        m.emit(Decision(t.name, "keep", f.pfn, f"keeps lazyfree pfn {f.pfn}: {why}"))
        return False
    refs = (
        f" (page_count {f.count}: {others} more reference{'s' if others > 1 else ''} not looked at)" if others else ""
    )
    m.emit(Decision(t.name, "discard", f.pfn, f"discards lazyfree pfn {f.pfn}: clean{refs}"))
    mm.rss_anon -= 1
    f.mapcount -= 1  # page_remove_rmap
    if any(p[1] == f.pfn for th in m.threads for p in th.pins):
        f.lazyfree = DISCARDED  # (what the holder writes now is lost: oracles.record_pin_write)
    m.put_page(None, f.pfn)  # the mapping's reference
    return True
