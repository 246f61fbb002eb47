"""Checkpoints that share what did not change since the previous one.

A Session keeps a checkpoint every few hundred steps. A full
`Machine.snapshot()` costs time and memory in proportion to the pages that
exist, although a few hundred steps change only a handful of them. A
`Checkpoint` is built from the previous one instead: frames, PTE tables and
VMAs are kept in chunks of CHUNK objects, the entries of a PTE table in
chunks of PTE_CHUNK slots, an mm's lost-write shadow in chunks of
SHADOW_CHUNK pages; only what may have changed is snapshotted again, and an
object, chunk or field that turns out equal keeps the previous checkpoint's
tuple (so it costs no memory).

"May have changed" is found without the kernel's help. While a Checkpointer
is attached, the machine's frame, table, VMA and TLB lists are TrackedLists
that note every index fetched or stored, and each mm's shadow is a
TrackedDict that notes every key. State is data: objects are reached through
these containers at each step, never kept from one step to the next, so an
object a step changes is one it fetched. Iterating a container marks all of
it. A fetch that only read costs a second snapshot that compares equal.

Restoring a checkpoint into the tracked machine rebuilds only the objects
that differ from the previous checkpoint plus those marked since, so a
`goto` near the current position does not rebuild every page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain, repeat
from typing import Any, SupportsIndex

from .machine import SNAPSHOT_FIELDS, SNAPSHOT_PARTS, Machine
from .pte import PTRS_PER_PTE
from .state import Frame, Mm, PteTable, Vma, Word

CHUNK = 64  # frames / tables / VMAs per chunk
PTE_CHUNK = 64  # PTE slots per chunk of a table's entries
SHADOW_CHUNK = 64  # pages per chunk of an mm's shadow

# Below this many frames, tables and VMAs a full re-record is cheaper than
# tracking every fetch; the checkpoint still shares what compares equal.
TRACK_ABOVE = 64
_ENTRIES = PteTable.SNAP_FIELDS.index("entries")
_SHADOW = Mm.SNAP_FIELDS.index("shadow")
_LISTS = ("frames", "tables", "vmas")
_REST = tuple(n for n in SNAPSHOT_FIELDS if n not in (*_LISTS, "mms", "threads", "tlbs"))
_ZERO_PTES = (0,) * PTE_CHUNK
_EMPTY_TABLE = (_ZERO_PTES,) * (PTRS_PER_PTE // PTE_CHUNK)


class TrackedList(list):  # type: ignore[type-arg]
    """A list that notes which indices were fetched or stored (`seen`), or
    that all of it may have been (`all`)."""

    __slots__ = ("all", "seen")

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self.seen: set[int] = set()
        self.all = False

    def __getitem__(self, i: Any) -> Any:
        try:
            self.seen.add(i)
        except TypeError:  # a slice
            self.all = True
        return list.__getitem__(self, i)

    def __setitem__(self, i: Any, value: Any) -> None:
        try:
            self.seen.add(i)
        except TypeError:
            self.all = True
        list.__setitem__(self, i, value)

    def __iter__(self) -> Iterator[Any]:
        self.all = True
        return list.__iter__(self)

    def __reversed__(self) -> Iterator[Any]:
        self.all = True
        return list.__reversed__(self)

    def pop(self, i: SupportsIndex = -1) -> Any:
        self.all = True
        return list.pop(self, i)

    def copy(self) -> list[Any]:
        self.all = True
        return list.copy(self)

    def marked(self) -> set[int] | None:
        """The indices that may have changed (negative ones normalised); None: all."""
        if self.all:
            return None
        n = len(self)
        return {i % n if i < 0 else i for i in self.seen if -n <= i < n}

    def clear_marks(self) -> None:
        self.seen = set()
        self.all = False


class TrackedDict(dict):  # type: ignore[type-arg]
    """A dict that notes which keys were fetched or stored (`seen`), or that
    all of it may have been (`all`). Membership tests only read."""

    __slots__ = ("all", "seen")

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.seen: set[Any] = set()
        self.all = False

    def __getitem__(self, k: Any) -> Any:
        self.seen.add(k)
        return dict.__getitem__(self, k)

    def get(self, k: Any, default: Any = None) -> Any:
        self.seen.add(k)
        return dict.get(self, k, default)

    def __setitem__(self, k: Any, value: Any) -> None:
        self.seen.add(k)
        dict.__setitem__(self, k, value)

    def __delitem__(self, k: Any) -> None:
        self.seen.add(k)
        dict.__delitem__(self, k)

    def setdefault(self, k: Any, default: Any = None) -> Any:
        self.seen.add(k)
        return dict.setdefault(self, k, default)

    def pop(self, k: Any, *default: Any) -> Any:
        self.seen.add(k)
        return dict.pop(self, k, *default)

    def _everything(self) -> None:
        self.all = True

    def __iter__(self) -> Iterator[Any]:
        self.all = True
        return dict.__iter__(self)

    def keys(self) -> Any:
        self.all = True
        return dict.keys(self)

    def values(self) -> Any:
        self.all = True
        return dict.values(self)

    def items(self) -> Any:
        self.all = True
        return dict.items(self)

    def popitem(self) -> Any:
        self.all = True
        return dict.popitem(self)

    def clear(self) -> None:
        self.all = True
        dict.clear(self)

    def update(self, *args: Any, **kw: Any) -> None:
        self.all = True
        dict.update(self, *args, **kw)

    def copy(self) -> dict[Any, Any]:
        self.all = True
        return dict.copy(self)

    def clear_marks(self) -> None:
        self.seen = set()
        self.all = False


# ------------------------------------------------------------- records
# A table's record is (snap with empty entries, entries in PTE_CHUNK slots);
# an mm's is (snap with empty shadow, chunk keys, chunks).
def _table_record(t: PteTable, old: Any) -> Any:
    small = t.snap(entries=())
    if not t.entries:
        chunks: tuple[Any, ...] = _EMPTY_TABLE
    else:
        slots: dict[int, list[int]] = {}  # chunk -> its PTE slots, for the chunks that have entries
        for i, p in dict.items(t.entries):
            c, j = divmod(i, PTE_CHUNK)
            if c not in slots:
                slots[c] = [0] * PTE_CHUNK
            slots[c][j] = p
        ochunks = old[1] if old is not None else _EMPTY_TABLE
        new = []
        for c, oc in enumerate(ochunks):
            ch = tuple(slots[c]) if c in slots else _ZERO_PTES
            new.append(oc if ch == oc else ch)
        chunks = tuple(new)
    if old is not None:
        if small == old[0]:
            small = old[0]
        if chunks == old[1]:
            chunks = old[1]
            if small is old[0]:
                return old
    return (small, chunks)


def _table_snap(rec: Any) -> tuple[Any, ...]:
    small, chunks = rec
    entries = tuple((i, p) for i, p in enumerate(chain.from_iterable(chunks)) if p)
    return (*small[:_ENTRIES], entries, *small[_ENTRIES + 1 :])


def _frame_record(f: Frame, old: Any) -> Any:
    s = f.snap()
    return old if s == old else s


def _vma_record(v: Vma, old: Any) -> Any:
    s = v.snap()
    return old if s == old else s


def _shadow_chunk(shadow: dict[int, list[Word]], vpns: Iterable[int]) -> tuple[Any, ...]:
    get = dict.get  # untracked: recording the chunk is not a step's access
    return tuple((v, tuple(w)) for v in sorted(vpns) if (w := get(shadow, v)) is not None)


def _shadow_record(mm: Mm, old: tuple[Any, ...] | None) -> tuple[tuple[int, ...], tuple[Any, ...]]:
    """(chunk keys, chunks) of mm.shadow, sharing old chunks that did not change."""
    shadow = mm.shadow
    tracked = type(shadow) is TrackedDict and old is not None
    if tracked and not shadow.all and not shadow.seen:  # type: ignore[attr-defined]
        assert old is not None
        return old
    by_key: dict[int, Any] = dict(zip(old[0], old[1], strict=True)) if old is not None else {}
    if tracked and not shadow.all:  # type: ignore[attr-defined]
        dirty: dict[int, set[int]] = {}
        for v in shadow.seen:  # type: ignore[attr-defined]
            dirty.setdefault(v // SHADOW_CHUNK, set()).add(v)
        for k, vpns in dirty.items():
            vpns.update(v for v, _ in by_key.get(k, ()))
    else:
        dirty = {}
        for v in dict.__iter__(shadow):
            dirty.setdefault(v // SHADOW_CHUNK, set()).add(v)
        dirty.update((k, set()) for k in by_key if k not in dirty)
    for k, vpns in dirty.items():
        ch = _shadow_chunk(shadow, vpns)
        if not ch:
            by_key.pop(k, None)
        elif by_key.get(k) != ch:
            by_key[k] = ch
    keys = tuple(sorted(by_key))
    if old is not None and keys == old[0]:
        keys = old[0]
    chunks = tuple(by_key[k] for k in keys)
    if old is not None and keys is old[0] and all(a is b for a, b in zip(chunks, old[1], strict=True)):
        return old
    return keys, chunks


def _shadow_items(rec: tuple[tuple[int, ...], tuple[Any, ...]]) -> tuple[Any, ...]:
    return tuple(chain.from_iterable(rec[1]))


class Checkpoint:
    """The machine's state at one position, sharing unchanged parts with the
    checkpoint it was built from. `snapshot()` gives `Machine.snapshot()`."""

    __slots__ = ("lens", "lists", "mms", "rest", "threads", "tlbs")

    def __init__(
        self,
        lists: tuple[tuple[Any, ...], ...],
        lens: tuple[int, ...],
        mms: tuple[Any, ...],
        threads: tuple[Any, ...],
        tlbs: tuple[Any, ...],
        rest: tuple[Any, ...],
    ) -> None:
        self.lists = lists  # per kind in _LISTS: its chunks
        self.lens = lens  # per kind: how many objects
        self.mms = mms  # (name, snap with empty shadow, (shadow chunk keys, chunks))
        self.threads = threads
        self.tlbs = tlbs
        self.rest = rest  # the _REST fields, in order

    def snapshot(self) -> tuple[Any, ...]:
        frames, tables, vmas = (tuple(chain.from_iterable(c)) for c in self.lists)
        parts = dict(zip(_REST, self.rest, strict=True))
        parts["frames"] = frames
        parts["tables"] = tuple(_table_snap(r) for r in tables)
        parts["vmas"] = vmas
        parts["mms"] = tuple((n, (*s[:_SHADOW], _shadow_items(sh), *s[_SHADOW + 1 :])) for n, s, sh in self.mms)
        parts["threads"] = self.threads
        parts["tlbs"] = self.tlbs
        return tuple(parts[n] for n in SNAPSHOT_FIELDS)


_RECORD: dict[str, Callable[[Any, Any], Any]] = {"frames": _frame_record, "tables": _table_record, "vmas": _vma_record}


def _make_frame(i: int, rec: Any) -> Frame:
    return Frame.from_snap(i, rec)


def _make_table(i: int, rec: Any) -> PteTable:
    return PteTable.from_snap(i, _table_snap(rec))


def _make_vma(i: int, rec: Any) -> Vma:
    return Vma.from_snap(i, rec)


_MAKE: dict[str, Callable[[int, Any], Any]] = {"frames": _make_frame, "tables": _make_table, "vmas": _make_vma}


def _chunks(
    lst: list[Any], marked: set[int] | None, old: tuple[Any, ...], oldn: int, record: Callable[[Any, Any], Any]
) -> tuple[tuple[Any, ...], int]:
    """`lst` in chunks, re-recording only the marked objects (all when None) and
    the ones past the old end (`oldn`)."""
    n = len(lst)
    count = -(-n // CHUNK)
    new = list(old[:count])
    todo: dict[int, list[int]] = {}
    for i in range(n) if marked is None else marked:
        todo.setdefault(i // CHUNK, []).append(i)
    for i in range(min(n, oldn), n):
        todo.setdefault(i // CHUNK, []).append(i)
    if n < oldn and count:
        todo.setdefault(count - 1, [])  # the last chunk got shorter
    new.extend(() for _ in range(count - len(new)))
    get = list.__getitem__
    for k, idx in todo.items():
        if k >= count:
            continue
        was = old[k] if k < len(old) else ()
        lo = k * CHUNK
        items = list(was[: min(CHUNK, n - lo)])
        items.extend(None for _ in range(min(CHUNK, n - lo) - len(items)))
        for i in idx:
            j = i - lo
            items[j] = record(get(lst, i), was[j] if j < len(was) else None)
        ch = tuple(items)
        new[k] = was if ch == was else ch
    return tuple(new), n


class Checkpointer:
    """Takes a Session's checkpoints of one machine, each built from the last
    (`base`), and restores them. The machine's containers are tracked from
    the first checkpoint on."""

    def __init__(self) -> None:
        self.base: Checkpoint | None = None

    # ------------------------------------------------------------ tracking
    @staticmethod
    def _tracked(m: Machine) -> bool:
        return all(type(getattr(m, n)) is TrackedList for n in (*_LISTS, "tlbs"))

    @staticmethod
    def _attach(m: Machine) -> None:
        for n in (*_LISTS, "tlbs"):
            lst = getattr(m, n)
            if type(lst) is TrackedList:
                lst.clear_marks()
            else:
                setattr(m, n, TrackedList(lst))
        for mm in m.mms.values():
            if type(mm.shadow) is TrackedDict:
                mm.shadow.clear_marks()
            else:
                mm.shadow = TrackedDict(mm.shadow)

    # ---------------------------------------------------------- checkpoints
    def take(self, m: Machine) -> Checkpoint | tuple[Any, ...]:
        """A checkpoint of `m` now, sharing with the previous one; a small
        machine's is just its snapshot (quicker to take than to share)."""
        if sum(len(getattr(m, n)) for n in _LISTS) < TRACK_ABOVE:
            self.base = None
            return m.snapshot()
        base = self.base
        tracked = base is not None and self._tracked(m)
        lists, lens = [], []
        for k, n in enumerate(_LISTS):
            lst = getattr(m, n)
            marked = lst.marked() if tracked else None
            old, oldn = (base.lists[k], base.lens[k]) if base is not None else ((), 0)
            chunks, length = _chunks(lst, marked, old, oldn, _RECORD[n])
            lists.append(chunks)
            lens.append(length)
        old_mms = {name: (s, sh) for name, s, sh in base.mms} if base is not None else {}
        mms = []
        for name, mm in m.mms.items():
            was = old_mms.get(name)
            s = mm.snap(shadow=())
            sh = _shadow_record(mm, was[1] if was is not None else None)
            if was is not None and s == was[0]:
                s = was[0]
            mms.append((name, s, sh))
        threads = _dedupe((t.snap() for t in m.threads), base.threads if base is not None else ())
        tlbs_list = m.tlbs
        marked_tlbs = tlbs_list.marked() if tracked and type(tlbs_list) is TrackedList else None
        old_tlbs = base.tlbs if base is not None and len(base.tlbs) == len(tlbs_list) else None
        if old_tlbs is not None and marked_tlbs is not None:
            tl = list(old_tlbs)
            for i in marked_tlbs:
                s = tuple(sorted(list.__getitem__(tlbs_list, i).items()))
                tl[i] = old_tlbs[i] if s == old_tlbs[i] else s
            tlbs = tuple(tl)
        else:
            tlbs = _dedupe((tuple(sorted(t.items())) for t in list.__iter__(tlbs_list)), old_tlbs or ())
        rest = _dedupe((SNAPSHOT_PARTS[n][0](m) for n in _REST), base.rest if base is not None else ())
        ck = Checkpoint(tuple(lists), tuple(lens), tuple(mms), threads, tlbs, rest)
        self.adopt(m, ck)
        return ck

    def adopt(self, m: Machine, ck: Checkpoint | tuple[Any, ...]) -> None:
        """`m` is now exactly at `ck` (replayed up to it): the next checkpoint builds on it."""
        if isinstance(ck, tuple):
            self.base = None
            return
        self._attach(m)
        self.base = ck

    def restore(self, m: Machine, ck: Checkpoint | tuple[Any, ...]) -> None:
        """Put `m` back at `ck`, rebuilding only what differs from the current state."""
        base = self.base
        if base is None or isinstance(ck, tuple) or not self._tracked(m):
            m.restore(ck)
            self.adopt(m, ck)
            return
        for k, n in enumerate(_LISTS):
            _restore_list(getattr(m, n), base.lists[k], ck.lists[k], ck.lens[k], _MAKE[n])
        old_mms = {name: (s, sh) for name, s, sh in base.mms}
        mms: dict[str, Mm] = {}
        for name, s, sh in ck.mms:
            mm = Mm.from_snap(name, s)
            cur = m.mms.get(name)
            was = old_mms.get(name)
            keep = (
                cur is not None
                and was is not None
                and was[1] is sh
                and type(cur.shadow) is TrackedDict
                and not cur.shadow.all
                and not cur.shadow.seen
            )
            if keep:
                assert cur is not None
                mm.shadow = cur.shadow
            else:
                mm.shadow = {v: list(w) for v, w in _shadow_items(sh)}
            mms[name] = mm
        m.mms = mms
        SNAPSHOT_PARTS["threads"][1](m, ck.threads)
        tl = m.tlbs
        marked = tl.marked() if type(tl) is TrackedList else None
        if marked is None or len(tl) != len(ck.tlbs) or len(base.tlbs) != len(ck.tlbs):
            m.tlbs = [dict(t) for t in ck.tlbs]
        else:
            for i, t in enumerate(ck.tlbs):
                if i in marked or t is not base.tlbs[i]:
                    list.__setitem__(tl, i, dict(t))
        for n, value in zip(_REST, ck.rest, strict=True):
            SNAPSHOT_PARTS[n][1](m, value)
        self.adopt(m, ck)


