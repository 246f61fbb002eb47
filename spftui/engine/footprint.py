"""Step footprints from the kernel's own recording (`Machine.touched`).

The search-mode replacement of `por.Tracker`: no class swapping, no per-read
hooks. After a step, `Machine.touched` names every object it read or wrote
(("f", pfn), ("t", table), ("ptl", table) for its PTL, ("mm", name) for an mm
and its VMAs, ("mmap_lock", name) for its rwsem, ("shadow", name) for its
lost-write shadow memory, ("tlb", cpu),
("swap", offset), ALLOC for the allocators, RCU); tests/engine/
test_touched_complete.py checks it against `por.Tracker`'s measured reads for
every step of every bundled scenario under every policy.

reads   every touched object, plus the thread's own state ("th", me)
writes  the touched objects whose snapshot changed (found while the snapshot
        after the step is rebuilt from the one before: only touched objects
        are snapshotted again), ALLOC whenever touched (every use allocates
        or frees), the swap slots touched when a swap part changed, a woken
        thread ("th", j), and RCU as `por.Tracker` records it (("rcu", me)
        for entering/leaving a read section; call_rcu and an ended grace
        period read ("rcu", "*") and write the callback queue)
global  a step that reports a violation, takes a fatal signal or ends a
        process's threads in a group exit (exit.group_killed and
        reap_group read every thread of the process: no key names that)

Object granularity is coarser than the tracker's fields (two steps touching
one mm conflict when either changes it), so sleep sets prune a little less;
states and verdicts are unaffected. Locks are split off their objects (a
reader taking mmap_lock or a thread taking a PTL reads no VMA and no PTE),
and the rss counters, which no step reads but to add to them, are no key
(`_mm_writes`): 2-4% fewer transitions on the seed and the 4-thread search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kernel.events import OpDone, RcuFree, Segv, Violation, Wake
from ..kernel.exit import KILLED
from ..kernel.machine import ALLOC, RCU, SNAPSHOT_FIELDS
from ..kernel.state import DONE, RUNNABLE, Frame, Mm, PteTable, Vma
from . import por
from .por import (
    _FRAMES,
    _MMS,
    _RCU,
    _REPORTED,
    _RETAKE,
    _STEPS,
    _SWAP,
    _TABLES,
    _THREADS,
    _TLBS,
    _VMAS,
    RCU_QUEUE,
    Key,
    SnapshotMismatch,
    _tlb_snap,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..kernel.machine import Machine

# The allocators' parts of the snapshot: a change is a write of ALLOC.
_ALLOCATORS = frozenset(
    SNAPSHOT_FIELDS.index(n)
    for n in ("free_pfns", "free_tables", "free_vmas", "anon_vma_next", "free_swap", "swap_next")
)


_SHADOW = Mm.SNAP_FIELDS.index("shadow")
_MMAP_LOCK = tuple(Mm.SNAP_FIELDS.index(n) for n in ("lock_writer", "lock_readers", "lock_waiters", "downgraded"))
_RSS = tuple(Mm.SNAP_FIELDS.index(n) for n in ("rss_anon", "rss_swap"))
_MM_CORE = tuple(i for i in range(len(Mm.SNAP_FIELDS)) if i != _SHADOW and i not in _MMAP_LOCK and i not in _RSS)
_T_PTL, _T_PTL_WAITERS = PteTable.SNAP_FIELDS.index("ptl"), PteTable.SNAP_FIELDS.index("ptl_waiters")
_T_NOT_PTL = tuple(j for j in range(len(PteTable.SNAP_FIELDS)) if j not in (_T_PTL, _T_PTL_WAITERS))
_MM_KINDS = frozenset({"mm", "shadow", "mmap_lock"})  # the keys that name an mm (its snapshot is retaken)

# Thread-local steps the explorer merges into one transition (explorer.merge_local);
# a longer run is a loop in a kernel path that never touches shared state.
MAX_LOCAL_RUN = 10_000


class KernelTracker:
    """Footprints and incremental snapshots from `Machine.touched`.

    Same interface as `por.Tracker` (begin, end, snapshot, footprint).
    Disabled (every footprint global) when asked or when the snapshot layout
    is not the one por.py knows.
    """

    def __init__(
        self, m: Machine, enabled: bool = True, incremental: bool = True, check_every: int | None = None
    ) -> None:
        self.m = m
        self.enabled = enabled and por.layout_ok(m)
        self.incremental = self.enabled and incremental
        self.check_every = check_every or por.CHECK_SNAPSHOT_EVERY  # read late: tests set it to 1
        self.calls = 0
        self._me = -1
        self._rcu = (0, 0)
        self._index = {t.name: t.index for t in m.threads}
        self._writes: set[Key] = set()
        self._reads: set[Key] = set()

    def begin(self, index: int) -> None:
        """Call just before `m.step(index)`."""
        t = self.m.threads[index]
        self._me = index
        self._rcu = (t.rcu_depth, t.rcu_qs)

    def end(self) -> None:
        """Call just after the step (nothing to undo: the kernel recorded it)."""

    def step(self, parent: tuple[Any, ...], index: int) -> tuple[list[Any], tuple[Any, ...], Footprint]:
        """Step thread `index` of the machine, which holds `parent`'s state: the
        step's events, the snapshot after it and its footprint."""
        self.begin(index)
        events = self.m.step(index)
        snap = self.snapshot(parent, events)
        return events, snap, self.footprint(parent, snap, events)

    def snapshot(self, parent: tuple[Any, ...], events: Iterable[Any]) -> tuple[Any, ...]:
        """`Machine.snapshot()` after the step, rebuilt from `parent` (the one
        before it): only the objects the step touched are snapshotted again,
        and those whose snapshot changed are the step's writes."""
        m = self.m
        self.calls += 1
        touched = m.touched
        writes: set[Key] = set()
        self._writes = writes
        self._reads = touched  # a fresh set every step: ours to keep
        if (
            len(parent[_FRAMES]) != len(m.frames)
            or len(parent[_TABLES]) != len(m.tables)
            or len(parent[_VMAS]) != len(m.vmas)
        ):
            writes.add(ALLOC)  # a new frame or table: the next one gets another id
        if not self.incremental:
            snap = m.snapshot()
            self._diff_all(parent, snap, writes)
            return snap
        fr: set[int] = set()
        tb: set[int] = set()
        tl: set[int] = set()
        names: set[str] = set()
        swap = False
        for k in touched:
            kind = k[0]
            if kind == "f":
                fr.add(k[1])
            elif kind == "t" or kind == "ptl":
                tb.add(k[1])
            elif kind in _MM_KINDS:
                names.add(k[1])
            elif kind == "tlb":
                tl.add(k[1])
            elif kind == "swap":
                swap = True
        out = list(parent)
        if fr or len(out[_FRAMES]) != len(m.frames):
            out[_FRAMES] = _resnap(out[_FRAMES], m.frames, fr, Frame.snap, "f", writes)
        if tb or len(out[_TABLES]) != len(m.tables):
            out[_TABLES] = _resnap(out[_TABLES], m.tables, tb, PteTable.snap, "t", writes)
        if tl or len(out[_TLBS]) != len(m.tlbs):
            out[_TLBS] = _resnap(out[_TLBS], m.tlbs, tl, _tlb_snap, "tlb", writes)
        if names:
            mms = parent[_MMS]
            if len(mms) != len(m.mms):
                return self._full(parent, writes)
            new = []
            for n, s in mms:
                if n in names:
                    s2 = m.mms[n].snap()
                    if s2 != s:
                        _mm_writes(n, s, s2, writes)
                        s = s2
                new.append((n, s))
            out[_MMS] = tuple(new)
            vmas = m.vmas
            old = parent[_VMAS]
            if len(old) != len(vmas):
                idx = {i for i, v in enumerate(vmas) if v.mm in names}
            else:
                idx = {i for i, v in enumerate(vmas) if v.mm in names or old[i][0] in names}
            out[_VMAS] = _resnap(old, vmas, idx, Vma.snap, "vma", writes)
        elif len(parent[_VMAS]) != len(m.vmas):
            return self._full(parent, writes)
        me = self._me
        ths = m.threads
        new_th = list(parent[_THREADS])
        new_th[me] = ths[me].snap()
        for e in events:  # another thread changes by being woken (a lock handoff, fork's end) or reaped
            if type(e) is Wake:
                j = self._index[e.thread]
                if j != me:
                    new_th[j] = ths[j].snap()
                    writes.add(("th", j))
            elif type(e) is OpDone:  # a group exit (exit.reap_group) ends the process's other threads
                for j, th in enumerate(ths):
                    if j != me:
                        ts = th.snap()
                        if ts != new_th[j]:
                            new_th[j] = ts
                            writes.add(("th", j))
        out[_THREADS] = tuple(new_th)
        reported = parent[_REPORTED]
        if len(reported) != len(m.reported):
            out[_REPORTED] = tuple(sorted(m.reported, key=repr))
        # The small parts change only through the allocators, swap slots and
        # call_rcu (their keys are ALLOC, ("swap", off) and RCU): taken again
        # only then, the parent's tuple kept when equal.
        out[_STEPS] = m.steps
        if ALLOC in touched or swap or RCU in touched:
            for i, take in _RETAKE:
                v = take(m)
                if v != out[i]:
                    out[i] = v
                    if i in _SWAP:
                        writes.update(k for k in touched if k[0] == "swap")
                    if i in _ALLOCATORS:
                        writes.add(ALLOC)
        snap = tuple(out)
        if self.calls % self.check_every == 0 and snap != m.snapshot():
            self.incremental = False
            raise SnapshotMismatch(f"incremental snapshot differs from Machine.snapshot() after {self.calls} steps")
        return snap

    def _full(self, parent: tuple[Any, ...], writes: set[Key]) -> tuple[Any, ...]:
        snap = self.m.snapshot()
        self._diff_all(parent, snap, writes)
        return snap

    def _diff_all(self, parent: tuple[Any, ...], snap: tuple[Any, ...], writes: set[Key]) -> None:
        """Writes from two whole snapshots (objects added or removed: rare)."""
        m = self.m
        for kind, i in (("f", _FRAMES), ("t", _TABLES), ("tlb", _TLBS)):
            a, b = parent[i], snap[i]
            for j in range(max(len(a), len(b))):
                if j >= len(a) or j >= len(b) or a[j] != b[j]:
                    _wrote(kind, j, a[j] if j < len(a) else None, b[j] if j < len(b) else None, writes)
        a, b = parent[_VMAS], snap[_VMAS]
        for j in range(max(len(a), len(b))):
            if j >= len(a) or j >= len(b) or a[j] != b[j]:
                writes.update(("mm", s[0]) for s in (a[j] if j < len(a) else None, b[j] if j < len(b) else None) if s)
        ma, mb = dict(parent[_MMS]), dict(snap[_MMS])
        for n in ma.keys() | mb.keys():
            if ma.get(n) != mb.get(n):
                _mm_writes(n, ma.get(n), mb.get(n), writes)
        ta, tb = parent[_THREADS], snap[_THREADS]
        writes.update(("th", j) for j in range(len(ta)) if j != self._me and ta[j] != tb[j])
        if any(parent[i] != snap[i] for i in _ALLOCATORS) or len(parent[_VMAS]) != len(snap[_VMAS]):
            writes.add(ALLOC)
        if any(parent[i] != snap[i] for i in _SWAP):
            writes.update(k for k in m.touched if k[0] == "swap")

    def footprint(self, before: tuple[Any, ...], after: tuple[Any, ...], events: Iterable[Any]) -> Footprint:
        """The footprint of the step `snapshot` was last called for."""
        if not self.enabled:
            return GLOBAL
        rcu = False
        op_done = False
        for e in events:
            if type(e) is Violation or type(e) is Segv:
                return GLOBAL  # a fatal signal: the process's other threads read it (exit.group_killed)
            if type(e) is OpDone:
                op_done = True
            if type(e) is OpDone and _killed(self.m.threads[self._me]):
                # a group exit: reap_group read (and ended) the state of every thread
                # of the process, which no footprint key names
                return GLOBAL
            if type(e) is RcuFree:
                rcu = True  # a grace period ended: it read every thread's RCU state
        me = self._me
        acc = self._reads
        acc.discard(RCU)  # RCU is measured per thread below
        writes = self._writes
        acc.add(("th", me))
        t = self.m.threads[me]
        rw = (t.rcu_depth, t.rcu_qs) != self._rcu
        if rw:
            writes.add(("rcu", me))  # entered or left a read-side section
        ra = rcu or before[_RCU] != after[_RCU]
        if ra:
            writes.add(RCU_QUEUE)  # call_rcu / a grace period: read every thread's RCU state
        acc |= writes
        fp = Footprint(acc, writes, ra, rw)
        # Not an op's end: finish_op reads every thread's state (group_killed,
        # all_done) with no footprint key, so it must stay an interleaving point.
        fp.local = not op_done and t.state == RUNNABLE and fp.is_local(me)
        return fp


