"""mmap (mmap_region, private anonymous) and madvise(MADV_DONTNEED, MADV_FREE) (B.9; MADV_FREE: lazyfree.py).

Simplifications: mmap never merges with a neighbour, and an mmap over an
existing mapping fails (MAP_FIXED_NOREPLACE semantics) instead of unmapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import VmaChange
from .ops import finish_op
from .pte import vpn_of
from .state import mmap_vm_flags
from .steps import step
from .vma_ops import overlapping
from .zap import begin_zap

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread


@step("mmap_region:mmap_write_lock")
def mmap_lock(m: Machine, t: Thread) -> None:
    """mmap_write_lock_killable: mmap_seq goes odd."""
    if locks.mmap_write_lock(m, t, m.thread_mm(t)):
        t.pc = "mmap_region:vma_link"


@step("mmap_region:vma_link")
def vma_link(m: Machine, t: Thread) -> None:
    """Allocate a VMA (anon_vma NULL) and vma_link it: lockless lookups can see it now. No PTEs are made."""
    mm = m.thread_mm(t)
    op = m.ops[t.index][t.op_index]
    if overlapping(m, mm, op.addr, op.addr + op.length):
        t.vmf["result"] = "EEXIST"
    else:
        v = m.new_vma(mm, op.addr, op.addr + op.length, mmap_vm_flags(op.prot), None)
        m.vma_link(mm, v)
        m.emit(VmaChange(mm.name, "link", v.id, None, None))
        t.vmf["result"] = f"{op.addr:#x}"
    t.pc = "mmap_region:mmap_write_unlock"


@step("mmap_region:mmap_write_unlock")
def mmap_unlock(m: Machine, t: Thread) -> None:
    """mmap_write_unlock: mmap_seq even again."""
    locks.mmap_write_unlock(m, t, m.thread_mm(t))
    finish_op(m, t, t.vmf.get("result", "0"))


@step("do_madvise:mmap_read_lock")
def madvise_lock(m: Machine, t: Thread) -> None:
    """MADV_DONTNEED and MADV_FREE run under the *read* lock: mmap_seq is not bumped, no VMA lock is taken."""
    if not locks.mmap_read_lock(m, t, m.thread_mm(t)):
        return
    if m.stack_fault is not None:  # a node may be replaced under the read lock: find_vma_prev's window (stack.py)
        m.call(t, "find_vma_prev:mas_walk", "do_madvise:find_vma")
    else:
        t.pc = "do_madvise:find_vma"


@step("do_madvise:find_vma")
def madvise_find(m: Machine, t: Thread) -> None:
    """madvise_walk_vmas (find_vma_prev, then each VMA): zap (MADV_DONTNEED) or lazily free (MADV_FREE) every VMA in the range, then tlb_finish_mmu;
    a hole anywhere: -ENOMEM."""
    mm = m.thread_mm(t)
    op = m.ops[t.index][t.op_index]
    vmas = overlapping(m, mm, op.addr, op.addr + op.length)
    if not vmas:
        locks.mmap_read_unlock(m, t, mm)
        finish_op(m, t, "ENOMEM")
        return
    # madvise_walk_vmas remembers unmapped_error = -ENOMEM at a gap and goes on with the next VMA.
    covered = op.addr
    for v in vmas:
        covered = v.vm_end if v.vm_start <= covered else covered
    t.vmf["result"] = "0" if covered >= op.addr + op.length else "ENOMEM"
    if op.advice == "free" and any(v.vm_file for v in vmas):  # madvise_free_single_vma: anonymous VMAs only
        locks.mmap_read_unlock(m, t, mm)  # (simplified: the kernel frees the VMAs before the first file VMA)
        finish_op(m, t, "EINVAL")
        return
    begin_zap(m, t, vpn_of(op.addr), vpn_of(op.addr + op.length), discard=op.advice == "dontneed")
    t.stack += ["do_madvise:mmap_read_unlock", "tlb_finish_mmu:flush"]
    t.pc = "madvise_free_pte_range:walk" if op.advice == "free" else "zap_pte_range:zap"


@step("do_madvise:mmap_read_unlock")
def madvise_unlock(m: Machine, t: Thread) -> None:
    """mmap_read_unlock."""
    locks.mmap_read_unlock(m, t, m.thread_mm(t))
    finish_op(m, t, t.vmf.get("result", "0"))
