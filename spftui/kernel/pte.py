"""PTE values, x86 flavoured: a PTE is one int, compared whole by `pte_same`.

Present:  pfn << 12 | _PAGE_PRESENT | [_PAGE_RW] | [_PAGE_ACCESSED] | [_PAGE_DIRTY] | [_PAGE_SPECIAL] | [_PAGE_PROTNONE]
          | [_PAGE_UFFD_WP]
Swap:     offset << 12 | _PAGE_SWP   (not present)
None:     0
"""

from __future__ import annotations

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PTRS_PER_PTE = 512  # one PTE table covers 2 MiB, as on x86-64

_PAGE_PRESENT = 0x001
_PAGE_RW = 0x002
_PAGE_ACCESSED = 0x020
_PAGE_DIRTY = 0x040
_PAGE_SWP = 0x080  # our marker for a swap entry (not present)
# PROT_NONE (x86 PAGE_NONE): the kernel still sees a present page (pte_present),
# the MMU does not, so every user access faults. x86 clears _PAGE_PRESENT and
# sets this bit; here _PAGE_PRESENT stays set and the hardware walk checks it.
_PAGE_PROTNONE = 0x100
_PAGE_SPECIAL = 0x200
# userfaultfd write-protect (x86 _PAGE_SOFTW2, 292924b26024): set by UFFDIO_WRITEPROTECT
# with W cleared; a write fault on it goes to handle_userfault (userfaultfd.py).
# Not carried into a swap entry (no _PAGE_SWP_UFFD_WP in the model).
_PAGE_UFFD_WP = 0x400

ZERO_PFN = 0  # the shared zero page


def mk_pte(pfn: int, write: bool = False, young: bool = True, dirty: bool = False) -> int:
    pte = (pfn << PAGE_SHIFT) | _PAGE_PRESENT
    if write:
        pte |= _PAGE_RW
    if young:
        pte |= _PAGE_ACCESSED
    if dirty:
        pte |= _PAGE_DIRTY
    if pfn == ZERO_PFN:
        pte |= _PAGE_SPECIAL
    return pte


def swp_entry_to_pte(offset: int) -> int:
    return (offset << PAGE_SHIFT) | _PAGE_SWP


def pte_none(pte: int) -> bool:
    return pte == 0


def pte_present(pte: int) -> bool:
    return bool(pte & _PAGE_PRESENT)


def is_swap_pte(pte: int) -> bool:
    return not pte & _PAGE_PRESENT and bool(pte & _PAGE_SWP)


def pte_pfn(pte: int) -> int:
    return pte >> PAGE_SHIFT


def pte_swp_offset(pte: int) -> int:
    return pte >> PAGE_SHIFT


def pte_write(pte: int) -> bool:
    return bool(pte & _PAGE_RW)


def pte_young(pte: int) -> bool:
    return bool(pte & _PAGE_ACCESSED)


def pte_dirty(pte: int) -> bool:
    return bool(pte & _PAGE_DIRTY)


def pte_special(pte: int) -> bool:
    return bool(pte & _PAGE_SPECIAL)


def pte_wrprotect(pte: int) -> int:
    return pte & ~_PAGE_RW


def pte_uffd_wp(pte: int) -> bool:
    return bool(pte & _PAGE_UFFD_WP)


def pte_mkuffd_wp(pte: int) -> int:
    return pte | _PAGE_UFFD_WP


def pte_clear_uffd_wp(pte: int) -> int:
    return pte & ~_PAGE_UFFD_WP


def pte_mkold(pte: int) -> int:
    return pte & ~_PAGE_ACCESSED


def pte_mkclean(pte: int) -> int:
    return pte & ~_PAGE_DIRTY


def pte_mkyoung_dirty_write(pte: int, write: bool) -> int:
    pte |= _PAGE_ACCESSED | _PAGE_DIRTY
    return pte | _PAGE_RW if write else pte


def pte_protnone(pte: int) -> bool:
    return bool(pte & _PAGE_PROTNONE)


def pte_modify(pte: int, write: bool, none: bool = False) -> int:
    """mprotect's pte_modify: keep pfn, A and D; replace the protection.

    For a private mapping the new protection is read-only even when the VMA
    becomes writable (v5.12: W is only added for dirty-accountable shared
    mappings), so `write` only ever clears W here. `none` is PROT_NONE.
    """
    if none:
        return (pte & ~_PAGE_RW) | _PAGE_PROTNONE
    pte &= ~_PAGE_PROTNONE
    return pte if write else pte & ~_PAGE_RW


def pte_same(a: int, b: int) -> bool:
    return a == b


def format_pte(pte: int) -> str:
    """`pfn 5 W A D`, `swap 2`, or `none`."""
    if pte == 0:
        return "none"
    if is_swap_pte(pte):
        return f"swap {pte_swp_offset(pte)}"
    if not pte & _PAGE_PRESENT:
        return f"?{pte:#x}"
    parts = ["zero" if pte & _PAGE_SPECIAL else f"pfn {pte_pfn(pte)}"]
    parts.append("NONE" if pte & _PAGE_PROTNONE else "W" if pte & _PAGE_RW else "RO")
    if pte & _PAGE_ACCESSED:
        parts.append("A")
    if pte & _PAGE_DIRTY:
        parts.append("D")
    if pte & _PAGE_UFFD_WP:
        parts.append("uffd-wp")
    return " ".join(parts)


def vpn_of(addr: int) -> int:
    return addr >> PAGE_SHIFT


def pmd_index(vpn: int) -> int:
    return vpn // PTRS_PER_PTE


def pte_index(vpn: int) -> int:
    return vpn % PTRS_PER_PTE
