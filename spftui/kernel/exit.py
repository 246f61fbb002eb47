"""A fatal signal: the whole process exits (do_group_exit), then exit_mmap.

SIGSEGV from a fault (`__bad_area` → `force_sig_fault`) kills every thread of
the process, not only the one that faulted. Modelled as: the faulting thread
ends at once; every other thread of the process ends when it is back in user
space, between two operations (an operation already inside the kernel runs
to its end, as a syscall or fault does before the signal is acted on); when
the last one is gone, `exit_mmap` tears the address space down in one step.

Simplification: exit_mmap is one atomic step (the kernel zaps PTE table by
PTE table under each PTL and frees through an mmu_gather). Only other
processes can observe it, and only through mapcounts and page counts, which
it drops as munmap does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import ExitMmap
from .pte import PTRS_PER_PTE, is_swap_pte, pte_pfn, pte_present, pte_special, pte_swp_offset
from .state import DONE, format_vm_flags

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Mm, Thread

KILLED = "killed by "


def maps_flags(flags: int) -> str:
    """vm_flags as /proc/PID/maps prints them: `rw-p`."""
    return format_vm_flags(flags)


def is_killed(t: Thread) -> bool:
    return t.state == DONE and KILLED in t.result


def group_killed(m: Machine, t: Thread) -> bool:
    """Has a thread of t's process taken a fatal signal?"""
    return any(th.mm == t.mm and is_killed(th) for th in m.threads)


def reap_group(m: Machine, mm_name: str, why: str) -> None:
    """The process's threads that are in user space exit; the last one out runs exit_mmap."""
    for th in m.threads:
        if th.mm == mm_name and th.state != DONE and not th.pc:
            th.state = DONE
            th.result = f"{KILLED}{why}"
    if all(th.state == DONE for th in m.threads if th.mm == mm_name):
        exit_mmap(m, m.mms[mm_name])


def exit_mmap(m: Machine, mm: Mm) -> None:
    """unmap_vmas + free_pgtables + remove_vma for the whole address space."""
    batch = []
    for pmd in sorted(mm.pgd):
        table = m.table_of(mm.pgd[pmd])
        for idx in sorted(table.entries):
            vpn = pmd * PTRS_PER_PTE + idx
            pte = table.entries[idx]
            m.set_pte(mm, table, vpn, 0)
            if pte_present(pte) and not pte_special(pte):
                m.frame(pte_pfn(pte)).mapcount -= 1  # page_remove_rmap
                mm.rss_anon -= 1
                batch.append(pte_pfn(pte))
            elif is_swap_pte(pte):
                mm.rss_swap -= 1
                m.free_swap_and_cache(pte_swp_offset(pte))
    m.touched.add(("shadow", mm.name))
    mm.shadow.clear()
    m.flush_tlb_mm(mm)
    for pfn in batch:
        m.put_page(None, pfn)  # the PTE's reference, after the flush
    for vid in list(mm.vmas):
        v = m.vma_of(vid)
        m.vma_unlink(mm, v)
        m.remove_vma(v)
    for pmd in sorted(mm.pgd):
        m.call_rcu("table", mm.pgd.pop(pmd))
    m.touched.add(("mm", mm.name))
    m.emit(ExitMmap(mm.name))
