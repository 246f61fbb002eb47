"""Canonical state fingerprints: states that behave alike get one fingerprint.

The explorer stores a state once per fingerprint; two states reached by
commuting the same steps in different orders often differ only in details
no future step can tell apart. `canonical(key)` maps the state key (a
snapshot without `reported` and `steps`, por.KEY_LEN) to a representative
of its class; only the fingerprint is canonical, the search keeps and
restores the real snapshot, and a counterexample is the path of choices
that reached the real state, so it replays as it was found.

Soundness: `canonical(s) == canonical(s')` only when s' = g(s) for a map g
under which the machine is symmetric: from g(s), every thread's next step
does what it does from s, with g applied (same thread, same events up to
g, same violation kinds). Then the states reachable from s and from s' are
the same up to g, and so are the verdicts; the sleep sets and the
thread-local reduction keep working on classes, since g never renames
threads and maps a step's footprint to the footprint of the same step.
The maps:

pfns     (heap symmetry, as Java PathFinder canonicalises references) a
         bijection on frame numbers that fixes the zero page and every
         page-cache page (their pfns are also held outside the state, in
         Machine.page_cache). The machine is symmetric under it: a pfn is
         an opaque name (compared only for equality and with ZERO_PFN), and
         alloc_page takes the frame freed last or a new one numbered
         len(frames), never "the lowest free pfn" (machine.py). A pfn lives
         in: the frames' order, free_pfns, present PTEs, TLB entries, the
         swap cache, a thread's refs and pins and the vmf locals PFN_KEYS
         (a pfn), PTE_KEYS (a PTE value) and "batch" (pfns); a test
         (tests/engine/test_symmetry.py) classifies every vmf key the
         bundled scenarios use, and checks on random schedules that running
         from a renamed state gives the renamed run. Frames are renumbered
         in the order a fixed walk first meets them: PTE tables by id, then
         threads by index, TLBs by CPU, the swap cache, the free list, the
         frames no one names (by pfn: a fixed order, not a canonical one; it
         can only miss merges, never make a wrong one).
rcu_qs   a thread's quiescent-state count is only compared with the counts
         call_rcu recorded for it (machine.run_rcu_callbacks); shifting a
         thread's count and every count recorded for it by one constant is
         a symmetry. The canonical shift makes the lowest recorded count 0
         (or the thread's own count 0 when none is recorded).
refs     a thread's page references are a multiset (append, remove the
         first equal, count, membership): their order is sorted away.
readers  an mm's and a VMA's `lock_readers` hold distinct thread indices
         used as a set (append after a membership test, remove, emptiness).
result   `Thread.result`, the text of the last op's result, is read by the
         kernel only as "was this thread killed" (exit.is_killed): the text
         becomes that flag. Likewise `blocked_on` is read only as "waits
         for a process to be forked" (ops.wake_forked); the rest of its text
         (which may name a pfn) is for people, and the lock's waiter list
         holds the thread anyway.
free     a free frame that nothing names (no PTE, TLB entry, swap-cache
         entry, thread reference, pin or vmf local holds its pfn) can be
         reached again only through alloc_page, which sets every field but
         `locked`, `lock_waiters` and `ptes`: the others are dropped (stale
         words of a page no one can read). A named free frame (a stale
         pointer: a use after free, an ABA of pte_same) keeps everything.

Standard library only (DESIGN.md contract 1).
"""

from __future__ import annotations

from typing import Any

from ..kernel.exit import KILLED
from ..kernel.state import Frame, Mm, Thread, Vma
from .por import _FRAMES, _FREE_PFNS, _MMS, _RCU, _SWAP, _TABLES, _THREADS, _TLBS, _VMAS

__all__ = ["OTHER_KEYS", "PFN_KEYS", "PTE_KEYS", "Canonicaliser", "canonical", "rename", "renaming"]

# vmf locals, by what they hold (tests/engine/test_symmetry.py: every key the
# kernel sets is in one of these).
PFN_KEYS = frozenset({"page", "new_page", "gup_page"})
PTE_KEYS = frozenset({"orig_pte"})
BATCH_KEY = "batch"  # an mmu_gather batch: a tuple of pfns
OTHER_KEYS = frozenset(
    {
        "addr", "cp", "detached", "end", "fault_write", "free_tables", "gup_foll", "gup_unshare", "mode",
        "new_vma", "page_locked", "pages", "pmd", "pmds", "prot_none", "ptl", "pvma", "result", "seq", "stale",
        "start", "table", "tried", "unmap", "unshare", "vma", "vma_locked", "vma_ref", "vmas", "word", "write",
        "mt_node", "stack_write",
    }
)  # fmt: skip

