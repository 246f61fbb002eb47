"""Stack expansion and the VMA index's nodes: StackRot (CVE-2023-3269; history.md §5).

Since 6.1 an mm's VMAs live in a maple tree (mm->mm_mt). Writers hold the mmap
write lock; readers hold either the mmap read lock or rcu_read_lock. In RCU mode
the tree never rewrites a node readers may be walking: it builds a new node,
publishes it (mas_replace) and frees the old one with call_rcu (mas_free →
ma_free_rcu; mt_free_rcu → kmem_cache_free after the grace period).

A fault just below a VM_GROWSDOWN VMA expands it: `expand_stack` →
`expand_downwards`. Until 6.5 that ran under the mmap *read* lock. Usually the
expansion only moves a pivot in place; but when the VMA below is itself
VM_GROWSDOWN no stack guard gap is kept, the expansion removes the gap entry,
and the node is replaced. A reader under the mmap read lock and outside
rcu_read_lock (here `find_vma_prev`, from madvise_walk_vmas) that loaded the old
node (mas_walk → mas_root) before the replacement, and reads a slot of it
(mas_prev → mt_slot) after the grace period, reads freed memory.

The fix (switch `expand_stack_write_lock`; 8d7071af8907 "mm: always expand the
stack with the mmap write lock held", with c2508ec5a58d "mm: introduce new
'lock_mm_and_find_vma()' page fault helper"; 6.5, stable 6.1.37, 6.3.11,
6.4.1): the fault's lock_mm_and_find_vma finds no VMA at the address but a
VM_GROWSDOWN one above it, drops the read lock (mmap_upgrade_trylock always
fails; upgrade_mmap_lock_carefully: mmap_read_unlock, mmap_write_lock_killable),
looks the VMA up again and calls expand_stack_locked; then mmap_write_downgrade,
and the fault goes on under the read lock. The writer excludes every
mmap_read_lock reader.

The steps: `expand_downwards:mas_prev` (the guard gap, anon_vma_prepare) and
`expand_downwards:mas_store_prealloc` (anon_vma_lock_write and page_table_lock
held across vm_start's change and the tree store); with the fix before them
`upgrade_mmap_lock_carefully:mmap_write_lock_killable`,
`lock_mm_and_find_vma:find_vma`, and after them
`lock_mm_and_find_vma:mmap_write_downgrade`. The reader's: `find_vma_prev:mas_walk`
(load the root node pointer) and `find_vma_prev:mas_prev` (read a slot of it).

Simplifications (say them beside the kernel):
- The maple tree is one versioned root node per mm (`Mm.maple`: the state of
  each node the tree has had, "live", "dead" or "freed"; the last is the root).
  A node has no pivots or slots: which VMA a lookup finds is read from the
  sorted VMA list (`Mm.vmas`), as everywhere else in the model; the node stands
  for the memory a lookup dereferences, and its lifecycle is what the bug is
  about. The expansion replaces the node exactly when it closes the gap to the
  VMA below (new vm_start == prev->vm_end: one entry fewer, mas_wr_node_store in
  RCU mode); otherwise it moves a pivot in place. That holds in a root leaf with
  room, as every scenario's is: a full node (mt_slots, 16) takes mas_wr_bnode
  and is replaced even when a gap remains, which is not modelled.
- Only stack expansion replaces a node. Writers under the mmap write lock
  (mmap, munmap, mprotect, mremap, fork's child tree) update the index in place
  in the model: no mmap_read_lock reader can hold a node across them, and the
  RCU readers (lock_vma_under_rcu, the speculative lookups) look up and use a
  VMA within their read section, so a replacement there could not be told
  apart; modelling it would only add states. The tree's teardown at exit is
  not modelled.
- The reader is madvise: madvise_walk_vmas calls find_vma_prev under the mmap
  read lock (MADV_DONTNEED and MADV_FREE take it for reading). The StackRot
  README shows find_vma_prev without naming its caller; its exploit walked
  /proc/PID/maps. madvise cannot sleep between mas_walk and mas_prev: the
  window needs the reader preempted there (CONFIG_PREEMPT, preemptible RCU),
  which the model's free interleaving of steps allows. Its two steps exist only
  in a scenario with a VM_GROWSDOWN mapping (`Machine.stack_fault` is set); elsewhere
  nothing can replace a node, the window cannot be seen, and `do_madvise:find_vma`
  stays one step (the bundled scenarios keep their state counts).
- mas_prev on a node that is dead but not yet freed reads valid (stale) memory:
  the model reads on; the maple tree's dead-node checks are not modelled. A
  freed node is a use-after-free (`use_after_free`).
- RCU is the model's: a grace period ends as soon as every thread that was in
  a read section at call_rcu has left it (machine.py), and a thread outside
  rcu_read_lock holds no grace period back however long it keeps a pointer, as
  with preemptible RCU. (The README's exploit needed no CONFIG_PREEMPT; how the
  reader's window is widened there is not modelled.)
- The fault that expands is the classic one under every policy: the
  speculative entries and lock_vma_under_rcu find no VMA at the address and
  fall back to it. GUP does not expand stacks in the model (find_extend_vma,
  which expanded too until f440fa1ac955, is not modelled); execve's early
  expansion (f313c51d26aa) neither. The per-VMA-lock companion c137381f71ae
  (vma_start_write before expansion) is not modelled. vm_pgoff, the stack
  rlimit and accounting (acct_stack_growth) are not checked; stack_guard_gap is
  the default 256 pages.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from . import locks
from .events import MAPLE_NODE, Decision, VmaChange
from .pte import PAGE_SHIFT
from .state import VM_GROWSDOWN, VM_READ, VM_WRITE
from .steps import STEPS, step

if TYPE_CHECKING:
    from .machine import Machine
    from .state import Mm, Thread, Vma

FIX = "expand_stack_write_lock"
STACK_GUARD_GAP = 256 << PAGE_SHIFT  # mm/mmap.c: stack_guard_gap, 256 pages unless stack_guard_gap= says otherwise
MMAP_MIN_ADDR = 4096  # CONFIG_DEFAULT_MMAP_MIN_ADDR's default (distributions often set 65536)
LIVE, DEAD, FREED = "live", "dead", "freed"


# ------------------------------------------------------------------ the index
def find_vma(m: Machine, mm: Mm, addr: int) -> Vma | None:
    """find_vma: the first VMA that ends above addr (it may start above it)."""
    m.touched.add(("mm", mm.name))
    i = bisect_right(mm.starts, addr) - 1
    if i >= 0 and m.vmas[mm.vmas[i]].vm_end > addr:
        return m.vmas[mm.vmas[i]]
    return m.vmas[mm.vmas[i + 1]] if i + 1 < len(mm.vmas) else None


def vma_prev(m: Machine, mm: Mm, v: Vma) -> Vma | None:
    """The VMA below v in the index (mas_prev from v->vm_start)."""
    i = mm.vmas.index(v.id)
    return m.vmas[mm.vmas[i - 1]] if i else None


def mt_root(m: Machine, mm: Mm) -> int:
    """mas_root: the published root node's id."""
    m.touched.add(("mm", mm.name))
    return len(mm.maple) - 1


