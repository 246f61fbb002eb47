"""The narrated counterexample (or run): the whole text, scrollable, to reread and copy."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from .dialog import Dialog


def paragraphs(narration: str) -> str:
    """One thread's run per paragraph (`narrate` joins them with "; "), the violation last."""
    body, dash, violation = narration.partition(" — ")
    parts = [p.strip() for p in body.split("; ") if p.strip()]
    if dash:
        parts.append("— " + violation.strip())
    return "\n\n".join(parts)


class NarrationScreen(Dialog[None]):
    """`title` over the narration; `c` copies it to the clipboard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy"),
        Binding("escape,q,enter", "close_screen", "Close"),
    ]

    def __init__(self, title: str, narration: str, header: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.narration = narration
        self.header = header

    @property
    def text(self) -> str:
        """What `c` copies: the header and the narration as one paragraph."""
        return f"{self.header}\n\n{self.narration}" if self.header else self.narration

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog narration-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.header:
                yield Static(self.header, id="narration-header", markup=False)
            with VerticalScroll(id="narration-scroll"):
                yield Static(paragraphs(self.narration), id="narration-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy (c)", variant="primary", id="copy")
                yield Button("Close (Esc)", id="close")

    def on_mount(self) -> None:
        self.query_one("#narration-scroll").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.close(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.app.notify(f"Copied the narration ({len(self.text):,} characters).", title="Clipboard")

    def action_close_screen(self) -> None:
        self.close(None)
