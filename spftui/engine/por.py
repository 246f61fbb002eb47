"""Partial-order reduction: measured footprints (the checker), snapshot
layout, restores and state fingerprints for the explorer's exhaustive search.

The search takes a step's footprint from the kernel's own recording,
`Machine.touched` (`footprint.KernelTracker`: no per-read hooks). The
`Tracker` here measures it independently, per field, by watching every read;
tests/engine/test_touched_complete.py runs both on every step of every bundled
scenario under every policy and fails on any object `touched` misses. How
the Tracker measures:

reads   While a step runs (`Tracker.begin` .. `Tracker.end`), every frame,
        PTE table, VMA and mm_struct is switched to a subclass whose
        `__getattribute__` records `(kind, id, field)`; the TLB list records
        the CPUs it is indexed by (iterating it, as a shootdown does, reads
        every TLB); the swap dictionaries count as one object, `("swap",)`.
writes  The fields whose snapshot value changed across the step (a write
        that restores the old value within the step is no write), found by
        comparing the snapshots before and after it. Which snapshot position
        holds which field is each class's SNAP_FIELDS declaration
        (kernel/state.py; a test checks snap() and from_snap() against it).
global  A step that reports a violation is dependent with everything (the
        oracles read reference counts of every thread and de-duplicate
        reports globally).

Two steps of different threads are independent when neither writes what the
other reads or writes; a thread is always dependent with itself. Thread-local
state (pc, vmf, refs) needs no key, with two exceptions: RCU (entering or
leaving a read-side section writes `("rcu", thread)`; `call_rcu` and an ended
grace period read every thread's `("rcu", "*")` and write the callback
queue), and waking a thread writes `("th", thread)`.

While it watches a step, the tracker also knows every object the step
touched, so the snapshot after the step is rebuilt from the one before it,
snapshotting only those objects again (`Tracker.snapshot`); every 997th one
is compared with `Machine.snapshot()`, and a difference (a kernel change this
module does not know) makes the explorer start over without the shortcut.

The exhaustive search (`explorer.exhaustive`) is a stateful depth-first
search with sleep sets. A state is stored with the sleep set it was explored with, and a
revisit is pruned only when that set is contained in the current one;
otherwise the transitions asleep then but awake now are explored and the
stored set shrinks to the intersection (Godefroid 1996, ch. 5). Sleep sets
prune transitions, never states: with a correct independence relation the
search visits exactly the states a naive search visits (the tests check it).

The state fingerprint is a 128-bit BLAKE2b digest of the snapshot without
the step counter and the set of already-reported violations (neither changes
what can happen next: `reported` only de-duplicates reports, and a kind it
holds was found on the path that reached the state). The digest comes from a
memo-free pickle, so it depends only on values: the same in every process
and under every PYTHONHASHSEED.

Standard library only (DESIGN.md contract 1).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import pickle
import threading
import zlib
from typing import TYPE_CHECKING, Any

from ..kernel.events import RcuFree, Violation
from ..kernel.machine import SNAPSHOT_FIELDS, SNAPSHOT_PARTS
from ..kernel.state import RUNNABLE, Frame, Mm, PteTable, Thread, Vma

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from ..kernel.machine import Machine

CHECK_SNAPSHOT_EVERY = 997  # incremental snapshots compared with Machine.snapshot() (tests: 1)

# Machine.snapshot() layout, from its declaration (and checked by `layout_ok`).
_FRAMES, _FREE_PFNS, _TABLES, _FREE_TABLES, _VMAS, _FREE_VMAS, _MMS, _THREADS, _TLBS = (
    SNAPSHOT_FIELDS.index(n)
    for n in ("frames", "free_pfns", "tables", "free_tables", "vmas", "free_vmas", "mms", "threads", "tlbs")
)
_SWAP = tuple(SNAPSHOT_FIELDS.index(n) for n in ("swap_map", "swap_cache", "free_swap", "swap_next"))
_RCU, _ANON_VMA_NEXT, _REPORTED, _STEPS = (
    SNAPSHOT_FIELDS.index(n) for n in ("rcu_pending", "anon_vma_next", "reported", "steps")
)
_SNAP_LEN = len(SNAPSHOT_FIELDS)
KEY_LEN = _REPORTED  # the fingerprint covers snapshot[:KEY_LEN]
assert (_REPORTED, _STEPS) == (_SNAP_LEN - 2, _SNAP_LEN - 1), "state_key() drops the last two fields"

Key = tuple[Any, ...]
SWAP: Key = ("swap",)
RCU_QUEUE: Key = ("rcu", "queue")

# The set the recording hooks add to while a step runs (else None). One
# process-wide sink: `SEARCH_LOCK` keeps explorations in threads one at a time.
_SINK: list[set[Key] | None] = [None]
SEARCH_LOCK = threading.Lock()


@contextlib.contextmanager
def fewer_collections(threshold: int = 20_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often: a search makes and drops
    snapshot tuples (no cycles) by the million, and at the default threshold
    (700 allocations) the collector costs about 5% of a search."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], threshold), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


class _TrackList(list):  # type: ignore[type-arg]
    """A list that records which elements a step fetches (the TLBs)."""

    __slots__ = ("kind",)
    kind: str

    def __getitem__(self, i: Any) -> Any:
        s = _SINK[0]
        if s is not None:
            s.add((self.kind, i) if isinstance(i, int) else (self.kind, "*"))
        return list.__getitem__(self, i)

    def __iter__(self) -> Iterator[Any]:
        s = _SINK[0]
        if s is not None:
            s.add((self.kind, "*"))
        return list.__iter__(self)


class _TrackSwap(dict):  # type: ignore[type-arg]
    """swap_map / swap_cache: any access reads the swap subsystem, ("swap",)."""

    def _hit(self) -> None:
        s = _SINK[0]
        if s is not None:
            s.add(SWAP)

    def __getitem__(self, k: Any) -> Any:
        self._hit()
        return dict.__getitem__(self, k)

    def get(self, k: Any, default: Any = None) -> Any:
        self._hit()
        return dict.get(self, k, default)

    def __contains__(self, k: object) -> bool:
        self._hit()
        return dict.__contains__(self, k)

    def __iter__(self) -> Iterator[Any]:
        self._hit()
        return dict.__iter__(self)

    def items(self) -> Any:
        self._hit()
        return dict.items(self)

    def values(self) -> Any:
        self._hit()
        return dict.values(self)

    def keys(self) -> Any:
        self._hit()
        return dict.keys(self)


def _tracked_class(base: type, kind: str, id_attr: str, fields: tuple[str, ...]) -> type:
    """A layout-compatible subclass of `base` that records (kind, id, field) on
    every read and assignment of a snapshotted field."""

    def __getattribute__(
        self: Any,
        name: str,
        get: Any = object.__getattribute__,
        watched: frozenset[str] = frozenset(fields),
        sink: list[set[Key] | None] = _SINK,
    ) -> Any:
        if name in watched:
            s = sink[0]
            if s is not None:
                s.add((kind, get(self, id_attr), name))
        return get(self, name)

    def __setattr__(
        self: Any,
        name: str,
        value: Any,
        get: Any = object.__getattribute__,
        put: Any = object.__setattr__,
        sink: list[set[Key] | None] = _SINK,
    ) -> None:
        s = sink[0]
        if s is not None:
            s.add((kind, get(self, id_attr), name))
        put(self, name, value)

    namespace = {"__slots__": (), "__getattribute__": __getattribute__, "__setattr__": __setattr__}
    return type(f"_Tracked{base.__name__}", (base,), namespace)


class _Kind:
    """How one kind of object is tracked."""

    def __init__(self, kind: str, attr: str, base: type, id_attr: str, fields: tuple[str, ...]) -> None:
        self.kind = kind
        self.attr = attr  # the Machine attribute holding them
        self.base = base
        self.fields = fields  # snapshot position -> attribute
        self.tracked = _tracked_class(base, kind, id_attr, fields)


def _kinds() -> list[_Kind]:
    return [
        _Kind("f", "frames", Frame, "pfn", Frame.SNAP_FIELDS),
        _Kind("t", "tables", PteTable, "id", PteTable.SNAP_FIELDS),
        _Kind("v", "vmas", Vma, "id", Vma.SNAP_FIELDS),
        _Kind("mm", "mms", Mm, "name", Mm.SNAP_FIELDS),
    ]


# -------------------------------------------------------------- footprints
class SnapshotMismatch(RuntimeError):
    """The incremental snapshot disagrees with `Machine.snapshot()` (a kernel change)."""


class Footprint:
    """What one step read and wrote; `glob` makes it dependent with everything."""

    __slots__ = ("acc", "glob", "rall", "w", "wk")

    def __init__(self, reads: set[Key], writes: set[Key], glob: bool) -> None:
        self.glob = glob
        self.w = frozenset(writes)
        self.acc = frozenset(reads | writes)
        self.wk = frozenset(k[0] for k in writes)
        self.rall = frozenset(k[0] for k in reads if len(k) == 2 and k[1] == "*")

    def conflicts(self, other: Footprint) -> bool:
        """Dependent: one writes what the other reads or writes (or either is global)."""
        if self.glob or other.glob:
            return True
        if not self.w.isdisjoint(other.acc) or not other.w.isdisjoint(self.acc):
            return True
        return bool(self.rall & other.wk) or bool(other.rall & self.wk)

    def is_local(self, me: int) -> bool:
        """Thread-local: wrote nothing shared and read nothing but thread `me`'s own state."""
        return not self.glob and not self.w and self.acc == {("th", me)}

    def __repr__(self) -> str:
        if self.glob:
            return "Footprint(global)"
        return f"Footprint(reads={sorted(map(str, self.acc - self.w))}, writes={sorted(map(str, self.w))})"