def mt_slot(m: Machine, t: Thread, mm: Mm, node: int) -> None:
    """Read a slot of a node loaded earlier: a freed node is a use-after-free."""
    m.touched.add(("mm", mm.name))
    state = mm.maple[node]
    if state == FREED:
        m.violation(
            "use_after_free",
            ("maple_node", mm.name, node),
            f"{mm.name}'s maple node {node} read (mas_prev → mt_slot) after mt_free_rcu freed it",
        )
    elif state == DEAD:
        m.emit(Decision(t.name, "maple", None, f"reads {mm.name}'s dead maple node {node}: not freed yet (RCU)"))


def mas_replace(m: Machine, mm: Mm) -> int:
    """Publish a new root node and free the old one by RCU (mas_free → ma_free_rcu → call_rcu); the new id."""
    old = len(mm.maple) - 1
    mm.maple = (*mm.maple[:old], DEAD, LIVE)
    m.touched.add(("mm", mm.name))
    m.call_rcu(MAPLE_NODE + mm.name, old)
    return old + 1


# ---------------------------------------------------------- the fault's entry
def fault_below_stack(m: Machine, t: Thread, mm: Mm) -> bool:
    """do_user_addr_fault (or lock_mm_and_find_vma) found no VMA at the address: is there a
    VM_GROWSDOWN one above it to expand? Then take over the fault (True); else the caller's bad_area."""
    addr = t.vmf["addr"]
    v = find_vma(m, mm, addr)
    if v is None or not v.vm_flags & VM_GROWSDOWN:
        return False
    t.vmf["stack_write"] = m.fixed(FIX)  # which mmap lock the expansion will hold
    if m.fixed(FIX):  # lock_mm_and_find_vma: mmap_upgrade_trylock fails; upgrade_mmap_lock_carefully
        locks.mmap_read_unlock(m, t, mm)
        m.emit(
            Decision(t.name, "expand_stack", None, f"drops the mmap read lock to expand vma{v.id} under the write lock")
        )
        t.pc = "upgrade_mmap_lock_carefully:mmap_write_lock_killable"
        return True
    m.emit(Decision(t.name, "expand_stack", None, f"expands vma{v.id} under the mmap read lock (before 8d7071af8907)"))
    t.vmf["vma"] = v.id
    t.pc = "expand_downwards:mas_prev"
    return True


