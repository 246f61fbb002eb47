"""userfaultfd write-protect: UFFDIO_WRITEPROTECT and the uffd-wp fault (v5.12, kernel-mm.md B.9 mprotect, D.14).

The op `uffd-wp ADDR LEN` (mode WP) / `uffd-unwp ADDR LEN` (mode 0) is
`userfaultfd_writeprotect` → `mwriteprotect_range`, which takes only the
mmap *read* lock and runs `change_protection` (mprotect.py's steps, with
`cp` set): `inc_tlb_flush_pending`, then `change_pte_range` per PTE table
(W cleared either way; the uffd-wp PTE bit set or cleared), then, as a later
step, the deferred `flush_tlb_range` and `dec_tlb_flush_pending`. Un-protect
then wakes the faults waiting on the range (`wake_userfault`).

The fault side sits at the top of `do_wp_page` and runs only for a VMA
registered for uffd-wp (for any other VMA both checks are no-ops, so other
scenarios keep their steps): `userfaultfd_pte_wp` sends a write to a uffd-wp
PTE to `handle_userfault`, and the fix 6ce64428d620 (switch
`uffd_wp_flush_pending`, scenario/fixes.py) flushes this page's TLB entries
before the COW decision when `mm_tlb_flush_pending`.

Simplifications (scenarios/README.md, "uffd-wp"):
  * one userfaultfd per process, registered at setup: a mapping with
    `uffd_wp = true` has VM_UFFD_WP (UFFDIO_REGISTER_MODE_WP; anonymous only,
    as before 5.19); no UFFDIO_REGISTER/UNREGISTER ops, no missing-page mode;
  * the monitor is a user thread doing `uffd-unwp`; no uffd_msg is read:
    a faulting thread sleeps in `handle_userfault` until an un-protect of its
    address wakes it, and then retries the access (VM_FAULT_RETRY);
    `userfaultfd_must_wait` is "the PTE still has the uffd-wp bit" (the
    kernel tests !pte_write; the two agree here, since only un-protect or a
    COW clears the bit);
  * a GUP fault on a uffd-wp PTE fails with EFAULT (get_user_pages without
    `locked` has no FAULT_FLAG_ALLOW_RETRY: handle_userfault returns
    VM_FAULT_SIGBUS); speculative faults hand it to the classic path
    (Lespinasse's SPF returns VM_FAULT_RETRY for uffd-wp; the same is
    assumed for Dufour's). 6.4 never runs a fault of a uffd-registered VMA
    under the VMA lock: lock_vma_under_rcu drops it at once when
    userfaultfd_armed (444eeb17437a, "mm: prevent userfaults to be handled
    under per-vma lock"; 6.5 lifted it), so its abort (reason UFFD_WP) is at
    lock_vma_under_rcu:vma_start_read, whatever the PTE holds;
  * fork clears VM_UFFD_WP and the PTE bit in the child (no
    UFFD_FEATURE_EVENT_FORK); mremap keeps them; a swapped-out PTE loses
    the bit (no _PAGE_SWP_UFFD_WP);
  * no -EAGAIN while `mmap_changing` (no non-cooperative events).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import locks
from .fault import _reset_fault, spf_abort, unlock_pte, user_label
from .ops import finish_op
from .pte import pte_present, pte_uffd_wp, vpn_of
from .state import BLOCKED, VM_READ, VM_SHARED, VM_UFFD_WP, VM_WRITE
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Thread

FIX = "uffd_wp_flush_pending"
UFFD_OPS = ("uffd-wp", "uffd-unwp")
WAITING = "handle_userfault"
"""How a thread sleeping in handle_userfault shows in `blocked_on` (its start)."""


def _op(m: Machine, t: Thread):  # type: ignore[no-untyped-def]
    return m.ops[t.index][t.op_index]


# ------------------------------------------------------- UFFDIO_WRITEPROTECT
@step("mwriteprotect_range:mmap_read_lock")
def uffd_wp_lock(m: Machine, t: Thread) -> None:
    """userfaultfd_writeprotect → mwriteprotect_range: mmap_read_lock (not the write lock: faults run beside it)."""
    if locks.mmap_read_lock(m, t, m.thread_mm(t)):
        t.pc = "mwriteprotect_range:find_dst_vma"


@step("mwriteprotect_range:find_dst_vma")
def uffd_wp_find_vma(m: Machine, t: Thread) -> None:
    """find_dst_vma: one VMA holds the whole range, registered for uffd-wp, anonymous, private, else -ENOENT.
    newprot = vm_get_page_prot(vm_flags [& ~VM_WRITE]); change_protection starts: inc_tlb_flush_pending."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    start, end = op.addr, op.addr + op.length
    v = m.vma_lookup(mm, start)
    why = ""
    if v is None or end > v.vm_end:
        why = "the range is not inside one VMA"
    elif not v.vm_flags & VM_UFFD_WP or v.vm_flags & VM_SHARED or v.vm_file:  # userfaultfd_wp, !VM_SHARED, anon
        why = "the VMA is not registered for uffd-wp"
    if why or v is None:
        locks.mmap_read_unlock(m, t, mm)
        finish_op(m, t, f"-ENOENT: {why}")
        return
    t.vmf["end"] = end
    t.vmf["cp"] = "uffd_wp" if op.kind == "uffd-wp" else "uffd_wp_resolve"
    t.vmf["prot_none"] = not v.vm_flags & (VM_READ | VM_WRITE)
    t.vmf["pages"] = 0
    t.vmf["pmds"] = tuple(m.tables_in(mm, vpn_of(start), vpn_of(end)))
    mm.tlb_flush_pending += 1  # inc_tlb_flush_pending: the flush is deferred to after the walk
    t.pc = "change_protection:change_pte_range"


