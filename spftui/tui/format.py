"""Kernel values as the panes print them: addresses, PTEs, flags, locals."""

from __future__ import annotations

from typing import Any

from ..engine.view import PAGE_SHIFT, VM_READ, VM_SHARED, VM_WRITE, format_pte


def addr(value: int) -> str:
    """A user address: `0x10000`."""
    return f"{value:#x}"


def vpn_addr(vpn: int) -> str:
    return f"{vpn << PAGE_SHIFT:#x}"


def vm_flags(flags: int) -> str:
    """`rw-p`, as /proc/PID/maps prints it."""
    return (
        ("r" if flags & VM_READ else "-")
        + ("w" if flags & VM_WRITE else "-")
        + "-"
        + ("s" if flags & VM_SHARED else "p")
    )


def pte(value: int) -> str:
    """`pfn 5 W A D`, `swap 2`, `none`."""
    return format_pte(value)


def vma_range(start: int, end: int) -> str:
    return f"{start:#x}-{end:#x}"


def pvma(copy: tuple[int, int, int, int | None]) -> str:
    """A speculative VMA copy: (vm_start, vm_end, vm_flags, anon_vma)."""
    start, end, flags, anon = copy
    text = f"{vma_range(start, end)} {vm_flags(flags)}"
    return text + (f" av{anon}" if anon is not None else " no anon_vma")


def words(values: list[int] | tuple[int, ...]) -> str:
    return "[" + " ".join(str(w) for w in values) + "]"


def local(key: str, value: Any) -> str:
    """One fault local (`vmf[key]`) in the units a kernel developer expects."""
    if value is None:
        return f"{key} —"
    if key in ("orig_pte",):
        return f"{key} {pte(value)}"
    if key == "pvma":
        return f"vma copy {pvma(value)}"
    if key in ("page", "new_page"):
        return f"{key} pfn {value}"
    if key in ("addr", "start", "end"):
        return f"{key} {addr(value)}" if isinstance(value, int) else f"{key} {value}"
    if key == "ptl":
        return f"ptl table {value}"
    if isinstance(value, bool):
        return key if value else f"!{key}"
    if isinstance(value, tuple):
        return f"{key} " + (",".join(str(v) for v in value) or "—")
    return f"{key} {value}"


def count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