GLOBAL = Footprint(set(), set(), True)


def layout_ok(m: Machine) -> bool:
    """Does `Machine.snapshot()` still have the layout this module assumes?"""
    s = m.snapshot()
    return (
        len(s) == _SNAP_LEN
        and s[_STEPS] == m.steps
        and len(s[_FRAMES]) == len(m.frames)
        and len(s[_TABLES]) == len(m.tables)
        and len(s[_VMAS]) == len(m.vmas)
        and [n for n, _ in s[_MMS]] == list(m.mms)
        and len(s[_THREADS]) == len(m.threads)
        and len(s[_TLBS]) == len(m.tlbs)
        and len(s[_REPORTED]) == len(m.reported)
    )


RAW_CACHE = 1 << 17  # entries in a generation of Fingerprinter's cache (about 20 MB for both)


class Fingerprinter:
    """128-bit digests of states: value-based, identical in every process."""

    def __init__(
        self,
        key_len: int | None = KEY_LEN,
        digest_size: int = 16,
        as_int: bool = False,
        canon: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None,
    ) -> None:
        self.key_len = key_len
        self.canon = canon  # the class representative to digest (symmetry.Canonicaliser), or the key itself
        # `part`: a function of the (canonical) key; after each call `part_hash` is
        # the CRC-32 of its value's memo-free pickle (parallel.py: which worker owns the state)
        self.part: Callable[[tuple[Any, ...]], Any] | None = None
        self.part_hash = 0
        self._pbuf = io.BytesIO()
        self._ppickler = pickle.Pickler(self._pbuf, 5)
        self._ppickler.fast = True
        self._part_hashes: dict[int, tuple[Any, int]] = {}  # id(part) -> (it, part_hash)
        self.digest_size = digest_size
        self.as_int = as_int  # a nonzero int (store.CompactStore's keys) instead of bytes
        self._buf = io.BytesIO()
        self._pickler = pickle.Pickler(self._buf, 5)
        self._pickler.fast = True  # no memo: the bytes depend on values, not object identity
        # exact key's digest -> (fingerprint, part_hash), in two generations: the
        # newer one is dropped to the older when full, the older forgotten
        self._recent: dict[bytes, tuple[Any, int]] = {}
        self._older: dict[bytes, tuple[Any, int]] = {}

    def __call__(self, snap: tuple[Any, ...]) -> Any:
        key = snap[: self.key_len] if self.key_len is not None else snap
        if self.canon is None:
            return self._digest(key)
        # Canonical forms cost several times a digest; about half the transitions of a
        # search reach a state whose exact key was met lately (commuting steps), so the
        # class's fingerprint is looked up by a 128-bit digest of that key first.
        raw = self._raw(key)
        hit = self._recent.get(raw)
        if hit is None:
            hit = self._older.get(raw)
            if hit is None:
                d = self._digest(self.canon(key))
                hit = (d, self.part_hash)
            if len(self._recent) >= RAW_CACHE:
                self._older, self._recent = self._recent, {}
            self._recent[raw] = hit
        self.part_hash = hit[1]
        return hit[0]

    def _pickled(self, key: tuple[Any, ...]) -> memoryview:
        """`key`'s memo-free pickle, in the reused buffer (read it before the next call)."""
        buf = self._buf
        buf.seek(0)
        buf.truncate()
        self._pickler.dump(key)
        return buf.getbuffer()

    def _digest(self, key: tuple[Any, ...]) -> Any:
        data = self._pickled(key)
        if self.part is not None:
            v = self.part(key)
            got = self._part_hashes.get(id(v))
            if got is None or got[0] is not v:  # (the part is mostly an object met before)
                pb = self._pbuf
                pb.seek(0)
                pb.truncate()
                self._ppickler.dump(v)
                if len(self._part_hashes) >= RAW_CACHE:
                    self._part_hashes.clear()
                got = self._part_hashes[id(v)] = (v, zlib.crc32(pb.getbuffer()))  # (holds v: its id stays)
            self.part_hash = got[1]
        d = hashlib.blake2b(data, digest_size=self.digest_size).digest()
        data.release()
        return (int.from_bytes(d, "little") or 1) if self.as_int else d

    def _raw(self, key: tuple[Any, ...]) -> bytes:
        data = self._pickled(key)
        d = hashlib.blake2b(data, digest_size=16).digest()
        data.release()
        return d


