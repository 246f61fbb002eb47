"""Read-only views of machine state for watch expressions and conditions.

Roots: each process name (`A.mmap_seq`, `A.pte[0x10000].pfn`,
`A.vma[0x10000].vm_sequence`, `A.mmap_lock.writer`), each thread name
(`A1.pc`, `A1.state`, `A1.vmf.orig_pte`), `thread.NAME` / `thread["NAME"]`
and `process.NAME` / `process["NAME"]` (explicit, and for names an expression
cannot spell), `frame[pfn]` (`frame[3].count`, `frame[3].words[1]`), `step`,
`policy`. A bare name that is both a thread and a process reads process fields
from the process and every other field from the thread (`SharedName`). Views
are frozen attrs values, so a watch compares them with `==` to notice a change.
"""

from __future__ import annotations

import difflib
from bisect import bisect_right
from typing import TYPE_CHECKING, Any, TypeGuard

import attrs

from ..kernel.pte import (
    format_pte,
    is_swap_pte,
    pmd_index,
    pte_dirty,
    pte_index,
    pte_pfn,
    pte_present,
    pte_swp_offset,
    pte_write,
    pte_young,
    vpn_of,
)
from ..kernel.state import DONE, format_vm_flags
from .describe import refs_text, vmf_text
from .expr import DYNAMIC, EvalError, Expr, ExprError, PathRef, format_int

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..kernel.machine import Machine
    from ..kernel.state import Mm, Thread
    from ..scenario.model import Scenario


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


class VmFlags(int):
    """A VMA's vm_flags as an expression reads them: an int (`& 0x2`, `==` work as on any)
    that `show` prints as the trace and the panes do, `rw-p`, not 0x100033."""

    __slots__ = ()


class Locals(dict[str, object]):
    """A thread's `vmf` as an expression reads it: a mapping (`A1.vmf.seq`, `"seq" in A1.vmf`)
    that `show` prints as the trace writes locals (`addr=0x10000, orig_pte=pfn 1 RO A D`)."""

    __slots__ = ()


class Refs(tuple[int, ...]):
    """The pages a thread holds references to: a tuple of pfns (`1 in A1.refs`) shown as `pfn 1, pfn 2`."""

    __slots__ = ()


class Pc(str):
    """A thread's next step label, a str (`A1.pc == "user:store"`); `show` says what an
    empty one means (between operations, or done) instead of printing nothing."""

    text: str

    def __new__(cls, label: str, idle: str = "") -> Pc:  # (idle has a default: pickle calls Pc(label))
        pc = super().__new__(cls, label)
        pc.text = label or idle
        return pc


@attrs.frozen
class VmaView:
    id: int
    vm_start: int
    vm_end: int
    vm_flags: VmFlags
    anon_vma: int | None
    vm_sequence: int
    vm_lock_seq: int
    detached: bool
    readers: tuple[str, ...]

    @property
    def text(self) -> str:
        """As the page-tables pane writes a VMA: `vma0 0x10000-0x11000 rw-p anon_vma 1 vm_sequence 2 …`."""
        anon = "none" if self.anon_vma is None else self.anon_vma
        out = (
            f"vma{self.id} {self.vm_start:#x}-{self.vm_end:#x} {format_vm_flags(self.vm_flags)} anon_vma {anon}"
            f" vm_sequence {self.vm_sequence} vm_lock_seq {self.vm_lock_seq}"
        )
        if self.readers:
            out += f" read-locked by {', '.join(self.readers)}"
        return out + (" detached" if self.detached else "")


