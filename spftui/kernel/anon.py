"""do_anonymous_page (kernel-mm.md B.2 and B.6 handlers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import AnonVma, Validate
from .fault import fault_done, lock_pte, spf_abort, unlock_pte
from .pte import ZERO_PFN, mk_pte, vpn_of
from .state import VM_WRITE
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread


@step("do_anonymous_page:anon_vma_prepare")
def anon_vma_prepare(m: Machine, t: Thread) -> None:
    """anon_vma_prepare: allocate the VMA's anon_vma if it has none (speculative: RETRY)."""
    if t.vmf["mode"] in ("spf", "dufour"):
        if t.vmf["pvma"][3] is None:
            spf_abort(m, t, "ANON_VMA", "the VMA has no anon_vma yet")
            return
    else:
        v = m.vma_ref(t.vmf["vma"])
        if v.anon_vma is None:
            v.anon_vma = m.new_anon_vma()
            m.emit(AnonVma(v.mm, v.id, v.anon_vma))
    t.pc = "do_anonymous_page:alloc_page"


@step("do_anonymous_page:alloc_page")
def alloc_page(m: Machine, t: Thread) -> None:
    """Allocate a zeroed page (may sleep; only mmap_lock or nothing is held)."""
    t.vmf["new_page"] = m.alloc_page(t)
    lock_pte(m, t, "do_anonymous_page:set_pte")


@step("do_anonymous_page:set_pte")
def set_pte(m: Machine, t: Thread) -> None:
    """Under the PTL: if the PTE is no longer none, back out; else page_add_new_anon_rmap and set_pte_at."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    table = m.table_of(t.vmf["pmd"])
    pfn = t.vmf.get("new_page")
    cur = m.get_pte(table, vpn)
    m.emit(Validate(t.name, "pte_same", "pte", mm.name, t.vmf["addr"], None, 0, cur, cur == 0))  # the pte_none re-check
    if cur != 0:
        unlock_pte(m, t)
        if pfn is not None:
            m.put_page(t, pfn)
            del t.vmf["new_page"]
        fault_done(m, t)
        return
    flags = m.vma_of(t.vmf["vma"]).vm_flags if "pvma" not in t.vmf else t.vmf["pvma"][2]
    if pfn is None:  # read fault: the shared zero page, read-only
        m.set_pte(mm, table, vpn, mk_pte(ZERO_PFN))
    else:
        f = m.frame(pfn)
        f.mapcount = 1  # page_add_new_anon_rmap
        f.anon_exclusive = True
        mm.rss_anon += 1
        m.transfer_ref_to_pte(t, pfn)
        del t.vmf["new_page"]
        write = bool(flags & VM_WRITE)
        m.set_pte(mm, table, vpn, mk_pte(pfn, write=write, dirty=write))
    unlock_pte(m, t)
    fault_done(m, t)