class Footprint:
    """What one step read (`acc`, with its writes) and wrote (`w`), as object keys.

    `rcu_all`: it read every thread's RCU state (call_rcu, a grace period);
    `rcu_w`: it changed its own (entered or left a read-side section);
    `local`: a thread-local step (`is_local`) that left its thread runnable
    (set by KernelTracker.footprint): the explorer's thread-local reduction
    may explore it alone.
    """

    __slots__ = ("acc", "glob", "local", "rcu_all", "rcu_w", "w")

    def __init__(
        self,
        acc: set[Key],
        w: set[Key],
        rcu_all: bool = False,
        rcu_w: bool = False,
        glob: bool = False,
        local: bool = False,
    ):
        self.acc = acc
        self.w = w
        self.rcu_all = rcu_all
        self.rcu_w = rcu_w
        self.glob = glob
        self.local = local

    def conflicts(self, other: Footprint) -> bool:
        """Dependent: one writes what the other reads or writes (or either is global)."""
        if self.glob or other.glob:
            return True
        if not self.w.isdisjoint(other.acc) or not other.w.isdisjoint(self.acc):
            return True
        return (self.rcu_all and other.rcu_w) or (other.rcu_all and self.rcu_w)

    def is_local(self, me: int) -> bool:
        """Thread-local: wrote nothing shared and read nothing but thread `me`'s own state."""
        return not self.glob and not self.w and len(self.acc) == 1 and ("th", me) in self.acc

    def __repr__(self) -> str:
        if self.glob:
            return "Footprint(global)"
        return f"Footprint(reads={sorted(map(str, self.acc - self.w))}, writes={sorted(map(str, self.w))})"


