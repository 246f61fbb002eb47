"""The simulated machine's state: plain objects that snapshot to hashable tuples.

Everything a step reads or writes lives here, including each thread's
position (`pc`, `stack`) and its fault locals (`vmf`), so a state can be
copied, compared, hashed and restored (DESIGN.md contract 3).
"""

from __future__ import annotations

from typing import Any

Word = int | tuple[int, ...]
"""A word of the lost-write oracle's shadow memory (`Mm.shadow`): the value a
read must return, or (after a store that raced fork) the tuple of the values
it may return (kernel/oracles.py)."""

# vm_flags bits (include/linux/mm.h)
VM_READ = 0x1
VM_WRITE = 0x2
VM_SHARED = 0x8
VM_MAYREAD = 0x10
VM_MAYWRITE = 0x20
VM_GROWSDOWN = 0x100  # a stack: a fault just below it expands it downwards (expand_stack, kernel/stack.py)
VM_UFFD_WP = 0x1000  # registered with a userfaultfd for write-protect faults (userfaultfd_wp(vma))

VM_ACCOUNT = 0x00100000  # the mapping's pages are charged to overcommit accounting

PROT_FLAGS = {"none": 0, "r": VM_READ, "rw": VM_READ | VM_WRITE}


def mmap_vm_flags(prot: str) -> int:
    """A new private anonymous VMA's vm_flags: a writable one is accountable (accountable_mapping)."""
    flags = PROT_FLAGS[prot] | VM_MAYREAD | VM_MAYWRITE
    return flags | VM_ACCOUNT if flags & VM_WRITE else flags


def format_vm_flags(flags: int) -> str:
    """vm_flags as /proc/PID/maps prints them: `rw-p` (every VMA here is private and not executable)."""
    return ("r" if flags & VM_READ else "-") + ("w" if flags & VM_WRITE else "-") + "-p"


SWAPBACKED, LAZYFREE, DISCARDED = 0, 1, 2
"""`Frame.lazyfree`: PageSwapBacked (0); lazyfree after MADV_FREE (1); lazyfree and discarded
from its page table by reclaim while a GUP reference held it (2: what the holder writes is lost)."""


class Frame:
    """A physical page (struct page). `words` are its contents.

    `count` is page_count (_refcount); `mapcount` is page_mapcount
    (_mapcount + 1). `ptes` is the oracle's ground truth, not a kernel field:
    the (mm, vpn) pairs whose present PTE maps this page.
    `mapping`/`index`: a page-cache page's file and page offset (page->mapping,
    page->index; "" for an anonymous page); the page cache holds one reference.
    `lazyfree`: 0 PageSwapBacked; 1 after MADV_FREE (PageAnon && !PageSwapBacked); 2 that
    page discarded by reclaim while a GUP reference held it (lazyfree.py).
    `pincount`: FOLL_PIN pins (page_maybe_dma_pinned when > 0). Simplification:
    a pin adds one reference and one pincount, as for a large folio; a small
    page's GUP_PIN_COUNTING_BIAS (1024 references) is not modelled.
    """

    __slots__ = (
        "anon_exclusive",
        "count",
        "free",
        "index",
        "lazyfree",
        "lock_waiters",
        "locked",
        "mapcount",
        "mapping",
        "pfn",
        "pincount",
        "ptes",
        "swapcache",
        "words",
    )
    # The snapshot layout, declared once: the attribute at each position of
    # snap() (KEY_FIELDS are given to from_snap separately). A test checks that
    # __slots__, snap() and from_snap() agree with it; por.py reads it.
    KEY_FIELDS = ("pfn",)
    SNAP_FIELDS = (
        "words",
        "count",
        "mapcount",
        "anon_exclusive",
        "swapcache",
        "locked",
        "lock_waiters",
        "free",
        "ptes",
        "mapping",
        "index",
        "pincount",
        "lazyfree",
    )

    def __init__(self, pfn: int, nwords: int) -> None:
        self.pfn = pfn
        self.words = [0] * nwords
        self.count = 0
        self.mapcount = 0
        self.anon_exclusive = False
        self.swapcache: int | None = None  # swap offset while PG_swapcache
        self.locked: int | None = None  # PG_locked holder (tid)
        self.lock_waiters: list[int] = []
        self.free = True
        self.ptes: set[tuple[str, int]] = set()
        self.mapping = ""
        self.index = 0
        self.pincount = 0
        self.lazyfree = 0

    def snap(self) -> tuple[Any, ...]:
        return (
            tuple(self.words),
            self.count,
            self.mapcount,
            self.anon_exclusive,
            self.swapcache,
            self.locked,
            tuple(self.lock_waiters),
            self.free,
            tuple(sorted(self.ptes)),
            self.mapping,
            self.index,
            self.pincount,
            self.lazyfree,
        )

    @classmethod
    def from_snap(cls, pfn: int, s: tuple[Any, ...]) -> Frame:
        f = cls.__new__(cls)
        f.pfn = pfn
        f.words = list(s[0])
        f.count, f.mapcount, f.anon_exclusive, f.swapcache, f.locked = s[1:6]
        f.lock_waiters = list(s[6])
        f.free = s[7]
        f.ptes = set(s[8])
        f.mapping, f.index, f.pincount, f.lazyfree = s[9:13]
        return f


