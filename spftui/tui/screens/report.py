"""A report over a whole run, worked out in a thread worker and shown in a scrollable screen.

The base of the branch diff and the race-window coverage screens. The work
runs off the UI thread (`compute`, given a `cancelled` callable) and only
posts its result; the screen says what it is doing meanwhile. Esc stops the
work (the screen then shows what `compute` returned so far, if anything) and,
once nothing runs, closes the screen.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Label, Static

from .dialog import Dialog


class ReportReady(Message):
    """The worker finished: its result, or the error it raised."""

    def __init__(self, result: Any, error: BaseException | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class ReportProgress(Message):
    """How far the worker is (posted from it: a closed screen drops it)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ReportScreen(Dialog[None]):
    """Subclasses give `title_text`, `compute(cancelled)` (in a thread) and `render(result)` (on the UI)."""

    DEFAULT_CSS = """
    ReportScreen .report-dialog { width: 96%; max-width: 130; height: 90%; padding: 0 1; }
    ReportScreen .dialog-title { margin-bottom: 0; width: 100%; }  /* (a long title wraps in the dialog) */
    ReportScreen #report-scroll { height: 1fr; background: $surface; padding: 0 1; }
    ReportScreen #report-state { color: $text-muted; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop_or_close", "Stop / close"),
        Binding("q", "close_screen", "Close"),
    ]

    title_text = "Report"
    keys = "↑↓ PgUp PgDn scroll · Esc closes"
    working = "working…"
    cancellable = True
    """Does `compute` stop when asked (else Esc closes at once and the result is dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self.running = False
        self.result: Any = None

    def compute(self, cancelled: Any) -> Any:
        raise NotImplementedError

    def render_result(self, result: Any) -> RenderableType:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog report-dialog") as box:
            box.border_subtitle = self.keys
            yield Label(self.title_text, classes="dialog-title", id="report-title")
            yield Static("", id="report-state")
            with VerticalScroll(id="report-scroll"):
                yield Static("", id="report-body")

    def on_mount(self) -> None:
        self.query_one("#report-scroll").focus()
        self.start()

    def start(self) -> None:
        """(Re)run `compute` in the background."""
        self.cancel.clear()
        self.running = True
        self.state(f"{self.working} ({'Esc stops' if self.cancellable else 'Esc closes'})")
        self._work()

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def _work(self) -> None:
        try:
            result = self.compute(self.cancel.is_set)
        except Exception as err:  # an engine bug is a sentence here, never a crash
            self.post_message(ReportReady(None, err))
            return
        self.post_message(ReportReady(result))

    def on_report_ready(self, message: ReportReady) -> None:
        self.running = False
        if message.error is not None:
            self.state(f"failed: {type(message.error).__name__}: {message.error}")
            return
        self.result = message.result
        if message.result is None:
            self.state("stopped: nothing to show")
            return
        self.state("")
        self.query_one("#report-body", Static).update(self.render_result(message.result))

    def on_report_progress(self, message: ReportProgress) -> None:
        if self.running and not self.cancel.is_set():  # (not over "stopping…")
            self.state(message.text)

    def state(self, text: str) -> None:
        widget = self.query_one("#report-state", Static)
        widget.update(text)
        widget.display = bool(text)

    def action_stop_or_close(self) -> None:
        if self.running and self.cancellable and not self.cancel.is_set():
            self.cancel.set()
            self.state("stopping…")
            return
        self.close(None)

    def action_close_screen(self) -> None:
        self.cancel.set()
        self.close(None)

    def on_unmount(self) -> None:
        self.cancel.set()  # a run left going would keep working for nobody


def step_cell(text: str, room: int, style: str = "") -> Text:
    """`A2 change_protection:flush_tlb_range` (thread, step label) in bold thread; longer than
    `room`, broken after the kernel function (a label wraps nowhere else)."""
    thread, _, label = text.partition(" ")
    func, colon, step = label.partition(":")
    out = Text(style=style)
    out.append(thread, "bold")
    if not label:
        return out
    if len(text) <= room or not colon:
        out.append(f" {label}")
    else:
        out.append(f" {func}:\n   {step}")
    return out