@attrs.frozen
class LockView:
    writer: str | None
    readers: tuple[str, ...]
    waiters: tuple[str, ...]

    @property
    def text(self) -> str:
        """As `why` and a watch show it: `held for write by A2; waiting: A1`, `free`."""
        if self.writer is not None:
            held = f"held for write by {self.writer}"
        elif self.readers:
            held = f"held for read by {', '.join(self.readers)}"
        else:
            held = "free"
        return held + (f"; waiting: {', '.join(self.waiters)}" if self.waiters else "")


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

    @property
    def text(self) -> str:
        """`pfn 1 count 2 map 1 [1 42 0 0]`, then its flags."""
        if self.free:
            return f"pfn {self.pfn} free"
        words = " ".join(format_int(w, 80) for w in self.words)
        out = f"pfn {self.pfn} count {self.count} map {self.mapcount} [{words}]"
        if self.swapcache is not None:
            out += f" swapcache {self.swapcache}"
        return out + (f" locked by {self.locked}" if self.locked else "")


class _Table:
    """`A.pte[...]`, `A.vma[...]`, `frame[...]`: indexable, not a value."""

    def __init__(self, name: str, get: Any) -> None:
        self.name = name
        self.get = get

    def __repr__(self) -> str:
        return self.name


@attrs.frozen
class ProcessRef:
    """A process named in an expression (`A`, `process.A`)."""

    name: str

    def __str__(self) -> str:
        return f"process {self.name}"


@attrs.frozen
class ThreadRef:
    """A thread named in an expression (`A1`, `thread.A1`)."""

    index: int
    name: str

    def __str__(self) -> str:
        return f"thread {self.name}"


@attrs.frozen
class SharedName:
    """A bare name that is both a thread and a process (`B` in cow_lost_write).

    A process field (`B.mmap_seq`, `B.pte[...]`) reads the process; any other
    field (`B.pc`, `B.state`) reads the thread. `thread.B` / `process.B` say
    which explicitly.
    """

    process: ProcessRef
    thread: ThreadRef

    def __str__(self) -> str:
        return f"thread and process {self.thread.name}"


PROCESS_FIELDS = (
    "pte", "vma", "mmap_lock", "mmap_seq", "mm_lock_seq", "mm_users", "rss_anon", "rss_swap",
    "tlb_flush_pending", "map_count",
)  # fmt: skip
"""What `A.x` can read of a process."""

THREAD_FIELDS = ("pc", "label", "state", "blocked_on", "result", "name", "mm", "cpu", "vmf", "refs")
"""What `A1.x` can read of a thread (besides the names in its `vmf`)."""

ROOTS = ("thread", "process", "frame", "step", "policy")
"""Root names that come before any thread or process of the same name."""

VMF_KEYS = (
    "addr", "batch", "detached", "end", "free_tables", "mode", "new_page", "orig_pte", "page", "page_locked",
    "pmd", "pmds", "ptl", "pvma", "result", "seq", "start", "table", "tried", "unmap", "vma", "vma_locked",
    "vma_ref", "vmas", "word", "write",
    "fault_write", "gup_foll", "gup_page", "gup_unshare", "new_vma", "unshare",
    "cp", "pages", "prot_none", "stale",
    "mt_node", "stack_write",
)  # fmt: skip
"""Every key a thread's `vmf` (its fault or op locals) can hold; `A1.orig_pte` reads one while it is set.
tests/engine/test_expr.py checks this against the kernel's source."""

_USER_ADDR_LIMIT = 1 << 47


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_int(value) if isinstance(value, int) else repr(value)[:40]


def _address(addr: object) -> int:
    if not isinstance(addr, int) or isinstance(addr, bool):
        shown = _shown(addr)
        raise EvalError(f"expected an address (an int), found {type(addr).__name__} {shown}")
    if not 0 <= addr < _USER_ADDR_LIMIT:
        raise EvalError(f"expected an address from 0 to {_USER_ADDR_LIMIT - 1:#x}, found {format_int(addr)}")
    return addr


