"""mprotect: mprotect_fixup and change_protection (kernel-mm.md B.9).

v5.12 behaviour: a private anonymous PTE never gains W from mprotect; the
next write takes a do_wp_page fault. PROT_NONE PTEs keep their page but get
_PAGE_PROTNONE (x86's PAGE_NONE): the hardware walk no longer reaches the
page, so an access faults and access_error sends SIGSEGV. change_protection walks only the PTE tables
present in the range (one step each, `Machine.tables_in`), as the kernel's
pmd walk skips empty pmds.

A VMA whose flags do not change is left alone (mprotect_fixup's
`newflags == oldflags` early return): no split, no vm_write_begin, no
vma_start_write, no PTE walk for it.

Simplifications: mprotect_fixup tries vma_merge first, before split_vma,
vm_flags and change_protection; here the VMAs are split and changed, their
PTEs rewritten and flushed, and only then merged (`merge_adjacent` in
change_protection:flush_tlb_range), so a neighbour's vm_sequence bump and
vm_end change come at the end of the writer's critical section, not at its
start (under mmap_lock either way; only spf-vma-seq and refetch-vma can
tell). One flush covers the whole range (the kernel flushes per VMA). When
one VMA changes, every VMA of the range and its neighbours are write-locked
(6.4: the changed ones and those its merge or split touches). VM_ACCOUNT is
dropped from an unfaulted anonymous VMA made read-only under every kernel
preset, although only 6.7-era kernels do it (`new_vm_flags`).

change_protection's steps also serve UFFDIO_WRITEPROTECT (userfaultfd.py),
which runs them under the mmap *read* lock with `cp` (MM_CP_UFFD_WP or
MM_CP_UFFD_WP_RESOLVE) in the thread's locals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import VmaChange
from .ops import finish_op
from .pte import PTRS_PER_PTE, pte_clear_uffd_wp, pte_mkuffd_wp, pte_modify, pte_present, vpn_of
from .state import PROT_FLAGS, VM_ACCOUNT, VM_MAYREAD, VM_MAYWRITE, VM_UFFD_WP, VM_WRITE
from .steps import step
from .vma_ops import merge_adjacent, overlapping, split_vma, touching, vma_write_begin, vma_write_end

if TYPE_CHECKING:
    from ..scenario.model import Op
    from .machine import Machine
    from .state import Mm, Thread, Vma


def _op(m: Machine, t: Thread):  # type: ignore[no-untyped-def]
    return m.ops[t.index][t.op_index]


@step("do_mprotect_pkey:mmap_write_lock")
def mprotect_lock(m: Machine, t: Thread) -> None:
    """mmap_write_lock: mmap_seq goes odd."""
    if locks.mmap_write_lock(m, t, m.thread_mm(t)):
        t.pc = "mprotect_fixup:vma_start_write" if m.policy.write_locks_vmas else "mprotect_fixup:vm_flags"


@step("mprotect_fixup:vma_start_write")
def mprotect_vma_start_write(m: Machine, t: Thread) -> None:
    """vma_start_write on the VMAs in the range and the neighbours a merge may touch: waits for faults holding
    their read locks. None when no VMA's flags change: mprotect_fixup returns before vma_merge, split_vma and
    vm_flags_reset, where 6.4 write-locks. Simplification: when one VMA changes, all of them are locked here
    (6.4 locks the changed VMAs and the neighbours its merge or split touches)."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    start = op.addr
    if changing(m, mm, op, start, mprotect_end(m, mm, start, start + op.length)):
        for v in touching(m, mm, start, start + op.length):
            if not locks.vma_start_write(m, t, mm, v):
                return
    t.pc = "mprotect_fixup:vm_flags"


def mprotect_end(m: Machine, mm: Mm, start: int, end: int) -> int:
    """do_mprotect_pkey's VMA walk: where the part of [start, end) mapped without a gap from start ends.

    The kernel returns -ENOMEM when start is unmapped (nothing changes) and
    stops at the first hole, after mprotect_fixup has changed the VMAs before it.
    """
    covered = start
    for v in overlapping(m, mm, start, end):  # sorted by vm_start
        if v.vm_start > covered:
            break
        covered = v.vm_end
    return min(covered, end)


def new_vm_flags(v: Vma, prot: str) -> int:
    """mprotect_fixup's newflags. Writable: accountable (charged if it was not). Not writable: an
    anonymous VMA (vma_is_anonymous) with no anon_vma stops being accounted, so it no longer merges
    with an accounted neighbour, which decides whether fork copies its zero-page PTEs. That is
    Lorenzo Stoakes's "mm/mprotect: allow unfaulted VMAs to be unaccounted on mprotect()" (posted
    October 2023, 6.7 by date, tag not verified); earlier kernels never drop VM_ACCOUNT ("cannot
    reduce our commit if we make it unwritable again"). Simplification: the model applies it under
    every kernel preset (the machine does not know the release, only its fixes and rules).
    """
    old = v.vm_flags
    flags = PROT_FLAGS[prot] | VM_MAYREAD | VM_MAYWRITE | (old & VM_UFFD_WP)  # the registration stays
    if flags & VM_WRITE or (old & VM_ACCOUNT and (v.anon_vma is not None or v.vm_file)):
        flags |= VM_ACCOUNT
    return flags


def changing(m: Machine, mm: Mm, op: Op, start: int, stop: int) -> list[Vma]:
    """The VMAs in [start, stop) whose vm_flags the mprotect changes: mprotect_fixup returns at once for
    the others (`if (newflags == oldflags) { *pprev = vma; return 0; }`, 5.12 and 6.x)."""
    return [v for v in overlapping(m, mm, start, stop) if new_vm_flags(v, op.prot) != v.vm_flags]


