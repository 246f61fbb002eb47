"""Kernel values as the panes print them: addresses, PTEs, flags, locals."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

from ..engine.describe import history_text, value_text
from ..engine.view import (
    PAGE_SHIFT,
    VM_READ,
    VM_SHARED,
    VM_UFFD_WP,
    VM_WRITE,
    Aba,
    Invalidated,
    Validate,
    format_foll,
    format_pte,
    local_is_vpn,
)


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


def vma_notes(flags: int) -> str:
    """What /proc/PID/maps does not print: `  uffd-wp` for a VMA registered for write-protect faults."""
    return "  uffd-wp" if flags & VM_UFFD_WP else ""


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


def local(key: str, value: Any, vmf: Mapping[str, Any] | None = None) -> str:
    """One fault local (`vmf[key]`, `vmf` its thread's locals) in the units a kernel developer
    expects: addresses in hex (a page number as the address it starts), GUP flags by name."""
    if value is None:
        return f"{key} —"
    if vmf is not None and local_is_vpn(key, vmf) and isinstance(value, int):
        return f"{key} {vpn_addr(value)}"
    if key == "gup_foll" and isinstance(value, int) and not isinstance(value, bool):
        return f"{key} {format_foll(value)}"
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


def reflow(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph (a docstring's, a scenario description's):
    the widget wraps them to its own width. Paragraphs stay apart."""
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# ------------------------------------------------------------ validation checks
def _short(obj: str) -> str:
    """What a check compared, without the process and address the pane already shows."""
    return {"pte": "", "vma": "vma", "pmd": "pmd"}.get(obj, obj)


def check_text(e: Validate) -> str:
    """A check, short: "SEQ2 ✓ mmap_seq 0 = 0", "pte_same ✓ pfn 1 RO A D", "SEQ1 ✗ mmap_seq 0 ≠ 4"."""
    mark = "✓" if e.ok else "✗"
    what = _short(e.obj)
    snap, cur = value_text(e.obj, e.snapshot), value_text(e.obj, e.current)
    head = f"{e.check} {mark} {what}".rstrip()
    if e.check == "seq_start":
        return f"{head} {snap} ({'even' if e.ok else 'odd: a writer is inside'})"
    if e.check == "vma_start_read":
        return f"{head} {snap} {'≠' if e.snapshot != e.current else '='} mm_lock_seq {cur}"
    if e.snapshot == e.current:  # a value compared with itself is said once (but a count: "0 = 0")
        return f"{head} {snap}" if e.obj in ("pte", "vma", "pmd") else f"{head} {snap} = {cur}"
    return f"{head} {snap} {'=' if e.ok else '≠'} {cur}"


def aba_text(e: Aba) -> str:
    """An ABA, short: "REFETCH passed by ABA: A.vma[0x10000] rw-p → r--p (A2 #40) → rw-p (A2 #45); …"."""
    return f"{e.check} passed by ABA: {history_text(e.changes, short=True)}"


def invalidated_text(e: Invalidated) -> str:
    return f"{e.check} ✗ because {history_text(e.changes, short=True)}"


def toast_path(path: str, columns: int) -> str:
    """`path` as a toast shows it on a `columns`-wide terminal: `~` for the home folder, on lines
    broken after a `/` (Textual's wrap cut it mid-name: `…perfetto.js` / `on`).

    A toast is 60 cells wide at most and half the terminal; its padding and edge take 3."""
    return path_lines(home_path(path), _toast_width(columns))


def path_lines(path: str, width: int) -> str:
    """`path` on lines of `width` cells broken after a `/` or `.` (a wrap cuts it mid-name)."""
    lines: list[str] = []
    line = ""
    for part in re.split(r"(?<=[/.])", path):  # each folder keeps its `/`
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    return "\n".join(lines)


def home_path(path: str) -> str:
    """`path` with `~` for the home folder."""
    home = os.path.expanduser("~")
    if home not in ("", "/", "~") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home) :]
    return path


def _toast_width(columns: int) -> int:
    return max(10, min(60, columns // 2) - 3)


def toast_command(command: str, path: str, columns: int) -> str:
    """`command path` for a toast, to copy into a shell: the path relative to the current
    folder when it is in it (else `~/…` under the home folder), quoted when the shell needs
    it; the path goes on lines of its own (`toast_path`) when the whole does not fit."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    if rel.startswith(os.pardir):
        rel = path
    home = os.path.expanduser("~")
    tilde = home not in ("", "/", "~") and rel.startswith(home + os.sep)
    arg = "~/" + shlex.quote(rel[len(home) + 1 :]) if tilde else shlex.quote(rel)
    if len(command) + 1 + len(arg) <= _toast_width(columns):
        return f"{command} {arg}"
    return f"{command}\n{toast_path(arg, columns)}"


def branch_note(b: Any) -> str:
    """A stored branch beside the timeline shown (a `Branch`): where they part, and its size."""
    return f"differs from this one from step {b.at + 1} · {count(len(b), 'step')} · {count(len(b.marks), 'mark')}"
