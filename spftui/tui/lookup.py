"""Pure reads of machine state for the panes.

`Machine.pte_lookup` and `vma_lookup` record a step footprint as a side
effect; the views must not even do that, so they use these instead.
"""

from __future__ import annotations

from bisect import bisect_right

from ..engine.view import Machine, Vma, pmd_index, pte_index


def pte_at(m: Machine, mm: str, vpn: int) -> int:
    """The PTE mapping `vpn` in `mm` (0 if none or no table)."""
    tid = m.mms[mm].pgd.get(pmd_index(vpn))
    if tid is None:
        return 0
    return m.tables[tid].entries.get(pte_index(vpn), 0)


def vma_at(m: Machine, mm: str, addr: int) -> Vma | None:
    """The linked VMA of `mm` containing `addr`."""
    space = m.mms[mm]
    i = bisect_right(space.starts, addr) - 1
    if i < 0:
        return None
    v = m.vmas[space.vmas[i]]
    return v if addr < v.vm_end else None
