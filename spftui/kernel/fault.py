"""Fault entry and the shared fault machinery (kernel-mm.md B.1, B.6-B.8).

Entries: the classic `do_user_addr_fault` (mmap_lock), Lespinasse's
speculative branch, Dufour's `handle_speculative_fault`, and 6.4's
`lock_vma_under_rcu`. Then the common walk, `handle_pte_fault`'s dispatch,
the two ways to take the PTL (`pte_offset_map_lock` classic,
`pte_map_lock` speculative, where each policy validates), the abort that
falls back to the classic path, and the fault's return.

Simplifications: the VMA copy is one atomic step (a torn copy is caught by
the same seq check anyway); `access_error` is folded into the lookup step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import locks
from .events import Decision, Segv, SpecRead, SpfAbort, Validate
from .pte import _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PROTNONE, is_swap_pte, pte_none, pte_protnone, pte_write, vpn_of
from .state import VM_GROWSDOWN, VM_READ, VM_UFFD_WP, VM_WRITE
from .steps import step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Mm, Thread

CLASSIC_ENTRY = "do_user_addr_fault:mmap_read_lock"
GUP_KEEP = ("addr", "vma", "mode", "fault_write")
"""What a fault run by GUP's faultin_page leaves behind (gup.py): VM_FAULT_WRITE is `fault_write`."""


def access_error(flags: int, write: bool) -> bool:
    return not flags & (VM_WRITE if write else VM_READ)


def user_label(t: Thread) -> str:
    return "user:store" if t.vmf["write"] else "user:load"


# ------------------------------------------------------------- the return
def fault_done(m: Machine, t: Thread) -> None:
    """The handler returned: leave the fault and retry the access."""
    mode = t.vmf["mode"]
    if mode == "classic":
        t.pc = "do_user_addr_fault:mmap_read_unlock"
    elif mode == "gup":  # faultin_page: GUP keeps mmap_lock and its own locals
        t.vmf = {k: v for k, v in t.vmf.items() if k in GUP_KEEP or k.startswith("gup_")}
        t.stack = []
        t.pc = "faultin_page:ret"
    elif mode == "vmalock":
        t.pc = "do_user_addr_fault:vma_end_read"
    else:
        if mode == "dufour":
            put_vma(m, t)
        _reset_fault(t)
        t.pc = user_label(t)


def _reset_fault(t: Thread) -> None:
    keep: dict[str, Any] = {k: t.vmf[k] for k in ("addr", "write") if k in t.vmf}
    t.vmf = keep
    t.stack = []


def put_vma(m: Machine, t: Thread) -> None:
    """Dufour: drop the SPF reference; the last one frees a removed VMA."""
    vid = t.vmf.pop("vma_ref", None)
    if vid is None:
        return
    v = m.vma_of(vid)
    v.refs -= 1
    if v.refs == 0 and v.dying:
        m.call_rcu("vma", v.id)


@step("do_user_addr_fault:mmap_read_unlock")
def mmap_read_unlock_step(m: Machine, t: Thread) -> None:
    """mmap_read_unlock: the classic fault is over; the access is retried."""
    locks.mmap_read_unlock(m, t, m.thread_mm(t))
    _reset_fault(t)
    t.pc = user_label(t)


@step("do_user_addr_fault:vma_end_read")
def vma_end_read_step(m: Machine, t: Thread) -> None:
    """vma_end_read: drop the per-VMA read lock; the access is retried."""
    locks.vma_end_read(m, t, m.vma_of(t.vmf["vma"]))
    _reset_fault(t)
    t.pc = user_label(t)


def segv(m: Machine, t: Thread, why: str) -> None:
    """__bad_area → force_sig_fault(SIGSEGV): the fault kills the whole process (exit.py)."""
    from .ops import finish_op

    addr = t.vmf["addr"]
    m.emit(Segv(t.name, addr, why))
    finish_op(m, t, f"killed by SIGSEGV at {addr:#x}: {why}", fatal=True)


def bad_area_why(flags: int | None, write: bool) -> str:
    """Why the access is refused: no VMA, or the VMA lacks the permission (access_error)."""
    from .exit import maps_flags

    if flags is None:
        return "no VMA"
    return f"VMA {maps_flags(flags)} has no {'write' if write else 'read'} permission"