@step("upgrade_mmap_lock_carefully:mmap_write_lock_killable")
def upgrade_write_lock(m: Machine, t: Thread) -> None:
    """mmap_write_lock_killable (the read lock was dropped: the VMA must be looked up again)."""
    if locks.mmap_write_lock(m, t, m.thread_mm(t)):
        t.pc = "lock_mm_and_find_vma:find_vma"


@step("lock_mm_and_find_vma:find_vma")
def find_again(m: Machine, t: Thread) -> None:
    """find_vma again under the write lock: it now contains the address (success), or is still a
    VM_GROWSDOWN VMA above it (expand_stack_locked), or neither (fail: mmap_write_unlock, SIGSEGV)."""
    from .fault import bad_area_why, segv

    mm = m.thread_mm(t)
    addr = t.vmf["addr"]
    v = find_vma(m, mm, addr)
    if v is not None and v.vm_start <= addr:
        t.vmf["vma"] = v.id
        t.pc = "lock_mm_and_find_vma:mmap_write_downgrade"
    elif v is not None and v.vm_flags & VM_GROWSDOWN:
        t.vmf["vma"] = v.id
        t.pc = "expand_downwards:mas_prev"
    else:
        locks.mmap_write_unlock(m, t, mm)
        segv(m, t, bad_area_why(None, t.vmf["write"]))


def _fail(m: Machine, t: Thread, why: str) -> None:
    """expand_stack failed: bad_area (unlock whichever mmap lock the fault holds, SIGSEGV)."""
    from .fault import segv

    mm = m.thread_mm(t)
    if t.vmf["stack_write"]:
        locks.mmap_write_unlock(m, t, mm)
    else:
        locks.mmap_read_unlock(m, t, mm)
    segv(m, t, why)


@step("expand_downwards:mas_prev")
def expand_downwards_prev(m: Machine, t: Thread) -> None:
    """address below mmap_min_addr: -EPERM; prev = mas_prev from vm_start; enforce stack_guard_gap
    unless prev is VM_GROWSDOWN (or not accessible); mas_preallocate; anon_vma_prepare."""
    mm = m.thread_mm(t)
    v = m.vma_ref(t.vmf["vma"])
    address = t.vmf["addr"] & ~((1 << PAGE_SHIFT) - 1)
    if address < MMAP_MIN_ADDR:  # (6.5 adds `|| address < FIRST_USER_ADDRESS`, 0 on x86)
        _fail(m, t, f"expand_downwards: -EPERM, {address:#x} is below mmap_min_addr")
        return
    prev = vma_prev(m, mm, v)
    if (
        prev is not None
        and not prev.vm_flags & VM_GROWSDOWN
        and prev.vm_flags & (VM_READ | VM_WRITE)  # vma_is_accessible
        and address - prev.vm_end < STACK_GUARD_GAP
    ):
        _fail(m, t, f"expand_downwards: -ENOMEM, vma{prev.id} ends within stack_guard_gap")
        return
    if v.anon_vma is None:
        v.anon_vma = m.new_anon_vma()
    t.pc = "expand_downwards:mas_store_prealloc"


