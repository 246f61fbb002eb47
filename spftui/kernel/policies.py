"""Validation policies: how a fault starts and how it validates under the PTL.

classic               mmap_lock held for the whole fault (no speculation)
spf-mm-seq            Lespinasse 2021: per-mm mmap_seq sampled at entry and
                      re-checked in pte_map_lock (SEQ1/SEQ2)
spf-vma-seq           Dufour v12: per-VMA vm_sequence; vma_has_changed
spf-refetch-vma       the seed's tempting check: no seq at commit, re-find the
                      VMA under the PTL and compare it with the copy
spf-refetch-pte-none  the seed's proposal: refetch when orig_pte was none,
                      otherwise the per-mm seq
vma-lock              6.4 per-VMA locks: read-lock the VMA for the fault;
                      writers wait in vma_start_write
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread

LESPINASSE = ("spf-mm-seq", "spf-refetch-vma", "spf-refetch-pte-none")

DESCRIPTIONS = {
    "classic": "mmap_lock held for the whole fault",
    "spf-mm-seq": "Lespinasse: per-mm mmap_seq validated in pte_map_lock",
    "spf-vma-seq": "Dufour: per-VMA vm_sequence validated in pte_map_lock",
    "vma-lock": "6.4 per-VMA locks: the fault read-locks its VMA",
    "spf-refetch-vma": "seed: re-find the VMA under the PTL and compare (unsafe)",
    "spf-refetch-pte-none": "seed: refetch if orig_pte was none, else per-mm seq",
}


def fault_entry(m: Machine, t: Thread) -> dict[str, Any]:
    """The vmf fields and the first step of a fault under the machine's policy."""
    p = m.policy
    if p in LESPINASSE:
        t.pc = "do_user_addr_fault:spf_seq_start"
        return {"mode": "spf"}
    if p == "spf-vma-seq":
        t.pc = "handle_speculative_fault:find_vma_rcu"
        return {"mode": "dufour"}
    if p == "vma-lock":
        t.pc = "lock_vma_under_rcu:mas_walk"
        return {"mode": "vmalock"}
    t.pc = "do_user_addr_fault:mmap_read_lock"
    return {"mode": "classic"}