class MachineResolver:
    """The expression Resolver over a live Machine.

    Reads never go through `Machine.pte_lookup`/`vma_lookup`, which record the
    step's footprint: a watch must not change what the explorer sees.
    """

    def __init__(self, m: Machine) -> None:
        self.m = m
        # Where the last `A.vma[ADDR]` found no VMA, so that a field read on its
        # none names the address and the VMAs there are (the next item or attr clears it).
        self._no_vma: tuple[Mm, int] | None = None

    def _name(self, index: int | None) -> str | None:
        return None if index is None else self.m.threads[index].name

    def _thread(self, name: str) -> ThreadRef | None:
        return next((ThreadRef(t.index, t.name) for t in self.m.threads if t.name == name), None)

    def root(self, name: str) -> object:
        m = self.m
        if name == "step":
            return m.steps
        if name == "policy":
            return m.policy.name
        if name == "frame":
            return _Table("frame", self.frame)
        if name == "thread":
            return _Table("thread", self.thread)
        if name == "process":
            return _Table("process", self.process)
        thread = self._thread(name)
        if name in m.mms:
            return ProcessRef(name) if thread is None else SharedName(ProcessRef(name), thread)
        if thread is not None:
            return thread
        known = list(dict.fromkeys([*sorted(m.mms), *(t.name for t in m.threads), *ROOTS]))  # (B: process and thread)
        raise EvalError(f"unknown name {name!r}; known: {', '.join(known)}")

    def thread(self, name: object) -> ThreadRef:
        thread = self._thread(name) if isinstance(name, str) else None
        if thread is None:
            known = ", ".join(t.name for t in self.m.threads)
            raise EvalError(f"no thread {str(name)[:40]!r}; threads: {known}")
        return thread

    def process(self, name: object) -> ProcessRef:
        if not isinstance(name, str) or name not in self.m.mms:
            raise EvalError(f"no process {str(name)[:40]!r}; processes: {', '.join(sorted(self.m.mms))}")
        return ProcessRef(name)

    def frame(self, pfn: object) -> FrameView:
        if not isinstance(pfn, int) or isinstance(pfn, bool) or not 0 <= pfn < len(self.m.frames):
            raise EvalError(f"no frame {_shown(pfn)} (frames 0 to {len(self.m.frames) - 1})")
        f = self.m.frames[pfn]
        return FrameView(
            pfn, f.count, f.mapcount, tuple(f.words), f.free, f.swapcache, f.anon_exclusive, self._name(f.locked)
        )

    def pte(self, mm: Mm, addr: object) -> PteView:
        vpn = vpn_of(_address(addr))
        tid = mm.pgd.get(pmd_index(vpn))
        return PteView.of(0 if tid is None else self.m.tables[tid].entries.get(pte_index(vpn), 0))

    def attr(self, obj: object, name: str) -> object:
        no_vma, self._no_vma = self._no_vma, None
        if obj is None:  # (not EvalError: the expression names the none it read, "A1.page is none, so ...")
            if no_vma is not None:
                mm, addr = no_vma
                vmas = [self.m.vmas[i] for i in mm.vmas]
                ranges = ", ".join(f"{format_int(v.vm_start)}-{format_int(v.vm_end)}" for v in vmas)
                raise EvalError(f"no VMA at {format_int(addr)} in {mm.name} (VMAs: {ranges or 'none'})")
            raise AttributeError(name)
        if isinstance(obj, _Table) and obj.name in ("thread", "process"):
            return obj.get(name)  # `thread.A1` is `thread["A1"]`
        if isinstance(obj, SharedName):
            t = self.m.threads[obj.thread.index]
            if name not in PROCESS_FIELDS and name not in THREAD_FIELDS and name not in t.vmf:
                raise EvalError(
                    f"{t.name} is a thread and a process, and neither has a field {name!r} "
                    f"(thread fields: {', '.join(THREAD_FIELDS)}; process fields: {', '.join(PROCESS_FIELDS)})"
                )
            obj = obj.process if name in PROCESS_FIELDS else obj.thread
        if isinstance(obj, ProcessRef):
            return self._process_attr(self.m.mms[obj.name], name)
        if isinstance(obj, ThreadRef):
            return self._thread_attr(self.m.threads[obj.index], name)
        if isinstance(obj, dict):
            if name in obj:
                return obj[name]
            raise EvalError(f"no field {name!r}")
        if attrs.has(type(obj)) and name in attrs.fields_dict(type(obj)):  # type: ignore[arg-type]
            return getattr(obj, name)
        raise EvalError(f"no field {name!r}")

    def _process_attr(self, mm: Mm, name: str) -> object:
        m = self.m
        if name == "pte":
            return _Table(f"{mm.name}.pte", lambda addr: self.pte(mm, addr))
        if name == "vma":
            return _Table(f"{mm.name}.vma", lambda addr: self.vma(mm, addr))
        if name == "mmap_lock":
            return LockView(
                self._name(mm.lock_writer),
                tuple(m.threads[i].name for i in mm.lock_readers),
                tuple(m.threads[i].name for i, _ in mm.lock_waiters),
            )
        if name == "map_count":
            return len(mm.vmas)
        if name in PROCESS_FIELDS:
            return getattr(mm, name)
        raise EvalError(f"process {mm.name} has no field {name!r} (fields: {', '.join(PROCESS_FIELDS)})")

    def _thread_attr(self, t: Thread, name: str) -> object:
        if name in ("pc", "label"):
            if t.state == DONE:
                idle = "none (the thread is done)"
            elif t.op_index < len(self.m.ops[t.index]):
                idle = f"none (between operations; the next starts `{self.m.ops[t.index][t.op_index].text}`)"
            else:
                idle = "none (between operations)"
            return Pc(t.pc, idle)
        if name in ("state", "blocked_on", "result", "name", "mm"):
            return getattr(t, name)
        if name == "cpu":
            return t.index
        if name == "vmf":
            return Locals(t.vmf)
        if name == "refs":
            return Refs(t.refs)
        if name in t.vmf:
            return t.vmf[name]
        raise EvalError(f"thread {t.name} has no field {name!r} (fields: {', '.join(THREAD_FIELDS)})")

    def vma(self, mm: Mm, addr: object) -> VmaView | None:
        addr = _address(addr)
        i = bisect_right(mm.starts, addr) - 1
        v = self.m.vmas[mm.vmas[i]] if i >= 0 else None
        if v is None or addr >= v.vm_end:
            self._no_vma = (mm, addr)
            return None
        return VmaView(
            v.id,
            v.vm_start,
            v.vm_end,
            VmFlags(v.vm_flags),
            v.anon_vma,
            v.vm_sequence,
            v.vm_lock_seq,
            v.detached,
            tuple(self.m.threads[i].name for i in v.lock_readers),
        )

    def item(self, obj: object, key: object) -> object:
        self._no_vma = None
        if isinstance(obj, _Table):
            return obj.get(key)
        if isinstance(obj, (list, tuple)) and isinstance(key, int):
            return obj[key]
        if isinstance(obj, dict):
            return obj[key]
        raise EvalError(f"cannot index {type(obj).__name__}")


