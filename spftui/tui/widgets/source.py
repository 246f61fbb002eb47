"""The source pane: the kernel paths as listings of their named steps.

Every function's steps in source order (`kernel.steps.PATHS`), fault side
first, then the writers, like one source file. The gutter shows breakpoints
(● enabled, ○ disabled); the next column marks where every thread is (▶ the
step it runs next, ↩ a return point on its stack, ▷ where its next operation
starts). The pane follows the selected thread; the description of the step
under the cursor (`DOCS`) is printed below the listing.
"""

from __future__ import annotations

from functools import cache
from itertools import pairwise
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ...engine.view import DOCS, DONE, OP_ENTRY, PATHS, all_labels
from .. import palette as pal
from ..format import reflow
from ..view import View
from .lineview import LineView
from .pane import Pane, retitle

SOURCE_ORDER = (
    "user",
    "do_user_addr_fault",
    "handle_speculative_fault",
    "lock_vma_under_rcu",
    "__handle_mm_fault",
    "pte_offset_map_lock",
    "pte_map_lock",
    "handle_pte_fault",
    "do_anonymous_page",
    "do_wp_page",
    "wp_page_reuse",
    "wp_page_copy",
    "do_swap_page",
    "mmap_region",
    "__do_munmap",
    "zap_pte_range",
    "free_pgtables",
    "tlb_finish_mmu",
    "do_mprotect_pkey",
    "mprotect_fixup",
    "change_protection",
    "do_madvise",
    "dup_mmap",
    "copy_page_range",
    "shrink_page_list",
    "try_to_unmap_one",
)


@cache
def step_doc(label: str) -> str:
    """A step's description as flowing text: its docstring's hard line breaks joined, its
    paragraphs kept apart (the box under the listing wraps it to its width)."""
    return reflow(DOCS.get(label, ""))


def source_rows() -> list[tuple[str, str]]:
    """("func", name) and ("step", label) rows, in listing order."""
    all_labels()  # registers every path
    order = [f for f in SOURCE_ORDER if f in PATHS] + [f for f in PATHS if f not in SOURCE_ORDER]
    rows: list[tuple[str, str]] = []
    for func in order:
        rows.append(("func", func))
        rows.extend(("step", label) for label in PATHS[func])
    return rows


