"""Go to a step: a number, `start`, `end` (of the run), +N / -N from here, or a bookmark's name."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label

from ...scenario.model import MAX_STEPS
from .dialog import Dialog

END = -1
"""What `end` asks for: the end of the run (all threads finished, or a deadlock), run on to
if the recorded steps stop short of it; not merely the last step recorded so far."""


def parse_target(text: str, position: int, length: int, bookmarks: Mapping[str, int] | None = None) -> int:
    """The step a user typed, or END for `end`; raises ValueError with a sentence. A step past
    the recorded end is taken: the debugger runs on to it (as `spftui SCENARIO --goto N` does)."""
    marks = bookmarks or {}
    if not text.strip():  # (as the bookmark prompt: Enter pressed too soon keeps the dialog, and says what it takes)
        takes = ["a step number", "+N or -N", "start", "end"] + ([f"a bookmark ({', '.join(marks)})"] if marks else [])
        raise ValueError(f"type {', '.join(takes[:-1])} or {takes[-1]}; Esc cancels")
    if text.strip() in marks:  # (past the recorded end, as a number past it: the debugger runs on to it)
        return marks[text.strip()]
    t = text.strip().lower()
    if t in ("start", "0", "begin"):
        return 0
    if t in ("end", "$", "last"):
        return END
    try:
        if t.startswith(("+", "-")):
            n = position + int(t, 0)
        else:
            n = int(t, 0)
    except ValueError:
        folded = {k.lower(): k for k in marks}  # (a bookmark typed in other case is suggested too)
        near = [folded[k] for k in difflib.get_close_matches(text.strip().lower(), list(folded), n=1, cutoff=0.5)]
        hint = f"; did you mean the bookmark '{near[0]}'?" if near else ""
        raise ValueError(f"not a step number{' nor a bookmark' if marks else ''}: {text!r}{hint}") from None
    if n < 0:
        raise ValueError(f"step {n} is before the start (steps are 0 or more)")
    if n > MAX_STEPS:
        raise ValueError(f"step {n:,} is beyond the step limit ({MAX_STEPS:,})")
    return n


class GotoDialog(Dialog[int | None]):
    """Ask for a step of the recorded timeline (or past it, or END)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, position: int, length: int, bookmarks: Mapping[str, int] | None = None) -> None:
        super().__init__()
        self.position = position
        self.length = length
        self.bookmarks = dict(bookmarks or {})
        self.bookmark: str | None = None  # the bookmark the step typed named, if it was one

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog goto-dialog"):
            yield Label(f"Go to step (0–{self.length} recorded; now at {self.position})", classes="dialog-title")
            marks = f", or a bookmark ({', '.join(self.bookmarks)})" if self.bookmarks else ""
            yield Input(
                placeholder="a step (a later one runs on), +N, -N, start, end (of the run)" + marks,
                id="goto-input",
                suggester=SuggestFromList(list(self.bookmarks)) if self.bookmarks else None,
            )
            yield Label("", id="goto-error", classes="dialog-error")
            if self.bookmarks:  # (the placeholder is cut in a narrow window; this wraps)
                marked = ", ".join(f"{k} (step {v})" for k, v in self.bookmarks.items())
                yield Label(f"Bookmarks: {marked}", id="goto-bookmarks", classes="dialog-note")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            n = parse_target(event.value, self.position, self.length, self.bookmarks)
        except ValueError as err:
            self.query_one("#goto-error", Label).update(str(err))
            return
        self.bookmark = event.value.strip() if event.value.strip() in self.bookmarks else None
        self.close(n)

    def action_cancel(self) -> None:
        self.close(None)
