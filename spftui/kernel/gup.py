"""GUP: get_user_pages / pin_user_pages as their fault-and-retry loop (history.md §1, §2).

The op `gup ADDR [write] [force] [pin]` runs `__get_user_pages` for one
page under mmap_read_lock: `check_vma_flags`, then `follow_page_pte` ↔
`faultin_page` until a PTE passes, then a reference (FOLL_GET) or a pin
(FOLL_PIN: a reference and the pincount) that the thread keeps across ops
(`Thread.pins`) until `unpin ADDR`. `gup-read ADDR` and `gup-write ADDR
VALUE` access the page through that reference, as a DMA engine, a pipe
buffer (vmsplice) or a `/proc/pid/mem` write would, whatever the page
tables say by then.

The loop keeps `foll_flags` in `vmf["gup_foll"]` between iterations: that is
where Dirty COW lived. After a write fault that broke COW on a VMA without
VM_WRITE, `faultin_page` cleared FOLL_WRITE so the next `follow_page_pte`
would take the read-only COWed PTE; a MADV_DONTNEED in between made the
retry a read, which mapped the page-cache page itself (fix `foll_cow`,
19be0eaffa3a: set FOLL_COW instead and accept only a dirty PTE).

With the fix `gup_force_cow` (17839856fd58, 5.8; under the mapcount rule
only) `__get_user_pages` sets FOLL_WRITE for a FOLL_GET or FOLL_PIN on a
COW mapping (should_force_cow_break): even a read GUP write-faults, breaks
COW and takes a page only this process maps, so a later write fault in
another process cannot reuse the page under the caller (the GUP-after-fork
leak, CVE-2020-29374). can_follow_write_pte then stops asking for
FOLL_FORCE: a forced COW break on a !VM_WRITE VMA sets FOLL_COW without it.
09854ba94c6a and a308c71bf1e6 (5.9) replaced it by the page-count rule, so
under page-count and anon-exclusive its code does not run.

With the fix `gup_unshare` (5.19, under the anon-exclusive rule) a
read-only FOLL_PIN of an anonymous page that is not PageAnonExclusive makes
`follow_page_pte` fail (`gup_must_unshare`, -EMLINK) and `faultin_page`
run an unshare fault (FAULT_FLAG_UNSHARE): `do_wp_page` copies the page and
maps the copy read-only, so the pin lands on a page only this process maps.

Simplifications: one page per call; no GUP-fast (so 5.8's GUP-fast,
which refuses a read-only PTE and falls back to the slow path, behaves as
the slow path does here; `__get_user_pages_fast`, which never forced a COW
break, is not modelled); no FOLL_TOUCH side effects (mark_page_accessed,
set_page_dirty). 5.19's fork-side half (`page_try_dup_anon_rmap` copying a
pinned page for the child; 70e806e4e645 did it first, in 5.9) is fork.py's
`_copy_pinned` (fix `fork_copy_pinned`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks, oracles
from .events import Decision
from .foll import FOLL_COW, FOLL_FORCE, FOLL_GET, FOLL_PIN, FOLL_WRITE, format_foll
from .ops import finish_op, word_of
from .pte import ZERO_PFN, pte_dirty, pte_none, pte_pfn, pte_present, pte_protnone, pte_special, pte_write, vpn_of
from .state import LAZYFREE, SWAPBACKED, VM_MAYWRITE, VM_READ, VM_SHARED, VM_WRITE
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Mm, Thread


def is_cow_mapping(vm_flags: int) -> bool:
    return vm_flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE


def forces_cow_break(m: Machine) -> bool:
    """Does this kernel force a COW break on GUP (the fix `gup_force_cow`: 17839856fd58, 5.8)?

    Only under the mapcount rule: 5.9 removed it with the page-count rule (a308c71bf1e6, 09854ba94c6a)."""
    return not m.reuse.by_refcount and m.fixed("gup_force_cow")


def should_force_cow_break(m: Machine, vm_flags: int, foll: int) -> bool:
    """is_cow_mapping && (FOLL_GET | FOLL_PIN), in a kernel that has the forced COW break (5.8)."""
    return forces_cow_break(m) and is_cow_mapping(vm_flags) and bool(foll & (FOLL_GET | FOLL_PIN))


def _efault(m: Machine, t: Thread, why: str) -> None:
    locks.mmap_read_unlock(m, t, m.thread_mm(t))
    finish_op(m, t, f"-EFAULT: {why}")


@step("__get_user_pages:mmap_read_lock")
def gup_lock(m: Machine, t: Thread) -> None:
    """mmap_read_lock (get_user_pages_unlocked / the caller): GUP holds it across its whole loop."""
    if locks.mmap_read_lock(m, t, m.thread_mm(t)):
        t.pc = "__get_user_pages:check_vma_flags"


@step("__get_user_pages:check_vma_flags")
def check_vma_flags(m: Machine, t: Thread) -> None:
    """find_extend_vma; check_vma_flags: FOLL_FORCE lets a write into a !VM_WRITE COW mapping (its private copy).
    Then (5.8, fix `gup_force_cow`) should_force_cow_break: a COW mapping gets FOLL_WRITE, even for a read."""
    mm = m.thread_mm(t)
    addr, foll = t.vmf["addr"], t.vmf["gup_foll"]
    v = m.vma_lookup(mm, addr)
    if v is None:
        _efault(m, t, f"no VMA at {addr:#x}")
        return
    if foll & FOLL_WRITE and not v.vm_flags & VM_WRITE:
        if not foll & FOLL_FORCE:
            _efault(m, t, "a write to a VMA without VM_WRITE needs FOLL_FORCE")
            return
        if not is_cow_mapping(v.vm_flags):
            _efault(m, t, "FOLL_FORCE writes only into a private (COW) mapping")
            return
    if not v.vm_flags & VM_READ:
        # The kernel lets FOLL_FORCE into a PROT_NONE VMA (without FOLL_NUMA); the model's
        # PROT_NONE PTEs are what do_numa_page would make accessible, so it refuses instead.
        _efault(m, t, "a VMA without VM_READ (FOLL_FORCE into PROT_NONE is not modelled)")
        return
    t.vmf["vma"] = v.id
    if not foll & FOLL_WRITE and should_force_cow_break(m, v.vm_flags, foll):
        # After check_vma_flags, as in 5.8's __get_user_pages: the access was checked as a read.
        t.vmf["gup_foll"] = foll | FOLL_WRITE
        m.emit(
            Decision(
                t.name, "foll", None,
                "FOLL_WRITE forced: a COW mapping and FOLL_GET/FOLL_PIN, so even a read GUP breaks COW "
                "(should_force_cow_break, 17839856fd58)",
            )
        )  # fmt: skip
    t.pc = "follow_page_pte:pte_offset_map_lock"


def can_follow_write_pte(m: Machine, pte: int, foll: int) -> bool:
    """pte_write, or (the fix `foll_cow`) FOLL_FORCE|FOLL_COW and a dirty PTE: this GUP already broke COW.
    With the forced COW break (5.8) FOLL_COW alone: a forced break sets it without FOLL_FORCE."""
    if pte_write(pte):
        return True
    forced = bool(foll & FOLL_FORCE) or forces_cow_break(m)
    return m.fixed("foll_cow") and forced and bool(foll & FOLL_COW) and pte_dirty(pte)


def gup_must_unshare(m: Machine, foll: int, pfn: int) -> bool:
    """A read-only FOLL_PIN of an anonymous page that may be shared (5.19, fix `gup_unshare`)."""
    if not (m.reuse.anon_exclusive and m.fixed("gup_unshare")):
        return False
    if foll & FOLL_WRITE or not foll & FOLL_PIN or pfn == ZERO_PFN:
        return False
    f = m.frame(pfn)
    return not f.mapping and not f.anon_exclusive


@step("follow_page_pte:pte_offset_map_lock")
def follow_page_pte(m: Machine, t: Thread) -> None:
    """Under the PTL: a usable PTE gives the page (get_page, or a pin); else faultin_page (none, not present,
    a write without can_follow_write_pte, or an unshare)."""
    mm = m.thread_mm(t)
    addr, foll = t.vmf["addr"], t.vmf["gup_foll"]
    vpn = vpn_of(addr)
    table = m.pmd_table(mm, vpn)
    if table is None:
        _faultin(t, unshare=False)
        return
    if not locks.ptl_lock(m, t, table):
        return
    pte = m.get_pte(table, vpn)
    why = ""
    if pte_none(pte) or not pte_present(pte) or pte_protnone(pte):
        why = "no page"
    elif foll & FOLL_WRITE and not can_follow_write_pte(m, pte, foll):
        why = "write"
    elif gup_must_unshare(m, foll, pte_pfn(pte) if not pte_special(pte) else ZERO_PFN):
        why = "unshare"
    if why:
        locks.ptl_unlock(m, t, table)
        _faultin(t, unshare=why == "unshare")
        return
    pfn = ZERO_PFN if pte_special(pte) else pte_pfn(pte)
    if pfn != ZERO_PFN:
        m.get_page(t, pfn)  # try_grab_page: FOLL_GET or FOLL_PIN
        if foll & FOLL_PIN:
            m.frame(pfn).pincount += 1
    t.pins.append((addr, pfn, foll, mm.zaps.get(vpn, 0)))
    t.vmf["gup_page"] = pfn
    locks.ptl_unlock(m, t, table)
    t.pc = "__get_user_pages:mmap_read_unlock"


def _faultin(t: Thread, unshare: bool) -> None:
    t.vmf["gup_unshare"] = unshare
    t.pc = "faultin_page:handle_mm_fault"


@step("faultin_page:handle_mm_fault")
def faultin_page(m: Machine, t: Thread) -> None:
    """handle_mm_fault with FAULT_FLAG_WRITE for FOLL_WRITE (or FAULT_FLAG_UNSHARE), under GUP's mmap_lock."""
    foll = t.vmf["gup_foll"]
    t.vmf["mode"] = "gup"
    t.vmf["write"] = bool(foll & FOLL_WRITE)
    if t.vmf.pop("gup_unshare"):
        t.vmf["unshare"] = True
    t.vmf.pop("fault_write", None)
    t.pc = "__handle_mm_fault:walk"