def show(value: object) -> str:
    """A value as the UI shows it: ints of 4096 and above (in magnitude) in hex, cut when huge."""
    if isinstance(value, (PteView, LockView, VmaView, FrameView, Pc)):
        return value.text
    if isinstance(value, Locals):
        return vmf_text(value)
    if isinstance(value, Refs):
        return refs_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, VmFlags):
        return format_vm_flags(value)
    if isinstance(value, int):
        return format_int(value, 80)
    if value is None:
        return "none"
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


# ------------------------------------------------------------ checking names
@attrs.frozen
class Names:
    """The thread and process names an expression may use (processes include fork children)."""

    threads: tuple[str, ...]
    processes: tuple[str, ...]
    words_per_page: int = 4  # the entries of a frame's `words`
    oracles: tuple[str, ...] = ()  # the scenario's own oracles (`[[oracle]]`): a violation breakpoint may name them

    @classmethod
    def of(cls, sc: Scenario) -> Names:
        forked = [op.child for t in sc.threads for op in t.ops if op.kind == "fork"]
        return cls(
            tuple(t.name for t in sc.threads),
            (*(p.name for p in sc.processes), *forked),
            sc.words_per_page,
            tuple(o.name for o in sc.oracles),
        )


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)  # 0.5: "A3" finds "A1"
    return f"; did you mean '{close[0]}'?" if close else ""


