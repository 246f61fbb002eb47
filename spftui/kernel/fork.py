"""fork's dup_mmap and copy_page_range (kernel-mm.md B.9).

The child's mm is built from `dup_mmap:vm_area_dup` on, but threads declared
on it wait until the fork returns (`dup_mmap:mmap_write_unlock`). The parent's write-protected PTEs are not flushed
until `flush_tlb_mm` at the end (the window of D.7): `mm.forking` marks it, and a store through a stale TLB entry in
it races the fork, which the child may see or not (oracles.py, "Fork's promise").

Three modelled fixes sit here (scenario/fixes.py): `fork_vma_write_lock` (fb49c455323f, 6.4.3: vma_start_write on
every parent VMA) and `fork_vm_raw_write` (Dufour v12: vm_raw_write_begin until flush_tlb_mm). With either off, a
fault of that policy can copy a page in the window and lose such a store (scenarios/history_*.toml). And
`fork_copy_pinned` (70e806e4e645, 5.9): a page the parent pinned is copied for the child, not shared
(`_copy_pinned`; history_fork_pinned.toml).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import Fork
from .filemap import file_shadow
from .ops import finish_op, wake_forked
from .pte import (
    PAGE_SHIFT,
    PTRS_PER_PTE,
    is_swap_pte,
    mk_pte,
    pte_clear_uffd_wp,
    pte_mkold,
    pte_pfn,
    pte_present,
    pte_special,
    pte_swp_offset,
    pte_write,
    pte_wrprotect,
)
from .state import VM_UFFD_WP, VM_WRITE
from .steps import step
from .vma_ops import vma_write_begin, vma_write_end

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Frame, Mm, PteTable, Thread, Vma


@step("dup_mmap:mmap_write_lock")
def fork_lock(m: Machine, t: Thread) -> None:
    """mmap_write_lock_killable(oldmm): the parent's mmap_seq is odd for the whole fork."""
    if locks.mmap_write_lock(m, t, m.thread_mm(t)):
        lock_vmas = m.policy.write_locks_vmas and m.fixed("fork_vma_write_lock")
        t.pc = "dup_mmap:vma_start_write" if lock_vmas else "dup_mmap:vm_area_dup"


@step("dup_mmap:vma_start_write")
def fork_vma_start_write(m: Machine, t: Thread) -> None:
    """vma_start_write on every parent VMA (the 6.4.x fix fb49c455323f)."""
    mm = m.thread_mm(t)
    for vid in list(mm.vmas):
        if not locks.vma_start_write(m, t, mm, m.vma_of(vid)):
            return
    t.pc = "dup_mmap:vm_area_dup"


@step("dup_mmap:vm_area_dup")
def vm_area_dup(m: Machine, t: Thread) -> None:
    """vm_area_dup + anon_vma_fork for each parent VMA; link into the child (Dufour: vm_raw_write_begin on the parent VMA)."""
    mm = m.thread_mm(t)
    child_name = m.ops[t.index][t.op_index].child
    child = m.mms[child_name]
    m.touched.update((("mm", mm.name), ("mm", child_name)))  # (also when mm has no VMA to touch them)
    if child.exists or child.vmas:
        locks.mmap_write_unlock(m, t, mm)
        finish_op(m, t, f"error: process {child_name} already exists")
        return
    mm.forking = child_name
    for vid in list(mm.vmas):
        v = m.vma_of(vid)
        if m.fixed("fork_vm_raw_write"):
            vma_write_begin(m, v)
        anon = m.new_anon_vma() if v.anon_vma is not None else None
        # dup_userfaultfd without UFFD_FEATURE_EVENT_FORK: the child's VMA is not registered
        cv = m.new_vma(child, v.vm_start, v.vm_end, v.vm_flags & ~VM_UFFD_WP, anon)
        cv.vm_file, cv.vm_pgoff = v.vm_file, v.vm_pgoff  # vm_area_dup copies the file reference
        m.vma_link(child, cv)
        if cv.vm_file:  # the child sees the file where copy_pte_range copies no page
            for vpn in range(cv.vm_start >> PAGE_SHIFT, cv.vm_end >> PAGE_SHIFT):
                file_shadow(m, child, cv, vpn)
    t.vmf["pmds"] = tuple(sorted(mm.pgd))
    m.emit(Fork(mm.name, child_name))
    t.pc = "copy_page_range:copy_pte_range"


