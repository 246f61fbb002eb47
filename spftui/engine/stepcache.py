"""The step cache: a step's effect replayed from what it read, without running it.

LTSmin's PINS cache layer (`--cache`; Blom, van de Pol and Weber, CAV 2010)
keeps each transition group's successors keyed by the state's projection on
what the group reads. The same here, per thread: thread t's next step is a
function of

- t's own state (its snapshot: pc, vmf locals, refs, ...);
- the objects the step read or wrote, as `Machine.touched` names them
  (footprint.KernelTracker; tests/engine/test_touched_complete.py checks
  that it misses none): frames, PTE tables, an mm with its VMAs, TLBs, the
  swap subsystem, the allocators, and a thread it woke;
- what the kernel and the oracles read of other threads without a key: the
  refs and pins of every thread (the refcount and pin oracles count them),
  whether a thread is inside an op and which one (`oracles.writer_ranges`),
  and the whole state of a thread that is not runnable (wakes, the end of
  an op, the final check and the deadlock check read those);
- `reported` (a violation is reported once per key), and the RCU callback
  queue (each step runs the callbacks whose grace period ended);
- for a step that queues or ends an RCU grace period, or runs while
  callbacks are pending: every thread's RCU state (it reads them all).

So in any two states that agree on all of these, t's step changes the same
objects the same way. The explorer looks the parent state up before it
steps a thread; on a hit it builds the child's snapshot from the parent's
and the stored changes, and neither restores the machine nor runs the
kernel. The search itself is unchanged: the same states, transitions,
footprints and verdicts (tests/engine/test_stepcache.py runs every bundled
scenario under every policy with and without the cache, and with every hit
also run for real). Every CHECK_EVERY-th hit is run for real and compared;
a difference (a kernel change this module does not know) raises
StepCacheMismatch and the search starts again without the cache.

Not cached: a step with a global footprint (it reports a violation, takes
a fatal signal or ends a process's threads in a group exit: the explorer
must see its events). A transition with merged thread-local steps
(explorer.merge_local) is one entry.

Memory: two generations of at most LIMIT entries; the older is forgotten
when the newer fills (a miss costs a real step, never a wrong answer).
Measured: the 4-thread benchmark's 300,000 states use 183 MB without the
cache and 202 MB with it (37,520 entries); the whole search stores 67,624.

Standard library only (DESIGN.md contract 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kernel.machine import ALLOC
from ..kernel.state import RUNNABLE, Thread
from .footprint import _ALLOCATORS
from .por import _FRAMES, _MMS, _RCU, _REPORTED, _STEPS, _SWAP, _TABLES, _THREADS, _TLBS, _VMAS, SnapshotMismatch

if TYPE_CHECKING:
    from .footprint import Footprint

LIMIT = 1 << 17  # entries per generation (about 500 bytes each: at most about 130 MB for both)
CHECK_EVERY = 997  # hits between audits (a real step compared with the replayed one); tests: 1

_T_STATE, _T_PC, _T_OP, _T_REFS, _T_PINS, _T_RCU_DEPTH, _T_RCU_QS = (
    Thread.SNAP_FIELDS.index(n) for n in ("state", "pc", "op_index", "refs", "pins", "rcu_depth", "rcu_qs")
)
# What a key's value is read from: an index into the snapshot, or one of these.
_MM, _SWAPS, _ALLOCS, _RCUS = -1, -2, -3, -4
_BY_KIND = {"f": _FRAMES, "t": _TABLES, "ptl": _TABLES, "tlb": _TLBS, "th": _THREADS}
_LISTS = frozenset({_FRAMES, _TABLES, _TLBS, _THREADS})
_ALLOC_PARTS = tuple(sorted(_ALLOCATORS))
_WHOLE, _BY_POS = -1, -2  # how a part of the effect is applied (else: the list's new length)


class StepCacheMismatch(SnapshotMismatch):
    """A replayed step differs from the real one (a kernel change this module does not know)."""


class StepCache:
    """Steps' effects by (thread, its state, what it read): `replay` before a step, `learn` after a real one."""

    def __init__(self, limit: int | None = None, check_every: int | None = None) -> None:
        self.limit = limit or LIMIT  # (read late: tests make them small)
        self.check_every = check_every or CHECK_EVERY
        # first key (thread, its snapshot, reported, the other threads' projection) ->
        # [(what the step read, {those values: (effect, footprint, steps)})]
        self._recent: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], dict[Any, Any]]]] = {}
        self._older: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], dict[Any, Any]]]] = {}
        self._size = 0
        self._first: tuple[Any, ...] = ()  # the last lookup's first key, for `_store`
        self.audited: tuple[tuple[Any, ...], Footprint, int] | None = None  # a hit `learn` compares
        self._footprints: dict[tuple[Any, ...], Footprint] = {}
        self.hits = 0
        self.misses = 0
        self.stored = 0
        self._until_audit = self.check_every

    def figures(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "stored": self.stored}

    # ------------------------------------------------------------ the two calls
    def replay(
        self, parent: tuple[Any, ...], t: int, single: bool = False
    ) -> tuple[tuple[Any, ...], Footprint, int] | None:
        """Thread t's transition from `parent` if a state that agrees on what it reads was
        stepped before: (the child snapshot, the footprint, how many steps); None when
        the caller must step it for real (and then call `learn`). Every `check_every`-th
        hit is not given: it is kept in `audited`, for `learn` to compare. `single`: only
        a transition of one step (not merged thread-local steps) is a hit."""
        hit = self._lookup(parent, t, single)
        self.audited = None
        if hit is not None:
            self._until_audit -= 1
            if not self._until_audit:
                self._until_audit = self.check_every
                self.audited, hit = hit, None
        return hit

    def learn(
        self,
        parent: tuple[Any, ...],
        t: int,
        child: tuple[Any, ...],
        fp: Footprint | None,
        steps: int,
        store: bool = True,
    ) -> None:
        """After a real transition that `replay` did not give: compare it with the audited
        hit (StepCacheMismatch if they differ), or remember it (when `store`)."""
        if self.audited is not None:
            self._check(self.audited, child, fp, steps)
        elif fp is not None and store:
            self._store(parent, t, child, fp, steps)

    # ------------------------------------------------------------ lookup
    def _lookup(self, parent: tuple[Any, ...], t: int, single: bool) -> tuple[tuple[Any, ...], Footprint, int] | None:
        ths = parent[_THREADS]
        me = ths[t]
        first = (
            t,
            me,
            parent[_REPORTED],
            parent[_RCU],
            tuple(
                [
                    th if th[_T_STATE] != RUNNABLE else (th[_T_PC] != "", th[_T_OP], th[_T_REFS], th[_T_PINS])
                    for j, th in enumerate(ths)
                    if j != t
                ]
            ),
        )
        groups = self._recent.get(first)
        if groups is None:
            groups = self._older.get(first)
            if groups is not None:
                self._recent[first] = groups
        self._first = first
        if groups is not None:
            for plan, table in groups:
                hit = table.get(_values(parent, plan))
                if hit is not None and (hit[2] == 1 or not single):
                    self.hits += 1
                    effect, fp, steps = hit
                    return _apply(parent, effect, steps), fp, steps
        self.misses += 1
        return None

    def _check(
        self, hit: tuple[tuple[Any, ...], Footprint, int], child: tuple[Any, ...], fp: Footprint | None, steps: int
    ) -> None:
        """A replayed transition against the real one; StepCacheMismatch if they differ."""
        h_child, h_fp, h_steps = hit
        same = (
            h_child == child
            and h_steps == steps
            and fp is not None
            and (h_fp.acc, h_fp.w, h_fp.local, h_fp.rcu_all, h_fp.rcu_w, h_fp.glob)
            == (fp.acc, fp.w, fp.local, fp.rcu_all, fp.rcu_w, fp.glob)
        )
        if not same:
            raise StepCacheMismatch(f"a replayed step differs from the real one after {self.hits} hits")

    # ------------------------------------------------------------- store
    def _store(self, parent: tuple[Any, ...], t: int, child: tuple[Any, ...], fp: Footprint, steps: int) -> None:
        """Remember thread t's transition from `parent` (the last lookup's), when it may be replayed."""
        first = self._first
        if not first or first[0] != t or fp.glob:
            return
        plan = _plan(fp.acc, fp.rcu_all or bool(parent[_RCU]))
        if plan is None:
            return
        effect = _effect(parent, child, plan)
        if effect is None:
            return
        if self._size >= self.limit:
            self._older, self._recent, self._size = self._recent, {}, 0
            self._footprints = {}
        groups = self._recent.get(first)
        if groups is None:
            groups = self._recent[first] = []
        table = next((tb for p, tb in groups if p == plan), None)
        if table is None:
            table = {}
            groups.append((plan, table))
        # Equal footprints are one object: most steps' are alike, and a
        # footprint's two sets are most of an entry's memory.
        fp = self._footprints.setdefault((frozenset(fp.acc), frozenset(fp.w), fp.rcu_all, fp.rcu_w, fp.local), fp)
        table[_values(parent, plan)] = (effect, fp, steps)
        self._size += 1
        self.stored += 1