_SWAP_CACHE = _SWAP[1]
_T_VMF = Thread.SNAP_FIELDS.index("vmf")
_T_REFS = Thread.SNAP_FIELDS.index("refs")
_T_PINS = Thread.SNAP_FIELDS.index("pins")
_T_RESULT = Thread.SNAP_FIELDS.index("result")
_T_BLOCKED = Thread.SNAP_FIELDS.index("blocked_on")
_T_RCU_QS = Thread.SNAP_FIELDS.index("rcu_qs")
_MM_READERS = Mm.SNAP_FIELDS.index("lock_readers")
_VMA_READERS = Vma.SNAP_FIELDS.index("lock_readers")
_F_MAPPING = Frame.SNAP_FIELDS.index("mapping")
_F_LOCKED, _F_WAITERS, _F_PTES = (Frame.SNAP_FIELDS.index(n) for n in ("locked", "lock_waiters", "ptes"))
assert Frame.SNAP_FIELDS.index("free") == 7 and len(Frame.SNAP_FIELDS) == 13, "_free_frame's layout"
_PAGE_SHIFT = 12
_PRESENT = 0x001
_LOW = (1 << _PAGE_SHIFT) - 1


class Canonicaliser:
    """`canonical` for one machine: knows which pfns are fixed (the zero page,
    the page-cache pages, found from the initial snapshot)."""

    def __init__(self, snap0: tuple[Any, ...]) -> None:
        self.fixed = frozenset(
            {0} | {pfn for pfn, f in enumerate(snap0[_FRAMES]) if f[_F_MAPPING]}
        )  # a page-cache page is never freed: it keeps its mapping

    def __call__(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        return canonical(key, self.fixed)


def canonical(key: tuple[Any, ...], fixed: frozenset[int] = frozenset({0})) -> tuple[Any, ...]:
    """The representative of `key`'s class (module docstring); `fixed`: pfns never renamed."""
    free = key[_FREE_PFNS]
    named = _named(key)
    ren = renaming(key, fixed, named)
    if free:  # the contents of a free frame no one names are never read again
        frames = list(key[_FRAMES])
        seen = set(named)
        for p in free:
            if p not in seen:
                f = frames[p]
                frames[p] = _free_frame(f[_F_LOCKED], f[_F_WAITERS], f[_F_PTES])
        key = (*key[:_FRAMES], tuple(frames), *key[_FRAMES + 1 :])
    pending = key[_RCU]
    if pending:  # rcu_qs relative to the counts call_rcu recorded
        base: dict[int, int] = {}
        for _kind, _oid, waits in pending:
            for i, qs in waits:
                b = base.get(i)
                if b is None or qs < b:
                    base[i] = qs
        rcu = tuple((kind, oid, tuple((i, qs - base[i]) for i, qs in waits)) for kind, oid, waits in pending)
        ths = tuple(_thread(th, base.get(i)) for i, th in enumerate(key[_THREADS]))
        key = (*key[:_THREADS], ths, *key[_THREADS + 1 : _RCU], rcu, *key[_RCU + 1 :])
    else:
        memo = _THREAD_MEMO
        if len(memo) > 50_000:
            memo.clear()
        canon_ths = []
        for th in key[_THREADS]:
            hit = memo.get(id(th))
            if hit is None or hit[0] is not th:
                hit = memo[id(th)] = (th, _thread(th, None))  # holds th: its id is not reused meanwhile
            canon_ths.append(hit[1])
        key = (*key[:_THREADS], tuple(canon_ths), *key[_THREADS + 1 :])
    out = list(key if ren is None else rename(key, ren, sort_refs=True))
    mms = key[_MMS]
    if _many_readers(mms):
        out[_MMS] = tuple(
            (n, (*ms[:_MM_READERS], tuple(sorted(ms[_MM_READERS])), *ms[_MM_READERS + 1 :])) for n, ms in mms
        )
    vmas = key[_VMAS]
    if _many_vma_readers(vmas):
        out[_VMAS] = tuple((*v[:_VMA_READERS], tuple(sorted(v[_VMA_READERS])), *v[_VMA_READERS + 1 :]) for v in vmas)
    return tuple(out)


# id(thread snapshot) -> (the snapshot, `_thread` of it): the search shares a
# thread's snapshot between the states a step did not change it in.
_THREAD_MEMO: dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
# renaming -> id(thread snapshot) -> (the snapshot, renamed): the same for `rename`
# (by renaming first: a tuple's hash is not cached, so it is taken once a call).
_RENAMED: dict[tuple[Any, ...], dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]]] = {}
_RENAMED_SIZE = [0]  # entries in all of _RENAMED's tables