@step("copy_page_range:copy_pte_range")
def copy_pte_range(m: Machine, t: Thread) -> None:
    """One parent PTE table under its PTL: write-protect W PTEs in the parent (no flush); child PTEs read-only and old; get_page, page_dup_rmap; a pinned page is copied for the child instead.

    copy_page_range runs per VMA, and vma_needs_copy() skips a VMA without an
    anon_vma ("don't copy ptes where a page fault will fill them correctly"):
    its PTEs can only be zero-page PTEs from read faults, which do not create
    an anon_vma, so the child gets none and faults them in again.
    """
    mm = m.thread_mm(t)
    child = m.mms[m.ops[t.index][t.op_index].child]
    pmds = t.vmf["pmds"]
    if pmds:
        table = m.table_ref(mm.pgd[pmds[0]])
        if not locks.ptl_lock(m, t, table):
            return
        base = table.pmd * PTRS_PER_PTE
        for idx in sorted(table.entries):
            vpn = base + idx
            pte = table.entries[idx]
            if vpn in mm.shadow:
                child.shadow[vpn] = list(mm.shadow[vpn])
            v = m.vma_lookup(mm, vpn << PAGE_SHIFT)
            if v is None or v.anon_vma is None:  # !vma_needs_copy()
                continue
            ctable = m.pte_alloc(child, vpn)
            if is_swap_pte(pte):
                m.swap_map[pte_swp_offset(pte)] += 1  # swap_duplicate
                m.touched.add(("swap", pte_swp_offset(pte)))
                child.rss_swap += 1
                m.set_pte(child, ctable, vpn, pte)
                continue
            if not pte_present(pte):
                continue
            f = None if pte_special(pte) else m.frame(pte_pfn(pte))
            if f is not None and _copy_pinned(m, t, v, child, ctable, vpn, f):
                continue
            if pte_write(pte):
                m.set_pte(mm, table, vpn, pte_wrprotect(pte))  # ptep_set_wrprotect, no flush
            if f is not None:
                f.count += 1  # get_page
                f.mapcount += 1  # page_dup_rmap
                f.anon_exclusive = False
                child.rss_anon += 1
            m.set_pte(child, ctable, vpn, pte_clear_uffd_wp(pte_mkold(pte_wrprotect(pte))))  # child VMA: no VM_UFFD_WP
        locks.ptl_unlock(m, t, table)
        t.vmf["pmds"] = pmds[1:]
    if not t.vmf["pmds"]:
        t.pc = "dup_mmap:flush_tlb_mm"


def _copy_pinned(m: Machine, t: Thread, v: Vma, child: Mm, ctable: PteTable, vpn: int, f: Frame) -> bool:
    """copy_present_page (fix `fork_copy_pinned`, 70e806e4e645, 5.9; page_try_dup_anon_rmap
    since 5.19): an anonymous page the parent may have pinned for DMA is copied for the
    child at once, and the parent's PTE stays as it was (writable), so the pinned page
    is never replaced under the pin by a later COW. True when it copied.

    Simplifications: the copy is allocated in this step (the kernel drops the PTL,
    preallocates and retries); `page_maybe_dma_pinned` is the exact pincount, and the
    parent's MMF_HAS_PINNED is not kept (a page pinned through another mm is copied too).
    copy_user_highpage is one atomic step here, while the parent's PTE stays writable:
    the kernel copies while parent threads may still store through their writable TLB
    entries, so the child can see a torn snapshot (Jann Horn's 2025 "mm/memory: ensure
    fork child sees coherent memory snapshot", Fixes: 70e806e4e645). wp_page_copy's
    copy is word by word; this one is not, so the explorer cannot find that tear.
    """
    if not (f.pincount and not f.mapping and m.fixed("fork_copy_pinned")):
        return False
    new = m.alloc_page(t)
    nf = m.frame(new)
    nf.words = list(f.words)  # copy_user_highpage
    nf.mapcount = 1  # page_add_new_anon_rmap
    nf.anon_exclusive = True
    m.transfer_ref_to_pte(t, new)
    child.rss_anon += 1
    m.set_pte(child, ctable, vpn, mk_pte(new, write=bool(v.vm_flags & VM_WRITE), dirty=True))  # maybe_mkwrite
    return True


@step("dup_mmap:flush_tlb_mm")
def fork_flush(m: Machine, t: Thread) -> None:
    """flush_tlb_mm(oldmm): the parent's stale W translations die here (Dufour: vm_raw_write_end)."""
    mm = m.thread_mm(t)
    m.flush_tlb_mm(mm)
    m.touched.add(("mm", mm.name))
    mm.forking = ""
    if m.fixed("fork_vm_raw_write"):
        for vid in mm.vmas:
            vma_write_end(m, m.vma_of(vid))
    t.pc = "dup_mmap:mmap_write_unlock"


@step("dup_mmap:mmap_write_unlock")
def fork_unlock(m: Machine, t: Thread) -> None:
    """mmap_write_unlock(oldmm); the child's threads may run."""
    locks.mmap_write_unlock(m, t, m.thread_mm(t))
    child = m.ops[t.index][t.op_index].child
    m.mms[child].exists = True  # only now may the child's threads run
    wake_forked(m, child)
    finish_op(m, t, f"child {child}")