def _plan(acc: set[Any], rcu: bool) -> tuple[Any, ...] | None:
    """Where the values of the objects a step read are in a snapshot, in a fixed
    order; None when it read something with no place (not cached). `rcu`: it
    read every thread's RCU state and the callback queue."""
    out: set[tuple[int, Any]] = {(_RCUS, 0)} if rcu else set()
    for k in acc:
        kind = k[0]
        where = _BY_KIND.get(kind)
        if where is not None:
            out.add((where, k[1]))
        elif kind == "mm" or kind == "shadow" or kind == "mmap_lock":
            out.add((_MM, k[1]))
        elif kind == "swap":
            out.add((_SWAPS, 0))
        elif k == ALLOC:
            out.add((_ALLOCS, 0))
        elif kind == "rcu":
            if type(k[1]) is int:  # a thread's own RCU state: in its snapshot
                out.add((_THREADS, k[1]))
            elif not rcu:
                return None
    return tuple(sorted(out, key=repr))


def _values(snap: tuple[Any, ...], plan: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for where, i in plan:
        if where >= 0:
            seq = snap[where]
            out.append(seq[i] if i < len(seq) else None)
        elif where == _MM:  # an mm and its VMAs, by index (the step's changes are by index)
            out.append((tuple([s for n, s in snap[_MMS] if n == i]), _vmas_of(snap[_VMAS], i)))
        elif where == _SWAPS:
            out.append(tuple([snap[j] for j in _SWAP]))
        elif where == _RCUS:
            out.append((snap[_RCU], tuple([(th[_T_RCU_DEPTH], th[_T_RCU_QS]) for th in snap[_THREADS]])))
        else:  # the allocators: the free lists, the next ids, how many objects exist
            out.append(
                (tuple([snap[j] for j in _ALLOC_PARTS]), len(snap[_FRAMES]), len(snap[_TABLES]), len(snap[_VMAS]))
            )
    return tuple(out)


def _vmas_of(vmas: tuple[Any, ...], name: str) -> tuple[tuple[int, Any], ...]:
    return tuple([(j, v) for j, v in enumerate(vmas) if v[0] == name])


def _effect(parent: tuple[Any, ...], child: tuple[Any, ...], plan: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """What the step changed, as (part, how, changes); None when it changed
    something its plan does not hold (so it would not be a function of the plan)."""
    covered = set(plan)
    alloc = (_ALLOCS, 0) in covered
    rcu = (_RCUS, 0) in covered
    out: list[tuple[int, int, Any]] = []
    for i, (a, b) in enumerate(zip(parent, child, strict=True)):
        if a is b or i == _STEPS or a == b:
            continue
        if i in _LISTS or i == _VMAS:
            changes = tuple((j, y) for j, y in enumerate(b) if j >= len(a) or a[j] != y)
            for j, y in changes:
                if j >= len(a):
                    ok = alloc  # a new object: the allocators are in the plan
                elif i == _VMAS:
                    ok = (_MM, a[j][0]) in covered and (_MM, y[0]) in covered
                else:
                    ok = (i, j) in covered
                if not ok:
                    return None
            if len(b) < len(a) and not alloc:
                return None
            out.append((i, len(b) if len(b) != len(a) else _BY_POS, changes))
        elif i == _MMS:
            if len(a) != len(b) or any(x[0] != y[0] for x, y in zip(a, b, strict=True)):
                return None
            changed = tuple((j, y) for j, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
            if any((_MM, y[0]) not in covered for _, y in changed):
                return None
            out.append((i, _BY_POS, changed))
        elif (i in _ALLOCATORS and alloc) or (i in _SWAP and (_SWAPS, 0) in covered) or (i == _RCU and rcu):
            out.append((i, _WHOLE, b))
        else:
            return None  # reported: never replayed
    return tuple(out)


def _apply(parent: tuple[Any, ...], effect: tuple[Any, ...], steps: int) -> tuple[Any, ...]:
    out = list(parent)
    for i, how, change in effect:
        if how == _WHOLE:
            out[i] = change
            continue
        seq = parent[i]
        if how == _BY_POS:
            lst = list(seq)
        else:  # a new length
            lst = list(seq[:how])
            lst += [None] * (how - len(lst))
        for j, y in change:
            lst[j] = y
        out[i] = tuple(lst)
    out[_STEPS] = parent[_STEPS] + steps
    return tuple(out)
