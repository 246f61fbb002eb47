"""Events and marks as short English, for traces, reports and narration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..kernel.events import (
    MAPLE_NODE,
    Aba,
    Alloc,
    AnonVma,
    Block,
    Change,
    Cow,
    Decision,
    Event,
    Fault,
    Flush,
    Fork,
    Free,
    Invalidated,
    Lock,
    OpDone,
    OpStart,
    Pgtable,
    Pte,
    RcuFree,
    Segv,
    Seq,
    SpecRead,
    SpfAbort,
    Swap,
    Unlock,
    Validate,
    Violation,
    VmaChange,
    Wake,
)
from ..kernel.events import TRACE_SCHEMA as TRACE_SCHEMA
from ..kernel.events import event_fields as event_fields
from ..kernel.foll import format_foll
from ..kernel.pte import format_pte
from ..kernel.state import format_vm_flags
from .expr import format_int


def counted(n: int, one: str, many: str = "") -> str:
    """`1 step`, `2 steps`: a count with its noun in the number it takes (`many`: an irregular plural)."""
    return f"{n} {one if n == 1 else many or one + 's'}"


# Events worth a line in a human-readable trace (the rest are bookkeeping).
NOTABLE = frozenset(
    {
        "op_start",
        "op_done",
        "fault",
        "spf_abort",
        "violation",
        "pte",
        "seq",
        "block",
        "wake",
        "free",
        "flush",
        "cow",
        "decision",
        "segv",
        "vma",
        "fork",
        "swap",
        "spec_read",
        "validate",
        "aba",
        "invalidated",
    }
)


def object_path(obj: str, mm: str, addr: int, vma: int | None) -> str:
    """What a check compared, spelled in the expression language where it can be (`A.pte[0x10000]`)."""
    page = addr & ~0xFFF
    if obj == "mmap_seq":
        return f"{mm}.mmap_seq"
    if obj == "pte":
        return f"{mm}.pte[{page:#x}]"
    if obj == "vma":
        return f"{mm}.vma[{page:#x}]"
    if obj == "pmd":
        return f"{mm}.pmd[{page:#x}]"  # no expression reads a pmd: a label only
    return f"{mm}.vma[{page:#x}].{obj}"  # vm_sequence, vm_lock_seq


def value_text(obj: str, value: object) -> str:
    """A sampled or current value as the UI shows it."""
    if value is None:
        return "gone" if obj in ("vma", "vm_sequence") else "none"
    if obj == "pte" and isinstance(value, int):
        return format_pte(value)
    if obj == "vma" and isinstance(value, (tuple, list)):
        start, end, flags, _ = value
        return f"{format_vm_flags(flags)} {start:#x}-{end:#x}"
    if obj == "pmd":
        return f"table {value}"
    return str(value)


def local_is_vpn(key: str, vmf: Mapping[str, object]) -> bool:
    """Is the thread local `vmf[key]` a page number (vpn) rather than an address?

    zap_pte_range's range (`start`, `end`, set by kernel/zap.py's begin_zap for munmap,
    madvise(DONTNEED) and exit) is in pages; the `end` of mprotect and of
    mwriteprotect_range, which set no `start`, is an address.
    """
    return key in ("start", "end") and "start" in vmf


def local_text(key: str, value: object, vmf: Mapping[str, object]) -> str:
    """One thread local (`vmf[key]`) as the trace writes it: a PTE as `pfn 1 RO A D`, the VMA
    copy as `rw-p 0x10000-0x11000`, pages as `pfn N`, addresses in hex, GUP flags by name."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if local_is_vpn(key, vmf) and isinstance(value, int):
        return f"{value << 12:#x}"
    if key == "gup_foll" and isinstance(value, int):
        return format_foll(value)
    if key == "orig_pte":
        return value_text("pte", value)
    if key == "pvma":
        return value_text("vma", value)
    if key in ("pmd", "ptl", "table"):
        return f"table {value}"
    if key in ("page", "new_page", "gup_page"):
        return f"pfn {value}"
    if key in ("addr", "start", "end") and isinstance(value, int):
        return f"{value:#x}"
    if key == "batch" and isinstance(value, tuple):  # the mmu_gather's pages
        return "(" + ", ".join(f"pfn {pfn}" for pfn in value) + ")"
    if isinstance(value, (tuple, list)):
        return "(" + " ".join(str(v) for v in value) + ")"
    return format_int(value) if isinstance(value, int) else str(value)


def vmf_text(vmf: Mapping[str, object]) -> str:
    """A thread's locals: `addr=0x10000, write=true, mode=spf, seq=0, orig_pte=pfn 1 RO A D`
    ("empty" between operations)."""
    return ", ".join(f"{k}={local_text(k, v, vmf)}" for k, v in vmf.items()) or "empty"


def refs_text(refs: Iterable[int]) -> str:
    """The page references a thread holds: `pfn 1, pfn 2` ("none")."""
    return ", ".join(f"pfn {pfn}" for pfn in refs) or "none"


def decision_short(e: Decision) -> str:
    """A decision in a few words, as a narration says it: `copies pfn 1`, `drops FOLL_WRITE in
    faultin_page` (`format_event` gives the whole sentence, with the values read)."""
    if e.what == "foll":
        if e.detail.startswith("FOLL_WRITE forced"):
            return "forces FOLL_WRITE in __get_user_pages (a COW mapping: 17839856fd58)"
        return "drops FOLL_WRITE in faultin_page" if "clears FOLL_WRITE" in e.detail else "sets FOLL_COW"
    return e.detail.split(":", 1)[0]  # "reuses pfn 2", "copies pfn 1", "maps read-only pfn 3"