GLOBAL = Footprint(set(), set(), glob=True)


def _resnap(
    old: tuple[Any, ...], objs: list[Any], idxs: set[int], snap: Any, kind: str, writes: set[Key]
) -> tuple[Any, ...]:
    """`old` with the objects at `idxs` (and any added) snapshotted again; the
    changed ones are added to `writes` as (kind, index), a VMA as its mm.
    Nothing changed: `old` itself (identity lets restores and compares skip it)."""
    n = len(objs)
    if n == len(old):
        out = None
        for i in idxs:
            if i < n:
                s = snap(objs[i])
                if s != old[i]:
                    _wrote(kind, i, old[i], s, writes)
                    if out is None:
                        out = list(old)
                    out[i] = s
        return old if out is None else tuple(out)
    out = list(old[:n])
    out += [None] * (n - len(out))
    for i in idxs:
        if i < n:
            s = snap(objs[i])
            if s != out[i]:
                _wrote(kind, i, out[i], s, writes)
                out[i] = s
    for i in range(len(old), n):
        out[i] = s = snap(objs[i])
        _wrote(kind, i, None, s, writes)
    for i in range(n, len(old)):
        _wrote(kind, i, old[i], None, writes)
    return tuple(out)


def _killed(t: Any) -> bool:
    return t.state == DONE and KILLED in t.result