_VIEW_FIELDS = {
    "pte": tuple(attrs.fields_dict(PteView)),
    "vma": tuple(attrs.fields_dict(VmaView)),
    "lock": tuple(attrs.fields_dict(LockView)),
    "frame": tuple(attrs.fields_dict(FrameView)),
}
_PROCESS_FIELD_KIND = {"pte": "pte table", "vma": "vma table", "mmap_lock": "lock"}


def check_names(expr: Expr, names: Names) -> None:
    """Refuse an expression that names a thread, process or field the scenario
    cannot have (`A1.sate`): it would never fire. Raises ExprError at that name."""
    for path in expr.paths:
        _check_path(path, names, expr.source)


def _check_path(path: PathRef, names: Names, source: str) -> None:
    def fail(message: str, position: int) -> ExprError:
        return ExprError(message, position, source)

    def member(table: str, name: object, position: int) -> str:
        """`thread[NAME]` / `process[NAME]`: the name must be one of the scenario's."""
        known = names.threads if table == "thread" else names.processes
        if name is not DYNAMIC and name not in known:
            shown = str(name)[:40]
            plural = "threads" if table == "thread" else "processes"
            raise fail(
                f"no {table} '{shown}'{_did_you_mean(shown, list(known))} ({plural}: {', '.join(known)})", position
            )
        return table
        if name not in names.processes:
            shown = str(name)[:40]
            listed = ", ".join(names.processes)
            raise fail(
                f"no process '{shown}'{_did_you_mean(shown, list(names.processes))} (processes: {listed})", position
            )
        return "process"

    root = path.root
    if root in ROOTS:
        kind = {"frame": "frame table", "thread": "thread table", "process": "process table"}.get(root, "value")
    elif root in names.threads and root in names.processes:
        kind = "shared"
    elif root in names.threads:
        kind = "thread"
    elif root in names.processes:
        kind = "process"
    else:
        first = path.steps[0].field if path.steps else None
        # `.pc` after it: a thread was meant; `.mmap_seq`: a process
        if first in PROCESS_FIELDS:
            known = list(names.processes)
        elif first in THREAD_FIELDS or first in VMF_KEYS:
            known = list(names.threads)
        else:
            known = [*names.processes, *names.threads, *ROOTS]
        raise fail(
            f"unknown name '{root}'{_did_you_mean(root, known)} (processes: {', '.join(names.processes)}; "
            f"threads: {', '.join(names.threads)}; or {', '.join(ROOTS)})",
            path.position,
        )
    for step in path.steps:
        name, at = step.field, step.position
        if kind == "value":  # a number, a string, a tuple...: nothing more to check
            return
        if kind in ("thread table", "process table"):
            key = name if name is not None else step.key
            kind = member("thread" if kind == "thread table" else "process", key, at)
        elif name is None:  # an index: a literal one no state can have is refused too
            if step.key is not DYNAMIC:
                _check_key(kind, step.key, names, at, source)
            kind = {"frame table": "frame", "pte table": "pte", "vma table": "vma"}.get(kind, "value")
        elif kind == "vmf":
            if name not in VMF_KEYS:
                raise fail(f"a thread's vmf has no field '{name}'{_did_you_mean(name, list(VMF_KEYS))}", at)
            kind = "value"
        elif kind in ("thread", "process", "shared"):
            kind = _member(kind, name, path.root, at, source)
        elif kind in _VIEW_FIELDS:
            fields = _VIEW_FIELDS[kind]
            if name not in fields:
                raise fail(
                    f"{'an mmap_lock' if kind == 'lock' else 'a ' + kind} has no field '{name}'"
                    f"{_did_you_mean(name, list(fields))} (fields: {', '.join(fields)})",
                    at,
                )
            kind = "words" if (kind, name) == ("frame", "words") else "value"
        else:  # a table (frame, pte, vma) takes [key], not a field
            raise fail(f"{kind.split()[0]} is a table: write {kind.split()[0]}[...], not .{name}", at)

    if not path.steps and kind not in ("value", "words"):  # `A`, `frame`: what would a watch on it see change?
        what = {"shared": "a thread and a process"}.get(kind, f"a {kind}")
        raise fail(f"'{root}' is {what}, not a value: read one of its fields (e.g. {_EXAMPLE[kind]})", path.position)


