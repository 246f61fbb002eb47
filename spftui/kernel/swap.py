"""Swap: do_swap_page on a swap-cache hit (B.5), reclaim (swap-out; a lazyfree page's discard: lazyfree.py) and aging.

Simplifications: swapped-out pages stay in the swap cache (no writeback, no
swap-cache eviction), so a swap PTE always finds its page there; the
`swapin_readahead` path is not modelled. Under the anon-exclusive rule
(5.18+) a swap-in takes the page out of the swap cache as soon as no swap
PTE uses the slot, on a read fault too; the kernel calls try_to_free_swap
only when should_try_to_free_swap() holds (c145e0b47c77: swap full, the
VMA mlocked, or a write fault with page_count == 2), so after a read
swap-in it keeps the page in the swap cache with its extra reference. That
changes a later do_wp_page's page_count, reclaim of the page and swap_map.
Exclusivity is not carried in the swap PTE either (5.19+'s
SWP_EXCLUSIVE for pinned pages is, see README): a page swapped out loses
PageAnonExclusive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import Decision, SpecRead, Swap, Validate
from .fault import do_wp_page_entry, fault_done, lock_pte, spf_abort, unlock_pte
from .lazyfree import unmap_lazyfree
from .ops import finish_op
from .pte import (
    mk_pte,
    pte_mkold,
    pte_pfn,
    pte_present,
    pte_special,
    pte_swp_offset,
    pte_young,
    swp_entry_to_pte,
    vpn_of,
)
from .state import VM_WRITE
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread


@step("do_swap_page:lookup_swap_cache")
def lookup_swap_cache(m: Machine, t: Thread) -> None:
    """lookup_swap_cache: find the page for the swap entry (+1 reference)."""
    off = pte_swp_offset(t.vmf["orig_pte"])
    m.touched.add(("swap", off))
    pfn = m.swap_cache.get(off)
    if pfn is None:
        if t.vmf["mode"] in ("spf", "dufour"):
            spf_abort(m, t, "SWAP_NOPAGE", f"swap entry {off} is not in the swap cache")
        else:
            fault_done(m, t)  # the entry went away: the PTE changed; retry
        return
    m.get_page(t, pfn)
    t.vmf["page"] = pfn
    t.pc = "do_swap_page:lock_page"


@step("do_swap_page:lock_page")
def swap_lock_page(m: Machine, t: Thread) -> None:
    """lock_page (speculative: trylock_page, abort on failure); check the page is still that entry's."""
    pfn = t.vmf["page"]
    f = m.frame(pfn)
    if t.vmf["mode"] in ("spf", "dufour"):
        if not locks.trylock_page(m, t, f):
            spf_abort(m, t, "PAGE_LOCK", f"trylock_page(pfn {pfn}) failed")
            return
    elif not locks.lock_page(m, t, f):
        return
    t.vmf["page_locked"] = True
    if f.swapcache != pte_swp_offset(t.vmf["orig_pte"]):
        locks.unlock_page(m, t, f)
        del t.vmf["page_locked"]
        m.put_page(t, t.vmf.pop("page"))
        fault_done(m, t)
        return
    lock_pte(m, t, "do_swap_page:set_pte")


def _release_page(m: Machine, t: Thread) -> None:
    pfn = t.vmf.pop("page")
    if t.vmf.pop("page_locked", False):
        locks.unlock_page(m, t, m.frames[pfn])
    m.put_page(t, pfn)


