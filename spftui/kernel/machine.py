"""The Machine: all simulated state plus the primitives every path uses.

Paths (fault handlers, writers) live in their own modules and register named
steps in `steps.STEPS`; `Machine.step(i)` runs one of them for thread i.
Primitives here keep the kernel's bookkeeping (refcounts, mapcounts, rss,
TLBs, RCU) and feed the oracles through `oracles.py`'s hooks.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from ..scenario.policies import POLICY, REUSE, Policy, ReuseRule
from . import oracles
from .events import MAPLE_NODE, Alloc, Block, Event, Flush, Free, Pgtable, Pte, RcuFree, Violation, Wake
from .ops import start_op as _start_op
from .pte import (
    PTRS_PER_PTE,
    ZERO_PFN,
    pmd_index,
    pte_index,
    pte_pfn,
    pte_present,
    pte_special,
)
from .state import BLOCKED, DONE, RUNNABLE, Frame, Mm, PteTable, Thread, Vma
from .steps import STEPS as _STEPS

# Footprint key of the shared allocators (free pfns, tables, VMAs, anon_vmas,
# swap slots): two allocations do not commute, their ids would swap.
ALLOC = ("alloc", 0)
# Read sections and call_rcu decide when grace periods end.
RCU = ("rcu", 0)


class Machine:
    """The whole simulated system. Build one with `build.build_machine`.

    `touched` is the last step's footprint, for partial-order reduction: the
    keys of every object it read or wrote. A VMA counts as part of its mm
    (("mm", name)); page tables, frames and TLBs have their own keys.
    """

    def __init__(self, policy: str, reuse: str, words_per_page: int, fixes_off: frozenset[str] = frozenset()) -> None:
        self.policy: Policy = POLICY[policy]
        self.reuse: ReuseRule = REUSE[reuse]
        self.fixes_off = fixes_off
        self.nwords = words_per_page
        self.frames: list[Frame] = [Frame(ZERO_PFN, words_per_page)]
        self.frames[0].free = False  # the zero page is never freed
        # Free frames, the one freed last at the end: alloc_page takes it (the
        # kernel's per-cpu free lists are LIFO: free_unref_page puts a page at
        # the head, rmqueue_pcplist takes the head). Which page is reused then
        # depends only on the order of frees, never on pfn values, so renaming
        # pfns commutes with every step (engine/symmetry.py relies on it).
        self.free_pfns: list[int] = []
        self.tables: list[PteTable] = []
        self.free_tables: list[int] = []
        self.vmas: list[Vma] = []
        self.free_vmas: list[int] = []
        self.mms: dict[str, Mm] = {}
        self.threads: list[Thread] = []
        self.ops: list[tuple[Any, ...]] = []  # per thread: its Op tuple
        self.repeats: list[int] = []
        self.tlbs: list[dict[tuple[str, int], tuple[int, bool]]] = []
        self.swap_map: dict[int, int] = {}  # offset -> swap PTE count
        self.swap_cache: dict[int, int] = {}  # offset -> pfn
        self.free_swap: list[int] = []
        self.swap_next = 1
        self.rcu_pending: list[tuple[str, int, tuple[tuple[int, int], ...]]] = []
        self.anon_vma_next = 1
        # The page cache (filemap.py), fixed at build: (file, page index) -> pfn.
        # Every file page is cached from the start and never evicted, so this
        # index never changes and is not part of a snapshot; the pages are.
        self.page_cache: dict[tuple[str, int], int] = {}
        # What each file holds on disk: file -> its pages' words (never written:
        # the model has no write(2) and no shared mappings).
        self.file_data: dict[str, tuple[tuple[int, ...], ...]] = {}
        self.reported: set[tuple[Any, ...]] = set()
        self.steps = 0
        # Fixed at build, not state: stack.fault_below_stack when some mapping is VM_GROWSDOWN (a fault
        # may expand a stack and replace a maple node; only then does find_vma_prev take two steps), else
        # None. The classic fault asks it when it finds no VMA (stack.py).
        self.stack_fault: Callable[[Machine, Thread, Mm], bool] | None = None
        # Per-step scratch, not state:
        self.events: list[Event] = []
        self.touched: set[tuple[str, Any]] = set()  # footprint for POR
        self.dirty_frames: set[int] = set()
        self.dirty_ptes: list[tuple[str, int]] = []
        self.cur: Thread | None = None
        self.last_label = ""
        # The scenario's own oracles (`[[oracle]]`), checked after every step with the
        # stepping thread current. The engine installs it (engine/user_oracles.py): their
        # expressions are the engine's language. It reads state and may only report
        # (`violation`), never write it.
        self.after_step: Callable[[Machine], None] | None = None

    # ----------------------------------------------------------- snapshots
    def snapshot(self) -> tuple[Any, ...]:
        """The whole state as one hashable value (layout: SNAPSHOT_FIELDS)."""
        return tuple(part(self) for part in _SNAP_PARTS)

    def state_key(self) -> tuple[Any, ...]:
        """The state without the step counter and the set of violations already
        reported: equal for equal states reached by different paths (what an
        explorer's visited set compares)."""
        return self.snapshot()[:-2]

    def restore(self, s: Any) -> None:
        """Back to a snapshot, or to a Session checkpoint (`checkpoint.Checkpoint`)."""
        if not isinstance(s, tuple):
            s = s.snapshot()
        for put, value in zip(_RESTORE_PARTS, s, strict=True):
            put(self, value)

    # -------------------------------------------------------------- events
    def fixed(self, name: str) -> bool:
        """Whether the modelled fix `name` (scenario/fixes.py) is in this kernel."""
        return name not in self.fixes_off

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def violation(self, kind: str, key: tuple[Any, ...], detail: str) -> None:
        """Report an oracle violation once per (kind, key)."""
        k = (kind, *key)
        if k in self.reported:
            return
        self.reported.add(k)
        who = self.cur.name if self.cur is not None else ""
        self.events.append(Violation(kind, who, detail))

    # ------------------------------------------------------------- threads
    def block(self, t: Thread, on: str) -> None:
        t.state = BLOCKED
        t.blocked_on = on
        self.emit(Block(t.name, on))

    def wake(self, index: int) -> None:
        t = self.threads[index]
        if t.state == BLOCKED:
            t.state = RUNNABLE
            t.blocked_on = ""
            self.emit(Wake(t.name))

    def runnable(self) -> list[int]:
        return [t.index for t in self.threads if t.state == RUNNABLE]

    def all_done(self) -> bool:
        return all(t.state == DONE for t in self.threads)

    def call(self, t: Thread, label: str, ret: str) -> None:
        """Enter a kernel subroutine; it returns to `ret` via `ret_`."""
        t.stack.append(ret)
        t.pc = label

    def ret_(self, t: Thread) -> None:
        t.pc = t.stack.pop()

    # -------------------------------------------------------------- frames
    def alloc_page(self, t: Thread) -> int:
        """alloc_page: a zeroed page with one reference, held by `t`."""
        self.touched.add(ALLOC)
        if self.free_pfns:
            pfn = self.free_pfns.pop()  # the page freed last: per-cpu free lists are LIFO
            f = self.frames[pfn]
            f.words = [0] * self.nwords
        else:
            pfn = len(self.frames)
            f = Frame(pfn, self.nwords)
            self.frames.append(f)
        f.free = False
        f.count = 1
        f.mapcount = 0
        f.anon_exclusive = False
        f.swapcache = None
        f.mapping, f.index, f.pincount, f.lazyfree = "", 0, 0, 0
        t.refs.append(pfn)
        self.dirty_frames.add(pfn)
        self.touched.add(("f", pfn))
        self.emit(Alloc(t.name, pfn))
        return pfn

    def frame(self, pfn: int) -> Frame:
        """Dereference a page; touching a freed one is a use-after-free."""
        f = self.frames[pfn]
        self.touched.add(("f", pfn))
        if f.free and pfn != ZERO_PFN:
            self.violation("use_after_free", ("frame", pfn), f"pfn {pfn} used after it was freed")
        return f

    def get_page(self, t: Thread, pfn: int) -> None:
        f = self.frame(pfn)
        f.count += 1
        t.refs.append(pfn)
        self.dirty_frames.add(pfn)

    def put_page(self, t: Thread | None, pfn: int) -> None:
        """Drop a reference; `t` is the holder (None: a PTE's or the swap cache's)."""
        if pfn == ZERO_PFN:
            return
        f = self.frame(pfn)
        if t is not None:
            t.refs.remove(pfn)
        f.count -= 1
        self.dirty_frames.add(pfn)
        if f.count == 0:
            self.free_page(f)

    def free_page(self, f: Frame) -> None:
        self.touched.add(ALLOC)
        oracles.check_free_frame(self, f)
        f.free = True
        self.free_pfns.append(f.pfn)
        self.emit(Free(f.pfn))

    def transfer_ref_to_pte(self, t: Thread, pfn: int) -> None:
        """A reference `t` holds becomes the new PTE's reference."""
        if pfn != ZERO_PFN:
            t.refs.remove(pfn)

    # --------------------------------------------------------- page tables
    def vma_lookup(self, mm: Mm, addr: int) -> Vma | None:
        """find_vma, restricted to a VMA that contains addr."""
        from bisect import bisect_right

        self.touched.add(("mm", mm.name))
        i = bisect_right(mm.starts, addr) - 1
        if i < 0:
            return None
        v = self.vmas[mm.vmas[i]]
        return v if addr < v.vm_end else None

    def pmd_table(self, mm: Mm, vpn: int) -> PteTable | None:
        tid = mm.pgd.get(pmd_index(vpn))
        self.touched.add(("mm", mm.name))
        if tid is None:
            return None
        self.touched.add(("t", tid))
        return self.tables[tid]

    def pte_alloc(self, mm: Mm, vpn: int) -> PteTable:
        """Allocate and install the PTE table for vpn if it is missing."""
        table = self.pmd_table(mm, vpn)
        if table is not None:
            return table
        self.touched.add(ALLOC)
        if self.free_tables:
            tid = heapq.heappop(self.free_tables)
            table = self.tables[tid]
        else:
            table = PteTable(len(self.tables))
            self.tables.append(table)
        table.mm = mm.name
        table.pmd = pmd_index(vpn)
        table.entries = {}
        table.ptl = None
        table.ptl_waiters = []
        table.free = False
        mm.pgd[table.pmd] = table.id
        self.touched.add(("t", table.id))
        self.emit(Pgtable(mm.name, table.id, "alloc"))
        return table

    def table_of(self, tid: int) -> PteTable:
        """A PTE table this thread holds the PTL of (or found under a lock)."""
        self.touched.add(("t", tid))
        return self.tables[tid]

    def table_ref(self, tid: int) -> PteTable:
        """Use a PTE table found earlier; a freed one is a use-after-free."""
        table = self.tables[tid]
        self.touched.add(("t", tid))
        if table.free:
            self.violation("use_after_free", ("table", tid), f"PTE table {tid} used after it was freed")
        return table

    def get_pte(self, table: PteTable, vpn: int) -> int:
        return table.entries.get(pte_index(vpn), 0)

    def set_pte(self, mm: Mm, table: PteTable, vpn: int, new: int) -> None:
        """set_pte_at / ptep_get_and_clear: every PTE change goes through here."""
        idx = pte_index(vpn)
        old = table.entries.get(idx, 0)
        if new:
            table.entries[idx] = new
        else:
            table.entries.pop(idx, None)
        self.touched.add(("t", table.id))
        self.emit(Pte(mm.name, vpn, old, new))
        oracles.on_set_pte(self, mm, vpn, old, new)

    def pte_lookup(self, mm: Mm, vpn: int) -> int:
        table = self.pmd_table(mm, vpn)
        return 0 if table is None else self.get_pte(table, vpn)

    # ---------------------------------------------------------------- TLBs
    def flush_tlb_range(self, mm: Mm, start_vpn: int, end_vpn: int) -> None:
        """Shootdown on every CPU (IPIs modelled as synchronous)."""
        name = mm.name
        for cpu, tlb in enumerate(self.tlbs):
            self.touched.add(("tlb", cpu))  # a shootdown reaches every CPU, even one with nothing to drop
            dead = [k for k in tlb if k[0] == name and start_vpn <= k[1] < end_vpn]
            for k in dead:
                del tlb[k]
        self.emit(Flush(name, start_vpn, end_vpn))

    def flush_tlb_mm(self, mm: Mm) -> None:
        self.flush_tlb_range(mm, 0, 1 << 52)

    # ----------------------------------------------------------------- RCU
    def rcu_read_lock(self, t: Thread) -> None:
        self.touched.add(RCU)
        t.rcu_depth += 1

    def rcu_read_unlock(self, t: Thread) -> None:
        self.touched.add(RCU)
        t.rcu_depth -= 1
        if t.rcu_depth == 0:
            t.rcu_qs += 1

    def call_rcu(self, kind: str, oid: int) -> None:
        """Defer a free until every thread now in an RCU read section leaves it."""
        self.touched.add(RCU)
        waits = tuple((th.index, th.rcu_qs) for th in self.threads if th.rcu_depth > 0)
        self.rcu_pending.append((kind, oid, waits))

    def run_rcu_callbacks(self) -> None:
        """Grace periods end as early as possible (a simplification)."""
        if not self.rcu_pending:
            return
        keep = []
        for kind, oid, waits in self.rcu_pending:
            if all(self.threads[i].rcu_qs > qs for i, qs in waits):
                self._rcu_free(kind, oid)
            else:
                keep.append((kind, oid, waits))
        self.rcu_pending = keep

    def _rcu_free(self, kind: str, oid: int) -> None:
        if kind.startswith(MAPLE_NODE):  # mt_free_rcu: kmem_cache_free of a maple node (stack.py)
            mm = self.mms[kind[len(MAPLE_NODE) :]]
            mm.maple = (*mm.maple[:oid], "freed", *mm.maple[oid + 1 :])
            self.touched.add(("mm", mm.name))
            self.emit(RcuFree(kind, oid))
            return
        if kind == "vma":
            v = self.vmas[oid]
            v.free = True
            heapq.heappush(self.free_vmas, oid)
            self.touched.add(ALLOC)
        else:
            table = self.tables[oid]
            oracles.check_free_table(self, table)
            table.free = True
            table.entries = {}
            heapq.heappush(self.free_tables, oid)
            self.touched.add(ALLOC)
        self.touched.add(("mm", self.vmas[oid].mm) if kind == "vma" else ("t", oid))
        self.emit(RcuFree(kind, oid))

    # ---------------------------------------------------------------- VMAs
    def new_vma(self, mm: Mm, start: int, end: int, flags: int, anon_vma: int | None) -> Vma:
        self.touched.add(ALLOC)
        if self.free_vmas:
            vid = heapq.heappop(self.free_vmas)
            v = Vma(vid)
            self.vmas[vid] = v
        else:
            v = Vma(len(self.vmas))
            self.vmas.append(v)
        v.mm, v.vm_start, v.vm_end, v.vm_flags, v.anon_vma = mm.name, start, end, flags, anon_vma
        v.free = False
        v.vm_lock_seq = -1
        self.touched.add(("mm", mm.name))
        return v

    def vma_link(self, mm: Mm, v: Vma) -> None:
        from bisect import bisect_left

        i = bisect_left(mm.starts, v.vm_start)
        mm.starts.insert(i, v.vm_start)
        mm.vmas.insert(i, v.id)
        v.detached = False
        self.touched.add(("mm", mm.name))

    def vma_unlink(self, mm: Mm, v: Vma) -> None:
        i = mm.vmas.index(v.id)
        del mm.vmas[i]
        del mm.starts[i]
        v.detached = True
        v.vm_sequence += 2  # Dufour: unlinking is a write to the VMA
        self.touched.add(("mm", mm.name))

    def remove_vma(self, v: Vma) -> None:
        """vm_area_free: RCU-deferred, and after Dufour's SPF references drop."""
        self.touched.add(("mm", v.mm))
        v.dying = True
        if v.refs == 0:
            self.call_rcu("vma", v.id)

    def vma_of(self, vid: int) -> Vma:
        """A VMA this thread already holds (by lock, reference or RCU)."""
        v = self.vmas[vid]
        self.touched.add(("mm", v.mm))
        return v

    def vma_ref(self, vid: int) -> Vma:
        v = self.vmas[vid]
        self.touched.add(("mm", v.mm))
        if v.free:
            self.violation("use_after_free", ("vma", vid), f"VMA {vid} used after it was freed")
        return v

    def new_anon_vma(self) -> int:
        self.touched.add(ALLOC)
        n = self.anon_vma_next
        self.anon_vma_next += 1
        return n

    # ---------------------------------------------------------------- swap
    def get_swap_page(self) -> int:
        self.touched.add(ALLOC)
        if self.free_swap:
            return heapq.heappop(self.free_swap)
        off = self.swap_next
        self.swap_next += 1
        return off

    def swap_free(self, off: int) -> None:
        """Drop one swap PTE's count; the slot is freed with its cache."""
        self.touched.add(("swap", off))
        self.swap_map[off] -= 1
        self._maybe_release_slot(off)

    def _maybe_release_slot(self, off: int) -> None:
        self.touched.add(("swap", off))
        if self.swap_map.get(off, 0) == 0 and off not in self.swap_cache:
            self.touched.add(ALLOC)
            self.swap_map.pop(off, None)
            heapq.heappush(self.free_swap, off)

    def delete_from_swap_cache(self, f: Frame) -> None:
        off = f.swapcache
        assert off is not None
        self.touched.add(("swap", off))
        del self.swap_cache[off]
        f.swapcache = None
        self._maybe_release_slot(off)
        self.put_page(None, f.pfn)

    def free_swap_and_cache(self, off: int) -> None:
        """zap of a swap PTE: drop the count; free an unmapped cached page."""
        self.touched.add(("swap", off))
        self.swap_map[off] -= 1
        pfn = self.swap_cache.get(off)
        if self.swap_map[off] == 0 and pfn is not None:
            f = self.frame(pfn)
            if f.mapcount == 0 and f.locked is None:
                self.delete_from_swap_cache(f)
                return
        self._maybe_release_slot(off)

    # -------------------------------------------------------------- helpers
    def thread_mm(self, t: Thread) -> Mm:
        return self.mms[t.mm]

    def pte_maps(self, pte: int) -> int | None:
        """The pfn a present, non-special PTE maps."""
        if pte_present(pte) and not pte_special(pte):
            return pte_pfn(pte)
        return None

    def tables_in(self, mm: Mm, start_vpn: int, end_vpn: int) -> list[int]:
        """The pmd indices in [start_vpn, end_vpn) that have a PTE table, in address order.

        Costs the number of tables mm has, not the length of the range (the
        kernel's walkers skip an empty pmd the same way: pmd_none_or_clear_bad).
        """
        lo, hi = start_vpn // PTRS_PER_PTE, (end_vpn - 1) // PTRS_PER_PTE
        return sorted(p for p in mm.pgd if lo <= p <= hi)

    # ---------------------------------------------------------------- step
    def step(self, index: int) -> list[Event]:
        """Run thread `index` for one atomic step; return the step's events."""
        t = self.threads[index]
        if t.state != RUNNABLE:
            raise ValueError(f"thread {t.name} is not runnable ({t.state})")
        events: list[Event] = []
        dirty: set[int] = set()
        ptes: list[tuple[str, int]] = []
        self.events = events
        self.touched = set()
        self.dirty_frames = dirty
        self.dirty_ptes = ptes
        self.cur = t
        pc = t.pc
        if not pc:
            _start_op(self, t)
            pc = t.pc
        self.last_label = pc or "op_start"
        if pc and t.state == RUNNABLE:
            _STEPS[pc](self, t)
        if self.rcu_pending:
            self.run_rcu_callbacks()
        if dirty or ptes:
            oracles.after_step(self)
        if t.state != RUNNABLE and not any(th.state == RUNNABLE for th in self.threads) and not self.all_done():
            stuck = ", ".join(f"{th.name} on {th.blocked_on}" for th in self.threads if th.state == BLOCKED)
            self.violation("deadlock", (), f"no thread can run: {stuck}")
        if self.after_step is not None:
            self.after_step(self)
        self.steps += 1
        self.cur = None
        return events


# ------------------------------------------------------- snapshot layout
# Machine.snapshot() declared once, field by field: how each part is taken and
# put back. SNAPSHOT_FIELDS (the order) is what por.py and checkpoint.py index.
def _restore_threads(m: Machine, s: tuple[Any, ...]) -> None:
    m.threads = [Thread.from_snap(i, o.name, o.mm, ts) for i, (o, ts) in enumerate(zip(m.threads, s, strict=True))]


def _set(name: str, convert: Callable[[Any], Any]) -> Callable[[Machine, Any], None]:
    def put(m: Machine, value: Any) -> None:
        setattr(m, name, convert(value))

    return put


def _same(x: Any) -> Any:
    return x


SNAPSHOT_PARTS: dict[str, tuple[Callable[[Machine], Any], Callable[[Machine, Any], None]]] = {
    "frames": (
        lambda m: tuple(f.snap() for f in m.frames),
        _set("frames", lambda s: [Frame.from_snap(i, fs) for i, fs in enumerate(s)]),
    ),
    "free_pfns": (lambda m: tuple(m.free_pfns), _set("free_pfns", list)),  # LIFO: the order is state
    "tables": (
        lambda m: tuple(t.snap() for t in m.tables),
        _set("tables", lambda s: [PteTable.from_snap(i, ts) for i, ts in enumerate(s)]),
    ),
    "free_tables": (lambda m: tuple(sorted(m.free_tables)), _set("free_tables", list)),
    "vmas": (
        lambda m: tuple(v.snap() for v in m.vmas),
        _set("vmas", lambda s: [Vma.from_snap(i, vs) for i, vs in enumerate(s)]),
    ),
    "free_vmas": (lambda m: tuple(sorted(m.free_vmas)), _set("free_vmas", list)),
    "mms": (
        lambda m: tuple((name, mm.snap()) for name, mm in m.mms.items()),
        _set("mms", lambda s: {name: Mm.from_snap(name, ms) for name, ms in s}),
    ),
    "threads": (lambda m: tuple(t.snap() for t in m.threads), _restore_threads),
    "tlbs": (
        lambda m: tuple(tuple(sorted(tlb.items())) for tlb in m.tlbs),
        _set("tlbs", lambda s: [dict(t) for t in s]),
    ),
    "swap_map": (lambda m: tuple(sorted(m.swap_map.items())), _set("swap_map", dict)),
    "swap_cache": (lambda m: tuple(sorted(m.swap_cache.items())), _set("swap_cache", dict)),
    "free_swap": (lambda m: tuple(sorted(m.free_swap)), _set("free_swap", list)),
    "swap_next": (lambda m: m.swap_next, _set("swap_next", _same)),
    "rcu_pending": (lambda m: tuple(m.rcu_pending), _set("rcu_pending", list)),
    "anon_vma_next": (lambda m: m.anon_vma_next, _set("anon_vma_next", _same)),
    # The last two are left out of state_key() and of the explorer's fingerprints.
    "reported": (lambda m: tuple(sorted(m.reported, key=repr)), _set("reported", set)),
    "steps": (lambda m: m.steps, _set("steps", _same)),
}
SNAPSHOT_FIELDS = tuple(SNAPSHOT_PARTS)
_SNAP_PARTS = tuple(take for take, _ in SNAPSHOT_PARTS.values())
_RESTORE_PARTS = tuple(put for _, put in SNAPSHOT_PARTS.values())
