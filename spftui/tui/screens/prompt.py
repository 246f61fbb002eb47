"""Ask for one line of text (a bookmark name, a file name), checked before it closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from ...engine.files import WriteError
from ..places import outside_write_dir, typed_path
from .dialog import Dialog


class PromptDialog(Dialog[str | None]):
    """Returns the text typed; `check(text)` returns a sentence to refuse it, or None.

    A `check` may do the work itself (Save session as writes the file): its failure
    then keeps the dialog open with the text typed and the reason under it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        placeholder: str = "",
        value: str = "",
        check: Callable[[str], str | None] | None = None,
        note: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.check = check
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog prompt-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label("", id="prompt-error", classes="dialog-error")
            if self.note:
                yield Static(self.note, classes="dialog-note", markup=False)  # (a Label did not wrap)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        problem = "type something, or Esc to cancel" if not text else self.check(text) if self.check else None
        if problem:
            self.query_one("#prompt-error", Label).update(problem)
            return
        self.close(text)

    def action_cancel(self) -> None:
        self.close(None)


def ask_where_to_save(
    app: App[Any],
    title: str,
    default: str,
    write: Callable[[str], str],
    note: str,
    told: Callable[[str], str],
    what: str,
) -> None:
    """Ask for a file name and write it on Enter (`write(absolute path)` returns the path
    written, or raises WriteError): a failure keeps the dialog open with the path typed and
    the reason under it; the file written is then told (`told(path)`, in a "`what` saved" toast)."""
    written: list[str] = []

    def save(path: str) -> str | None:
        refused = outside_write_dir(path)  # (served to a browser: only in the server's one folder)
        if refused is not None:
            return refused
        try:
            written.append(write(typed_path(path)))
        except WriteError as err:
            return str(err)
        return None

    def done(_: str | None) -> None:
        if written:
            app.notify(told(written[-1]), title=f"{what} saved", markup=False)

    app.push_screen(PromptDialog(title, "a file name", default, check=save, note=note), done)