class PteTable:
    """A PTE-table page with its split page-table lock (ptl)."""

    __slots__ = ("entries", "free", "id", "mm", "pmd", "ptl", "ptl_waiters")
    KEY_FIELDS = ("id",)
    SNAP_FIELDS = ("mm", "pmd", "entries", "ptl", "ptl_waiters", "free")

    def __init__(self, tid: int) -> None:
        self.id = tid
        self.mm = ""
        self.pmd = -1  # the pmd index this table is (or was last) installed at
        self.entries: dict[int, int] = {}  # pte index -> pte (0 entries dropped)
        self.ptl: int | None = None  # holder (thread index)
        self.ptl_waiters: list[int] = []
        self.free = True

    def snap(self, entries: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        """`entries`: put this in place of the entries (checkpoints keep them in chunks)."""
        return (
            self.mm,
            self.pmd,
            tuple(sorted(self.entries.items())) if entries is None else entries,
            self.ptl,
            tuple(self.ptl_waiters),
            self.free,
        )

    @classmethod
    def from_snap(cls, tid: int, s: tuple[Any, ...]) -> PteTable:
        t = cls.__new__(cls)
        t.id = tid
        t.mm, t.pmd = s[0], s[1]
        t.entries = dict(s[2])
        t.ptl = s[3]
        t.ptl_waiters = list(s[4])
        t.free = s[5]
        return t


class Vma:
    """A vm_area_struct with the fields every SPF scheme adds.

    vm_sequence   Dufour's per-VMA seqcount (odd while a writer is inside)
    refs          Dufour's SPF references (vm_ref_count minus the tree's)
    vm_lock_seq, lock_readers, lock_writer, lock_waiters, detached:
                  the 6.4 per-VMA lock
    detached      unlinked from the VMA index: 6.4's `detached`, and
                  Dufour's "rb node empty" (both are set at the same point)
    dying         remove_vma ran; freed once `refs` drop and RCU allows
    free          RCU-freed (vm_area_free completed)
    vm_file       the mapped file's name ("" for an anonymous VMA)
    vm_pgoff      the file page mapped at vm_start
    """

    __slots__ = (
        "anon_vma",
        "detached",
        "dying",
        "free",
        "id",
        "lock_readers",
        "lock_waiters",
        "lock_writer",
        "mm",
        "refs",
        "vm_end",
        "vm_file",
        "vm_flags",
        "vm_lock_seq",
        "vm_pgoff",
        "vm_sequence",
        "vm_start",
    )
    KEY_FIELDS = ("id",)
    SNAP_FIELDS = (
        "mm",
        "vm_start",
        "vm_end",
        "vm_flags",
        "anon_vma",
        "vm_sequence",
        "refs",
        "vm_lock_seq",
        "lock_readers",
        "lock_writer",
        "lock_waiters",
        "detached",
        "dying",
        "free",
        "vm_file",
        "vm_pgoff",
    )

    def __init__(self, vid: int) -> None:
        self.id = vid
        self.mm = ""
        self.vm_start = 0
        self.vm_end = 0
        self.vm_flags = 0
        self.anon_vma: int | None = None
        self.vm_sequence = 0
        self.refs = 0
        self.vm_lock_seq = -1
        self.lock_readers: list[int] = []
        self.lock_writer: int | None = None
        self.lock_waiters: list[int] = []
        self.detached = False
        self.dying = False
        self.free = True
        self.vm_file = ""
        self.vm_pgoff = 0

    def snap(self) -> tuple[Any, ...]:
        return (
            self.mm,
            self.vm_start,
            self.vm_end,
            self.vm_flags,
            self.anon_vma,
            self.vm_sequence,
            self.refs,
            self.vm_lock_seq,
            tuple(self.lock_readers),
            self.lock_writer,
            tuple(self.lock_waiters),
            self.detached,
            self.dying,
            self.free,
            self.vm_file,
            self.vm_pgoff,
        )

    @classmethod
    def from_snap(cls, vid: int, s: tuple[Any, ...]) -> Vma:
        v = cls.__new__(cls)
        v.id = vid
        (v.mm, v.vm_start, v.vm_end, v.vm_flags, v.anon_vma, v.vm_sequence, v.refs, v.vm_lock_seq) = s[:8]
        v.lock_readers = list(s[8])
        v.lock_writer = s[9]
        v.lock_waiters = list(s[10])
        v.detached, v.dying, v.free, v.vm_file, v.vm_pgoff = s[11:16]
        return v

    def copy_fields(self) -> tuple[int, int, int, int | None]:
        """What a speculative fault copies onto its stack (pvma)."""
        return (self.vm_start, self.vm_end, self.vm_flags, self.anon_vma)


class Mm:
    """An mm_struct.

    mmap_lock is a fair rwsem: `lock_writer` or `lock_readers` hold it,
    `lock_waiters` queue FIFO as (thread, "r"|"w"); a blocked thread is not
    runnable. `downgraded` marks a writer turned reader by
    mmap_write_downgrade. `vmas` is the VMA index, sorted by vm_start
    (bisect: O(log n) find_vma). `pgd` maps a pmd index to a PTE table.
    `shadow` is the lost-write oracle's memory: vpn -> words of the last
    completed writes (absent = zero). `zaps` counts, per vpn, the PTEs the
    mm gave up there while a thread of it held a page from GUP (zap, mremap):
    a pin is owed coherence only while the count is what it was at the pin.
    `maple` is the VMA index's node objects as kernel/stack.py models them (one
    root node standing for the maple tree): the state of each node the tree
    has had, by node id; the last is the published root (mm->mm_mt's ma_root).
    """

    __slots__ = (
        "downgraded",
        "exists",
        "forking",
        "lock_readers",
        "lock_waiters",
        "lock_writer",
        "maple",
        "mm_lock_seq",
        "mm_users",
        "mmap_seq",
        "name",
        "pgd",
        "rss_anon",
        "rss_swap",
        "shadow",
        "starts",
        "tlb_flush_pending",
        "vmas",
        "writers",
        "zaps",
    )
    KEY_FIELDS = ("name",)
    SNAP_FIELDS = (
        "lock_writer",
        "lock_readers",
        "lock_waiters",
        "downgraded",
        "mmap_seq",
        "mm_lock_seq",
        "vmas",
        "starts",
        "pgd",
        "mm_users",
        "rss_anon",
        "rss_swap",
        "tlb_flush_pending",
        "writers",
        "forking",
        "exists",
        "shadow",
        "zaps",
        "maple",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock_writer: int | None = None
        self.lock_readers: list[int] = []
        self.lock_waiters: list[tuple[int, str]] = []
        self.downgraded = False
        self.mmap_seq = 0
        self.mm_lock_seq = 0
        self.vmas: list[int] = []
        self.starts: list[int] = []  # vm_start of each entry of `vmas`, for bisect
        self.pgd: dict[int, int] = {}
        self.mm_users = 0
        self.rss_anon = 0
        self.rss_swap = 0
        self.tlb_flush_pending = 0
        self.writers = 0  # address-space writer ops in flight (oracle bookkeeping)
        self.forking = ""  # the child while dup_mmap has not yet flushed the TLB
        self.exists = True
        self.shadow: dict[int, list[Word]] = {}  # the lost-write oracle's memory (oracles.py)
        self.zaps: dict[int, int] = {}
        self.maple: tuple[str, ...] = ("live",)  # node states by id, the root last (stack.py)

    def snap(self, shadow: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        """`shadow`: put this in place of the shadow (checkpoints keep it in chunks)."""
        return (
            self.lock_writer,
            tuple(self.lock_readers),
            tuple(self.lock_waiters),
            self.downgraded,
            self.mmap_seq,
            self.mm_lock_seq,
            tuple(self.vmas),
            tuple(self.starts),
            tuple(sorted(self.pgd.items())),
            self.mm_users,
            self.rss_anon,
            self.rss_swap,
            self.tlb_flush_pending,
            self.writers,
            self.forking,
            self.exists,
            tuple(sorted((k, tuple(v)) for k, v in self.shadow.items())) if shadow is None else shadow,
            tuple(sorted(self.zaps.items())),
            self.maple,
        )

    @classmethod
    def from_snap(cls, name: str, s: tuple[Any, ...]) -> Mm:
        m = cls.__new__(cls)
        m.name = name
        m.lock_writer = s[0]
        m.lock_readers = list(s[1])
        m.lock_waiters = list(s[2])
        m.downgraded, m.mmap_seq, m.mm_lock_seq = s[3:6]
        m.vmas = list(s[6])
        m.starts = list(s[7])
        m.pgd = dict(s[8])
        (m.mm_users, m.rss_anon, m.rss_swap, m.tlb_flush_pending, m.writers, m.forking, m.exists) = s[9:16]
        m.shadow = {k: list(v) for k, v in s[16]}
        m.zaps = dict(s[17])
        m.maple = s[18]
        return m


RUNNABLE = "runnable"
BLOCKED = "blocked"
DONE = "done"


class Thread:
    """A user thread on its own CPU (cpu == index).

    pc        the label of the next step, "" between operations
    stack     return labels of the kernel subroutines it is inside
    vmf       fault / writer locals: plain, hashable values only
    refs      page references it holds (get_page, a fresh allocation, an
              mmu_gather batch, a GUP pin): pfns, with repeats
    pins      pages GUP handed it, kept across ops until `unpin` (gup.py):
              (addr, pfn, foll flags, zaps) tuples; `zaps` is its mm's
              `zaps` count for the address when it was taken
    """

    __slots__ = (
        "blocked_on",
        "index",
        "iteration",
        "mm",
        "name",
        "op_index",
        "pc",
        "pins",
        "rcu_depth",
        "rcu_qs",
        "refs",
        "result",
        "stack",
        "state",
        "vmf",
    )
    KEY_FIELDS = ("index", "name", "mm")
    SNAP_FIELDS = (
        "op_index",
        "iteration",
        "pc",
        "stack",
        "vmf",
        "state",
        "blocked_on",
        "rcu_depth",
        "rcu_qs",
        "refs",
        "result",
        "pins",
    )

    def __init__(self, index: int, name: str, mm: str) -> None:
        self.index = index
        self.name = name
        self.mm = mm
        self.op_index = 0
        self.iteration = 0
        self.pc = ""
        self.stack: list[str] = []
        self.vmf: dict[str, Any] = {}
        self.state = RUNNABLE
        self.blocked_on = ""
        self.rcu_depth = 0
        self.rcu_qs = 0
        self.refs: list[int] = []
        self.result = ""
        self.pins: list[tuple[int, int, int, int]] = []

    def snap(self) -> tuple[Any, ...]:
        return (
            self.op_index,
            self.iteration,
            self.pc,
            tuple(self.stack),
            tuple(sorted(self.vmf.items())),
            self.state,
            self.blocked_on,
            self.rcu_depth,
            self.rcu_qs,
            tuple(self.refs),
            self.result,
            tuple(self.pins),
        )

    @classmethod
    def from_snap(cls, index: int, name: str, mm: str, s: tuple[Any, ...]) -> Thread:
        t = cls.__new__(cls)
        t.index, t.name, t.mm = index, name, mm
        t.op_index, t.iteration, t.pc = s[0], s[1], s[2]
        t.stack = list(s[3])
        t.vmf = dict(s[4])
        t.state, t.blocked_on, t.rcu_depth, t.rcu_qs = s[5:9]
        t.refs = list(s[9])
        t.result = s[10]
        t.pins = list(s[11])
        return t
