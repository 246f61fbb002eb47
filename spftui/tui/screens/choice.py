"""Pick one of a few options (a policy, a reuse rule, a branch)."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from .dialog import Dialog


class _Choices(OptionList):
    """The options, without wrapping around: ↓ on the last stays there. A wrap from Cancel
    landed on the first option, often the one that replaces or drops something."""

    def action_cursor_down(self) -> None:
        if self.highlighted is None or self.highlighted < self.option_count - 1:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.highlighted is None or self.highlighted > 0:
            super().action_cursor_up()


class ChoiceDialog(Dialog[str | None]):
    """Options as (value, name, description); returns the chosen value.

    `current` is highlighted first; `marked` puts ● before it, for a choice of a state (the
    policy in force, the branch shown). A default answer (Cancel) is not marked: the ● stayed
    on it while the cursor moved, and read as what Enter would choose."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        options: list[tuple[str, str, str]],
        current: str | None = None,
        note: str = "",
        *,
        marked: bool = True,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.current = current
        self.note = note
        self.marked = marked

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog choice-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            items = []
            for value, name, desc in self.options:
                head = Text()
                head.append("● " if self.marked and value == self.current else "  ", "bold #87d787")
                head.append(name, "bold")
                # the description under the name, every line of it (a wrapped one too) indented
                prompt = Group(head, Padding(Text(desc, "grey62"), (0, 0, 0, 2))) if desc else head
                items.append(Option(prompt, id=value))
            yield _Choices(*items, id="choices")
            if self.note:
                yield Label(self.note, classes="dialog-note")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.focus()
        for i, (value, _, _) in enumerate(self.options):
            if value == self.current:
                ol.highlighted = i

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.close(event.option.id)

    def action_cancel(self) -> None:
        self.close(None)
