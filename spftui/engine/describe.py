"""Events and marks as short English, for traces, reports and narration."""

from __future__ import annotations

from collections.abc import Iterable

from ..kernel.events import TRACE_SCHEMA as TRACE_SCHEMA
from ..kernel.events import (
    Alloc,
    AnonVma,
    Block,
    Cow,
    Event,
    Fault,
    Flush,
    Fork,
    Free,
    Lock,
    OpDone,
    OpStart,
    Pgtable,
    Pte,
    RcuFree,
    Segv,
    Seq,
    SpfAbort,
    Swap,
    Unlock,
    Violation,
    VmaChange,
    Wake,
)
from ..kernel.events import event_fields as event_fields
from ..kernel.pte import format_pte
from ..kernel.state import format_vm_flags

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
        "cow",
        "segv",
        "vma",
        "fork",
        "swap",
    }
)


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
        case Cow(thread, old_pfn, new_pfn):
            src = "zero page" if old_pfn is None else f"pfn {old_pfn}"
            return f"{thread} COW: {src} → pfn {new_pfn}"
        case VmaChange(mm, "vm_flags", vma, _, flags):
            return f"{mm} vma{vma}.vm_flags = {format_vm_flags(flags or 0)}"
        case VmaChange(mm, action, vma, other, _) if other is not None:
            return f"{mm} vma{vma} {action} (vma{other})"
        case VmaChange(mm, action, vma, _, _):
            return f"{mm} vma{vma} {action}"
        case RcuFree(what, oid):
            return f"RCU frees {what} {oid}"
        case Pgtable(mm, table, action):
            return f"{mm} PTE table {table} {action}"
        case Fork(mm, child):
            return f"{mm} forks {child}"
        case Swap(action, pfn, slot):
            return f"{action}: pfn {pfn} → swap slot {slot}"
        case AnonVma(mm, vma, anon_vma):
            return f"{mm} vma {vma} gets anon_vma {anon_vma}"
    return f"{e.kind} {' '.join(str(x) for x in e)}"


def notable(events: Iterable[Event]) -> list[str]:
    return [format_event(e) for e in events if e.kind in NOTABLE]
