"""munmap: __do_munmap with its downgrade, then unmap_region (kernel-mm.md B.9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import VmaChange
from .ops import finish_op
from .pte import vpn_of
from .steps import step
from .vma_ops import overlapping, split_range
from .zap import begin_zap

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread


def _range(m: Machine, t: Thread) -> tuple[int, int]:
    op = m.ops[t.index][t.op_index]
    return op.addr, op.addr + op.length


@step("__do_munmap:mmap_write_lock")
def munmap_lock(m: Machine, t: Thread) -> None:
    """mmap_write_lock: mmap_seq goes odd."""
    if locks.mmap_write_lock(m, t, m.thread_mm(t)):
        t.pc = "__do_munmap:vma_start_write" if m.policy.write_locks_vmas else "__do_munmap:split_vma"


@step("__do_munmap:vma_start_write")
def munmap_vma_start_write(m: Machine, t: Thread) -> None:
    """vma_start_write on each VMA in the range: waits for faults holding its read lock."""
    mm = m.thread_mm(t)
    for v in overlapping(m, mm, *_range(m, t)):
        if not locks.vma_start_write(m, t, mm, v):
            return
    t.pc = "__do_munmap:split_vma"


@step("__do_munmap:split_vma")
def munmap_split(m: Machine, t: Thread) -> None:
    """__split_vma at the range's boundaries."""
    split_range(m, m.thread_mm(t), *_range(m, t))
    t.pc = "__do_munmap:detach_vmas"


@step("__do_munmap:detach_vmas")
def detach_vmas(m: Machine, t: Thread) -> None:
    """detach_vmas_to_be_unmapped: unlink from the VMA index (6.4: vma_mark_detached; Dufour: rb node cleared)."""
    mm = m.thread_mm(t)
    start, end = _range(m, t)
    gone = overlapping(m, mm, start, end)
    for v in gone:
        m.vma_unlink(mm, v)
        m.emit(VmaChange(mm.name, "detach", v.id, None, None))
    # The data stays reachable through the page tables and TLBs until the
    # zap; zap_pte_range discards it from the oracle's shadow PTE by PTE.
    t.vmf["detached"] = tuple(v.id for v in gone)
    t.pc = "__do_munmap:mmap_write_downgrade"


@step("__do_munmap:mmap_write_downgrade")
def munmap_downgrade(m: Machine, t: Thread) -> None:
    """mmap_write_downgrade: mmap_seq even again; the rest runs under the read lock, VMAs already invisible."""
    mm = m.thread_mm(t)
    locks.mmap_write_downgrade(m, t, mm)
    start, end = _range(m, t)
    begin_zap(m, t, vpn_of(start), vpn_of(end))
    t.stack += ["__do_munmap:remove_vma_list", "tlb_finish_mmu:flush", "free_pgtables:free"]
    t.pc = "zap_pte_range:zap"


@step("__do_munmap:remove_vma_list")
def remove_vma_list(m: Machine, t: Thread) -> None:
    """remove_vma_list: vm_area_free each VMA, RCU-deferred."""
    for vid in t.vmf.pop("detached", ()):
        m.remove_vma(m.vma_of(vid))
    t.pc = "__do_munmap:mmap_read_unlock"


@step("__do_munmap:mmap_read_unlock")
def munmap_unlock(m: Machine, t: Thread) -> None:
    """mmap_read_unlock."""
    locks.mmap_read_unlock(m, t, m.thread_mm(t))
    finish_op(m, t, "0")
