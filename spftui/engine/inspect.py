"""Read-only views of machine state for watch expressions and conditions.

Roots: each process name (`A.mmap_seq`, `A.pte[0x10000].pfn`,
`A.vma[0x10000].vm_sequence`, `A.mmap_lock.writer`), each thread name
(`A1.pc`, `A1.state`, `A1.vmf.orig_pte`), `frame[pfn]` (`frame[3].count`,
`frame[3].words[1]`), `step`, `policy`. Views are frozen attrs values, so a
watch compares them with `==` to notice a change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from ..kernel.pte import (
    format_pte,
    is_swap_pte,
    pte_dirty,
    pte_pfn,
    pte_present,
    pte_swp_offset,
    pte_write,
    pte_young,
    vpn_of,
)
from .expr import EvalError

if TYPE_CHECKING:
    from ..kernel.machine import Machine


@attrs.frozen
class PteView:
    value: int
    present: bool
    pfn: int | None
    write: bool
    young: bool
    dirty: bool
    swap: int | None
    text: str

    @classmethod
    def of(cls, pte: int) -> PteView:
        present = pte_present(pte)
        return cls(
            value=pte,
            present=present,
            pfn=pte_pfn(pte) if present else None,
            write=pte_write(pte),
            young=pte_young(pte),
            dirty=pte_dirty(pte),
            swap=pte_swp_offset(pte) if is_swap_pte(pte) else None,
            text=format_pte(pte),
        )


@attrs.frozen
class VmaView:
    id: int
    vm_start: int
    vm_end: int
    vm_flags: int
    anon_vma: int | None
    vm_sequence: int
    vm_lock_seq: int
    detached: bool
    readers: tuple[str, ...]


@attrs.frozen
class LockView:
    writer: str | None
    readers: tuple[str, ...]
    waiters: tuple[str, ...]


@attrs.frozen
class FrameView:
    pfn: int
    count: int
    mapcount: int
    words: tuple[int, ...]
    free: bool
    swapcache: int | None
    anon_exclusive: bool
    locked: str | None


class _Table:
    """`A.pte[...]`, `A.vma[...]`, `frame[...]`: indexable, not a value."""

    def __init__(self, name: str, get: Any) -> None:
        self.name = name
        self.get = get


class MachineResolver:
    """The expression Resolver over a live Machine."""

    def __init__(self, m: Machine) -> None:
        self.m = m

    def _name(self, index: int | None) -> str | None:
        return None if index is None else self.m.threads[index].name

    def root(self, name: str) -> object:
        m = self.m
        if name == "step":
            return m.steps
        if name == "policy":
            return m.policy.name
        if name == "frame":
            return _Table("frame", self.frame)
        if name in m.mms:
            return ("mm", name)
        for t in m.threads:
            if t.name == name:
                return ("thread", t.index)
        known = sorted(m.mms) + [t.name for t in m.threads] + ["frame", "step", "policy"]
        raise EvalError(f"unknown name {name!r}; known: {', '.join(known)}")

    def frame(self, pfn: object) -> FrameView:
        if not isinstance(pfn, int) or not 0 <= pfn < len(self.m.frames):
            raise EvalError(f"no frame {pfn!r}")
        f = self.m.frames[pfn]
        return FrameView(
            pfn, f.count, f.mapcount, tuple(f.words), f.free, f.swapcache, f.anon_exclusive, self._name(f.locked)
        )

    def attr(self, obj: object, name: str) -> object:
        m = self.m
        if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "mm":
            mm = m.mms[obj[1]]
            if name == "pte":
                return _Table(f"{mm.name}.pte", lambda addr: PteView.of(m.pte_lookup(mm, vpn_of(int(addr)))))
            if name == "vma":
                return _Table(f"{mm.name}.vma", lambda addr: self.vma(mm.name, addr))
            if name == "mmap_lock":
                return LockView(
                    self._name(mm.lock_writer),
                    tuple(m.threads[i].name for i in mm.lock_readers),
                    tuple(m.threads[i].name for i, _ in mm.lock_waiters),
                )
            if name in ("mmap_seq", "mm_lock_seq", "mm_users", "rss_anon", "rss_swap", "tlb_flush_pending"):
                return getattr(mm, name)
            if name == "map_count":
                return len(mm.vmas)
            raise EvalError(f"process {mm.name} has no field {name!r}")
        if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "thread":
            t = m.threads[obj[1]]
            if name in ("pc", "label"):
                return t.pc
            if name in ("state", "blocked_on", "result", "name", "mm"):
                return getattr(t, name)
            if name == "cpu":
                return t.index
            if name == "vmf":
                return dict(t.vmf)
            if name == "refs":
                return tuple(t.refs)
            if name in t.vmf:
                return t.vmf[name]
            raise EvalError(f"thread {t.name} has no field {name!r}")
        if isinstance(obj, dict):
            if name in obj:
                return obj[name]
            raise EvalError(f"no field {name!r}")
        if attrs.has(type(obj)) and name in attrs.fields_dict(type(obj)):  # type: ignore[arg-type]
            return getattr(obj, name)
        raise EvalError(f"no field {name!r}")

    def vma(self, mm: str, addr: object) -> VmaView | None:
        if not isinstance(addr, int):
            raise EvalError("a VMA is looked up by address")
        v = self.m.vma_lookup(self.m.mms[mm], addr)
        if v is None:
            return None
        return VmaView(
            v.id,
            v.vm_start,
            v.vm_end,
            v.vm_flags,
            v.anon_vma,
            v.vm_sequence,
            v.vm_lock_seq,
            v.detached,
            tuple(self.m.threads[i].name for i in v.lock_readers),
        )

    def item(self, obj: object, key: object) -> object:
        if isinstance(obj, _Table):
            return obj.get(key)
        if isinstance(obj, (list, tuple)) and isinstance(key, int):
            return obj[key]
        if isinstance(obj, dict):
            return obj[key]
        raise EvalError(f"cannot index {type(obj).__name__}")


def show(value: object) -> str:
    """A value as the UI shows it."""
    if isinstance(value, PteView):
        return value.text
    if isinstance(value, int) and not isinstance(value, bool) and value >= 4096:
        return hex(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)
