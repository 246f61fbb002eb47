"""The seqcount the policy validates, for the status line (seen on the first screen, even at 80x24).

`mmap_seq` per mm for the mm-wide checks (and classic, whose writers still
bump it); `vm_sequence` per VMA for Dufour's `vma-seq`; `mm_lock_seq` with
each VMA's `vm_lock_seq` for per-VMA locks. An odd seqcount means a writer
is inside.
"""

from __future__ import annotations

from rich.text import Text

from ..engine.session import Session
from . import palette as pal


def seqcounts(s: Session) -> Text:
    """E.g. `mmap_seq A 2 · B 0`, `vm_sequence A 0,1`, `mm_lock_seq A 1 (vm_lock_seq 1)`."""
    m = s.machine
    check = m.policy.check
    out = Text()
    field = {"vma-seq": "vm_sequence", "vma-read-lock": "mm_lock_seq"}.get(check, "mmap_seq")
    out.append(field, pal.LABEL)
    many = len(m.mms) > 1
    for i, (name, mm) in enumerate(m.mms.items()):
        out.append(" · " if i else " ", pal.DIM)
        if many:
            out.append(f"{name} ", pal.DIM)
        if check == "vma-seq":
            values = [m.vmas[v].vm_sequence for v in mm.vmas]
            for k, v in enumerate(values):
                out.append(("," if k else "") + str(v), pal.ODD if v % 2 else pal.VALUE)
            if not values:
                out.append("-", pal.DIM)
        elif check == "vma-read-lock":
            out.append(str(mm.mm_lock_seq), pal.VALUE)
            locked = [m.vmas[v].vm_lock_seq for v in mm.vmas]
            if locked:
                out.append(f" (vm_lock_seq {','.join(map(str, locked))})", pal.DIM)
        else:
            out.append(str(mm.mmap_seq), pal.ODD if mm.mmap_seq % 2 else pal.VALUE)
    return out
