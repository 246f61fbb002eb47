"""do_wp_page, wp_page_reuse and wp_page_copy (kernel-mm.md B.3, B.4, B.6).

The reuse decision follows the machine's COW reuse rule (C.3):
  mapcount        (<= 5.8)  reuse_swap_page: mapcount + swapcount <= 1;
                            extra references (another thread's COW get_page)
                            are not counted
  page-count      (5.9-5.17) reuse only if page_count == 1
  anon-exclusive  (>= 5.19; 5.18 approximated) PageAnonExclusive
                            (6c287605fd56), else page_count == 1 after
                            freeing the swap cache; page_move_anon_rmap.
                            5.18 (c145e0b47c77) had the refcount rule with
                            no PG_anon_exclusive: the model runs 5.19's rule
                            for it (kernel = "5.18" only switches
                            gup_unshare off), which differs only for an
                            exclusive page with extra references
Simplification: when the page lock is contended, <= 5.8 would drop the PTL
and sleep in lock_page; here it copies instead (as 5.9+ does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import Cow, Decision, Validate
from .fault import fault_done, lock_pte, spf_abort, unlock_pte
from .pte import mk_pte, pte_mkyoung_dirty_write, pte_pfn, pte_special, vpn_of
from .state import VM_WRITE
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Frame, Thread


def _vm_flags(m: Machine, t: Thread) -> int:
    if "pvma" in t.vmf:
        return int(t.vmf["pvma"][2])
    flags: int = m.vma_of(t.vmf["vma"]).vm_flags
    return flags


def _what_decides(m: Machine, f: Frame) -> str:
    """The values the reuse rule reads, and the rule, for the `decision` event."""
    if f.mapping:
        return "a page-cache page is always copied"
    if f.locked is not None:  # can_reuse's trylock_page fails unless the rule decides first
        locked = f"; the page lock is held by {m.threads[f.locked].name}"
    else:
        locked = ""
    # in the swap cache: reuse_swap_page adds the slot's swap count (its swap PTEs) to the
    # mapcount; under the refcount rules the cache's own reference is one of page_count's
    slot = f.swapcache
    cached = slot is not None
    if not m.reuse.by_refcount or not m.fixed("page_count_reuse"):
        off = "; page_count_reuse off" if m.reuse.by_refcount else ""
        swap = f" + swap count {m.swap_map.get(slot, 0)}" if slot is not None else ""  # (as do_swap_page says it)
        return f"mapcount {f.mapcount}{swap} (the mapcount rule{off}: page_count {f.count} is not looked at){locked}"
    count = f"page_count {f.count}" + (", 1 of them the swap cache's" if cached else "")
    if not m.reuse.anon_exclusive:
        return f"{count} (the page-count rule){locked}"
    exclusive = "PageAnonExclusive" if f.anon_exclusive else f"not PageAnonExclusive, {count}"
    return f"{exclusive} (the anon-exclusive rule){locked}"


def can_reuse(m: Machine, t: Thread, f: Frame) -> bool:
    """The release's reuse rule, with the PTL held.

    A page-cache page (a private file mapping's, filemap.py) is never reused:
    the write copies it. With the fix `page_count_reuse` (09854ba94c6a) off,
    every rule falls back to the mapcount test it replaced.
    """
    if f.mapping:
        return False
    if not m.reuse.by_refcount or not m.fixed("page_count_reuse"):
        if not locks.trylock_page(m, t, f):
            return False
        swapcount = 0
        if f.swapcache is not None:
            m.touched.add(("swap", f.swapcache))
            swapcount = m.swap_map.get(f.swapcache, 0)
        ok = f.mapcount + swapcount <= 1
        if ok and f.swapcache is not None:
            m.delete_from_swap_cache(f)  # reuse_swap_page drops the swap cache
        locks.unlock_page(m, t, f)
        return ok
    if not m.reuse.anon_exclusive:
        if f.count != 1:
            return False
        if not locks.trylock_page(m, t, f):
            return False
        ok = f.mapcount == 1 and f.count == 1
        locks.unlock_page(m, t, f)
        return ok
    # anon-exclusive
    if f.anon_exclusive:
        return True
    if f.count > 1 + (1 if f.swapcache is not None else 0):
        return False
    if not locks.trylock_page(m, t, f):
        return False
    if f.swapcache is not None:
        m.touched.add(("swap", f.swapcache))
        if m.swap_map.get(f.swapcache, 0) == 0:
            m.delete_from_swap_cache(f)  # try_to_free_swap
    ok = f.count == 1
    if ok:
        f.anon_exclusive = True  # page_move_anon_rmap
    locks.unlock_page(m, t, f)
    return ok


@step("do_wp_page:reuse_check")
def do_wp_page(m: Machine, t: Thread) -> None:
    """vm_normal_page(orig_pte); decide reuse or copy by the release's reuse rule (PTL held)."""
    orig = t.vmf["orig_pte"]
    if pte_special(orig):
        t.vmf["page"] = None
        t.pc = "do_wp_page:get_page"
        return
    pfn = pte_pfn(orig)
    f = m.frame(pfn)
    m.dirty_frames.add(pfn)
    seen = _what_decides(m, f)  # read before can_reuse changes them (swap cache, exclusivity)
    ok = can_reuse(m, t, f)
    m.emit(Decision(t.name, "reuse" if ok else "copy", pfn, f"{'reuses' if ok else 'copies'} pfn {pfn}: {seen}"))
    if ok:
        t.pc = "wp_page_reuse:set_pte"
    else:
        t.vmf["page"] = pfn
        t.pc = "do_wp_page:get_page"


@step("wp_page_reuse:set_pte")
def wp_page_reuse(m: Machine, t: Thread) -> None:
    """orig_pte with A, D and W (if VM_WRITE): ptep_set_access_flags; unlock; VM_FAULT_WRITE. No flush for an upgrade.

    An unshare fault (FAULT_FLAG_UNSHARE, gup.py) of an exclusive page changes nothing.
    """
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    table = m.table_of(t.vmf["pmd"])
    if not t.vmf.get("unshare"):
        new = pte_mkyoung_dirty_write(t.vmf["orig_pte"], bool(_vm_flags(m, t) & VM_WRITE))
        m.set_pte(mm, table, vpn, new)
        if t.vmf["mode"] == "gup":
            t.vmf["fault_write"] = True  # VM_FAULT_WRITE, which faultin_page reads
    unlock_pte(m, t)
    fault_done(m, t)


@step("do_wp_page:get_page")
def do_wp_page_get(m: Machine, t: Thread) -> None:
    """Copy path: get_page(old) under the PTL (page_count +1), then unlock the PTL."""
    pfn = t.vmf.get("page")
    if pfn is not None:
        m.get_page(t, pfn)
    unlock_pte(m, t)
    t.pc = "wp_page_copy:anon_vma_prepare"


@step("wp_page_copy:anon_vma_prepare")
def wp_anon_vma_prepare(m: Machine, t: Thread) -> None:
    """anon_vma_prepare (speculative: no anon_vma means RETRY)."""
    if t.vmf["mode"] in ("spf", "dufour"):
        if t.vmf["pvma"][3] is None:
            spf_abort(m, t, "ANON_VMA", "the VMA has no anon_vma yet")
            return
    else:
        v = m.vma_ref(t.vmf["vma"])
        if v.anon_vma is None:
            v.anon_vma = m.new_anon_vma()
    t.pc = "wp_page_copy:alloc_page"


@step("wp_page_copy:alloc_page")
def wp_alloc(m: Machine, t: Thread) -> None:
    """Allocate the new page (zeroed if the old one is the zero page)."""
    t.vmf["new_page"] = m.alloc_page(t)
    t.vmf["word"] = 0
    if t.vmf.get("page") is None:
        lock_pte(m, t, "wp_page_copy:pte_same")
    else:
        t.pc = "wp_page_copy:copy"


@step("wp_page_copy:copy")
def wp_copy(m: Machine, t: Thread) -> None:
    """cow_user_page: copy one word of old into new, with no lock held (copies can be stale or torn)."""
    old = m.frame(t.vmf["page"])
    new = m.frames[t.vmf["new_page"]]
    w = t.vmf["word"]
    new.words[w] = old.words[w]
    m.touched.add(("f", new.pfn))
    t.vmf["word"] = w + 1
    if w + 1 == m.nwords:
        del t.vmf["word"]
        lock_pte(m, t, "wp_page_copy:pte_same")


@step("wp_page_copy:pte_same")
def wp_commit(m: Machine, t: Thread) -> None:
    """Under the PTL: if pte_same, ptep_clear_flush, page_add_new_anon_rmap(new), set_pte_at, page_remove_rmap(old)."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    table = m.table_of(t.vmf["pmd"])
    cur = m.get_pte(table, vpn)
    orig = t.vmf["orig_pte"]
    m.emit(Validate(t.name, "pte_same", "pte", mm.name, t.vmf["addr"], None, orig, cur, cur == orig))
    if cur == orig:
        new = t.vmf.pop("new_page")
        unshare = bool(t.vmf.get("unshare"))  # the exclusive copy is mapped read-only and clean
        write = bool(_vm_flags(m, t) & VM_WRITE) and not unshare
        m.set_pte(mm, table, vpn, 0)  # ptep_clear_flush
        m.flush_tlb_range(mm, vpn, vpn + 1)
        nf = m.frame(new)
        nf.mapcount = 1  # page_add_new_anon_rmap
        nf.anon_exclusive = True
        m.transfer_ref_to_pte(t, new)
        m.set_pte(mm, table, vpn, mk_pte(new, write=write, dirty=not unshare))
        if t.vmf["mode"] == "gup":
            t.vmf["fault_write"] = not unshare  # VM_FAULT_WRITE: the page was copied for a write
        old = t.vmf.get("page")
        if old is not None:
            of = m.frame(old)
            of.mapcount -= 1  # page_remove_rmap, only after the switch
            m.dirty_frames.add(old)
            if of.mapping:
                mm.rss_anon += 1  # a file page's mapping became an anonymous one
            m.put_page(None, old)  # the old mapping's reference
        else:
            mm.rss_anon += 1
        m.emit(Cow(t.name, old, new))
    t.pc = "wp_page_copy:put_page"


@step("wp_page_copy:put_page")
def wp_put(m: Machine, t: Thread) -> None:
    """Unlock the PTL; put_page(old) drops do_wp_page's reference; an unused new page is freed."""
    unlock_pte(m, t)
    new = t.vmf.pop("new_page", None)
    if new is not None:
        m.put_page(t, new)
    old = t.vmf.pop("page", None)
    if old is not None:
        m.put_page(t, old)
    fault_done(m, t)
