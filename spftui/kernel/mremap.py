"""mremap: grow in place, or move_vma (MREMAP_MAYMOVE|MREMAP_FIXED), with MREMAP_DONTUNMAP.

Under mmap_write_lock (6.4: the old VMA write-locked too; Dufour: a
vm_sequence write section around each change). Growing in place extends the
VMA when nothing follows it. A move splits the old range out of its VMA,
`copy_vma` links a new VMA at the target with the same anon_vma (and file
offset), then `move_page_tables` moves the PTEs one PTE table per step under
the old and the new table's PTLs, flushing the old range's TLB entries after
each table (move_ptes). The pages keep their mapcount and references: only
the (mm, address) that maps them changes. Then the old VMA is unmapped, or,
with MREMAP_DONTUNMAP, kept with no PTEs: its next faults see fresh
zero-filled pages.

Simplifications: a move onto mapped memory returns EINVAL instead of
unmapping the target first; shrinking is refused by the loader; with
MREMAP_DONTUNMAP the old VMA keeps its anon_vma (as before 6.0's
1583aa278f5f), and the old range must be private anonymous (before 5.13).
The lost-write oracle's memory of the range moves with the PTEs, table by
table (pages with no PTE table at `copy_vma`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .events import VmaChange
from .filemap import file_index, file_shadow
from .gup import unpin_coherence
from .ops import finish_op
from .pte import PTRS_PER_PTE, vpn_of
from .steps import step
from .vma_ops import overlapping, split_range, vma_write_begin, vma_write_end

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread


def _op(m: Machine, t: Thread) -> tuple[int, int, int, int | None, bool]:
    op = m.ops[t.index][t.op_index]
    return op.addr, op.length, op.new_length, op.new_addr, op.dontunmap


def _fail(m: Machine, t: Thread, why: str) -> None:
    t.vmf["result"] = why
    t.pc = "mremap:mmap_write_unlock"


@step("mremap:mmap_write_lock")
def mremap_lock(m: Machine, t: Thread) -> None:
    """mmap_write_lock_killable: mmap_seq goes odd."""
    if locks.mmap_write_lock(m, t, m.thread_mm(t)):
        t.pc = "mremap:vma_to_resize"


@step("mremap:vma_to_resize")
def vma_to_resize(m: Machine, t: Thread) -> None:
    """vma_to_resize: [OLD, OLD+LENGTH) must lie in one VMA (EFAULT); a move's target must be free (simplified);
    6.4: vma_start_write on the old VMA."""
    mm = m.thread_mm(t)
    old, length, new_length, new_addr, dontunmap = _op(m, t)
    v = m.vma_lookup(mm, old)
    if v is None or old + length > v.vm_end:
        _fail(m, t, "-EFAULT: the old range is not inside one VMA")
        return
    if v.vm_file and file_index(v, vpn_of(old + new_length) - 1) >= len(m.file_data[v.vm_file]):
        _fail(m, t, f"-EINVAL: growing past the end of file '{v.vm_file}' is not modelled (SIGBUS)")
        return
    if dontunmap and v.vm_file:
        _fail(m, t, "-EINVAL: MREMAP_DONTUNMAP needs a private anonymous mapping")
        return
    if new_addr is not None and overlapping(m, mm, new_addr, new_addr + new_length):
        _fail(m, t, "-EINVAL: the target is mapped (unmapping it first is not modelled)")
        return
    if m.policy.write_locks_vmas and not locks.vma_start_write(m, t, mm, v):
        return
    t.vmf["vma"] = v.id
    if new_addr is not None:
        t.pc = "move_vma:copy_vma"
    elif new_length == length:
        _fail(m, t, f"{old:#x}")
    elif old + length == v.vm_end and not overlapping(m, mm, v.vm_end, old + new_length):
        t.pc = "mremap:vma_adjust"
    else:
        _fail(m, t, "-ENOMEM: cannot grow in place (no MREMAP_MAYMOVE)")


@step("mremap:vma_adjust")
def grow_in_place(m: Machine, t: Thread) -> None:
    """vma_adjust: the VMA's end moves up; no page tables change (the new pages fault in)."""
    mm = m.thread_mm(t)
    old, _length, new_length, _new, _dontunmap = _op(m, t)
    v = m.vma_of(t.vmf["vma"])
    vma_write_begin(m, v)
    end = v.vm_end
    v.vm_end = old + new_length
    vma_write_end(m, v)
    if v.vm_file:
        for vpn in range(vpn_of(end), vpn_of(v.vm_end)):
            file_shadow(m, mm, v, vpn)
    m.emit(VmaChange(mm.name, "grow", v.id, None, None))
    _fail(m, t, f"{old:#x}")