def validation_text(e: Validate) -> str:
    """A check as the status line says it: "SEQ2 ✓ A.mmap_seq 0 = 0", "pte_same ✓ A.pte[0x10000] pfn 1 RO A D"."""
    path = object_path(e.obj, e.mm, e.addr, e.vma)
    mark = "✓" if e.ok else "✗"
    snap, cur = value_text(e.obj, e.snapshot), value_text(e.obj, e.current)
    if e.check == "seq_start":
        return f"{e.check} {mark} {path} {snap} ({'even' if e.ok else 'odd: a writer is inside'})"
    if e.check == "vma_start_read":
        rel = "≠" if e.snapshot != e.current else "="
        why = "" if e.ok else ": write-locked" if rel == "=" else ": contended"
        return f"{e.check} {mark} {path} {snap} {rel} mm_lock_seq {cur}{why}"
    if e.ok and e.snapshot == e.current:
        return f"{e.check} {mark} {path} {snap}" if e.obj == "pte" else f"{e.check} {mark} {path} {snap} = {cur}"
    return f"{e.check} {mark} {path} {snap} {'=' if e.ok else '≠'} {cur}"


def history_text(changes: Iterable[Change], short: bool = False) -> str:
    """`A.pte[0x10000]: pfn 1 RO A D → pfn 1 W A D (A2, step 37) → …`, one clause per
    object; `short` (the panes): `A.pte[0x10000] pfn 1 RO A D → pfn 1 W A D (A2 #37) → …`."""
    clauses: list[str] = []
    current = ""
    for c in changes:
        if c.object != current:
            current = c.object
            clauses.append(f"{c.object}{'' if short else ':'} {c.value}")
        else:
            clauses[-1] += (
                f" → {c.value} ({c.thread} #{c.step})" if short else f" → {c.value} ({c.thread}, step {c.step})"
            )
    return "; ".join(clauses)


def aba_sentence(e: Aba) -> str:
    return f"{e.thread}: {e.check} passed by ABA — {history_text(e.changes)}"


def abort_sentence(e: SpfAbort) -> str:
    """An spf_abort event as the status line says it."""
    return f"{e.thread}: spf abort — {e.detail} at {e.label}"


def violation_sentence(kind: str, detail: str) -> str:
    return f"{kind.replace('_', ' ')} — {detail}"


def format_event(e: Event) -> str:
    match e:
        case Pte(mm, vpn, old, new):
            return f"{mm}:{vpn << 12:#x} {format_pte(old)} → {format_pte(new)}"
        case Seq(mm, counter, old, new):
            return f"{mm}.{counter} {old}→{new}"
        case Lock(thread, lock, mode):
            return f"{thread} takes {lock} ({mode})"
        case Unlock(thread, lock, mode):
            return f"{thread} releases {lock} ({mode})"
        case Block(thread, on):
            return f"{thread} blocks on {on}"
        case Wake(thread):
            return f"{thread} wakes"
        case SpfAbort(thread, reason, detail, _):
            return f"{thread}: spf abort {reason} — {detail}"
        case Violation(oracle, _, detail):
            return f"VIOLATION {oracle}: {detail}"
        case Alloc(thread, pfn):
            return f"{thread} allocates pfn {pfn}"
        case Free(pfn):
            return f"pfn {pfn} freed"
        case Flush(mm, start, end):
            return f"TLB flush {mm} {start << 12:#x}..{end << 12:#x}" if end < 1 << 40 else f"TLB flush {mm} (all)"
        case OpStart(thread, op):
            return f"{thread} starts `{op}`"
        case OpDone(thread, op, result):
            return f"{thread} `{op}` → {result}"
        case Fault(thread, addr, access):
            return f"{thread} {access} fault at {addr:#x}"
        case Segv(thread, addr, why):
            return f"{thread} SIGSEGV at {addr:#x} ({why})"
        case Decision(thread, _, _, detail):
            return f"{thread} {detail}"
        case Cow(thread, old_pfn, new_pfn):
            src = "zero page" if old_pfn is None else f"pfn {old_pfn}"
            return f"{thread} COW: {src} → pfn {new_pfn}"
        case VmaChange(mm, "vm_flags", vma, _, flags):
            return f"{mm} vma{vma}.vm_flags = {format_vm_flags(flags or 0)}"
        case VmaChange(mm, action, vma, other, _) if other is not None:
            return f"{mm} vma{vma} {action} (vma{other})"
        case VmaChange(mm, action, vma, _, _):
            return f"{mm} vma{vma} {action}"
        case RcuFree(what, oid) if e.maple:
            return f"RCU frees {what[len(MAPLE_NODE) :]}'s maple node {oid} (mt_free_rcu)"
        case RcuFree(what, oid):
            return f"RCU frees {what} {oid}"
        case Pgtable(mm, table, action):
            return f"{mm} PTE table {table} {action}"
        case Fork(mm, child):
            return f"{mm} forks {child}"
        case Swap(action, pfn, slot):
            return f"{action}: pfn {pfn} → swap slot {slot}"
        case SpecRead(thread, obj, mm, addr, vma, value):
            return f"{thread} samples {object_path(obj, mm, addr, vma)} = {value_text(obj, value)}"
        case Validate():
            return f"{e.thread} {validation_text(e)}"
        case Aba():
            return aba_sentence(e)
        case Invalidated(thread, check, _, changes):
            return f"{thread} {check} ✗ because {history_text(changes)}"
        case AnonVma(mm, vma, anon_vma):
            return f"{mm} vma {vma} gets anon_vma {anon_vma}"
    return f"{e.kind} {' '.join(str(x) for x in e)}"


def notable(events: Iterable[Event]) -> list[str]:
    return [format_event(e) for e in events if e.kind in NOTABLE or (type(e) is RcuFree and e.maple)]