# --------------------------------------------------------------- the abort
def spf_abort(m: Machine, t: Thread, reason: str, detail: str) -> None:
    """VM_FAULT_RETRY from a speculative (or VMA-locked) fault: undo, go classic.

    Abort hygiene (kernel-mm.md D.15): unlock the PTL and the page, free the new page,
    drop the old page's reference, leave RCU, drop Dufour's VMA reference or
    the VMA read lock; nothing speculative stays visible.
    """
    vmf = t.vmf
    ptl = vmf.get("ptl")
    if ptl is not None:
        locks.ptl_unlock(m, t, m.table_of(ptl))
    if vmf.get("page_locked"):
        locks.unlock_page(m, t, m.frames[vmf["page"]])
    for key in ("new_page", "page"):
        pfn = vmf.get(key)
        if pfn is not None and pfn in t.refs:
            m.put_page(t, pfn)
    while t.rcu_depth:
        m.rcu_read_unlock(t)
    if vmf["mode"] == "dufour":
        put_vma(m, t)
    if vmf.get("vma_locked"):
        locks.vma_end_read(m, t, m.vma_of(vmf["vma"]))
    m.emit(SpfAbort(t.name, reason, detail, t.pc))
    _reset_fault(t)
    t.vmf["mode"] = "classic"
    t.vmf["tried"] = True
    t.pc = CLASSIC_ENTRY


# ------------------------------------------------------------ classic entry
@step("do_user_addr_fault:mmap_read_lock")
def classic_lock(m: Machine, t: Thread) -> None:
    """mmap_read_lock: sleeps (FIFO) while a writer holds or waits for mmap_lock."""
    if locks.mmap_read_lock(m, t, m.thread_mm(t)):
        t.pc = "do_user_addr_fault:find_vma"


@step("do_user_addr_fault:find_vma")
def classic_find_vma(m: Machine, t: Thread) -> None:
    """find_vma + access_error under mmap_lock; no VMA or no permission: SIGSEGV."""
    mm = m.thread_mm(t)
    v = m.vma_lookup(mm, t.vmf["addr"])
    if v is None and m.stack_fault is not None and m.stack_fault(m, t, mm):
        return  # below a VM_GROWSDOWN VMA: expand_stack (stack.py)
    if v is None or access_error(v.vm_flags, t.vmf["write"]):
        locks.mmap_read_unlock(m, t, mm)
        segv(m, t, bad_area_why(None if v is None else v.vm_flags, t.vmf["write"]))
        return
    t.vmf["vma"] = v.id
    t.pc = "__handle_mm_fault:walk"


@step("__handle_mm_fault:walk")
def classic_walk(m: Machine, t: Thread) -> None:
    """Walk to the PTE table, allocating it if missing (pte_alloc); read orig_pte once."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    table = m.pte_alloc(mm, vpn)
    t.vmf["pmd"] = table.id
    t.vmf["orig_pte"] = orig = m.get_pte(table, vpn)
    m.emit(SpecRead(t.name, "pte", mm.name, t.vmf["addr"], None, orig))  # read without the PTL: pte_same checks it
    dispatch(m, t)


def dispatch(m: Machine, t: Thread) -> None:
    """handle_pte_fault's dispatch on orig_pte."""
    orig = t.vmf["orig_pte"]
    if pte_none(orig) and "pvma" not in t.vmf and m.vma_of(t.vmf["vma"]).vm_file:
        # do_fault (filemap.py): do_cow_fault for a private write, else do_read_fault
        t.pc = "do_cow_fault:anon_vma_prepare" if t.vmf["write"] else "filemap_fault:find_get_page"
    elif pte_none(orig):
        if t.vmf["write"]:
            t.pc = "do_anonymous_page:anon_vma_prepare"
        else:
            lock_pte(m, t, "do_anonymous_page:set_pte")
    elif is_swap_pte(orig):
        if t.vmf["mode"] == "vmalock":
            spf_abort(m, t, "SWAP", "do_swap_page returns VM_FAULT_RETRY under the VMA lock")
            return
        t.pc = "do_swap_page:lookup_swap_cache"
    else:
        lock_pte(m, t, "handle_pte_fault:pte_same")


def lock_pte(m: Machine, t: Thread, ret: str) -> None:
    """Take the PTL: pte_offset_map_lock, or pte_map_lock when speculative."""
    if t.vmf["mode"] in ("spf", "dufour"):
        m.call(t, "pte_map_lock:seq_check", ret)
    else:
        m.call(t, "pte_offset_map_lock:lock", ret)


