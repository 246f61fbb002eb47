"""Locks: mmap_lock (fair rwsem), the split PTL, the page lock, the per-VMA lock.

Blocking acquisitions return False after queueing the thread FIFO and
blocking it; the releaser hands the lock over and wakes it, and the thread
re-runs the same step, which now finds the lock held. So a step that takes a
lock must take it before doing anything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import Lock, Seq, Unlock

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Frame, Mm, PteTable, Thread, Vma


# ---------------------------------------------------------------- mmap_lock
# The rwsem's own fields (writer, readers, waiters, downgraded) have the footprint key
# ("mmap_lock", name): a reader taking or dropping it reads nothing else of the mm, so
# it commutes with steps that read the mm's tables and VMAs (engine/footprint.py).
def mmap_read_lock(m: Machine, t: Thread, mm: Mm) -> bool:
    m.touched.add(("mmap_lock", mm.name))
    if t.index in mm.lock_readers:
        return True
    if mm.lock_writer is None and not mm.lock_waiters:
        mm.lock_readers.append(t.index)
        m.emit(Lock(t.name, f"mmap_lock({mm.name})", "read"))
        return True
    mm.lock_waiters.append((t.index, "r"))
    m.block(t, f"mmap_lock({mm.name}) read")
    return False


def _grant_write(m: Machine, mm: Mm, index: int) -> None:
    m.touched.add(("mm", mm.name))  # mmap_seq
    mm.lock_writer = index
    old = mm.mmap_seq
    mm.mmap_seq += 1  # odd: a writer holds the lock
    m.emit(Lock(m.threads[index].name, f"mmap_lock({mm.name})", "write"))
    m.emit(Seq(mm.name, "mmap_seq", old, mm.mmap_seq))


def mmap_write_lock(m: Machine, t: Thread, mm: Mm) -> bool:
    m.touched.add(("mmap_lock", mm.name))
    if mm.lock_writer == t.index:
        return True
    if mm.lock_writer is None and not mm.lock_readers and not mm.lock_waiters:
        _grant_write(m, mm, t.index)
        return True
    mm.lock_waiters.append((t.index, "w"))
    m.block(t, f"mmap_lock({mm.name}) write")
    return False


def _end_write(m: Machine, mm: Mm) -> None:
    old = mm.mmap_seq
    mm.mmap_seq += 1  # even again
    m.emit(Seq(mm.name, "mmap_seq", old, mm.mmap_seq))
    mm.mm_lock_seq += 1  # vma_end_write_all: every VMA write lock drops
    m.emit(Seq(mm.name, "mm_lock_seq", mm.mm_lock_seq - 1, mm.mm_lock_seq))


def mmap_write_unlock(m: Machine, t: Thread, mm: Mm) -> None:
    m.touched.update((("mm", mm.name), ("mmap_lock", mm.name)))  # (_end_write: the seqcounts)
    _end_write(m, mm)
    mm.lock_writer = None
    m.emit(Unlock(t.name, f"mmap_lock({mm.name})", "write"))
    _wake_waiters(m, mm)


def mmap_write_downgrade(m: Machine, t: Thread, mm: Mm) -> None:
    m.touched.update((("mm", mm.name), ("mmap_lock", mm.name)))
    _end_write(m, mm)
    mm.lock_writer = None
    mm.lock_readers.append(t.index)
    mm.downgraded = True
    m.emit(Lock(t.name, f"mmap_lock({mm.name})", "downgrade"))
    _wake_waiters(m, mm)


def mmap_read_unlock(m: Machine, t: Thread, mm: Mm) -> None:
    m.touched.add(("mmap_lock", mm.name))
    mm.lock_readers.remove(t.index)
    if not mm.lock_readers:
        mm.downgraded = False
    m.emit(Unlock(t.name, f"mmap_lock({mm.name})", "read"))
    _wake_waiters(m, mm)


def _wake_waiters(m: Machine, mm: Mm) -> None:
    """FIFO handoff: the head writer alone, or a run of readers."""
    while mm.lock_waiters and mm.lock_writer is None:
        index, mode = mm.lock_waiters[0]
        if mode == "w":
            if mm.lock_readers:
                return
            mm.lock_waiters.pop(0)
            _grant_write(m, mm, index)
            m.wake(index)
            return
        mm.lock_waiters.pop(0)
        mm.lock_readers.append(index)
        m.emit(Lock(m.threads[index].name, f"mmap_lock({mm.name})", "read"))
        m.wake(index)


# ---------------------------------------------------------------------- PTL
# The lock's fields (ptl, ptl_waiters) have the footprint key ("ptl", table id): taking
# or dropping it reads no PTE, so it commutes with steps that read the table's entries.
def ptl_lock(m: Machine, t: Thread, table: PteTable) -> bool:
    m.touched.add(("ptl", table.id))
    if table.ptl == t.index:
        return True
    if table.ptl is None:
        table.ptl = t.index
        return True
    table.ptl_waiters.append(t.index)
    m.block(t, f"ptl(table {table.id})")
    return False


def ptl_trylock(m: Machine, t: Thread, table: PteTable) -> bool:
    m.touched.add(("ptl", table.id))
    if table.ptl is None:
        table.ptl = t.index
        return True
    return False


def ptl_unlock(m: Machine, t: Thread, table: PteTable) -> None:
    m.touched.add(("ptl", table.id))
    table.ptl = None
    if table.ptl_waiters:
        nxt = table.ptl_waiters.pop(0)
        table.ptl = nxt
        m.wake(nxt)


# ---------------------------------------------------------------- page lock
def lock_page(m: Machine, t: Thread, f: Frame) -> bool:
    m.touched.add(("f", f.pfn))
    if f.locked == t.index:
        return True
    if f.locked is None:
        f.locked = t.index
        return True
    f.lock_waiters.append(t.index)
    m.block(t, f"page lock (pfn {f.pfn})")
    return False


def trylock_page(m: Machine, t: Thread, f: Frame) -> bool:
    m.touched.add(("f", f.pfn))
    if f.locked is None:
        f.locked = t.index
        return True
    return f.locked == t.index


def unlock_page(m: Machine, t: Thread, f: Frame) -> None:
    m.touched.add(("f", f.pfn))
    f.locked = None
    if f.lock_waiters:
        nxt = f.lock_waiters.pop(0)
        f.locked = nxt
        m.wake(nxt)


# ------------------------------------------------------- per-VMA lock (6.4)
def vma_start_read(m: Machine, t: Thread, mm: Mm, v: Vma) -> str:
    """Returns "" on success, else why it failed."""
    m.touched.add(("mm", v.mm))
    if v.vm_lock_seq == mm.mm_lock_seq:
        return "vma write-locked"
    if v.lock_writer is not None or v.lock_waiters:
        return "vm_lock contended"
    v.lock_readers.append(t.index)
    return ""


def vma_end_read(m: Machine, t: Thread, v: Vma) -> None:
    m.touched.add(("mm", v.mm))
    v.lock_readers.remove(t.index)
    if not v.lock_readers and v.lock_waiters:
        nxt = v.lock_waiters.pop(0)
        v.lock_writer = nxt
        m.wake(nxt)


def vma_start_write(m: Machine, t: Thread, mm: Mm, v: Vma) -> bool:
    """down_write waits for in-flight faults; then vm_lock_seq = mm_lock_seq."""
    m.touched.add(("mm", v.mm))
    if v.vm_lock_seq == mm.mm_lock_seq:
        return True
    if v.lock_writer == t.index or (v.lock_writer is None and not v.lock_readers):
        v.lock_writer = None
        old = v.vm_lock_seq
        v.vm_lock_seq = mm.mm_lock_seq
        m.emit(Seq(mm.name, f"vma{v.id}.vm_lock_seq", old, v.vm_lock_seq))
        return True
    if t.index not in v.lock_waiters:
        v.lock_waiters.append(t.index)
    m.block(t, f"vm_lock (vma {v.id}) write")
    return False