@step("mwriteprotect_range:mmap_read_unlock")
def uffd_wp_unlock(m: Machine, t: Thread) -> None:
    """mmap_read_unlock; un-protect goes on to wake_userfault (no UFFDIO_WRITEPROTECT_MODE_DONTWAKE)."""
    locks.mmap_read_unlock(m, t, m.thread_mm(t))
    if _op(m, t).kind == "uffd-unwp":
        t.pc = "userfaultfd_writeprotect:wake_userfault"
    else:
        finish_op(m, t, "0")


@step("userfaultfd_writeprotect:wake_userfault")
def uffd_wake(m: Machine, t: Thread) -> None:
    """wake_userfault: wake the faults of this mm sleeping in handle_userfault on an address in the range."""
    mm = m.thread_mm(t)
    op = _op(m, t)
    m.touched.add(("mm", mm.name))
    for th in m.threads:
        if th.state == BLOCKED and th.mm == mm.name and th.blocked_on.startswith(WAITING):
            if op.addr <= th.vmf["addr"] < op.addr + op.length:
                m.wake(th.index)
    finish_op(m, t, "0")


# ------------------------------------------------------------- the fault side
@step("do_wp_page:userfaultfd_pte_wp")
def wp_userfaultfd_pte_wp(m: Machine, t: Thread) -> None:
    """userfaultfd_pte_wp: a write to a uffd-wp PTE unlocks the PTL and goes to handle_userfault.
    Otherwise, with 6ce64428d620, the deferred-flush check; without it, straight to the COW decision."""
    if pte_uffd_wp(t.vmf["orig_pte"]):
        if t.vmf["mode"] in ("spf", "dufour"):  # (never "vmalock": lock_vma_under_rcu refused the VMA)
            spf_abort(m, t, "UFFD_WP", "a uffd-wp fault is handled on the classic path (handle_userfault)")
            return
        unlock_pte(m, t)
        t.pc = "handle_userfault:wait"
        return
    t.pc = "do_wp_page:flush_tlb_page" if m.fixed(FIX) else "do_wp_page:reuse_check"


@step("do_wp_page:flush_tlb_page")
def wp_flush_pending(m: Machine, t: Thread) -> None:
    """6ce64428d620: userfaultfd_wp(vma) && mm_tlb_flush_pending(mm): flush_tlb_page before deciding to copy,
    so no CPU still writes the page through a writable TLB entry while cow_user_page copies it."""
    mm = m.thread_mm(t)
    m.touched.add(("mm", mm.name))
    if mm.tlb_flush_pending:
        vpn = vpn_of(t.vmf["addr"])
        m.flush_tlb_range(mm, vpn, vpn + 1)
    t.pc = "do_wp_page:reuse_check"


@step("handle_userfault:wait")
def handle_userfault(m: Machine, t: Thread) -> None:
    """handle_userfault(VM_UFFD_WP): queue on the userfaultfd; userfaultfd_must_wait (the PTE is still uffd-wp):
    mmap_read_unlock and sleep until an un-protect wakes it; VM_FAULT_RETRY: the access is retried.
    A GUP fault (no FAULT_FLAG_ALLOW_RETRY) gets VM_FAULT_SIGBUS: EFAULT."""
    mm = m.thread_mm(t)
    addr = t.vmf["addr"]
    locks.mmap_read_unlock(m, t, mm)
    if t.vmf["mode"] == "gup":
        finish_op(m, t, "-EFAULT: handle_userfault returned VM_FAULT_SIGBUS (no FAULT_FLAG_ALLOW_RETRY)")
        return
    pte = m.pte_lookup(mm, vpn_of(addr))
    _reset_fault(t)
    t.pc = user_label(t)
    if pte_present(pte) and pte_uffd_wp(pte):
        m.block(t, f"{WAITING}: uffd-wp write fault at {addr:#x}, until an un-protect wakes it")