def _many_readers(mms: tuple[Any, ...]) -> bool:
    for _n, ms in mms:
        if len(ms[_MM_READERS]) > 1:
            return True
    return False


def _many_vma_readers(vmas: tuple[Any, ...]) -> bool:
    for v in vmas:
        if len(v[_VMA_READERS]) > 1:
            return True
    return False


def _free_frame(locked: Any, waiters: Any, ptes: Any) -> tuple[Any, ...]:
    """A free frame no one names, as far as a step can tell: alloc_page sets
    every field but these three (and `free`)."""
    return (None, None, None, None, None, locked, waiters, True, ptes, None, None, None, None)


def _thread(th: tuple[Any, ...], base: int | None) -> tuple[Any, ...]:
    """A thread's snapshot, canonical: rcu_qs less `base` (its own when None),
    the result as the killed flag ("" or KILLED), refs sorted."""
    t = list(th)
    t[_T_RCU_QS] = th[_T_RCU_QS] - (th[_T_RCU_QS] if base is None else base)
    t[_T_RESULT] = KILLED if KILLED in th[_T_RESULT] else ""
    t[_T_BLOCKED] = "process" if th[_T_BLOCKED].startswith("process") else ""
    if len(th[_T_REFS]) > 1:
        t[_T_REFS] = tuple(sorted(th[_T_REFS]))
    return tuple(t)


def rename(key: tuple[Any, ...], ren: list[int], sort_refs: bool = False) -> tuple[Any, ...]:
    """`key` with every pfn p replaced by ren[p] (the frames reordered to match;
    each thread's refs sorted again with `sort_refs`).

    Thread results are left as they are (their text may name a pfn:
    `canonical` reduces them to the killed flag)."""
    out = list(key)
    out[_FRAMES] = _permute(key[_FRAMES], ren)
    out[_FREE_PFNS] = tuple([ren[p] for p in key[_FREE_PFNS]])
    out[_TABLES] = tuple([_table(t, ren) for t in key[_TABLES]])
    out[_TLBS] = tuple([tuple([(k, (ren[p], w)) for k, (p, w) in tlb]) if tlb else tlb for tlb in key[_TLBS]])
    if key[_SWAP_CACHE]:
        out[_SWAP_CACHE] = tuple([(off, ren[p]) for off, p in key[_SWAP_CACHE]])
    if _RENAMED_SIZE[0] > 50_000:
        _RENAMED.clear()
        _RENAMED_SIZE[0] = 0
    memo = _RENAMED.setdefault((tuple(ren), sort_refs), {})
    ths = []
    for th in key[_THREADS]:
        hit = memo.get(id(th))
        if hit is not None and hit[0] is th:
            ths.append(hit[1])
            continue
        orig = th
        refs, pins, vmf = th[_T_REFS], th[_T_PINS], th[_T_VMF]
        if refs or pins or vmf:
            t = list(th)
            if refs:
                new = [ren[p] for p in refs]
                if sort_refs:
                    new.sort()
                t[_T_REFS] = tuple(new)
            if pins:
                t[_T_PINS] = tuple([(a, ren[p], f, z) for a, p, f, z in pins])
            if vmf:
                for p in _thread_pfns(orig):
                    if ren[p] != p:  # (most threads name no pfn the renaming moves)
                        t[_T_VMF] = _vmf(vmf, ren)
                        break
            th = tuple(t)
        memo[id(orig)] = (orig, th)  # (holds orig: its id is not reused meanwhile)
        _RENAMED_SIZE[0] += 1
        ths.append(th)
    out[_THREADS] = tuple(ths)
    return tuple(out)


