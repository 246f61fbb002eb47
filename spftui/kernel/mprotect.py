"""mprotect: mprotect_fixup and change_protection (kernel-mm.md B.9).

v5.12 behaviour: a private anonymous PTE never gains W from mprotect; the
next write takes a do_wp_page fault. PROT_NONE is modelled as read-only at
the PTE level (no PROTNONE bit): reads of a PROT_NONE page that is still in
a TLB or page table succeed. change_protection walks only the PTE tables
present in the range (one step each, `Machine.tables_in`), as the kernel's
pmd walk skips empty pmds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import VmaChange
from .ops import finish_op
from .pte import PTRS_PER_PTE, pte_modify, pte_present, vpn_of
from .state import PROT_FLAGS, VM_MAYREAD, VM_MAYWRITE, VM_WRITE
from .steps import step
from .vma_ops import merge_adjacent, split_range, touching, vma_write_begin, vma_write_end

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread


def _op(m: Machine, t: Thread):  # type: ignore[no-untyped-def]
    return m.ops[t.index][t.op_index]


@step("do_mprotect_pkey:mmap_write_lock")
def mprotect_lock(m: Machine, t: Thread) -> None:
    """mmap_write_lock: mmap_seq goes odd."""
    if locks.mmap_write_lock(m, t, m.thread_mm(t)):
        t.pc = "mprotect_fixup:vma_start_write" if m.policy.write_locks_vmas else "mprotect_fixup:vm_flags"


@step("mprotect_fixup:vma_start_write")
def mprotect_vma_start_write(m: Machine, t: Thread) -> None:
    """vma_start_write on the VMAs in the range and the neighbours a merge may touch: waits for faults holding their read locks."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    for v in touching(m, mm, op.addr, op.addr + op.length):
        if not locks.vma_start_write(m, t, mm, v):
            return
    t.pc = "mprotect_fixup:vm_flags"


@step("mprotect_fixup:vm_flags")
def mprotect_fixup(m: Machine, t: Thread) -> None:
    """Split at the boundaries; vm_write_begin (Dufour); set vm_flags."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    start, end = op.addr, op.addr + op.length
    vmas = split_range(m, mm, start, end)
    if not vmas:
        locks.mmap_write_unlock(m, t, mm)
        finish_op(m, t, "ENOMEM")
        return
    flags = PROT_FLAGS[op.prot] | VM_MAYREAD | VM_MAYWRITE
    for v in vmas:
        vma_write_begin(m, v)
        v.vm_flags = flags
        m.emit(VmaChange(mm.name, "vm_flags", v.id, None, flags))
    t.vmf["vmas"] = tuple(v.id for v in vmas)
    t.vmf["pmds"] = tuple(m.tables_in(mm, vpn_of(start), vpn_of(end)))
    mm.tlb_flush_pending += 1  # inc_tlb_flush_pending
    t.pc = "change_protection:change_pte_range"


@step("change_protection:change_pte_range")
def change_pte_range(m: Machine, t: Thread) -> None:
    """One PTE table under its PTL: ptep_modify_prot_start/commit with pte_modify (keeps pfn, A, D)."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    pmds = t.vmf["pmds"]
    if pmds:
        table = m.table_ref(mm.pgd[pmds[0]])
        if not locks.ptl_lock(m, t, table):
            return
        lo, hi = vpn_of(op.addr), vpn_of(op.addr + op.length)
        write = bool(PROT_FLAGS[op.prot] & VM_WRITE)
        base = table.pmd * PTRS_PER_PTE
        for idx in sorted(table.entries):
            vpn = base + idx
            pte = table.entries[idx]
            if lo <= vpn < hi and pte_present(pte):
                new = pte_modify(pte, write)
                if new != pte:
                    m.set_pte(mm, table, vpn, new)
        locks.ptl_unlock(m, t, table)
        t.vmf["pmds"] = pmds[1:]
    if not t.vmf["pmds"]:
        t.pc = "change_protection:flush_tlb_range"


@step("change_protection:flush_tlb_range")
def mprotect_flush(m: Machine, t: Thread) -> None:
    """flush_tlb_range, dec_tlb_flush_pending; vm_write_end (Dufour); vma_merge."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    m.flush_tlb_range(mm, vpn_of(op.addr), vpn_of(op.addr + op.length))
    mm.tlb_flush_pending -= 1
    for vid in t.vmf.pop("vmas"):
        vma_write_end(m, m.vma_of(vid))
    merge_adjacent(m, mm, op.addr, op.addr + op.length)
    t.pc = "do_mprotect_pkey:mmap_write_unlock"


@step("do_mprotect_pkey:mmap_write_unlock")
def mprotect_unlock(m: Machine, t: Thread) -> None:
    """mmap_write_unlock: mmap_seq even again; mm_lock_seq++ drops every VMA write lock."""
    locks.mmap_write_unlock(m, t, m.thread_mm(t))
    finish_op(m, t, "0")