@step("mprotect_fixup:vm_flags")
def mprotect_fixup(m: Machine, t: Thread) -> None:
    """For each VMA whose flags change: split at the boundaries, vm_write_begin (Dufour), set vm_flags.
    Stops at the first hole (-ENOMEM). No VMA changes: no change_protection, no flush, no merge."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    start, end = op.addr, op.addr + op.length
    stop = mprotect_end(m, mm, start, end)
    if stop == start:
        locks.mmap_write_unlock(m, t, mm)
        finish_op(m, t, "ENOMEM")
        return
    t.vmf["result"] = "0" if stop == end else "ENOMEM"
    vmas = []
    for v in changing(m, mm, op, start, stop):
        if v.vm_start < start:
            v = split_vma(m, mm, v, start)
        if v.vm_end > stop:
            split_vma(m, mm, v, stop)
        vmas.append(v)
    if not vmas:  # the mmap write lock was taken all the same (do_mprotect_pkey): mmap_seq moved
        t.pc = "do_mprotect_pkey:mmap_write_unlock"
        return
    for v in vmas:
        vma_write_begin(m, v)
        v.vm_flags = new_vm_flags(v, op.prot)
        m.emit(VmaChange(mm.name, "vm_flags", v.id, None, v.vm_flags))
    t.vmf["vmas"] = tuple(v.id for v in vmas)
    t.vmf["end"] = stop
    t.vmf["pmds"] = tuple(m.tables_in(mm, vpn_of(start), vpn_of(stop)))
    mm.tlb_flush_pending += 1  # inc_tlb_flush_pending
    t.pc = "change_protection:change_pte_range"


def new_pte(t: Thread, op: Op, pte: int) -> int:
    """change_pte_range's new entry: pte_modify to the new protection, plus the uffd-wp bit when
    mwriteprotect_range (userfaultfd.py) is the caller (`cp`: MM_CP_UFFD_WP or MM_CP_UFFD_WP_RESOLVE).

    mwriteprotect_range's newprot is vm_get_page_prot(vm_flags), without VM_WRITE to protect: a
    private mapping's is read-only either way, so un-protecting *clears* W on a writable PTE too
    (the corruption 6ce64428d620's message describes); the fault handler adds it back, or copies.
    """
    cp = t.vmf.get("cp")
    if cp is None:  # mprotect
        prot = PROT_FLAGS[op.prot]
        return pte_modify(pte, bool(prot & VM_WRITE), none=not prot)
    new = pte_modify(pte, False, none=t.vmf["prot_none"])
    return pte_mkuffd_wp(new) if cp == "uffd_wp" else pte_clear_uffd_wp(new)


@step("change_protection:change_pte_range")
def change_pte_range(m: Machine, t: Thread) -> None:
    """One PTE table under its PTL: ptep_modify_prot_start/commit with pte_modify (keeps pfn, A, D);
    for UFFDIO_WRITEPROTECT also set (protect) or clear (un-protect) the uffd-wp bit."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    pmds = t.vmf["pmds"]
    if pmds:
        m.touched.add(("mm", mm.name))
        table = m.table_ref(mm.pgd[pmds[0]])
        if not locks.ptl_lock(m, t, table):
            return
        lo, hi = vpn_of(op.addr), vpn_of(t.vmf["end"])
        base = table.pmd * PTRS_PER_PTE
        pages = 0
        for idx in sorted(table.entries):
            vpn = base + idx
            pte = table.entries[idx]
            if lo <= vpn < hi and pte_present(pte):
                pages += 1
                new = new_pte(t, op, pte)
                if new != pte:
                    m.set_pte(mm, table, vpn, new)
        if "pages" in t.vmf:
            t.vmf["pages"] += pages
        locks.ptl_unlock(m, t, table)
        t.vmf["pmds"] = pmds[1:]
    if not t.vmf["pmds"]:
        t.pc = "change_protection:flush_tlb_range"


@step("change_protection:flush_tlb_range")
def mprotect_flush(m: Machine, t: Thread) -> None:
    """flush_tlb_range, dec_tlb_flush_pending; vm_write_end (Dufour); vma_merge.

    For UFFDIO_WRITEPROTECT (userfaultfd.py): the flush only if the walk met
    a present PTE (`pages`, as change_protection_range counts them),
    dec_tlb_flush_pending, back to mwriteprotect_range.
    """
    mm = m.thread_mm(t)
    op = _op(m, t)
    if "cp" in t.vmf:
        m.touched.add(("mm", mm.name))
        if t.vmf.pop("pages"):
            m.flush_tlb_range(mm, vpn_of(op.addr), vpn_of(t.vmf["end"]))
        mm.tlb_flush_pending -= 1
        t.pc = "mwriteprotect_range:mmap_read_unlock"
        return
    m.flush_tlb_range(mm, vpn_of(op.addr), vpn_of(t.vmf["end"]))
    mm.tlb_flush_pending -= 1
    for vid in t.vmf.pop("vmas"):
        vma_write_end(m, m.vma_of(vid))
    merge_adjacent(m, mm, op.addr, t.vmf["end"])
    t.pc = "do_mprotect_pkey:mmap_write_unlock"


@step("do_mprotect_pkey:mmap_write_unlock")
def mprotect_unlock(m: Machine, t: Thread) -> None:
    """mmap_write_unlock: mmap_seq even again; mm_lock_seq++ drops every VMA write lock."""
    locks.mmap_write_unlock(m, t, m.thread_mm(t))
    finish_op(m, t, t.vmf.get("result", "0"))
