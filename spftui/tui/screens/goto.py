"""Go to a step: a number, `start`, `end`, or +N / -N from here."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label

from .dialog import Dialog


def parse_target(text: str, position: int, length: int) -> int:
    """The step a user typed; raises ValueError with a sentence."""
    t = text.strip().lower()
    if t in ("start", "0", "begin"):
        return 0
    if t in ("end", "$", "last"):
        return length
    try:
        if t.startswith(("+", "-")):
            n = position + int(t, 0)
        else:
            n = int(t, 0)
    except ValueError:
        raise ValueError(f"not a step number: {text!r}") from None
    if not 0 <= n <= length:
        raise ValueError(f"step {n} is outside this timeline (0 to {length})")
    return n


class GotoDialog(Dialog[int | None]):
    """Ask for a step of the recorded timeline."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, position: int, length: int) -> None:
        super().__init__()
        self.position = position
        self.length = length

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog goto-dialog"):
            yield Label(f"Go to step (0–{self.length}; now at {self.position})", classes="dialog-title")
            yield Input(placeholder="a step number, +N, -N, start or end", id="goto-input")
            yield Label("", id="goto-error", classes="dialog-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            n = parse_target(event.value, self.position, self.length)
        except ValueError as err:
            self.query_one("#goto-error", Label).update(str(err))
            return
        self.close(n)

    def action_cancel(self) -> None:
        self.close(None)