class Tracker:
    """Records a step's reads and writes, works out its footprint, and rebuilds
    the snapshot after it from the one before (the objects it did not touch
    keep their snapshots).

    Disabled (every footprint global: no reduction) when asked, or when the
    machine's snapshot layout is not the one this module knows.
    """

    def __init__(
        self, m: Machine, enabled: bool = True, incremental: bool = True, check_every: int | None = None
    ) -> None:
        self.m = m
        self.enabled = enabled and layout_ok(m)
        self.kinds = _kinds() if self.enabled else []
        self._tracked: tuple[Any, ...] = tuple(k.tracked for k in self.kinds)
        self.reads: set[Key] = set()
        self._rcu = (0, 0)
        self._me = -1
        self._waits: list[tuple[str, str]] = []
        self._fresh: set[tuple[str, int]] = set()
        self.calls = 0
        self.incremental = self.enabled and incremental
        self.check_every = check_every or CHECK_SNAPSHOT_EVERY

    def begin(self, index: int) -> None:
        """Call just before `m.step(index)`."""
        if not self.enabled:
            return
        m = self.m
        tf, tt, tv, tm = self._tracked
        for f in m.frames:
            f.__class__ = tf
        for tb in m.tables:
            tb.__class__ = tt
        for v in m.vmas:
            v.__class__ = tv
        for mm in m.mms.values():
            mm.__class__ = tm
        if type(m.tlbs) is not _TrackList:
            tl = _TrackList(m.tlbs)
            tl.kind = "tlb"
            m.tlbs = tl
        if type(m.swap_map) is not _TrackSwap:
            m.swap_map = _TrackSwap(m.swap_map)
        if type(m.swap_cache) is not _TrackSwap:
            m.swap_cache = _TrackSwap(m.swap_cache)
        self.reads = set()
        t = m.threads[index]
        self._me = index
        self._rcu = (t.rcu_depth, t.rcu_qs)
        self._waits = [(th.state, th.blocked_on) for th in m.threads]
        _SINK[0] = self.reads

    def end(self) -> None:
        """Call just after the step (also when it raised): plain classes again, so
        snapshots run at full speed. Notes objects the step created or replaced."""
        _SINK[0] = None
        if not self.enabled:
            return
        m = self.m
        tf, tt, tv, _ = self._tracked
        fresh = self._fresh = set()
        put = object.__setattr__  # not the tracked __setattr__
        for i, f in enumerate(m.frames):
            if type(f) is tf:
                put(f, "__class__", Frame)
            else:
                fresh.add(("f", i))
        for i, tb in enumerate(m.tables):
            if type(tb) is tt:
                put(tb, "__class__", PteTable)
            else:
                fresh.add(("t", i))
        for i, v in enumerate(m.vmas):
            if type(v) is tv:
                put(v, "__class__", Vma)
            else:
                fresh.add(("v", i))
        for mm in m.mms.values():
            put(mm, "__class__", Mm)

    def snapshot(self, parent: tuple[Any, ...], events: Iterable[tuple[Any, ...]]) -> tuple[Any, ...]:
        """`Machine.snapshot()` after the step, rebuilt from the one before it
        (`parent`): only the objects the step touched are snapshotted again.

        Every `check_every`-th call is compared with a full snapshot; a
        difference raises SnapshotMismatch (the explorer then starts again
        without this shortcut).
        """
        m = self.m
        self.calls += 1
        if not self.incremental:
            return m.snapshot()
        touched: dict[str, set[Any]] = {"f": set(), "t": set(), "v": set(), "mm": set(), "tlb": set()}
        all_tlbs = False
        for k in self.reads:
            if len(k) == 3:
                touched[k[0]].add(k[1])
            elif k[0] == "tlb":
                if k[1] == "*":
                    all_tlbs = True
                else:
                    touched["tlb"].add(k[1])
        for kind, i in self._fresh:
            touched[kind].add(i)
        mms = parent[_MMS]
        if touched["mm"]:
            names = touched["mm"]
            if len(mms) != len(m.mms):
                return m.snapshot()
            mms = tuple((n, m.mms[n].snap()) if n in names else (n, s) for n, s in mms)
        threads = list(parent[_THREADS])
        waits = self._waits
        for j, th in enumerate(m.threads):
            if j == self._me or (th.state, th.blocked_on) != waits[j]:
                threads[j] = th.snap()
        tlbs = _resnap(parent[_TLBS], m.tlbs, set(range(len(m.tlbs))) if all_tlbs else touched["tlb"], _tlb_snap)
        reported = parent[_REPORTED]
        if len(reported) != len(m.reported):
            reported = tuple(sorted(m.reported, key=repr))
        out = list(parent)
        out[_FRAMES] = _resnap(parent[_FRAMES], m.frames, touched["f"], Frame.snap)
        out[_TABLES] = _resnap(parent[_TABLES], m.tables, touched["t"], PteTable.snap)
        out[_VMAS] = _resnap(parent[_VMAS], m.vmas, touched["v"], Vma.snap)
        out[_MMS] = mms
        out[_THREADS] = tuple(threads)
        out[_TLBS] = tlbs
        out[_REPORTED] = reported
        for i, take in _RETAKE:  # small parts: taken again, the parent's tuple kept when equal
            v = take(m)
            if v != out[i]:
                out[i] = v
        snap = tuple(out)
        if self.calls % self.check_every == 0 and snap != m.snapshot():
            self.incremental = False
            raise SnapshotMismatch(f"incremental snapshot differs from Machine.snapshot() after {self.calls} steps")
        return snap

    def footprint(
        self, before: tuple[Any, ...], after: tuple[Any, ...], events: Iterable[tuple[Any, ...]]
    ) -> Footprint:
        """The footprint of the step that led from snapshot `before` to `after`."""
        if not self.enabled:
            return GLOBAL
        rcu = False
        for e in events:
            if isinstance(e, Violation):
                return GLOBAL
            if isinstance(e, RcuFree):
                rcu = True  # a grace period ended: it read every thread's RCU state
        me = self._me
        m = self.m
        reads = self.reads  # (m.touched adds nothing: its names are per object, writes per field)
        reads.add(("th", me))
        writes: set[Key] = set()
        ta, tb = before[_THREADS], after[_THREADS]
        for j in range(len(ta)):
            if j != me and ta[j] != tb[j]:
                writes.add(("th", j))  # woke it (a lock handoff)
        fr, tb_, vm, mm = self.kinds
        _diff_objects(before[_FRAMES], after[_FRAMES], fr, writes)
        _diff_objects(before[_TABLES], after[_TABLES], tb_, writes)
        _diff_objects(before[_VMAS], after[_VMAS], vm, writes)
        ma, mb = before[_MMS], after[_MMS]
        if len(ma) != len(mb):
            return GLOBAL
        if ma != mb:
            for x, y in zip(ma, mb, strict=True):
                if x != y:
                    _diff_fields(y[0], x[1], y[1], mm, writes)
        la, lb = before[_TLBS], after[_TLBS]
        if la != lb:
            for i, (x, y) in enumerate(zip(la, lb, strict=True)):
                if x != y:
                    writes.add(("tlb", i))
        for k, tag in ((_FREE_PFNS, "f"), (_FREE_TABLES, "t"), (_FREE_VMAS, "v")):
            if before[k] != after[k] or len(before[k - 1]) != len(after[k - 1]):
                writes.add(("free", tag))  # allocation order: who gets which id
        for k in _SWAP:
            if before[k] != after[k]:
                writes.add(SWAP)
                break
        if before[_ANON_VMA_NEXT] != after[_ANON_VMA_NEXT]:
            writes.add(("anon_vma_next",))
        t = m.threads[me]
        if (t.rcu_depth, t.rcu_qs) != self._rcu:
            writes.add(("rcu", me))  # entered or left a read-side section
        if rcu or before[_RCU] != after[_RCU]:
            reads.add(("rcu", "*"))  # call_rcu / a grace period: every thread's RCU state
            writes.add(RCU_QUEUE)
        return Footprint(reads, writes, False)


