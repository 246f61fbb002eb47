"""Quitting with unsaved work: Save, Discard or Cancel."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from ..format import home_path, path_lines
from .dialog import Dialog

SAVE, DISCARD = "save", "discard"

WIDTH = 72
"""The dialog's widest (app.tcss, `.quit-dialog`); else 90% of the screen."""


def text_width(columns: int) -> int:
    """The cells a line of the quit dialog has at `columns` (its border and padding take 6)."""
    return max(20, min(WIDTH, columns * 9 // 10) - 6)


class QuitDialog(Dialog[str | None]):
    """Returns SAVE, DISCARD, or None (cancel: stay)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "choose('save')", "Save"),
        Binding("d", "choose('discard')", "Discard"),
        Binding("escape,c", "choose('')", "Cancel"),
    ]

    def __init__(self, what: str, path: str, note: str = "") -> None:
        super().__init__()
        self.what = what
        self.path = path
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog quit-dialog"):
            yield Label("Save this session before quitting?", classes="dialog-title")
            # The path on lines of its own, broken after a `/` or `.` (a wrap cut it mid-name).
            path = path_lines(home_path(self.path), text_width(self.app.size.width))
            yield Static(
                f"{self.what}\nSave writes this file:\n{path}\n{self.note}".rstrip(), id="quit-what", markup=False
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (s)", variant="primary", id=SAVE)
                yield Button("Discard (d)", variant="error", id=DISCARD)
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#{SAVE}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id if event.button.id in (SAVE, DISCARD) else "")

    def action_choose(self, choice: str) -> None:
        self.close(choice or None)