@step("pte_offset_map_lock:lock")
def pte_offset_map_lock(m: Machine, t: Thread) -> None:
    """spin_lock(ptl): waits for the holder (FIFO)."""
    table = m.table_ref(t.vmf["pmd"])
    if locks.ptl_lock(m, t, table):
        t.vmf["ptl"] = table.id
        m.ret_(t)


def unlock_pte(m: Machine, t: Thread) -> None:
    locks.ptl_unlock(m, t, m.table_of(t.vmf.pop("ptl")))


def uffd_wp_vma(m: Machine, t: Thread) -> bool:
    """userfaultfd_wp(vma), on the fault's VMA (its copy when speculative)."""
    if "pvma" in t.vmf:
        return bool(t.vmf["pvma"][2] & VM_UFFD_WP)
    return bool(m.vma_of(t.vmf["vma"]).vm_flags & VM_UFFD_WP)


def do_wp_page_entry(m: Machine, t: Thread) -> str:
    """do_wp_page's first step: its userfaultfd checks (userfaultfd.py) for a write fault in a VMA registered
    for uffd-wp; for any other VMA, or an unshare fault, they are no-ops and the COW decision comes first."""
    if not t.vmf.get("unshare") and uffd_wp_vma(m, t):
        return "do_wp_page:userfaultfd_pte_wp"
    return "do_wp_page:reuse_check"


