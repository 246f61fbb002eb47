"""VMA surgery shared by the writers: split and merge (`__split_vma`, `vma_merge`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import Seq, VmaChange

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Mm, Vma


def vma_write_begin(m: Machine, v: Vma) -> None:
    """Dufour's vm_write_begin: vm_sequence goes odd."""
    m.touched.add(("mm", v.mm))
    old = v.vm_sequence
    v.vm_sequence += 1
    m.emit(Seq(v.mm, f"vma{v.id}.vm_sequence", old, v.vm_sequence))


def vma_write_end(m: Machine, v: Vma) -> None:
    m.touched.add(("mm", v.mm))
    old = v.vm_sequence
    v.vm_sequence += 1
    m.emit(Seq(v.mm, f"vma{v.id}.vm_sequence", old, v.vm_sequence))


def overlapping(m: Machine, mm: Mm, start: int, end: int) -> list[Vma]:
    m.touched.add(("mm", mm.name))
    return [m.vmas[i] for i in mm.vmas if m.vmas[i].vm_start < end and m.vmas[i].vm_end > start]


def touching(m: Machine, mm: Mm, start: int, end: int) -> list[Vma]:
    """The VMAs in [start, end) and the neighbours that touch it (vma_merge candidates)."""
    m.touched.add(("mm", mm.name))
    return [m.vmas[i] for i in mm.vmas if m.vmas[i].vm_start <= end and m.vmas[i].vm_end >= start]


def split_vma(m: Machine, mm: Mm, v: Vma, at: int) -> Vma:
    """__split_vma: v keeps [vm_start, at); a new VMA takes [at, vm_end)."""
    vma_write_begin(m, v)
    new = m.new_vma(mm, at, v.vm_end, v.vm_flags, v.anon_vma)
    new.vm_file, new.vm_pgoff = v.vm_file, v.vm_pgoff + ((at - v.vm_start) >> 12)
    new.vm_lock_seq = mm.mm_lock_seq  # 6.4 vma_prepare: the new VMA is write-locked too
    v.vm_end = at
    m.vma_link(mm, new)
    vma_write_end(m, v)
    m.emit(VmaChange(mm.name, "split", v.id, new.id, None))
    return new


def split_range(m: Machine, mm: Mm, start: int, end: int) -> list[Vma]:
    """Split the VMAs straddling start or end; return the VMAs inside [start, end)."""
    for v in overlapping(m, mm, start, end):
        if v.vm_start < start < v.vm_end:
            split_vma(m, mm, v, start)
    for v in overlapping(m, mm, start, end):
        if v.vm_start < end < v.vm_end:
            split_vma(m, mm, v, end)
    return overlapping(m, mm, start, end)


def merge_adjacent(m: Machine, mm: Mm, start: int, end: int) -> None:
    """vma_merge around [start, end): fold a VMA into its left neighbour when they touch and match."""
    m.touched.add(("mm", mm.name))
    i = 0
    while i + 1 < len(mm.vmas):
        a, b = m.vmas[mm.vmas[i]], m.vmas[mm.vmas[i + 1]]
        compatible = b.anon_vma is None or a.anon_vma is None or a.anon_vma == b.anon_vma
        # is_mergeable_vma: the same file, and its pages continuing where a's end
        compatible &= a.vm_file == b.vm_file and (
            not a.vm_file or a.vm_pgoff + ((a.vm_end - a.vm_start) >> 12) == b.vm_pgoff
        )
        near = start <= a.vm_end <= end
        if near and a.vm_end == b.vm_start and a.vm_flags == b.vm_flags and compatible:
            vma_write_begin(m, a)
            a.vm_end = b.vm_end
            a.anon_vma = a.anon_vma if a.anon_vma is not None else b.anon_vma
            m.vma_unlink(mm, b)
            m.remove_vma(b)
            vma_write_end(m, a)
            m.emit(VmaChange(mm.name, "merge", a.id, b.id, None))
        else:
            i += 1
