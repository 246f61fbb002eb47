"""The events a step emits: one record type per kind, with named fields.

Every step returns the list of events it emitted (`Machine.step`). Each kind
is a `typing.NamedTuple`: events are made on every step, and a NamedTuple
costs a tuple plus one call (measured: ~0.2 µs against ~0.3 µs for a frozen
attrs class) while giving named fields, `_fields` for the JSON schema and
`match` patterns. `kind` is the name the trace, breakpoints and
`spftui trace --json` use; `EVENT_TYPES` lists every kind once.

Field names follow the kernel: `mm` is the mm's name, `vpn` a virtual page
number (address >> 12), `pfn` a frame number; PTE values are raw integers
(see `pte.py` for the bit layout).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class OpStart(NamedTuple):
    """A thread starts the next op of its program."""

    thread: str
    op: str  # the op as written in the scenario, e.g. "write 0x10000 7"

    @property
    def kind(self) -> str:
        return "op_start"


class OpDone(NamedTuple):
    """A thread finishes an op."""

    thread: str
    op: str
    result: str  # "0", a value read, "SIGSEGV (…)", …

    @property
    def kind(self) -> str:
        return "op_done"


class Fault(NamedTuple):
    """A user access faults (do_user_addr_fault is entered)."""

    thread: str
    addr: int
    access: str  # "read" | "write"

    @property
    def kind(self) -> str:
        return "fault"


class Lock(NamedTuple):
    """A thread acquires (or downgrades) a sleeping lock such as mmap_lock."""

    thread: str
    lock: str  # e.g. "mmap_lock(A)"
    mode: str  # "read" | "write" | "downgrade"

    @property
    def kind(self) -> str:
        return "lock"


class Unlock(NamedTuple):
    """A thread releases a sleeping lock."""

    thread: str
    lock: str
    mode: str  # "read" | "write"

    @property
    def kind(self) -> str:
        return "unlock"


class Seq(NamedTuple):
    """A sequence count moves (mmap_seq, mm_lock_seq, vmaN.vm_sequence, vmaN.vm_lock_seq)."""

    mm: str
    counter: str
    old: int
    new: int

    @property
    def kind(self) -> str:
        return "seq"


class SpfAbort(NamedTuple):
    """A speculative (or VMA-locked) fault gives up and retries under mmap_lock."""

    thread: str
    reason: str  # SEQ1, PTL, VMA, …
    detail: str  # what it sampled against what it found
    label: str  # the step that aborted

    @property
    def kind(self) -> str:
        return "spf_abort"


class Violation(NamedTuple):
    """An oracle found the machine in a state the kernel must never reach."""

    oracle: str  # lost_write, use_after_free, deadlock, …
    thread: str  # the thread whose step it was ("" outside a step)
    detail: str

    @property
    def kind(self) -> str:
        return "violation"


class Pte(NamedTuple):
    """A PTE changes (set_pte_at, ptep_get_and_clear, …)."""

    mm: str
    vpn: int
    old: int
    new: int

    @property
    def kind(self) -> str:
        return "pte"


class Flush(NamedTuple):
    """A TLB shootdown of [start_vpn, end_vpn) in mm on every CPU."""

    mm: str
    start_vpn: int
    end_vpn: int

    @property
    def kind(self) -> str:
        return "flush"


class Alloc(NamedTuple):
    """alloc_page: a thread gets a zeroed page."""

    thread: str
    pfn: int

    @property
    def kind(self) -> str:
        return "alloc"


class Free(NamedTuple):
    """A page's last reference is dropped."""

    pfn: int

    @property
    def kind(self) -> str:
        return "free"


class Pgtable(NamedTuple):
    """A PTE table is allocated or unhooked from its pmd."""

    mm: str
    table: int
    action: str  # "alloc" | "unhooked"

    @property
    def kind(self) -> str:
        return "pgtable"