def _tlb_snap(tlb: dict[Any, Any]) -> tuple[Any, ...]:
    return tuple(sorted(dict.items(tlb)))


def _resnap(old: tuple[Any, ...], objs: list[Any], idxs: set[Any], snap: Callable[[Any], Any]) -> tuple[Any, ...]:
    n = len(objs)
    if not idxs and n == len(old):
        return old
    out = list(old[:n])
    out += [None] * (n - len(out))
    for i in idxs:
        if isinstance(i, int) and i < n:
            out[i] = snap(list.__getitem__(objs, i))
    for i in range(len(old), n):
        out[i] = snap(list.__getitem__(objs, i))
    return tuple(out)


def _diff_objects(a: tuple[Any, ...], b: tuple[Any, ...], k: _Kind, out: set[Key]) -> None:
    if a == b:
        return
    for i, (x, y) in enumerate(zip(a, b, strict=False)):  # objects may have been added
        if x != y:
            _diff_fields(i, x, y, k, out)
    for i in range(len(a), len(b)):
        _diff_fields(i, None, b[i], k, out)
    for i in range(len(b), len(a)):
        _diff_fields(i, a[i], None, k, out)


def _diff_fields(ident: Any, x: tuple[Any, ...] | None, y: tuple[Any, ...] | None, k: _Kind, out: set[Key]) -> None:
    kind, fields = k.kind, k.fields
    assert fields is not None
    if x is None or y is None:
        out.update((kind, ident, f) for f in fields)
    else:
        for f, u, v in zip(fields, x, y, strict=True):
            if u != v:
                out.add((kind, ident, f))