@step("move_vma:copy_vma")
def copy_vma(m: Machine, t: Thread) -> None:
    """Split the old range out; copy_vma: a new VMA at the target, same flags, anon_vma and file offset, linked."""
    mm = m.thread_mm(t)
    old, length, new_length, new_addr, _dontunmap = _op(m, t)
    assert new_addr is not None
    (v,) = split_range(m, mm, old, old + length)
    if m.policy.write_locks_vmas and not locks.vma_start_write(m, t, mm, v):
        return  # (a fresh split-off VMA is born write-locked: this does not wait)
    vma_write_begin(m, v)  # Dufour: the old VMA changes under speculative faults until the move is done
    nv = m.new_vma(mm, new_addr, new_addr + new_length, v.vm_flags, v.anon_vma)
    nv.vm_file, nv.vm_pgoff = v.vm_file, v.vm_pgoff
    nv.vm_lock_seq = mm.mm_lock_seq  # 6.4: born write-locked
    vma_write_begin(m, nv)  # Dufour ("mm: protect mremap() against SPF handler"): both VMAs until the move is done
    m.vma_link(mm, nv)
    m.emit(VmaChange(mm.name, "link", nv.id, None, None))
    pmds = tuple(m.tables_in(mm, vpn_of(old), vpn_of(old + length)))
    delta = vpn_of(new_addr) - vpn_of(old)
    for vpn in sorted(k for k in mm.shadow if vpn_of(old) <= k < vpn_of(old + length)):
        if vpn // PTRS_PER_PTE not in pmds:  # (no PTE table: nothing can reach these pages now)
            mm.shadow[vpn + delta] = mm.shadow.pop(vpn)
    if nv.vm_file:
        for vpn in range(vpn_of(new_addr + length), vpn_of(new_addr + new_length)):
            file_shadow(m, mm, nv, vpn)
    t.vmf["vma"], t.vmf["new_vma"] = v.id, nv.id
    t.vmf["pmds"] = pmds
    t.pc = "move_page_tables:move_ptes"


@step("move_page_tables:move_ptes")
def move_ptes(m: Machine, t: Thread) -> None:
    """One old PTE table: under its PTL and the new table's, move each PTE in range to the target
    (ptep_get_and_clear, set_pte_at); flush the old range's TLB entries."""
    mm = m.thread_mm(t)
    old, length, _new_length, new_addr, _dontunmap = _op(m, t)
    assert new_addr is not None
    pmds = t.vmf["pmds"]
    if not pmds:
        t.pc = "move_vma:do_munmap"
        return
    tid = mm.pgd.get(pmds[0])
    if tid is None:
        t.vmf["pmds"] = pmds[1:]
        return
    table = m.table_ref(tid)
    if not locks.ptl_lock(m, t, table):
        return
    lo, hi = vpn_of(old), vpn_of(old + length)
    delta = vpn_of(new_addr) - lo
    base = table.pmd * PTRS_PER_PTE
    moving = [base + i for i in sorted(table.entries) if lo <= base + i < hi]
    targets = {m.pte_alloc(mm, vpn + delta).id for vpn in moving}
    held = [tid]
    for nt in sorted(targets - {tid}):  # (the lock order of the kernel's old-then-new, as trylocks)
        if not locks.ptl_trylock(m, t, m.table_of(nt)):
            for h in reversed(held):
                locks.ptl_unlock(m, t, m.table_of(h))
            return  # retried: both PTLs are taken afresh
        held.append(nt)
    pinned = any(th.pins and th.mm == mm.name for th in m.threads)
    span = range(max(lo, base), min(hi, base + PTRS_PER_PTE))
    for vpn in sorted(k for k in mm.shadow if k in span):  # the oracle's memory moves with the PTEs
        mm.shadow[vpn + delta] = mm.shadow.pop(vpn)
    for vpn in moving:
        pte = table.entries[vpn - base]
        m.set_pte(mm, table, vpn, 0)
        m.set_pte(mm, m.pmd_table(mm, vpn + delta) or m.pte_alloc(mm, vpn + delta), vpn + delta, pte)
        if pinned:
            unpin_coherence(m, mm, vpn)
    for h in reversed(held):
        locks.ptl_unlock(m, t, m.table_of(h))
    if moving:
        m.flush_tlb_range(mm, max(lo, base), min(hi, base + PTRS_PER_PTE))
    t.vmf["pmds"] = pmds[1:]


@step("move_vma:do_munmap")
def unmap_old(m: Machine, t: Thread) -> None:
    """do_munmap of the old range (its PTEs are gone already), or with MREMAP_DONTUNMAP keep the old VMA, empty."""
    mm = m.thread_mm(t)
    v = m.vma_of(t.vmf["vma"])
    vma_write_end(m, v)
    vma_write_end(m, m.vma_of(t.vmf["new_vma"]))
    if not _op(m, t)[4]:
        m.vma_unlink(mm, v)
        m.emit(VmaChange(mm.name, "detach", v.id, None, None))
        m.remove_vma(v)
    new_addr = _op(m, t)[3]
    _fail(m, t, f"{new_addr:#x}")


@step("mremap:mmap_write_unlock")
def mremap_unlock(m: Machine, t: Thread) -> None:
    """mmap_write_unlock: mmap_seq even again; mremap returns the new address (or the error)."""
    locks.mmap_write_unlock(m, t, m.thread_mm(t))
    finish_op(m, t, t.vmf.get("result", "0"))
