"""The mm / seqcounts pane: mmap_lock, mmap_seq with its history, per-VMA seqs.

Per process: who holds `mmap_lock` and who waits; `mmap_seq` with a strip of
its recent values (one cell per step, odd values — a writer inside — in
amber) and the values speculative faults sampled; `mm_lock_seq`; and per VMA
its `vm_sequence`, `vm_lock_seq`, readers and whether it is detached.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ...engine.view import Machine
from .. import format as fmt
from .. import palette as pal
from ..view import View
from .pane import Pane, retitle

BARS = "▁▂▃▄▅▆▇█"
LOCK_MODE = {"r": "read", "w": "write"}
"""How a waiter on mmap_lock wants it (the kernel's queue records "r" or "w")."""


def sparkline(values: list[int | None], here_style: Any = None) -> Text:
    """One cell per value, scaled to the window; odd values in amber."""
    known = [v for v in values if v is not None]
    out = Text()
    if not known:
        return out
    lo, hi = min(known), max(known)
    span = max(hi - lo, 1)
    for v in values:
        if v is None:
            out.append(" ")
            continue
        bar = BARS[min(len(BARS) - 1, (v - lo) * (len(BARS) - 1) // span)] if hi > lo else BARS[0]
        out.append(bar, pal.ODD if v % 2 else pal.SAME)
    return out


class MmPane(Pane):
    """Locks and sequence counts, per process."""

    TITLE = "mm / seqcounts"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.exprs: list[str | None] = []  # row -> what `w` watches there

    def build(self, view: View) -> list[Any]:
        m = view.machine
        rows: list[Any] = []
        self.exprs = []
        width = self.text_width
        names = view.session.names
        for index, (name, mm) in enumerate(m.mms.items()):
            old = view.before.mms.get(name) if view.before is not None else None
            head = Text()
            head.append(name, pal.FUNC)
            if not mm.exists:  # (its fork has not returned: dup_mmap may be copying into it already)
                head.append("  (being forked: dup_mmap copies into it)" if mm.vmas else "  (not forked yet)", pal.DIM)
                rows.append(head)
                self.exprs.append(None)
                continue
            head.append("  mmap_lock ", pal.LABEL)
            lock = self._lock(m, mm, names)
            changed_lock = old is not None and (
                old.lock_writer != mm.lock_writer
                or old.lock_readers != mm.lock_readers
                or old.lock_waiters != mm.lock_waiters
            )
            head.append_text(lock if not changed_lock else Text(lock.plain, pal.CHANGED))
            head.append("   mm_lock_seq ", pal.LABEL)
            if (name, "mm_lock_seq") in view.seq_changed and old is not None:
                head.append(f"{old.mm_lock_seq}→{mm.mm_lock_seq}", pal.CHANGED)
            else:
                head.append(str(mm.mm_lock_seq), pal.VALUE)
            if mm.downgraded:
                head.append("  downgraded", pal.ODD)
            if mm.tlb_flush_pending:
                head.append(f"  tlb_flush_pending {mm.tlb_flush_pending}", pal.ODD)
            head.append(f"   users {mm.mm_users}", pal.DIM)
            rows.append(head)
            self.exprs.append(f"{name}.mmap_lock")

            seq = Text("   mmap_seq ", pal.LABEL)
            val = f"{mm.mmap_seq}"
            if (name, "mmap_seq") in view.seq_changed and old is not None:
                seq.append(f"{old.mmap_seq}→{val}", pal.CHANGED)
            else:
                seq.append(val, pal.ODD if mm.mmap_seq % 2 else pal.VALUE)
            seq.append(" odd: writer inside " if mm.mmap_seq % 2 else " ", pal.ODD)
            samples = [
                (t.index, t.vmf["seq"])
                for t in m.threads
                if t.mm == name and t.vmf.get("mode") == "spf" and "seq" in t.vmf
            ]
            tail = Text()
            for i, s in samples:
                tail.append(" ")
                tail.append(names[i], pal.thread_style(i))
                tail.append(f" sampled {s}", pal.STALE if s != mm.mmap_seq else pal.SAME)
            room = width - len(seq) - len(tail) - 3  # a scrollbar may take a column
            if room >= 8:
                seq.append(" ")
                seq.append_text(sparkline(view.recent.history(view.position, index, room)))
            seq.append_text(tail)
            rows.append(seq)
            self.exprs.append(f"{name}.mmap_seq")
            if len(mm.maple) > 1:  # a stack expansion replaced the VMA index's node (kernel/stack.py)
                tree = Text(f"   maple root node {len(mm.maple) - 1}", pal.LABEL)
                for node, state in enumerate(mm.maple[:-1]):
                    tree.append(f" · node {node} {state}", pal.STALE if state == "freed" else pal.ODD)
                tree.append("  (call_rcu)" if "dead" in mm.maple else "", pal.DIM)
                rows.append(tree)
                self.exprs.append(None)

            for v in m.vmas:
                if v.free or v.mm != name:
                    continue
                rows.append(self._vma(view, m, v, names))
                self.exprs.append(None if v.detached else f"{name}.vma[{v.vm_start:#x}].vm_sequence")
        retitle(self, "mm / seqcounts")
        return rows

    def _lock(self, m: Machine, mm: Any, names: list[str]) -> Text:
        """`read-locked by A1,A2` / `write-locked by B` / `free`, then who waits and for what:
        never a bare `R W`, which read as "read-write" when a thread is named W."""
        out = Text()
        if mm.lock_writer is not None:
            out.append("write-locked by ", pal.BLOCKED)
            out.append(names[mm.lock_writer], pal.thread_style(mm.lock_writer))
        elif mm.lock_readers:
            out.append("read-locked by ", pal.RUNNABLE)
            for k, r in enumerate(mm.lock_readers):
                if k:
                    out.append(",")
                out.append(names[r], pal.thread_style(r))
        else:
            out.append("free", pal.DIM)
        if mm.lock_waiters:
            out.append("  waiting: ", pal.LABEL)
            for k, (w, mode) in enumerate(mm.lock_waiters):
                if k:
                    out.append(", ")
                out.append(names[w], pal.thread_style(w))
                out.append(f" ({LOCK_MODE.get(mode, mode)})", pal.DIM)
        return out

    def _vma(self, view: View, m: Machine, v: Any, names: list[str]) -> Text:
        old = view.before.vmas[v.id] if view.before is not None and v.id < len(view.before.vmas) else None
        line = Text(f"   vma{v.id} ", pal.LABEL)
        line.append(fmt.vma_range(v.vm_start, v.vm_end), pal.ADDR)
        line.append("  vm_sequence ", pal.LABEL)
        if old is not None and not old.free and old.vm_sequence != v.vm_sequence:
            line.append(f"{old.vm_sequence}→{v.vm_sequence}", pal.CHANGED)
        else:
            line.append(str(v.vm_sequence), pal.ODD if v.vm_sequence % 2 else pal.VALUE)
        line.append("  vm_lock_seq ", pal.LABEL)
        line.append(str(v.vm_lock_seq), pal.VALUE)
        if v.lock_readers:  # the per-VMA lock
            line.append("  read-locked by " + ",".join(names[r] for r in v.lock_readers), pal.RUNNABLE)
        if v.lock_writer is not None:
            line.append(f"  write-locked by {names[v.lock_writer]}", pal.BLOCKED)
        if v.lock_waiters:
            line.append("  waiting " + ",".join(names[w] for w in v.lock_waiters), pal.BLOCKED)
        if v.detached:
            line.append("  detached", pal.STALE)
        if v.dying:
            line.append("  dying", pal.DIM)
        return line

    def watch_expr(self) -> str | None:
        return self.exprs[self.cursor] if 0 <= self.cursor < len(self.exprs) else None