_REDONE = ("frames", "tables", "vmas", "mms", "threads", "tlbs", "reported")
_RETAKE = tuple((i, SNAPSHOT_PARTS[n][0]) for i, n in enumerate(SNAPSHOT_FIELDS) if n not in _REDONE)


_T_STATE = Thread.SNAP_FIELDS.index("state")


def m_runnable(snap: tuple[Any, ...]) -> list[int]:
    """The runnable threads of a snapshot (Machine.runnable, without restoring it)."""
    return [i for i, th in enumerate(snap[_THREADS]) if th[_T_STATE] == RUNNABLE]


# ----------------------------------------------------------------- restore
def restore_changed(m: Machine, cur: tuple[Any, ...], target: tuple[Any, ...]) -> None:
    """Put `m`, which holds the state of snapshot `cur`, into the state of
    `target`, rebuilding only the objects whose snapshots differ.

    Snapshots built by `Tracker.snapshot` share the tuples of objects a step
    did not touch, so most comparisons are identity checks.
    """
    for i, put in _RESTORE_BY_FIELD:
        a, b = cur[i], target[i]
        if a is not b and a != b:
            put(m, a, b)


def _objects(attr: str, make: Callable[[int, Any], Any]) -> Callable[[Machine, Any, Any], None]:
    def put(m: Machine, cur: tuple[Any, ...], target: tuple[Any, ...]) -> None:
        objs = getattr(m, attr)
        n = len(target)
        if len(objs) > n:
            del objs[n:]
        have = len(objs)
        for i, s in enumerate(target):
            if i < have:
                if i < len(cur) and (cur[i] is s or cur[i] == s):
                    continue
                list.__setitem__(objs, i, make(i, s))
            else:
                objs.append(make(i, s))

    return put


