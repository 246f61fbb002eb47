"""Events and marks as short English, for traces, reports and narration."""

from __future__ import annotations

from typing import Any

from ..kernel.pte import format_pte
from ..kernel.state import format_vm_flags

Event = tuple[Any, ...]

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


def abort_sentence(e: Event) -> str:
    """An spf_abort event as the status line says it."""
    return f"{e[1]}: spf abort — {e[3]} at {e[4]}"


def violation_sentence(kind: str, detail: str) -> str:
    return f"{kind.replace('_', ' ')} — {detail}"


def format_event(e: Event) -> str:
    k = e[0]
    if k == "pte":
        return f"{e[1]}:{e[2] << 12:#x} {format_pte(e[3])} → {format_pte(e[4])}"
    if k == "seq":
        return f"{e[1]}.{e[2]} {e[3]}→{e[4]}"
    if k in ("lock", "unlock"):
        return f"{e[1]} {'takes' if k == 'lock' else 'releases'} {e[2]} ({e[3]})"
    if k == "block":
        return f"{e[1]} blocks on {e[2]}"
    if k == "wake":
        return f"{e[1]} wakes"
    if k == "spf_abort":
        return f"{e[1]}: spf abort {e[2]} — {e[3]}"
    if k == "violation":
        return f"VIOLATION {e[1]}: {e[3]}"
    if k == "alloc":
        return f"{e[1]} allocates pfn {e[2]}"
    if k == "free":
        return f"pfn {e[1]} freed"
    if k == "flush":
        return f"TLB flush {e[1]} {e[2] << 12:#x}..{e[3] << 12:#x}" if e[3] < 1 << 40 else f"TLB flush {e[1]} (all)"
    if k == "op_start":
        return f"{e[1]} starts `{e[2]}`"
    if k == "op_done":
        return f"{e[1]} `{e[2]}` → {e[3]}"
    if k == "fault":
        return f"{e[1]} {e[3]} fault at {e[2]:#x}"
    if k == "segv":
        return f"{e[1]} SIGSEGV at {e[2]:#x} ({e[3]})"
    if k == "cow":
        return f"{e[1]} COW: pfn {e[2]} → pfn {e[3]}" if e[2] is not None else f"{e[1]} COW: zero page → pfn {e[3]}"
    if k == "vma":
        if e[2] == "vm_flags":
            return f"{e[1]} vma{e[3]}.vm_flags = {format_vm_flags(e[4])}"
        if e[2] in ("split", "merge"):
            return f"{e[1]} vma{e[3]} {e[2]} (vma{e[4]})"
        return f"{e[1]} vma{e[3]} {e[2]}"
    if k == "rcu_free":
        return f"RCU frees {e[1]} {e[2]}"
    if k == "pgtable":
        return f"{e[1]} PTE table {e[2]} {e[3]}"
    if k == "fork":
        return f"{e[1]} forks {e[2]}"
    if k == "swap":
        return f"{e[1]}: pfn {e[2]} → swap slot {e[3]}"
    if k == "anon_vma":
        return f"{e[1]} vma {e[2]} gets anon_vma {e[3]}"
    return " ".join(str(x) for x in e)


def notable(events: tuple[Event, ...] | list[Event]) -> list[str]:
    return [format_event(e) for e in events if e[0] in NOTABLE]