def _dedupe(new: Iterable[Any], old: tuple[Any, ...]) -> tuple[Any, ...]:
    """`new` as a tuple, keeping each element of `old` it equals (and `old` itself if all do)."""
    out = tuple(o if i < len(old) and (o := old[i]) == x else x for i, x in enumerate(new))
    if len(out) == len(old) and all(a is b for a, b in zip(out, old, strict=True)):
        return old
    return out


def _restore_list(
    lst: TrackedList, was: tuple[Any, ...], want: tuple[Any, ...], n: int, make: Callable[[int, Any], Any]
) -> None:
    """Rebuild the objects of `lst` whose checkpoint record differs from `was`'s, or that were marked since."""
    marked = lst.marked()
    cur = len(lst)
    if cur > n:
        list.__delitem__(lst, slice(n, None))
    elif cur < n:
        list.extend(lst, repeat(None, n - cur))
    setitem = list.__setitem__
    for k, chunk in enumerate(want):
        old = was[k] if k < len(was) else ()
        lo = k * CHUNK
        if chunk is old:
            if marked is None:
                todo: Iterable[int] = range(len(chunk))
            else:
                todo = [j for j in range(len(chunk)) if lo + j in marked or lo + j >= cur]
        else:
            todo = [
                j
                for j, rec in enumerate(chunk)
                if j >= len(old) or old[j] is not rec or marked is None or lo + j in marked or lo + j >= cur
            ]
        for j in todo:
            setitem(lst, lo + j, make(lo + j, chunk[j]))