def renaming(key: tuple[Any, ...], fixed: frozenset[int], named: list[int] | None = None) -> list[int] | None:
    """new pfn by old pfn, or None when the walk gives every frame its own number.
    `named`: the pfns the state names (`_named(key)`), if already known."""
    n = len(key[_FRAMES])
    seq = _named(key) if named is None else list(named)
    seq += key[_FREE_PFNS]
    seq += range(n)
    met = [p for p in dict.fromkeys(seq) if p not in fixed]  # first meetings, in order
    names = range(1, n) if fixed == _ZERO else [p for p in range(n) if p not in fixed]  # in order
    if met == list(names):
        return None
    ren = list(range(n))  # fixed pfns keep theirs
    for p, q in zip(met, names, strict=True):
        ren[p] = q
    return ren


def _named(key: tuple[Any, ...]) -> list[int]:
    """The pfns the state names (PTEs, threads, TLBs, swap cache), in walk order, with repeats."""
    seq: list[int] = []
    add = seq.append
    for t in key[_TABLES]:
        for _idx, pte in t[2]:
            if pte & _PRESENT:
                add(pte >> _PAGE_SHIFT)
    for th in key[_THREADS]:
        seq += _thread_pfns(th)
    for tlb in key[_TLBS]:
        for _k, v in tlb:
            add(v[0])
    for _off, p in key[_SWAP_CACHE]:
        add(p)
    return seq


_ZERO = frozenset({0})
# id(thread snapshot) -> (the snapshot, the pfns it names, in order): `_thread_pfns`'s memo
_THREAD_PFNS: dict[int, tuple[tuple[Any, ...], tuple[int, ...]]] = {}


def _thread_pfns(th: tuple[Any, ...]) -> tuple[int, ...]:
    """The pfns a thread names: its references, its pins, its vmf locals (in that order).
    Remembered by the snapshot's identity: the search shares a thread's snapshot
    between the states a step did not change it in."""
    hit = _THREAD_PFNS.get(id(th))
    if hit is not None and hit[0] is th:
        return hit[1]
    if len(_THREAD_PFNS) > 50_000:
        _THREAD_PFNS.clear()
    ps = _pfns_in(th)
    _THREAD_PFNS[id(th)] = (th, ps)  # holds th: its id is not reused meanwhile
    return ps


def _pfns_in(th: tuple[Any, ...]) -> tuple[int, ...]:
    out: list[int] = list(th[_T_REFS])
    for pin in th[_T_PINS]:
        out.append(pin[1])
    for k, v in th[_T_VMF] or ():
        if v is None:
            continue
        if k in PFN_KEYS:
            out.append(v)
        elif k in PTE_KEYS:
            if v & _PRESENT:
                out.append(v >> _PAGE_SHIFT)
        elif k == BATCH_KEY:
            out += v
    return tuple(out)


def _permute(frames: tuple[Any, ...], ren: list[int]) -> tuple[Any, ...]:
    out: list[Any] = [None] * len(frames)
    for p, f in enumerate(frames):
        out[ren[p]] = f
    return tuple(out)


def _pte(pte: int, ren: list[int]) -> int:
    return (ren[pte >> _PAGE_SHIFT] << _PAGE_SHIFT) | (pte & _LOW) if pte & _PRESENT else pte


def _table(t: tuple[Any, ...], ren: list[int]) -> tuple[Any, ...]:
    entries = t[2]
    for _i, pte in entries:
        if pte & _PRESENT and ren[pte >> _PAGE_SHIFT] != pte >> _PAGE_SHIFT:
            return (t[0], t[1], tuple([(i, _pte(pte, ren)) for i, pte in entries]), *t[3:])
    return t  # (no pfn it names moves)


def _vmf(vmf: tuple[tuple[str, Any], ...], ren: list[int]) -> tuple[tuple[str, Any], ...]:
    out = []
    for k, v in vmf:
        if v is not None:
            if k in PFN_KEYS:
                v = ren[v]
            elif k in PTE_KEYS:
                v = _pte(v, ren)
            elif k == BATCH_KEY:
                v = tuple(ren[p] for p in v)
        out.append((k, v))
    return tuple(out)