@step("expand_downwards:mas_store_prealloc")
def expand_downwards_store(m: Machine, t: Thread) -> None:
    """anon_vma_lock_write; if the address is still below vm_start, under page_table_lock: vm_start =
    address and mas_store_prealloc. A gap below stays: a pivot moves in place. The gap to a VM_GROWSDOWN
    prev closes: mas_replace publishes a new node and mas_free → call_rcu frees the old one."""
    mm = m.thread_mm(t)
    v = m.vma_ref(t.vmf["vma"])
    address = t.vmf["addr"] & ~((1 << PAGE_SHIFT) - 1)
    if address < v.vm_start:  # "Somebody else might have raced and expanded it already"
        prev = vma_prev(m, mm, v)
        i = mm.vmas.index(v.id)
        v.vm_start = address
        mm.starts[i] = address
        m.emit(VmaChange(mm.name, "grow", v.id, None, None))
        if prev is not None and prev.vm_end == address:
            old = mt_root(m, mm)
            new = mas_replace(m, mm)
            detail = f"closes the gap to vma{prev.id}: maple node {new} published, node {old} dead (call_rcu)"
        else:
            detail = f"moves a pivot of maple node {mt_root(m, mm)} in place (a gap stays below vma{v.id})"
        m.emit(Decision(t.name, "maple", None, f"vma{v.id} starts at {address:#x}: {detail}"))
    if t.vmf["stack_write"]:
        t.pc = "lock_mm_and_find_vma:mmap_write_downgrade"
    else:
        good_area(m, t)


@step("lock_mm_and_find_vma:mmap_write_downgrade")
def write_downgrade(m: Machine, t: Thread) -> None:
    """mmap_write_downgrade: the fault goes on under the read lock with the VMA found."""
    locks.mmap_write_downgrade(m, t, m.thread_mm(t))
    good_area(m, t)


def good_area(m: Machine, t: Thread) -> None:
    """do_user_addr_fault's good_area: access_error, then handle_mm_fault (under the mmap read lock)."""
    from .fault import access_error, bad_area_why, segv

    v = m.vma_ref(t.vmf["vma"])
    if access_error(v.vm_flags, t.vmf["write"]):
        locks.mmap_read_unlock(m, t, m.thread_mm(t))
        segv(m, t, bad_area_why(v.vm_flags, t.vmf["write"]))
        return
    t.pc = "__handle_mm_fault:walk"


# ------------------------------------------------------------ the reader
@step("find_vma_prev:mas_walk")
def find_vma_prev_walk(m: Machine, t: Thread) -> None:
    """mas_walk → mas_start → mas_root: load the root node pointer (rcu_dereference_check passes on the
    mmap lock: no rcu_read_lock is taken). The pointer is kept for mas_prev."""
    mm = m.thread_mm(t)
    node = mt_root(m, mm)
    t.vmf["mt_node"] = node
    m.emit(
        Decision(
            t.name, "maple", None, f"keeps a pointer to {mm.name}'s maple node {node} (mas_root), no rcu_read_lock"
        )
    )
    t.pc = "find_vma_prev:mas_prev"


@step("find_vma_prev:mas_prev")
def find_vma_prev_prev(m: Machine, t: Thread) -> None:
    """mas_prev → mas_prev_entry → mas_slot → mt_slot: read the node loaded by mas_walk (freed: a
    use-after-free); then the caller goes on in this step (madvise_walk_vmas)."""
    mm = m.thread_mm(t)
    mt_slot(m, t, mm, t.vmf.pop("mt_node"))
    m.ret_(t)
    STEPS[t.pc](m, t)
