"""The threads pane: who each thread is, where it is, what it holds and sampled.

One block per thread: name, process, CPU, state and current operation; the
kernel backtrace (innermost first); locks and page references held; the
fault's snapshot in its `vmf` (sampled seq, VMA copy, `orig_pte`, pages), labelled
by the fault's mode (`spf`, `dufour`, `vmalock`, `classic`, `gup`),
with the live value beside it when they differ; the checks its fault made so
far, with what each compared (✓ passed, ✗ failed, ≋ passed by ABA).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.dom import NoScreen
from textual.message import Message
from textual.widget import Widget

from ...engine.history import in_fault
from ...engine.view import BLOCKED, DONE, OP_ENTRY, Aba, Invalidated, Machine, Validate
from .. import format as fmt
from .. import palette as pal
from ..lookup import pte_at, vma_at
from ..steps import facts
from ..view import View
from .pane import Pane, retitle, wrap_parts

SNAPSHOT_KEYS = ("seq", "pvma", "orig_pte", "page", "new_page")
QUIET_KEYS = ("addr", "write", "mode", *SNAPSHOT_KEYS)


def locks_held(m: Machine) -> dict[int, list[str]]:
    """Thread index -> the locks it holds, in kernel names, and how (read, write: never a bare
    R or W, which a thread may be named)."""
    held: dict[int, list[str]] = {}
    for name, mm in m.mms.items():
        if mm.lock_writer is not None:
            held.setdefault(mm.lock_writer, []).append(f"mmap_lock({name}) write")
        for r in mm.lock_readers:
            held.setdefault(r, []).append(f"mmap_lock({name}) read")
    for v in m.vmas:
        if v.free:
            continue
        for r in v.lock_readers:
            held.setdefault(r, []).append(f"vm_lock(vma{v.id}) read")
        if v.lock_writer is not None:
            held.setdefault(v.lock_writer, []).append(f"vm_lock(vma{v.id}) write")
    for table in m.tables:
        if table.ptl is not None and not table.free:
            held.setdefault(table.ptl, []).append(f"ptl(table {table.id})")
    for f in m.frames:
        if f.locked is not None:
            held.setdefault(f.locked, []).append(f"PG_locked(pfn {f.pfn})")
    for t in m.threads:
        if t.rcu_depth:
            held.setdefault(t.index, []).append("rcu_read_lock")
    return held


class ThreadsPane(Pane):
    """Per-thread blocks; the cursor selects a thread."""

    TITLE = "Threads"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.owner: list[int] = []  # row -> thread index
        self.heads: list[int] = []  # thread index -> its first row
        self.block_end = 0  # last row of the selected thread's block
        self.checks: dict[int, list[Any]] = {}
        self.high_water = (None, 0)
        """(timeline, width, room) and the most rows shown there: fewer are padded up to it."""

    class Selected(Message):
        """The user picked a thread."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def build(self, view: View) -> list[Any]:
        m = view.machine
        held = locks_held(m)
        self.checks = facts(view.session).checks(view.session, view.epoch)
        width = self.text_width
        rows: list[Any] = []
        self.owner = []
        self.heads = []
        blocks = [self._block(view, t.index, held.get(t.index, []), width) for t in m.threads]
        room = self._room()
        if sum(len(b) for b in blocks) > room:
            # Not enough room: only the selected thread keeps its details.
            blocks = [b if i == view.selected else [self._summary(view, i)] for i, b in enumerate(blocks)]
        for t in m.threads:
            block = blocks[t.index]
            self.heads.append(len(rows))
            for line in block:
                bar = Text("▌" if t.index == view.selected else " ", pal.thread_style(t.index))
                rows.append(bar + line)
                self.owner.append(t.index)
        # The pane is as tall as its rows (up to its share of the screen): a step
        # that adds or drops a `holds` or snapshot line would reflow every pane below.
        # Pad to the most rows shown on this timeline at this size instead.
        where = (view.epoch, width, room)
        most = max(len(rows), self.high_water[1]) if self.high_water[0] == where else len(rows)
        self.high_water = (where, most)
        rows.extend(Text("") for _ in range(min(most, room) - len(rows)))
        sel = view.selected
        if 0 <= sel < len(self.heads):
            self.cursor = self.heads[sel]
            end = self.heads[sel + 1] - 1 if sel + 1 < len(self.heads) else len(self.owner) - 1
            self.reveal = (self.heads[sel], False)
            self.block_end = end
        names = view.session.names
        retitle(self, f"Threads · {len(names)}")
        return rows

    def _room(self) -> int:
        """Rows this pane may grow to (it is `height: auto` under a max-height)."""
        parent = self.parent
        height = parent.size.height if isinstance(parent, Widget) and parent.size.height else 40
        try:
            narrow = self.screen.has_class("narrow")
        except NoScreen:  # a rebuild while the pane is detached (a zoom or a screen switch)
            narrow = False
        share = 0.6 if narrow else 0.55
        return max(4, int(height * share) - 2)

    def scroll_to_reveal(self) -> None:
        """Show the whole selected block when it fits, its head in any case."""
        if self.reveal is not None and self.scrollable_content_region.height > 0:
            self.show_row(self.block_end)
        super().scroll_to_reveal()

    def selectable(self, index: int) -> bool:
        return index in self.heads

    def _block(self, view: View, i: int, held: list[str], width: int) -> list[Text]:
        m = view.machine
        t = m.threads[i]
        before = view.before.threads[i] if view.before is not None else None
        ran = view.ran == i
        head = Text()
        head.append(f"{i + 1} " if i < 9 else "  ", pal.DIM)
        # padded alike, so the thread that just ran (shown as a chip) keeps the columns of the others
        head.append(f" {t.name} ", pal.RAN if ran else pal.thread_style(i))
        head.append(f" {t.mm}·cpu{i}  ", pal.DIM)
        if t.state == BLOCKED:
            head.append("blocked", pal.BLOCKED)
            head.append(f" on {t.blocked_on}", pal.BLOCKED)
        elif t.state == DONE:
            head.append("done", pal.DONE)
        else:
            head.append("runnable", pal.RUNNABLE)
        ops = m.ops[i]
        if t.state != DONE and t.op_index < len(ops):
            head.append("  " + ops[t.op_index].text, pal.VALUE)
            if m.repeats[i] > 1:
                head.append(f"  ×{t.iteration + 1}/{m.repeats[i]}", pal.DIM)
        lines = [head]
        lines.append(self._where(view, i))
        if held or t.refs:
            parts = [Text(h, "#ffaf5f") for h in held]
            if t.refs:
                parts.append(Text("refs pfn " + ",".join(str(p) for p in t.refs), pal.VALUE))
            lines += wrap_parts(Text("    holds ", pal.LABEL), parts, width - 1)
        lines += self._check_lines(view, i, width - 1)
        # Between faults (the access retried, GUP's loop) the vmf holds no fault's snapshot.
        snap = self._snapshot(view, i, before.vmf if before is not None else {}) if in_fault(t) else []
        if snap:  # labelled by the fault's mode: `spf` only for a speculative one
            mode = str(t.vmf.get("mode") or "fault")
            lines += wrap_parts(Text(f"    {mode:<5} ", pal.LABEL), snap, width - 1)
        extra = [
            self._local(k, v, before.vmf if before is not None else {}, t.vmf)
            for k, v in sorted(t.vmf.items())
            if k not in QUIET_KEYS
        ]
        if extra:
            lines += wrap_parts(Text("    vmf   ", pal.LABEL), extra, width - 1)
        return lines

    def _check_lines(self, view: View, i: int, width: int) -> list[Text]:
        """For the checks that passed by ABA, every value each object took and who wrote it;
        then thread i's checks so far, the latest first (the last step's highlighted)."""
        last = view.last
        new = list(last.events) if last is not None and view.ran == i else []
        parts: list[Text] = []
        aba_checks: list[str] = []
        objects: dict[str, list[Any]] = {}
        failed: list[Text] = []
        for e in reversed(self.checks.get(i, ())):
            if type(e) is Validate:
                style = pal.CHANGED if e in new else pal.PASSED if e.ok else pal.FAILED
                parts.append(Text(fmt.check_text(e), style))
            elif type(e) is Aba:
                aba_checks.append(e.check)
                for o in e.objects:
                    objects.setdefault(o, [c for c in e.changes if c.object == o])
            elif type(e) is Invalidated:  # a failed check: what the object went through, and who wrote it
                steps = [Text(f"✗ {e.check} failed: {e.changes[0].object} {e.changes[0].value}", pal.FAILED)]
                steps += [Text(f"→ {c.value} ({c.thread} #{c.step})", pal.FAILED) for c in e.changes[1:]]
                failed += wrap_parts(Text("    "), steps, width, indent="      ", sep=" ")
        lines: list[Text] = list(failed)
        if aba_checks:  # first: the pane may be short, and this is what went wrong
            head = Text.assemble(
                ("    ", ""), ("≋", pal.ABA), (f" {', '.join(aba_checks)} passed by ABA:", pal.ABA_TEXT)
            )
            lines += wrap_parts(head, [], width)
            for o, changes in objects.items():
                steps = [Text(f"{o} {changes[0].value}", pal.ABA_TEXT)]
                steps += [Text(f"→ {c.value} ({c.thread} #{c.step})", pal.ABA_TEXT) for c in changes[1:]]
                lines += wrap_parts(Text("      "), steps, width, indent="        ", sep=" ")
        if parts:
            lines += wrap_parts(Text("    check ", pal.LABEL), parts, width)
        return lines

    def _summary(self, view: View, i: int) -> Text:
        """One line: name, state, where."""
        t = view.machine.threads[i]
        ran = view.ran == i
        line = Text()
        line.append(f"{i + 1} " if i < 9 else "  ", pal.DIM)
        line.append(f" {t.name} " if ran else t.name, pal.RAN if ran else pal.thread_style(i))
        line.append("  ")
        if t.state == BLOCKED:
            line.append(f"blocked on {t.blocked_on}", pal.BLOCKED)
        elif t.state == DONE:
            line.append("done", pal.DONE)
        else:
            line.append_text(self._where(view, i)[4:])
        return line

    def _where(self, view: View, i: int) -> Text:
        t = view.machine.threads[i]
        line = Text("    ")
        if t.state == DONE:
            line.append("✓ ", pal.DONE)
            line.append(t.result or "finished", pal.DONE)
            return line
        if not t.pc:
            ops = view.machine.ops[i]
            entry = OP_ENTRY.get(ops[t.op_index].kind, "") if t.op_index < len(ops) else ""
            line.append("▷ next ", pal.DIM)
            line.append(entry, pal.POINT)
            if t.result:
                line.append(f"   last: {t.result}", pal.DIM)
            return line
        line.append("▶ ", pal.thread_style(i))
        line.append(t.pc, pal.POINT)
        for ret in reversed(t.stack):
            line.append(" ← ", pal.DIM)
            line.append(ret, pal.LABEL)
        if in_fault(t) and t.vmf.get("addr") is not None and "write" in t.vmf:
            kind = "write" if t.vmf["write"] else "read"
            line.append(f"   {kind} fault {fmt.addr(t.vmf['addr'])}", pal.DIM)
            mode = t.vmf.get("mode")
            if mode:
                line.append(f" ({mode})", pal.DIM)
        return line

    def _local(self, key: str, value: Any, before: dict[str, Any], vmf: dict[str, Any] | None = None) -> Text:
        changed = key not in before or before[key] != value
        return Text(fmt.local(key, value, vmf), pal.CHANGED if changed and before is not None else pal.VALUE)

    def _snapshot(self, view: View, i: int, before: dict[str, Any]) -> list[Text]:
        m = view.machine
        t = m.threads[i]
        vmf = t.vmf
        parts: list[Text] = []
        for key in SNAPSHOT_KEYS:
            if key not in vmf or (key == "page" and vmf[key] is None):
                continue
            part = self._local(key, vmf[key], before)
            live = self._live(m, t, key, vmf[key])
            if live is not None:
                part.append(f" (now {live})", pal.STALE)
            parts.append(part)
        return parts

    def _live(self, m: Machine, t: Any, key: str, value: Any) -> str | None:
        """The live value when the snapshot no longer matches it."""
        vmf = t.vmf
        if key == "seq" and vmf.get("mode") == "spf":
            now = m.mms[t.mm].mmap_seq
            return str(now) if now != value else None
        if key == "seq" and vmf.get("mode") == "dufour" and vmf.get("vma") is not None:
            now = m.vmas[vmf["vma"]].vm_sequence
            return str(now) if now != value else None
        if key == "orig_pte" and "addr" in vmf:
            live = pte_at(m, t.mm, vmf["addr"] >> 12)
            return fmt.pte(live) if live != value else None
        if key == "pvma" and "addr" in vmf:
            v = vma_at(m, t.mm, vmf["addr"])
            if v is None:
                return "no VMA"
            return fmt.pvma(v.copy_fields()) if v.copy_fields() != value else None
        return None

    def thread_at(self, index: int) -> int | None:
        return self.owner[index] if 0 <= index < len(self.owner) else None

    def on_line_view_cursor_moved(self, event: Pane.CursorMoved) -> None:
        if event.view is not self:
            return
        event.stop()
        i = self.thread_at(event.index)
        if i is not None:
            self.post_message(self.Selected(i))

    def watch_expr(self) -> str | None:
        i = self.thread_at(self.cursor)
        if i is None or self.view is None:
            return None
        return f"{self.view.session.names[i]}.pc"