class VmaChange(NamedTuple):
    """A VMA is linked, detached, split, merged or gets new vm_flags."""

    mm: str
    action: str  # "link" | "detach" | "split" | "merge" | "vm_flags" | "grow" (mremap)
    vma: int
    other: int | None  # split: the new VMA; merge: the VMA merged into it
    vm_flags: int | None  # vm_flags: the new flags

    @property
    def kind(self) -> str:
        return "vma"


class Block(NamedTuple):
    """A thread sleeps."""

    thread: str
    on: str  # what it waits for

    @property
    def kind(self) -> str:
        return "block"


class Wake(NamedTuple):
    """A sleeping thread becomes runnable."""

    thread: str

    @property
    def kind(self) -> str:
        return "wake"


MAPLE_NODE = "maple_node:"
"""call_rcu's kind for a maple node of mm NAME: MAPLE_NODE + NAME (kernel/stack.py)."""


class RcuFree(NamedTuple):
    """An RCU callback frees a VMA, a PTE table or a maple node after its grace period."""

    what: str  # "vma" | "table" | "maple_node:MM" (a maple node of mm MM: kernel/stack.py)
    id: int

    @property
    def kind(self) -> str:
        return "rcu_free"

    @property
    def maple(self) -> bool:
        """A maple node's free (StackRot's: worth a trace line; a VMA's or a table's is bookkeeping)."""
        return self.what.startswith(MAPLE_NODE)


class Swap(NamedTuple):
    """A page moves to a swap slot."""

    action: str  # "add_to_swap"
    pfn: int
    slot: int

    @property
    def kind(self) -> str:
        return "swap"


class Fork(NamedTuple):
    """dup_mmap: mm is copied into a child process."""

    mm: str
    child: str

    @property
    def kind(self) -> str:
        return "fork"


class Cow(NamedTuple):
    """wp_page_copy installs a copy in place of the old page."""

    thread: str
    old_pfn: int | None  # None: the zero page
    new_pfn: int

    @property
    def kind(self) -> str:
        return "cow"


class Decision(NamedTuple):
    """A branch the kernel takes on the values it read, that decides the outcome: do_wp_page's
    reuse or copy, faultin_page's FOLL_WRITE drop, __get_user_pages forcing FOLL_WRITE (5.8),
    reclaim keeping or discarding a lazyfree page, a fault skipping the speculative path
    (mm_users 1). The state it read is in `detail`."""

    thread: str
    what: str  # "reuse" | "copy" | "foll" | "keep" | "discard" | "classic" | "expand_stack" | "maple"
    pfn: int | None  # the page decided on (foll: None)
    detail: str  # e.g. "reuses pfn 1: mapcount 1 (the mapcount rule: page_count 2 is not looked at)"

    @property
    def kind(self) -> str:
        return "decision"


class AnonVma(NamedTuple):
    """anon_vma_prepare gives a VMA its anon_vma."""

    mm: str
    vma: int
    anon_vma: int

    @property
    def kind(self) -> str:
        return "anon_vma"


class Segv(NamedTuple):
    """A thread gets SIGSEGV."""

    thread: str
    addr: int
    why: str

    @property
    def kind(self) -> str:
        return "segv"


class ExitMmap(NamedTuple):
    """The last thread of a killed process is gone: exit_mmap tears its address space down."""

    mm: str

    @property
    def kind(self) -> str:
        return "exit_mmap"


class SpecRead(NamedTuple):
    """A fault samples a value it will validate later: the snapshot side of a check.

    `obj` names what was read: "mmap_seq", "pte" (orig_pte), "pmd" (orig_pmd:
    the PTE table's id), "vma" (the VMA copy: vm_start, vm_end, vm_flags,
    anon_vma) or "vm_sequence"; `addr` is the faulting address, `vma` the
    VMA's id where it matters (else None).
    """

    thread: str
    obj: str
    mm: str
    addr: int
    vma: int | None
    value: Any

    @property
    def kind(self) -> str:
        return "spec_read"