@step("faultin_page:ret")
def faultin_page_ret(m: Machine, t: Thread) -> None:
    """VM_FAULT_WRITE on a !VM_WRITE VMA: COW is broken. Before 19be0eaffa3a clear FOLL_WRITE
    (the retry is a read); with the fix `foll_cow` set FOLL_COW. Then retry follow_page (cond_resched ⟂)."""
    v = m.vma_of(t.vmf["vma"])
    if t.vmf.pop("fault_write", False) and not v.vm_flags & VM_WRITE:
        foll = t.vmf["gup_foll"]
        if m.fixed("foll_cow"):
            t.vmf["gup_foll"] = foll | FOLL_COW
            why = "sets FOLL_COW: the retry takes the COW copy only while the PTE stays dirty (19be0eaffa3a)"
        else:
            t.vmf["gup_foll"] = foll & ~FOLL_WRITE
            why = "clears FOLL_WRITE: the retry is a read, and takes whatever page the PTE maps (before 19be0eaffa3a)"
        m.emit(Decision(t.name, "foll", None, f"VM_FAULT_WRITE on a !VM_WRITE VMA (COW broken): faultin_page {why}"))
    t.pc = "follow_page_pte:pte_offset_map_lock"


@step("__get_user_pages:mmap_read_unlock")
def gup_unlock(m: Machine, t: Thread) -> None:
    """mmap_read_unlock; return the page. The reference or pin outlives the call (and the mapping)."""
    locks.mmap_read_unlock(m, t, m.thread_mm(t))
    pfn = t.vmf["gup_page"]
    finish_op(
        m, t, f"{'pinned' if t.vmf['gup_foll'] & FOLL_PIN else 'got'} pfn {pfn} ({format_foll(t.vmf['gup_foll'])})"
    )