def _mms(m: Machine, cur: tuple[Any, ...], target: tuple[Any, ...]) -> None:
    if [n for n, _ in cur] != [n for n, _ in target]:
        m.mms = {name: Mm.from_snap(name, ms) for name, ms in target}
        return
    for (name, a), (_, b) in zip(cur, target, strict=True):
        if a is not b and a != b:
            m.mms[name] = Mm.from_snap(name, b)


def _threads(m: Machine, cur: tuple[Any, ...], target: tuple[Any, ...]) -> None:
    ths = m.threads
    for i, (a, b) in enumerate(zip(cur, target, strict=True)):
        if a is not b and a != b:
            o = ths[i]
            ths[i] = type(o).from_snap(i, o.name, o.mm, b)


def _tlbs(m: Machine, cur: tuple[Any, ...], target: tuple[Any, ...]) -> None:
    tl = m.tlbs
    if len(tl) != len(target):
        SNAPSHOT_PARTS["tlbs"][1](m, target)
        return
    for i, (a, b) in enumerate(zip(cur, target, strict=True)):
        if a is not b and a != b:
            list.__setitem__(tl, i, dict(b))


def _whole(name: str) -> Callable[[Machine, Any, Any], None]:
    put = SNAPSHOT_PARTS[name][1]

    def whole(m: Machine, cur: Any, target: Any) -> None:
        put(m, target)

    return whole


_BY_NAME: dict[str, Callable[[Machine, Any, Any], None]] = {
    "frames": _objects("frames", Frame.from_snap),
    "tables": _objects("tables", PteTable.from_snap),
    "vmas": _objects("vmas", Vma.from_snap),
    "mms": _mms,
    "threads": _threads,
    "tlbs": _tlbs,
}
_RESTORE_BY_FIELD = tuple((i, _BY_NAME.get(n) or _whole(n)) for i, n in enumerate(SNAPSHOT_FIELDS))