def _mm_writes(name: str, a: Any, b: Any, writes: set[Key]) -> None:
    """An mm's snapshot changed: its shadow (the lost-write oracle's memory) is
    the key ("shadow", name), the mmap_lock rwsem's fields ("mmap_lock", name),
    the rss counters none (below), every other field ("mm", name).

    No step reads an rss counter but to add to it (no oracle or path looks at
    rss_anon or rss_swap), so changes to them commute and change no step's
    behaviour: they are no interleaving point. A step that adds to one has
    touched the mm (so its snapshot is retaken and the step cache's plan holds
    the counters)."""
    if a is None or b is None:
        writes.update((("mm", name), ("shadow", name), ("mmap_lock", name)))
        return
    if a[_SHADOW] != b[_SHADOW]:
        writes.add(("shadow", name))
    if any(a[i] != b[i] for i in _MMAP_LOCK):
        writes.add(("mmap_lock", name))
    if any(a[i] != b[i] for i in _MM_CORE):
        writes.add(("mm", name))


def _wrote(kind: str, i: int, a: Any, b: Any, writes: set[Key]) -> None:
    if kind == "vma":
        writes.update(("mm", s[0]) for s in (a, b) if s is not None)
    elif kind == "t" and a is not None and b is not None:  # the PTL's fields have a key of their own
        if a[_T_PTL] != b[_T_PTL] or a[_T_PTL_WAITERS] != b[_T_PTL_WAITERS]:
            writes.add(("ptl", i))
        if any(a[j] != b[j] for j in _T_NOT_PTL):
            writes.add(("t", i))
    elif kind == "t":
        writes.update((("t", i), ("ptl", i)))
    else:
        writes.add((kind, i))