_EXAMPLE = {
    "thread": "A1.pc", "process": "A.mmap_seq", "shared": "B.mmap_seq", "frame table": "frame[1].count",
    "thread table": 'thread["A1"].pc', "process table": 'process["A"].mmap_seq',
}  # fmt: skip


def _check_key(kind: str, key: object, names: Names, at: int, source: str) -> None:
    """A literal index no state can have: a frame number below 0, an address outside user
    space or not a number, a word beyond the page (`words_per_page`)."""
    if kind in ("pte table", "vma table"):
        try:
            _address(key)
        except EvalError as e:
            raise ExprError(e.message, at, source) from None
    elif kind == "frame table" and not (_whole(key) and key >= 0):
        raise ExprError(f"expected a frame number (0 or more), found {_shown(key)}", at, source)
    elif kind == "words" and not (_whole(key) and 0 <= key < names.words_per_page):
        n = names.words_per_page
        raise ExprError(f"a page has {n} words (words_per_page = {n}): expected 0 to {n - 1}, found {_shown(key)}",
                        at, source)  # fmt: skip


def _whole(key: object) -> TypeGuard[int]:
    return isinstance(key, int) and not isinstance(key, bool)


def _member(kind: str, name: str, root: str, at: int, source: str) -> str:
    """The kind of `thread.name`, `process.name` or (a shared name) either."""
    if kind in ("process", "shared") and name in PROCESS_FIELDS:
        return _PROCESS_FIELD_KIND.get(name, "value")
    if kind in ("thread", "shared"):
        if name == "vmf":
            return "vmf"
        if name in THREAD_FIELDS or name in VMF_KEYS:
            return "value"
    if name == "tlb":  # (asked for by the history pages: "watch A3's TLB entry")
        raise ExprError(
            "an expression cannot read a TLB: the page-tables pane shows each CPU's entry beside its PTE "
            "(`TLB cpu2 → pfn 1 W (stale)`), and a step breakpoint on dup_mmap:flush_tlb_mm or "
            "do_wp_page:flush_tlb_page stops where one goes",
            at,
            source,
        )
    if kind == "thread":
        choices, what = [*THREAD_FIELDS, *VMF_KEYS], f"thread {root}"
        listed = f"fields: {', '.join(THREAD_FIELDS)}, or a key of its vmf such as orig_pte or seq"
    elif kind == "process":
        choices, what = list(PROCESS_FIELDS), f"process {root}"
        listed = f"fields: {', '.join(PROCESS_FIELDS)}"
    else:
        choices, what = [*PROCESS_FIELDS, *THREAD_FIELDS, *VMF_KEYS], f"{root} (a thread and a process)"
        listed = f"thread fields: {', '.join(THREAD_FIELDS)}; process fields: {', '.join(PROCESS_FIELDS)}"
        listed += "; or a key of the thread's vmf"
    raise ExprError(f"{what} has no field '{name}'{_did_you_mean(name, choices)} ({listed})", at, source)


def local_of(expr: Expr, threads: Sequence[str]) -> tuple[str, str | None] | None:
    """A thread-local expression: `A1.vmf` → (A1, None); `A1.vmf.orig_pte` and
    `A1.orig_pte` → (A1, "orig_pte"); anything else → None."""
    if not expr.single or len(expr.paths) != 1:
        return None
    path = expr.paths[0]
    if path.root not in threads or any(s.field is None for s in path.steps):
        return None
    fields = [s.field for s in path.steps]
    if fields == ["vmf"]:
        return path.root, None
    if len(fields) == 2 and fields[0] == "vmf":
        return path.root, fields[1]
    if len(fields) == 1 and fields[0] in VMF_KEYS and fields[0] not in THREAD_FIELDS:
        return path.root, fields[0]
    return None
