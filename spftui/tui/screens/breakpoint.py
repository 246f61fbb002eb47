"""Add a breakpoint: abort, violation, ABA (a check passed by ABA), step label, watch or condition.

Validated here (labels, thread names, expressions) so a typo is a message
under the field, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from ...engine import all_labels
from ...engine.breakpoints import KINDS, Breakpoint, make_breakpoint
from ...engine.expr import EvalError, Expr, ExprError
from ...engine.inspect import Names
from ...scenario.model import ABA_CHECKS as ABA_CHECKS  # (re-exported: the dialog's vocabulary)
from ...scenario.model import ABORT_REASONS as ABORT_REASONS
from ...scenario.model import ORACLE_KINDS
from .dialog import Dialog

HINTS = {
    "abort": (
        "reason",
        "Stops after a speculative fault aborts. Reason empty: any; e.g. " + ", ".join(ABORT_REASONS[:6]),
    ),
    "violation": ("oracle", "Stops when an oracle fires. Oracle empty: any; {oracles}"),
    "aba": (
        "check",
        "Stops when a validation passes by ABA: what it compared changed and changed back since the fault "
        "sampled it. Check empty: any; e.g. " + ", ".join(ABA_CHECKS),
    ),
    "step": ("step label", "Stops when a thread is about to run the step, e.g. wp_page_copy:copy"),
    "watch": ("expression", "Stops when the value changes, e.g. {p}.mmap_seq, {p}.pte[0x10000], frame[1].count"),
    "condition": ("expression", 'Stops when it becomes true, e.g. {p}.mmap_seq > 2 and {t}.state == "blocked"'),
}


PLACEHOLDERS = {
    "abort": "any reason (empty) or " + ", ".join(ABORT_REASONS[:4]) + ", …",
    "violation": "any oracle (empty) or {oracles3}, …",
    "aba": "any check (empty) or " + ", ".join(ABA_CHECKS[:4]) + ", …",
    "step": "a step label, e.g. wp_page_copy:copy",
    "watch": "an expression, e.g. {p}.pte[0x10000]",
    "condition": "an expression, e.g. {p}.mmap_seq > 2",
}
"""What the kind's field takes, in the field while it is empty (a blank field looked like a
blank line). Examples name the scenario's first process ({p}) and thread ({t}); {oracles}
and {oracles3} are its oracles (the built-in ones, then its own), all or the first three."""


class BreakpointDialog(Dialog[dict[str, Any] | None]):
    """Returns the keyword arguments for `BreakpointSet.add`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        # Before the field's own cursor keys: in an empty field they have nothing to move over,
        # and the kinds were reachable only by Tab (Right, Enter added an abort breakpoint).
        Binding("left", "kind(-1)", show=False, priority=True),
        Binding("right", "kind(1)", show=False, priority=True),
    ]

    def __init__(
        self,
        names: list[str],
        kind: str = "abort",
        match: str = "",
        expr: str = "",
        evaluate: Callable[[Expr], object] | None = None,
        known: Names | None = None,
    ) -> None:
        super().__init__()
        self.names = names
        self.known = known
        """The scenario's threads and processes: an expression naming others is refused (did-you-mean)."""
        self.evaluate = evaluate
        """The state to try the expressions on before accepting them."""
        self.warned: dict[str, Any] | None = None
        """Values whose evaluation error was shown once: Enter again adds them anyway."""
        self.kind = kind
        self.preset_match = match
        self.preset_expr = expr

    def _example(self, text: str) -> str:
        """`text` with the scenario's own names in its examples (`{p}`, `{t}`)."""
        p = self.known.processes[0] if self.known and self.known.processes else "A"
        oracles = self.oracles
        if self.known and self.known.oracles:  # (its own first: they are what the user came for)
            oracles = (*self.known.oracles, *ORACLE_KINDS)
        text = text.replace("{oracles}", ", ".join(self.oracles)).replace("{oracles3}", ", ".join(oracles[:3]))
        return text.replace("{p}", p).replace("{t}", self.names[0] if self.names else "A1")

    @property
    def oracles(self) -> tuple[str, ...]:
        """The oracles a violation breakpoint may name: the built-in ones, then the scenario's own."""
        return (*ORACLE_KINDS, *(self.known.oracles if self.known else ()))

    def compose(self) -> ComposeResult:
        labels = sorted(all_labels())
        with Vertical(classes="dialog breakpoint-dialog"):
            yield Label("Add a breakpoint  (←/→ in the empty field: another kind)", classes="dialog-title")
            with RadioSet(id="bp-kind", compact=True):
                for k in KINDS:
                    yield RadioButton(k, value=k == self.kind, id=f"kind-{k}")
            with Horizontal(classes="field", id="bp-match-row"):
                yield Label("", id="bp-match-label", classes="field-label")
                yield Input(
                    value=self.preset_match,
                    id="bp-match",
                    compact=True,
                    suggester=SuggestFromList(labels + list(ABORT_REASONS) + list(self.oracles) + list(ABA_CHECKS)),
                )
            with Horizontal(classes="field", id="bp-expr-row"):
                yield Label("expression", id="bp-expr-label", classes="field-label")
                yield Input(value=self.preset_expr, id="bp-expr", compact=True)
            with Horizontal(classes="field", id="bp-thread-row"):
                yield Label("thread", classes="field-label")
                yield Input(
                    id="bp-thread",
                    compact=True,
                    placeholder="any (" + ", ".join(self.names) + ")",
                    suggester=SuggestFromList(self.names),
                )
            with Horizontal(classes="field", id="bp-condition-row"):
                yield Label("only if", classes="field-label")
                yield Input(
                    id="bp-condition", compact=True, placeholder=self._example("optional, e.g. {p}.mmap_seq > 2")
                )
            yield Static("", id="bp-hint", classes="dialog-note")
            yield Label("", id="bp-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", variant="primary", id="add", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._show_kind(self.kind)
        self._field().focus()

    def _field(self) -> Input:
        """The kind's own field: its reason, oracle, check, label or expression."""
        return self.query_one("#bp-match" if self.kind in ("abort", "violation", "aba", "step") else "#bp-expr", Input)

    def action_kind(self, step: int) -> None:
        """←/→ in the kind's field while it is empty: the previous or next kind."""
        field = self._field()
        if self.focused is not field or field.value:
            raise SkipAction()  # (the key moves the cursor, or the radio buttons' highlight)
        kind = KINDS[(KINDS.index(self.kind) + step) % len(KINDS)]
        self._press(kind)
        self._show_kind(kind)
        self.set_focus(self._field())  # now: keys typed on at once go to the field shown

    def _press(self, kind: str) -> None:
        """Show `kind` pressed, at once and without the radio set's messages: a change
        posted per key and handled later let a burst of arrows lose steps."""
        with self.prevent(RadioButton.Changed):
            for k in KINDS:
                self.query_one(f"#kind-{k}", RadioButton).value = k == kind

    @on(RadioSet.Changed, "#bp-kind")
    def _kind_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self._press(str(event.pressed.label))  # (a button the arrows pressed is not the set's to release)
        self._show_kind(str(event.pressed.label))

    def _show_kind(self, kind: str) -> None:
        self.kind = kind
        uses_match = kind in ("abort", "violation", "aba", "step")
        self.query_one("#bp-match-row").display = uses_match
        self.query_one("#bp-expr-row").display = not uses_match
        self.query_one("#bp-thread-row").display = kind in ("abort", "aba", "step")
        self.query_one("#bp-condition-row").display = kind != "condition"  # (its expression is the condition)
        label, hint = HINTS[kind]
        hint = self._example(hint)
        if uses_match:
            self.query_one("#bp-match-label", Label).update(label)
        self.query_one("#bp-match" if uses_match else "#bp-expr", Input).placeholder = self._example(PLACEHOLDERS[kind])
        self.query_one("#bp-hint", Static).update(hint)
        self.query_one("#bp-error", Label).update("")

    def _values(self) -> dict[str, Any]:
        def val(wid: str) -> str:
            return self.query_one(wid, Input).value.strip()

        kind = self.kind
        out: dict[str, Any] = {"kind": kind}
        if kind in ("abort", "violation", "aba", "step"):
            out["match"] = val("#bp-match")
        else:
            out["expr"] = val("#bp-expr")
        if kind in ("abort", "aba", "step"):
            out["thread"] = val("#bp-thread")
        cond = val("#bp-condition") if kind != "condition" else ""
        if cond:
            out["condition"] = cond
        return out

    def _check(self, values: dict[str, Any]) -> str | None:
        thread = values.get("thread", "")
        if thread and thread not in self.names:
            return f"no thread {thread!r}; threads: {', '.join(self.names)}"
        try:
            bp = make_breakpoint(0, names=self.known, **values)
        except ExprError as err:
            return f"{err.message} (at column {err.position + 1})"
        except Exception as err:  # any other parse failure is a message here, never a crash
            return str(err) or type(err).__name__
        return self._try(bp, values)

    def _try(self, bp: Breakpoint, values: dict[str, Any]) -> str | None:
        """Evaluate the expressions on the current state.

        An evaluation error may be this state's (a thread not in a fault has no
        `orig_pte`): shown once, then Enter adds it anyway. Anything else the
        evaluator raises is an engine failure on this expression: refused.
        """
        if self.evaluate is None:
            return None
        for what, expr in (("expression", bp.expr), ("only if", bp.condition)):
            if expr is None:
                continue
            try:
                self.evaluate(expr)
            except EvalError as err:
                if self.warned == values:
                    continue
                self.warned = dict(values)
                return f"{what}: {err} — right now; Enter again adds it anyway"
            except Exception as err:
                return f"{what} {str(expr)!r} cannot be evaluated: {type(err).__name__}: {err}"
        return None

    def _submit(self) -> None:
        values = self._values()
        problem = self._check(values)
        if problem is not None:
            self.query_one("#bp-error", Label).update(problem)
            return
        self.close(values)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "add":
            self._submit()
        else:
            self.close(None)

    def action_cancel(self) -> None:
        self.close(None)