@step("do_swap_page:set_pte")
def swap_set_pte(m: Machine, t: Thread) -> None:
    """Under the PTL: pte_same, mk_pte (read-only), reuse for a write by the release's rule, do_page_add_anon_rmap, swap_free."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    table = m.table_of(t.vmf["pmd"])
    orig = t.vmf["orig_pte"]
    cur = m.get_pte(table, vpn)
    m.emit(Validate(t.name, "pte_same", "pte", mm.name, t.vmf["addr"], None, orig, cur, cur == orig))
    if cur != orig:
        unlock_pte(m, t)
        _release_page(m, t)
        fault_done(m, t)
        return
    pfn = t.vmf["page"]
    f = m.frame(pfn)
    off = pte_swp_offset(orig)
    m.touched.add(("swap", off))
    flags = t.vmf["pvma"][2] if "pvma" in t.vmf else m.vma_of(t.vmf["vma"]).vm_flags
    write = t.vmf["write"] and bool(flags & VM_WRITE)
    reuse = False
    if m.reuse.anon_exclusive:
        m.swap_free(off)  # v5.18: swap_free / try_to_free_swap first
        if m.swap_map.get(off, 0) == 0 and f.swapcache is not None:
            m.delete_from_swap_cache(f)
        seen = f"page_count {f.count} after swap_free (the {m.reuse.name} rule)"
        if write and f.count == 1:
            reuse = True
            f.anon_exclusive = True
    else:
        swapcount = m.swap_map.get(off, 0)
        seen = f"mapcount {f.mapcount} + swap count {swapcount} (reuse_swap_page; page_count {f.count} not looked at)"
        if write and f.mapcount + swapcount <= 1:  # reuse_swap_page, refcount ignored
            reuse = True
            m.delete_from_swap_cache(f)
        m.swap_free(off)
    if write:
        m.emit(
            Decision(
                t.name,
                "reuse" if reuse else "copy",
                pfn,
                f"{'reuses' if reuse else 'maps read-only'} pfn {pfn}: {seen}",
            )
        )
    mm.rss_anon += 1
    mm.rss_swap -= 1
    f.mapcount += 1  # do_page_add_anon_rmap
    m.transfer_ref_to_pte(t, pfn)
    m.set_pte(mm, table, vpn, mk_pte(pfn, write=reuse, dirty=reuse))
    del t.vmf["page"]
    if t.vmf.pop("page_locked", False):
        locks.unlock_page(m, t, f)
    if t.vmf["write"] and not reuse:
        t.vmf["orig_pte"] = orig = m.get_pte(table, vpn)
        m.emit(SpecRead(t.name, "pte", mm.name, t.vmf["addr"], None, orig))  # wp_page_copy checks it again
        t.pc = do_wp_page_entry(m, t)
        return
    unlock_pte(m, t)
    fault_done(m, t)


# ------------------------------------------------------------------ reclaim
@step("shrink_page_list:isolate")
def isolate(m: Machine, t: Thread) -> None:
    """Find the page mapped at ADDR; isolate it (+1 reference) and trylock_page."""
    mm = m.thread_mm(t)
    pte = m.pte_lookup(mm, vpn_of(t.vmf["addr"]))
    if not pte_present(pte) or pte_special(pte):
        finish_op(m, t, "nothing to reclaim")
        return
    pfn = pte_pfn(pte)
    f = m.frame(pfn)
    if f.mapping:
        finish_op(m, t, "a page-cache page: file reclaim is not modelled")
        return
    if not locks.trylock_page(m, t, f):
        finish_op(m, t, "page locked: skipped")
        return
    m.get_page(t, pfn)
    t.vmf["page"] = pfn
    # shrink_page_list: add_to_swap only for PageSwapBacked; a lazyfree page (MADV_FREE) goes to try_to_unmap
    t.pc = "try_to_unmap_one:unmap" if f.lazyfree else "shrink_page_list:add_to_swap"


@step("shrink_page_list:add_to_swap")
def add_to_swap(m: Machine, t: Thread) -> None:
    """add_to_swap: allocate a swap slot and add the page to the swap cache (+1 reference)."""
    f = m.frame(t.vmf["page"])
    if f.swapcache is None:
        off = m.get_swap_page()
        m.touched.add(("swap", off))
        m.swap_map[off] = 0
        m.swap_cache[off] = f.pfn
        f.swapcache = off
        f.count += 1
        m.dirty_frames.add(f.pfn)
        m.emit(Swap("add_to_swap", f.pfn, off))
    t.pc = "try_to_unmap_one:unmap"


@step("try_to_unmap_one:unmap")
def try_to_unmap_one(m: Machine, t: Thread) -> None:
    """For one mapping: take its PTL, ptep_clear_flush, install the swap entry, page_remove_rmap, put_page (a
    lazyfree page: discard it, or remap it if written since MADV_FREE, lazyfree.py)."""
    f = m.frame(t.vmf["page"])
    off = f.swapcache
    target = t.vmf.get("unmap")  # the mapping chosen before blocking on its PTL
    if target is None:
        if not f.ptes or (off is None and not f.lazyfree):
            t.pc = "shrink_page_list:putback"
            return
        target = t.vmf["unmap"] = sorted(f.ptes)[0]
    name, vpn = target
    mm = m.mms[name]
    table = m.pmd_table(mm, vpn)
    if table is None:  # unmapped meanwhile
        del t.vmf["unmap"]
        return
    if not locks.ptl_lock(m, t, table):
        return
    del t.vmf["unmap"]
    pte = m.get_pte(table, vpn)
    if f.lazyfree and m.pte_maps(pte) == f.pfn:
        kept = not unmap_lazyfree(m, t, f, mm, vpn)
        locks.ptl_unlock(m, t, table)
        if kept:  # try_to_unmap fails: the page goes back (activate_locked)
            t.pc = "shrink_page_list:putback"
            return
    elif off is not None and m.pte_maps(pte) == f.pfn:  # page_vma_mapped_walk re-checks under the PTL
        m.set_pte(mm, table, vpn, 0)
        m.flush_tlb_range(mm, vpn, vpn + 1)
        m.set_pte(mm, table, vpn, swp_entry_to_pte(off))
        m.touched.add(("swap", off))
        m.swap_map[off] += 1
        mm.rss_anon -= 1
        mm.rss_swap += 1
        f.mapcount -= 1
        f.anon_exclusive = False  # simplification: 5.19+ keeps it in the swap PTE (not modelled)
        locks.ptl_unlock(m, t, table)
        m.put_page(None, f.pfn)
    else:
        locks.ptl_unlock(m, t, table)
    if not f.ptes:
        t.pc = "shrink_page_list:putback"


@step("shrink_page_list:putback")
def putback(m: Machine, t: Thread) -> None:
    """unlock_page and drop the isolation reference: a swapped-out page stays in the swap cache; a discarded
    lazyfree page is freed unless another reference holds it (page_ref_freeze(page, 1) fails: kept)."""
    pfn = t.vmf.pop("page")
    f = m.frame(pfn)
    locks.unlock_page(m, t, f)
    m.put_page(t, pfn)
    if f.swapcache is not None:
        finish_op(m, t, f"pfn {pfn} swapped out")
    elif f.lazyfree and not f.ptes:  # page_ref_freeze(page, 1): only reclaim's reference left, else kept
        finish_op(m, t, f"pfn {pfn} discarded" if f.free else f"pfn {pfn} unmapped, kept by page_count {f.count}")
    else:
        finish_op(m, t, "done")


@step("page_referenced_one:clear_young")
def clear_young(m: Machine, t: Thread) -> None:
    """Reclaim's aging: under the PTL, ptep_clear_flush_young clears the A bit (x86 does not flush)."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    tid = t.vmf.get("table")  # the table whose PTL we queued on
    table = m.pmd_table(mm, vpn) if tid is None else m.table_of(tid)
    if table is None:
        finish_op(m, t, "no PTE table")
        return
    t.vmf["table"] = table.id
    if not locks.ptl_lock(m, t, table):
        return
    young = False
    if not table.free and mm.pgd.get(table.pmd) == table.id:
        pte = m.get_pte(table, vpn)
        young = pte_present(pte) and pte_young(pte)
        if young:
            m.set_pte(mm, table, vpn, pte_mkold(pte))
    locks.ptl_unlock(m, t, table)
    finish_op(m, t, "referenced" if young else "not referenced")