class Validate(NamedTuple):
    """A speculative check (or pte_same under the PTL), passed or failed.

    `check` is the abort reason it would give (seq_start, VMA_COPY, SEQ1,
    SEQ2, REFETCH, VMA_SEQ, pmd_same, pte_same, vma_start_read); `obj`, `mm`,
    `addr`, `vma` name the compared value as in `SpecRead`; `snapshot` is
    what the fault sampled and `current` what it finds now (vma_start_read:
    the VMA's vm_lock_seq against mm_lock_seq, which must differ).
    """

    thread: str
    check: str
    obj: str
    mm: str
    addr: int
    vma: int | None
    snapshot: Any
    current: Any
    ok: bool

    @property
    def kind(self) -> str:
        return "validate"


class Change(NamedTuple):
    """One value a compared object took, and the step that made it (in `Aba` and `Invalidated`)."""

    object: str  # "A.pte[0x10000]", "A.vma[0x10000]", "A.mmap_seq"
    step: int  # the N-th executed step (1-based, as everywhere); -1 for the sampled value when its step is not known
    thread: str
    label: str
    value: str  # as the UI shows it ("pfn 1 RO A D", "rw-p", "4")


class Aba(NamedTuple):
    """A check passed although what it compared changed and changed back since the snapshot.

    Derived by the engine from the recorded events (`engine/history.py`), not
    emitted by a kernel step. `objects` lists every object of this fault that
    is back at its sampled value after changing (the checked one first);
    `changes` holds, per object, the sampled value then each later value.
    """

    thread: str
    check: str
    objects: tuple[str, ...]
    changes: tuple[Change, ...]

    @property
    def kind(self) -> str:
        return "aba"


class Invalidated(NamedTuple):
    """A check failed: what the compared object went through since the snapshot (engine-derived)."""

    thread: str
    check: str
    object: str
    changes: tuple[Change, ...]

    @property
    def kind(self) -> str:
        return "invalidated"


Event = (
    OpStart
    | OpDone
    | Fault
    | Lock
    | Unlock
    | Seq
    | SpfAbort
    | Violation
    | Pte
    | Flush
    | Alloc
    | Free
    | Pgtable
    | VmaChange
    | Block
    | Wake
    | RcuFree
    | Swap
    | Fork
    | Cow
    | Decision
    | AnonVma
    | Segv
    | ExitMmap
    | SpecRead
    | Validate
    | Aba
    | Invalidated
)

EVENT_TYPES: tuple[type[Event], ...] = (
    OpStart,
    OpDone,
    Fault,
    Lock,
    Unlock,
    Seq,
    SpfAbort,
    Violation,
    Pte,
    Flush,
    Alloc,
    Free,
    Pgtable,
    VmaChange,
    Block,
    Wake,
    RcuFree,
    Swap,
    Fork,
    Cow,
    Decision,
    AnonVma,
    Segv,
    ExitMmap,
    SpecRead,
    Validate,
    Aba,
    Invalidated,
)


def kind_of(cls: type[Event]) -> str:
    """The `kind` name of an event type (without making an event)."""
    prop = cls.__dict__["kind"]
    return str(prop.fget(None))


# kind name -> record type, for readers of `spftui trace --json` and breakpoints.
EVENT_KINDS: dict[str, type[Event]] = {kind_of(cls): cls for cls in EVENT_TYPES}

# The version of `spftui trace --json`'s records (README: "Trace JSON").
# 2: `step` is the 1-based step number (schema 1 counted from 0).
TRACE_SCHEMA = 2


def event_fields(e: Event) -> dict[str, object]:
    """An event as `{"kind": …, field: value, …}`, the shape `trace --json` prints."""
    out: dict[str, object] = {"kind": e.kind}
    for k, v in e._asdict().items():
        # nested records (Aba.changes) as objects with named fields, like the events
        out[k] = [c._asdict() for c in v] if isinstance(v, tuple) and v and isinstance(v[0], Change) else v
    return out