# ----------------------------------------------------- using the page
def find_pin(t: Thread, addr: int) -> int | None:
    """The index of the thread's latest pin whose page holds `addr`."""
    vpn = vpn_of(addr)
    for i in range(len(t.pins) - 1, -1, -1):
        if vpn_of(t.pins[i][0]) == vpn:
            return i
    return None


def _pin_or_fail(m: Machine, t: Thread) -> int | None:
    i = find_pin(t, t.vmf["addr"])
    if i is None:
        finish_op(m, t, f"error: no page from gup at {t.vmf['addr']:#x}")
    return i


@step("__access_remote_vm:read")
def pin_read(m: Machine, t: Thread) -> None:
    """Read a word through the page GUP returned (a DMA, a pipe buffer): no page tables involved."""
    i = _pin_or_fail(m, t)
    if i is None:
        return
    pfn = t.pins[i][1]
    word = word_of(m, t.vmf["addr"])
    value = m.frame(pfn).words[word]
    oracles.check_pin_read(m, t, t.pins[i], pin_coherent(m, t, t.pins[i]), word, value)
    finish_op(m, t, f"read {value} from pfn {pfn}")


@step("__access_remote_vm:write")
def pin_write(m: Machine, t: Thread) -> None:
    """Write a word through the page GUP returned (/proc/pid/mem's copy_to_user_page, a DMA)."""
    i = _pin_or_fail(m, t)
    if i is None:
        return
    pfn = t.pins[i][1]
    word = word_of(m, t.vmf["addr"])
    value = m.ops[t.index][t.op_index].value
    f = m.frame(pfn)
    f.words[word] = value
    m.dirty_frames.add(pfn)
    oracles.record_pin_write(m, t, t.pins[i], pin_coherent(m, t, t.pins[i]), word, value)
    finish_op(m, t, f"wrote {value} to pfn {pfn}")