@step("handle_pte_fault:pte_same")
def handle_pte_fault_same(m: Machine, t: Thread) -> None:
    """Under the PTL: if !pte_same return; a write to a read-only PTE goes to do_wp_page; else set A/D."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    table = m.table_of(t.vmf["pmd"])
    cur = m.get_pte(table, vpn)
    orig = t.vmf["orig_pte"]
    m.emit(Validate(t.name, "pte_same", "pte", mm.name, t.vmf["addr"], None, orig, cur, cur == orig))
    if cur != orig:
        unlock_pte(m, t)
        fault_done(m, t)
        return
    if pte_protnone(cur):  # do_numa_page: the VMA allows the access again (a racing mprotect)
        m.set_pte(mm, table, vpn, cur & ~_PAGE_PROTNONE)
        unlock_pte(m, t)
        fault_done(m, t)
        return
    if (t.vmf["write"] or t.vmf.get("unshare")) and not pte_write(cur):
        t.pc = do_wp_page_entry(m, t)  # FAULT_FLAG_UNSHARE (gup.py) goes there too
        return
    new = cur | _PAGE_ACCESSED | (_PAGE_DIRTY if t.vmf["write"] else 0)
    if new != cur:
        m.set_pte(mm, table, vpn, new)  # ptep_set_access_flags
    unlock_pte(m, t)
    fault_done(m, t)


def _single_threaded(m: Machine, t: Thread, mm: Mm) -> None:
    """Both SPF series try the speculative path only when another thread may share the mm
    (mm_users > 1): alone, nothing can race the fault, and the classic path is as fast."""
    t.vmf["mode"] = "classic"
    m.emit(
        Decision(
            t.name, "classic", None, f"takes the classic path: mm_users {mm.mm_users} (a single-threaded {mm.name})"
        )
    )
    classic_lock(m, t)


# ------------------------------------------------- Lespinasse's speculative entry
@step("do_user_addr_fault:spf_seq_start")
def spf_seq_start(m: Machine, t: Thread) -> None:
    """mmap_seq_read_start: sample mmap_seq (odd: a writer holds mmap_lock: abort). Skipped when mm_users == 1."""
    mm = m.thread_mm(t)
    m.touched.add(("mm", mm.name))
    if mm.mm_users <= 1:
        _single_threaded(m, t, mm)
        return
    seq = mm.mmap_seq
    t.vmf["seq"] = seq
    addr = t.vmf["addr"]
    m.emit(SpecRead(t.name, "mmap_seq", mm.name, addr, None, seq))
    m.emit(Validate(t.name, "seq_start", "mmap_seq", mm.name, addr, None, seq, seq, not seq & 1))
    if seq & 1:
        spf_abort(m, t, "ODD", f"mmap_seq {seq} is odd: a writer holds mmap_lock")
        return
    t.pc = "do_user_addr_fault:spf_find_vma"


@step("do_user_addr_fault:spf_find_vma")
def spf_find_vma(m: Machine, t: Thread) -> None:
    """rcu_read_lock; find_vma without mmap_lock (stale nodes are still VMAs: freeing is RCU-deferred)."""
    m.rcu_read_lock(t)
    v = m.vma_lookup(m.thread_mm(t), t.vmf["addr"])
    if v is None:
        spf_abort(m, t, "UNMAPPED", f"no VMA at {t.vmf['addr']:#x}")
        return
    if v.vm_file:
        spf_abort(m, t, "FILE", "not an anonymous VMA: speculative faults handle anonymous VMAs only")
        return
    t.vmf["vma"] = v.id
    t.pc = "do_user_addr_fault:spf_vma_copy"


@step("do_user_addr_fault:spf_vma_copy")
def spf_vma_copy(m: Machine, t: Thread) -> None:
    """Copy the VMA onto the stack (pvma); rcu_read_unlock; mmap_seq_read_check; access_error on the copy."""
    v = m.vma_ref(t.vmf["vma"])
    t.vmf["pvma"] = pvma = v.copy_fields()
    m.rcu_read_unlock(t)
    mm = m.thread_mm(t)
    addr, seq, cur = t.vmf["addr"], t.vmf["seq"], mm.mmap_seq
    m.emit(SpecRead(t.name, "vma", mm.name, addr, v.id, pvma))
    m.emit(Validate(t.name, "VMA_COPY", "mmap_seq", mm.name, addr, None, seq, cur, cur == seq))
    if cur != seq:
        spf_abort(m, t, "VMA_COPY", f"mmap_seq changed {t.vmf['seq']}→{mm.mmap_seq} during the VMA copy")
        return
    if access_error(t.vmf["pvma"][2], t.vmf["write"]):
        spf_abort(m, t, "ACCESS_ERROR", "access_error on the VMA copy")
        return
    t.pc = "__handle_mm_fault:spf_walk"


@step("__handle_mm_fault:spf_walk")
def spf_walk(m: Machine, t: Thread) -> None:
    """speculative_page_walk_begin; read the pmd (none: abort, tables are never allocated speculatively) and orig_pte; walk_end.

    No anon_vma check here: Lespinasse's series aborts for a missing anon_vma only in
    do_anonymous_page's write branch ("Allocate our own private page": `if (!vma->anon_vma)
    { if (FAULT_FLAG_SPECULATIVE) return VM_FAULT_RETRY; ... }`, anon.py), so a speculative
    read fault maps the zero page in a VMA without one."""
    if read_orig_pte(m, t) is None:
        return
    dispatch(m, t)


def read_orig_pte(m: Machine, t: Thread) -> int | None:
    """The speculative walk of both series: the PTE table under the pmd into vmf.pmd and the
    PTE into vmf.orig_pte (returned), read without locks; no table: abort (None), as page
    tables are never allocated speculatively."""
    mm = m.thread_mm(t)
    addr = t.vmf["addr"]
    table = m.pmd_table(mm, vpn_of(addr))
    if table is None:
        spf_abort(m, t, "PMD", "no PTE table: page tables are never allocated speculatively")
        return None
    t.vmf["pmd"] = table.id
    t.vmf["orig_pte"] = orig = m.get_pte(table, vpn_of(addr))
    m.emit(SpecRead(t.name, "pmd", mm.name, addr, None, table.id))
    m.emit(SpecRead(t.name, "pte", mm.name, addr, None, orig))
    return orig


# -------------------------------------------------------- Dufour's entry
@step("handle_speculative_fault:find_vma_rcu")
def dufour_find_vma(m: Machine, t: Thread) -> None:
    """find_vma_rcu: lockless lookup that takes a VMA reference (get_vma)."""
    mm = m.thread_mm(t)
    m.touched.add(("mm", mm.name))
    if mm.mm_users <= 1:
        _single_threaded(m, t, mm)
        return
    m.rcu_read_lock(t)
    v = m.vma_lookup(mm, t.vmf["addr"])
    if v is None:
        spf_abort(m, t, "UNMAPPED", f"no VMA at {t.vmf['addr']:#x}")
        return
    if v.vm_file:
        spf_abort(m, t, "FILE", "not an anonymous VMA: modelled as handled classically")
        return
    v.refs += 1
    t.vmf["vma"] = v.id
    t.vmf["vma_ref"] = v.id
    m.rcu_read_unlock(t)
    t.pc = "handle_speculative_fault:vma_checks"


@step("handle_speculative_fault:vma_checks")
def dufour_checks(m: Machine, t: Thread) -> None:
    """raw_read_seqcount(vm_sequence) (odd: abort); checks on the live VMA: anon_vma, VM_GROWSDOWN, range,
    permission."""
    v = m.vma_ref(t.vmf["vma"])
    seq = v.vm_sequence
    t.vmf["seq"] = seq
    addr = t.vmf["addr"]
    m.emit(SpecRead(t.name, "vm_sequence", v.mm, addr, v.id, seq))
    m.emit(Validate(t.name, "seq_start", "vm_sequence", v.mm, addr, v.id, seq, seq, not seq & 1))
    if seq & 1:
        spf_abort(m, t, "VMA_SEQ_ODD", f"vm_sequence {seq} is odd: a writer is inside the VMA")
    elif v.anon_vma is None:
        spf_abort(m, t, "ANON_VMA", "the VMA has no anon_vma yet")
    elif v.vm_flags & VM_GROWSDOWN:  # (with VM_UFFD_MISSING and VM_GROWSUP: v12 leaves stacks to the classic path)
        spf_abort(m, t, "GROWSDOWN", "VM_GROWSDOWN: a stack is not handled speculatively")
    elif not v.vm_start <= addr < v.vm_end:
        spf_abort(m, t, "RANGE", "the address is outside the VMA")
    elif access_error(v.vm_flags, t.vmf["write"]):
        spf_abort(m, t, "ACCESS_ERROR", "access_error on the live VMA")
    else:
        t.vmf["pvma"] = v.copy_fields()
        t.pc = "handle_speculative_fault:walk"


@step("handle_speculative_fault:walk")
def dufour_walk(m: Machine, t: Thread) -> None:
    """IRQs off: walk to the PTE, save orig_pmd and orig_pte; read_seqcount_retry(vm_sequence)."""
    if read_orig_pte(m, t) is None:
        return
    v = m.vma_ref(t.vmf["vma"])
    seq, cur = t.vmf["seq"], v.vm_sequence
    m.emit(Validate(t.name, "VMA_SEQ", "vm_sequence", v.mm, t.vmf["addr"], v.id, seq, cur, cur == seq))
    if cur != seq:
        spf_abort(m, t, "VMA_SEQ", f"vm_sequence changed {t.vmf['seq']}→{v.vm_sequence}")
        return
    dispatch(m, t)


# ------------------------------------------------------- 6.4 per-VMA lock entry
@step("lock_vma_under_rcu:mas_walk")
def vmalock_walk(m: Machine, t: Thread) -> None:
    """rcu_read_lock; lockless lookup; no VMA or no anon_vma: NULL (the classic path)."""
    m.rcu_read_lock(t)
    v = m.vma_lookup(m.thread_mm(t), t.vmf["addr"])
    if v is None:
        spf_abort(m, t, "NO_VMA", f"no VMA at {t.vmf['addr']:#x}")
    elif v.vm_file:
        spf_abort(m, t, "FILE", "!vma_is_anonymous: 6.4 handles anonymous VMAs only")
    elif v.anon_vma is None:
        spf_abort(m, t, "ANON_VMA", "the VMA has no anon_vma yet")
    else:
        t.vmf["vma"] = v.id
        t.pc = "lock_vma_under_rcu:vma_start_read"


@step("lock_vma_under_rcu:vma_start_read")
def vmalock_start_read(m: Machine, t: Thread) -> None:
    """vma_start_read (seq check, down_read_trylock, seq recheck); then, as 6.4's lock_vma_under_rcu:
    userfaultfd_armed (444eeb17437a: a uffd-registered VMA is handled under mmap_lock) and the range
    (both: vma_end_read, NULL: the classic path); last detached (vma_end_read, retry the lookup)."""
    mm = m.thread_mm(t)
    v = m.vma_ref(t.vmf["vma"])
    why = locks.vma_start_read(m, t, mm, v)
    m.emit(
        Validate(
            t.name,
            "vma_start_read",
            "vm_lock_seq",
            mm.name,
            t.vmf["addr"],
            v.id,
            v.vm_lock_seq,
            mm.mm_lock_seq,
            not why,
        )
    )
    if why:
        spf_abort(m, t, "VMA_LOCK", why)
        return
    t.vmf["vma_locked"] = True
    addr = t.vmf["addr"]
    if v.vm_flags & VM_UFFD_WP:  # userfaultfd_armed(vma): the model's only uffd registration is WP
        spf_abort(m, t, "UFFD_WP", "userfaultfd_armed: a uffd-registered VMA is handled under mmap_lock")
        return
    if not v.vm_start <= addr < v.vm_end:
        spf_abort(m, t, "RANGE", "the address is outside the locked VMA")
        return
    if v.detached:
        locks.vma_end_read(m, t, v)
        del t.vmf["vma_locked"]
        t.pc = "lock_vma_under_rcu:mas_walk"
        m.rcu_read_unlock(t)
        return
    m.rcu_read_unlock(t)
    if access_error(v.vm_flags, t.vmf["write"]):
        spf_abort(m, t, "ACCESS_ERROR", "access_error: retried classic")
        return
    t.pc = "__handle_mm_fault:walk"


# --------------------------------------------------- pte_map_lock (speculative)
def validate(m: Machine, t: Thread, which: str) -> tuple[str, str] | None:
    """The policy's check; returns (reason, detail) when it fails."""
    check = m.policy.check
    vmf = t.vmf
    mm = m.thread_mm(t)
    m.touched.add(("mm", mm.name))
    addr, seq = vmf["addr"], vmf.get("seq")
    if check == "vma-seq":
        v = m.vma_ref(vmf["vma"])
        cur = None if v.detached else v.vm_sequence  # None: unlinked
        m.emit(Validate(t.name, which, "vm_sequence", mm.name, addr, v.id, seq, cur, cur == seq))
        if v.detached:
            return which, "vma_has_changed: the VMA was unlinked"
        if v.vm_sequence != seq:
            return which, f"vma_has_changed: vm_sequence changed {seq}→{v.vm_sequence}"
        return None
    refetch = check == "refetch-vma" or (check == "refetch-pte-none" and vmf["orig_pte"] == 0)
    if refetch:
        if which == "SEQ1":
            return None  # nothing to check before the PTL
        now = m.vma_lookup(mm, addr)
        fields = None if now is None else now.copy_fields()
        pvma = vmf["pvma"]
        m.emit(Validate(t.name, "REFETCH", "vma", mm.name, addr, vmf["vma"], pvma, fields, fields == pvma))
        if now is None:
            return "REFETCH", "the VMA is gone"
        if fields != pvma:
            return "REFETCH", "the re-fetched VMA differs from the copy"
        return None
    cur = mm.mmap_seq
    m.emit(Validate(t.name, which, "mmap_seq", mm.name, addr, None, seq, cur, cur == seq))
    if cur != seq:
        return which, f"mmap_seq changed {seq}→{cur}"
    return None


@step("pte_map_lock:seq_check")
def pte_map_lock_check(m: Machine, t: Thread) -> None:
    """speculative_page_walk_begin; validate (SEQ1): passing proves the page tables are live."""
    bad = validate(m, t, "SEQ1")
    if bad:
        spf_abort(m, t, *bad)
        return
    t.pc = "pte_map_lock:trylock"


@step("pte_map_lock:trylock")
def pte_map_lock_trylock(m: Machine, t: Thread) -> None:
    """pmd_same, then spin_trylock(ptl): Lespinasse aborts on failure, Dufour retries from the check."""
    mm = m.thread_mm(t)
    vpn = vpn_of(t.vmf["addr"])
    m.touched.add(("mm", mm.name))
    cur = mm.pgd.get(vpn // 512)
    m.emit(Validate(t.name, "pmd_same", "pmd", mm.name, t.vmf["addr"], None, t.vmf["pmd"], cur, cur == t.vmf["pmd"]))
    if cur != t.vmf["pmd"]:
        spf_abort(m, t, "PMD", "pmd changed (the PTE table was freed or replaced)")
        return
    table = m.table_ref(t.vmf["pmd"])
    if not locks.ptl_trylock(m, t, table):
        if m.policy.retries_trylock:
            t.pc = "pte_map_lock:seq_check"
            return
        spf_abort(m, t, "PTL", f"spin_trylock failed: table {table.id}'s PTL is held")
        return
    t.vmf["ptl"] = table.id
    t.pc = "pte_map_lock:seq_recheck"


@step("pte_map_lock:seq_recheck")
def pte_map_lock_recheck(m: Machine, t: Thread) -> None:
    """Validate again under the PTL (SEQ2); from here the PTL serializes against writers."""
    bad = validate(m, t, "SEQ2")
    if bad:
        spf_abort(m, t, *bad)
        return
    m.ret_(t)
