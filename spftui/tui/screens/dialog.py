"""The base of every modal: a dismissal that happens once.

`Screen.dismiss` pops whatever screen is on top. Two quick closes (Enter then
Esc, a double click on an option) would pop the debugger underneath; `close`
ignores every call after the first and any call while another screen is on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from textual.filter import LineFilter
from textual.screen import ModalScreen

R = TypeVar("R")


class Dialog(ModalScreen[R], Generic[R]):
    """A modal screen closed with `close(result)`."""

    _dismissing = False

    def close(self, result: R | None = None) -> None:
        if self._dismissing or self.app.screen is not self:
            return
        self._dismissing = True
        self.dismiss(result)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """The screen's own render is the tinted screen underneath, meant to recede: no
        contrast lift there (the dialog's widgets still get it: contrast.py)."""
        from ..contrast import ContrastFilter

        return [f for f in super().get_line_filters() if not isinstance(f, ContrastFilter)]