@step("unpin_user_page:put")
def unpin(m: Machine, t: Thread) -> None:
    """unpin_user_page / put_page: drop the pin (pincount) and its reference; a FOLL_WRITE one dirties the page first."""
    i = _pin_or_fail(m, t)
    if i is None:
        return
    _addr, pfn, foll, _coherent = t.pins.pop(i)
    if pfn != ZERO_PFN:
        f = m.frame(pfn)
        if foll & FOLL_PIN:
            f.pincount -= 1
        if foll & FOLL_WRITE and f.lazyfree == LAZYFREE:  # set_page_dirty_lock (a direct-IO read's completion,
            f.lazyfree = SWAPBACKED  # or unpin_user_pages_dirty_lock): reclaim will not discard it (lazyfree.py)
        m.put_page(t, pfn)
    finish_op(m, t, f"released pfn {pfn}")


def unpin_coherence(m: Machine, mm: Mm, vpn: int) -> None:
    """mm gave up its PTE at `vpn` (munmap, MADV_DONTNEED, mremap): pins taken there before owe it nothing now.

    Counted only where a thread of mm holds a page from GUP at vpn, so that
    a zap with no pin around leaves no trace in the state."""
    if any(th.mm == mm.name and any(vpn_of(p[0]) == vpn for p in th.pins) for th in m.threads if th.pins):
        mm.zaps[vpn] = mm.zaps.get(vpn, 0) + 1


def pin_coherent(m: Machine, t: Thread, pin: tuple[int, int, int, int]) -> bool:
    """Is the pin still owed coherence by its process (no zap of its address since)?"""
    return m.thread_mm(t).zaps.get(vpn_of(pin[0]), 0) == pin[3]
