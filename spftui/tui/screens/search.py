"""`/`: search and filter the timeline (by thread, label, event kind, object)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from ..search import Query, QueryError
from .dialog import Dialog

HINT = (
    "Words must all match: thread:A2 (t:), label:seq_check (l:), kind:aba (k: validate, spf_abort, pte, …), "
    "obj:A.pte[0x10000] (o:), or a bare word for any of them. Enter filters the timeline; n / N jump "
    "between the hits. Empty: show every step again."
)


class SearchDialog(Dialog[Query | str | None]):
    """Returns a Query, "" to clear the search, or None (Esc)."""

    DEFAULT_CSS = """
    SearchDialog .search-dialog { max-width: 84; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog search-dialog"):
            yield Label("Search the timeline", classes="dialog-title")
            yield Input(value=self.current, placeholder="e.g. kind:aba, A2 mprotect, obj:mmap_seq", id="search-input")
            yield Static(HINT, classes="dialog-note")
            yield Label("", id="search-error", classes="dialog-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.close("")
            return
        try:
            self.close(Query.parse(event.value))
        except QueryError as err:
            self.query_one("#search-error", Label).update(str(err))

    def action_cancel(self) -> None:
        self.close(None)
