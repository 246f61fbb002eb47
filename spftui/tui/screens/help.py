"""The help screen: keys, and how to read the panes."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from .dialog import Dialog

KEYS = (
    ("s", "step: one step of the scheduler (or of the recorded future)"),
    ("1–9", "step that thread and select it (▌) for u and f (from the past this starts a new branch)"),
    ("c", "continue to the next breakpoint (runs in the background; Esc interrupts)"),
    (
        "u",
        "run to the cursor: the selected thread (▌; click one in Threads, or Shift+Tab there and ↑/↓) runs "
        "alone to the source line under the cursor (on its own line: to its next pass there)",
    ),
    ("f", "finish: the selected thread runs alone until its fault returns, else its operation completes"),
    ("S", "step back one step"),
    ("C", "reverse-continue to the previous breakpoint"),
    ("g", "go to a step, a jump: breakpoints do not stop it (past the end: runs on; end: the run's end)"),
    ("b", "toggle a breakpoint on the source line under the cursor"),
    ("w", "watch the value under the cursor (PTE, frame, seq, thread)"),
    ("B", "add a breakpoint: abort, violation, aba (a check passed by ABA), step, watch, condition"),
    ("y", "why? the chain of causes of the value under the cursor (Enter goes to a cause)"),
    ("/ n N", "search and filter the timeline (thread:, label:, kind:, obj:); next / previous hit"),
    ("p / k", "switch validation policy / COW reuse rule (restarts at step 0)"),
    ("e", "explore interleavings for a violation in the background (Esc interrupts) and jump to it"),
    ("r", "restart at step 0 (breakpoints stay)"),
    ("o", "open a scenario"),
    ("v", "next view (narrow terminals show one group of panes at a time)"),
    ("z", "zoom the focused pane (Esc or z again to restore)"),
    ("Tab", "move between panes; ↑ ↓ PgUp PgDn Home End move the cursor; Enter chooses"),
    (
        "Ctrl+P",
        "command palette: every action, policies, branches, breakpoints; Compare with branch… (where two "
        "timelines part, and the reordered pair that matters); Race-window coverage (which writers ever ran "
        "inside which speculative windows)",
    ),
    ("m", "bookmark this step by name (g takes the name)"),
    ("t", "the narration: the explorer's counterexample (or this run) told step by step; c copies it"),
    ("Ctrl+S", "save the session as a file (breakpoints, watches, bookmarks, branches, step)"),
    ("x", "export this timeline as a Perfetto trace (ui.perfetto.dev, chrome://tracing)"),
    ("? F1", "this help (either closes it too)"),
    ("q", "quit (asks to save the session when there is unsaved work; it is offered again next time)"),
)

PANES = (
    (
        "Threads",
        "name, process and CPU; state; ▶ the next step and its backtrace (← callers); "
        "locks and page references held (read- or write-locked); the fault's snapshot, labelled by its mode "
        "(spf, dufour, vmalock, classic, gup): sampled seq, VMA copy, orig_pte, pages, with the live value in "
        "red when it no longer matches; `vmf` its other locals (GUP flags by name, zap ranges as addresses); "
        "`check` each check its fault made, "
        "with what it compared, and ≋ a check that passed by ABA with every value in between.",
    ),
    (
        "Source",
        "every kernel path as its named steps. ● breakpoint; ▶A1 the step A1 runs next; "
        "↩ a return point on a thread's stack; ▷ where a thread's next operation starts.",
    ),
    (
        "mm / seqcounts",
        "mmap_lock: read-locked by (the readers), write-locked by (the writer), or free, and who waits "
        "for it; mmap_seq with one cell per recent step "
        "(amber: odd, a writer is inside) and what faults sampled; mm_lock_seq; per-VMA vm_sequence, "
        "vm_lock_seq, who read- or write-locks the VMA, detached.",
    ),
    (
        "Page tables & VMAs",
        "VMAs with any speculative copy beside them; PTEs per table with the PTL "
        "holder; old → new for what the last step changed; each fault's orig_pte against the live value; "
        "stale TLB entries.",
    ),
    (
        "Physical pages",
        "page_count, page_mapcount, contents, flags, who maps it, who holds references; "
        "old→new for what the last step changed.",
    ),
    (
        "Timeline",
        "row n is the step that brings the run to step n, and what it changed. ✖ abort, ‼ violation, "
        "✓ / ✗ its checks passed / one failed, ≋ one passed by ABA, "
        "⑂ where another branch leaves. Dim rows are the recorded future. * a step you chose.",
    ),
    ("Breakpoints", "Space/Enter enable or disable, Delete removes (Ctrl+Z puts it back), a adds."),
)


class HelpScreen(Dialog[None]):
    """Keys and a reading guide."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark,f1,enter", "close", "Close")]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold #ffd75f", no_wrap=True)
        keys.add_column()
        for k, what in KEYS:
            keys.add_row(k, what)
        panes = Table.grid(padding=(0, 2))
        panes.add_column(style="bold #d7af87", no_wrap=True)
        panes.add_column()
        for name, what in PANES:
            panes.add_row(name, what)
        with VerticalScroll(classes="dialog help-dialog"):
            yield Label("spftui — keys (gdb TUI single-key style)", classes="dialog-title")
            yield Static(keys)
            yield Label("Reading the panes", classes="dialog-title")
            yield Static(panes)
            yield Static(Text("Esc closes.", style="grey50"))

    def action_close(self) -> None:
        self.close(None)