class SourceView(Pane):
    """The listing itself (a virtualised LineView)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.listing = source_rows()
        self.index = {label: i for i, (kind, label) in enumerate(self.listing) if kind == "step"}
        self.marker_width = 4

    def build(self, view: View) -> list[Any]:
        m = view.machine
        marks: dict[str, list[tuple[int, str]]] = {}
        callers: dict[str, list[tuple[int, str]]] = {}
        for t in m.threads:
            if t.state == DONE:
                continue
            if t.pc:
                marks.setdefault(t.pc, []).append((t.index, "▶"))
                for ret in t.stack:
                    marks.setdefault(ret, []).append((t.index, "↩"))
                chain = [*t.stack, t.pc]
                for outer, inner in pairwise(chain):
                    callers.setdefault(inner.split(":", 1)[0], []).append((t.index, outer))
            else:
                ops = m.ops[t.index]
                if t.op_index < len(ops):
                    entry = OP_ENTRY.get(ops[t.op_index].kind)
                    if entry:
                        marks.setdefault(entry, []).append((t.index, "▷"))
        bps: dict[str, bool] = {}
        for b in view.session.breakpoints.items:
            if b.kind == "step":
                bps[b.match] = bps.get(b.match, False) or b.enabled
        names = view.session.names
        self.marker_width = min(12, max((len(n) for n in names), default=2) + 2)
        rows: list[Any] = []
        for kind, name in self.listing:
            if kind == "func":
                rows.append((kind, name, tuple(callers.get(name, ())), None, ()))
            else:
                rows.append((kind, name, (), bps.get(name), tuple(marks.get(name, ()))))
        return rows

    def selectable(self, index: int) -> bool:
        return 0 <= index < len(self.listing) and self.listing[index][0] == "step"

    def draw(self, row: Any) -> Text:
        kind, name, callers, bp, marks = row
        assert self.view is not None
        names = self.view.session.names
        if kind == "func":
            line = Text(" " * (self.marker_width + 2))
            line.append(name, pal.FUNC)
            line.append("()", pal.DIM)
            for i, outer in callers:
                line.append("  ← ", pal.DIM)
                line.append(names[i], pal.thread_style(i))
                line.append(f" from {outer}", pal.DIM)
            return line
        line = Text()
        if bp is not None:
            line.append("● " if bp else "○ ", pal.BREAKPOINT if bp else pal.BREAKPOINT_OFF)
        else:
            line.append("  ")
        cell = Text()
        for i, sym in marks:
            if len(cell) + len(names[i]) + 1 > self.marker_width:
                cell.append("+", pal.DIM)
                break
            cell.append(sym + names[i], pal.thread_style(i) if sym == "▶" else pal.DIM)
        cell.pad_right(self.marker_width - len(cell))
        cell.truncate(self.marker_width)
        line.append_text(cell)
        point = name.split(":", 1)[1]
        here = any(sym == "▶" for _, sym in marks)
        line.append("  " + point, pal.VALUE if here else pal.POINT)
        doc = step_doc(name)
        if doc:
            line.append("  " + doc.split("\n", 1)[0], pal.DOC)  # (its first paragraph: the line cuts it)
        return line

    def label_at(self, index: int) -> str | None:
        if 0 <= index < len(self.listing) and self.listing[index][0] == "step":
            return self.listing[index][1]
        return None

    def follow(self, label: str | None) -> None:
        """Put the cursor on `label` and centre it."""
        if label is not None and label in self.index:
            self.move_cursor(self.index[label], scroll=False)
            self.reveal = (self.index[label], True)
            self.scroll_to_reveal()

    def watch_expr(self) -> str | None:
        return None


class DescriptionBox(VerticalScroll):
    """The box under the listing: as tall as the description, up to its max-height."""

    def on_resize(self) -> None:
        self.call_after_refresh(self.tell)

    def tell(self) -> None:
        pane = self.parent
        if isinstance(pane, SourcePane):
            pane.say_if_cut(self.max_scroll_y > 0)


class Description(Static):
    """The text in the box (its height follows the text: the box learns of it here)."""

    def on_resize(self) -> None:
        box = self.parent
        if isinstance(box, DescriptionBox):
            box.call_after_refresh(box.tell)


class SourcePane(Vertical):
    """The listing plus the description of the step under the cursor."""

    ALLOW_MAXIMIZE = True

    DEFAULT_CSS = """
    SourcePane { height: 1fr; }
    SourcePane > SourceView { height: 1fr; border: none; }
    SourcePane > #source-doc-box {
        height: auto; min-height: 2; max-height: 40%;
        /* No scrollbar: Textual 8 measures an auto height without it and then wraps the text
           narrower beside it, one line short. The subtitle says when there is more. */
        scrollbar-size-vertical: 0;
    }
    SourcePane.-maximized > #source-doc-box { max-height: 60%; }
    SourcePane #source-doc { height: auto; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        # Kept, not queried: a query misses children while a pane is zoomed or the screen changes.
        self._listing = SourceView(id="source-view")
        self._doc = Description("", id="source-doc", markup=False)
        # A long description scrolls (the wheel; `z` gives it the whole screen): never a
        # stop in the Tab order, which goes from pane to pane.
        self._doc_box = DescriptionBox(self._doc, id="source-doc-box", can_focus=False)
        self._followed: tuple[Any, ...] | None = None
        """Where the cursor last followed the thread: a refresh that moved nothing (`b` toggling a
        breakpoint, a refusal) leaves the cursor where the user put it."""

    def compose(self) -> ComposeResult:
        yield self._listing
        yield self._doc_box

    @property
    def listing(self) -> SourceView:
        return self._listing

    def show(self, view: View) -> None:
        listing = self.listing
        listing.show(view)
        t = view.machine.threads[view.selected] if view.machine.threads else None
        label = None
        name = view.session.names[view.selected] if t is not None else ""
        if t is not None:
            if t.pc:
                label = t.pc
            elif t.state != DONE and t.op_index < len(view.machine.ops[t.index]):
                label = OP_ENTRY.get(view.machine.ops[t.index][t.op_index].kind)
            else:  # finished: the step it took last, if it was the last step (else the cursor stayed
                last = view.session.last  # on another thread's line, under this thread's name)
                if last is not None and last.thread == name and last.step == view.session.position - 1:
                    label = last.label
        here = (view.epoch, view.session.position, view.selected, label)
        if here != self._followed:
            self._followed = here
            listing.follow(label)
        retitle(self, f"Source — {name}" if name else "Source")
        self._show_doc(listing.label_at(listing.cursor))

    def _show_doc(self, label: str | None) -> None:
        doc = self._doc
        if label is None:
            doc.update("", layout=False)
            return
        doc.update(Text.assemble((label, "bold"), "  ", step_doc(label)))  # (a longer one: a taller box)
        self._doc_box.scroll_home(animate=False)

    def say_if_cut(self, cut: bool) -> None:
        """Under the box, when the description goes on past it: how to read the rest."""
        self.border_subtitle = "description continues: wheel, or z to zoom" if cut else ""

    def on_line_view_cursor_moved(self, event: LineView.CursorMoved) -> None:
        # The description below may grow and shorten the listing: keep this row in view.
        self.listing.reveal = (event.index, False)
        self._show_doc(self.listing.label_at(event.index))

    def selected_label(self) -> str | None:
        listing = self.listing
        return listing.label_at(listing.cursor)
