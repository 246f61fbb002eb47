"""Breakpoints: on speculative aborts, oracle violations, checks that pass by
ABA, step labels, watched values and conditions, with hit counts and
enable/disable.

A breakpoint is checked after each step. Conditions and watches are
expressions in the safe language of `expr.py`, never Python.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel import all_labels
from ..kernel.events import Aba, Event, SpfAbort, Violation
from ..scenario.model import BREAKPOINT_MATCHES
from .describe import aba_sentence, abort_sentence, local_text, violation_sentence
from .expr import EvalError, Expr, Resolver, evaluate, parse
from .history import Derivation
from .inspect import MachineResolver, Names, check_names, local_of, show

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from .timeline import Timeline

# What the TUI's `B` dialog offers (it has a hint per kind).
KINDS = ("abort", "violation", "aba", "step", "watch", "condition")
_USER_ORACLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a `[[oracle]]` name
ALL_KINDS = ("abort", "violation", "aba", "step", "watch", "condition")


@attrs.define
class Breakpoint:
    """One breakpoint.

    kind       abort | violation | aba | step | watch | condition
    match      abort: a reason (SEQ1, PTL, ...) or "" for any;
               violation: an oracle kind or "" for any;
               aba: the check that passed by ABA (REFETCH, pte_same, ...) or "" for any;
               step: the label (`wp_page_copy:copy`)
    thread     only this thread ("" for any)
    expr       watch: the watched expression; condition: stop when true
    condition  an extra condition that must hold for it to fire
    """

    id: int
    kind: str
    match: str = ""
    thread: str = ""
    expr: Expr | None = None
    condition: Expr | None = None
    enabled: bool = True
    hits: int = 0

    def describe(self) -> str:
        who = f" in {self.thread}" if self.thread else ""
        if self.kind == "abort":
            text = f"spf abort{' ' + self.match if self.match else ''}{who}"
        elif self.kind == "violation":
            text = f"violation{' ' + self.match if self.match else ''}"
        elif self.kind == "aba":
            text = f"{self.match or 'a check'} passes by ABA{who}"
        elif self.kind == "step":
            text = f"{self.thread or 'any thread'} reaches {self.match}"
        elif self.kind == "watch":
            text = f"watch {self.expr}"
        else:
            text = f"when {self.expr}"
        if self.condition is not None:
            text += f" if {self.condition}"
        return text


@attrs.frozen
class Hit:
    """A breakpoint that fired: its id, what it saw, and for a watch old → new."""

    id: int
    text: str
    old: Any = None
    new: Any = None


def make_breakpoint(
    bid: int,
    kind: str,
    match: str = "",
    thread: str = "",
    expr: str | None = None,
    condition: str | None = None,
    names: Names | None = None,
) -> Breakpoint:
    """Build a breakpoint from user text; raises ExprError on a bad expression and
    ValueError on a bad kind, label, oracle or thread. With `names` (the scenario's
    threads and processes) an expression naming something the scenario cannot have
    is refused too, at that name: a misspelt `A1.sate` would never fire."""
    if kind not in ALL_KINDS:
        raise ValueError(f"unknown breakpoint kind {kind!r}; expected one of {', '.join(ALL_KINDS)}")
    if kind == "step" and not match:
        raise ValueError("a step breakpoint needs a label")
    if kind in ("watch", "condition") and not expr:
        raise ValueError(f"a {kind} breakpoint needs an expression")
    check_match(kind, match, names.oracles if names is not None else (), deferred=names is None)
    if names is not None and thread and thread not in names.threads:
        raise ValueError(
            f"no thread '{thread}'{_did_you_mean(thread, list(names.threads))} (threads: {', '.join(names.threads)})"
        )
    b = Breakpoint(
        bid,
        kind,
        match,
        thread,
        parse(expr) if expr else None,
        parse(condition) if condition else None,
    )
    if names is not None:
        for e in (b.expr, b.condition):
            if e is not None:
                check_names(e, names)
    return b


def check_match(kind: str, match: str, oracles: tuple[str, ...] = (), deferred: bool = False) -> None:
    """ValueError if a step breakpoint's label, or an abort, violation or ABA
    breakpoint's `match`, names no label, reason, oracle or check (it would never
    fire), with the one meant (`seq1`: SEQ1)."""
    if kind == "step" and match not in all_labels():
        raise ValueError(unknown_label(match))
    if not match or kind not in BREAKPOINT_MATCHES:
        return
    what, known = BREAKPOINT_MATCHES[kind]
    if kind == "violation":
        known = (*known, *oracles)
        if deferred and _USER_ORACLE.fullmatch(match) and not difflib.get_close_matches(match, known, n=1, cutoff=0.8):
            return  # (may be the scenario's own oracle: checked on the scenario, with `oracles`)
    if match not in known:
        by_lower = {k.lower(): k for k in known}
        near = difflib.get_close_matches(match.lower(), list(by_lower), n=1)
        hint = f"; did you mean '{by_lower[near[0]]}'?" if near else ""
        raise ValueError(f"unknown {what} '{match}'{hint} (one of: {', '.join(known)})")


def unknown_label(match: str) -> str:
    """The error for a step label no kernel path has, with the labels it may have meant:
    those containing it (`copy_pte` finds `copy_page_range:copy_pte_range`), else the closest."""
    labels = sorted(all_labels())
    holding = [lb for lb in labels if match and match in lb]
    if holding:
        more = f" (and {len(holding) - 3} more)" if len(holding) > 3 else ""
        return f"unknown step label '{match}'; did you mean {', '.join(repr(h) for h in holding[:3])}{more}?"
    return f"unknown step label '{match}'{_did_you_mean(match, labels)}"


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)  # 0.5: "A3" finds "A1"
    return f"; did you mean '{close[0]}'?" if close else ""


class _Noting:
    """A resolver that notes whether a lookup failed or read a none: an evaluation
    error after one may be this state's (a thread not in a fault has no `orig_pte`)."""

    def __init__(self, inner: Resolver) -> None:
        self.inner = inner
        self.state_says = False

    def _noted(self, read: Any) -> object:
        try:
            value = read()
        except Exception:
            self.state_says = True
            raise
        if value is None:
            self.state_says = True
        return value

    def root(self, name: str) -> object:
        return self._noted(lambda: self.inner.root(name))

    def attr(self, obj: object, name: str) -> object:
        return self._noted(lambda: self.inner.attr(obj, name))

    def item(self, obj: object, key: object) -> object:
        return self._noted(lambda: self.inner.item(obj, key))


@attrs.frozen
class StartValue:
    """An expression evaluated on a machine, telling its own errors from the state's.

    value       what it gave (None after an error)
    error       an error of the expression's own, not of this state (`1/0`,
                `A.mmap_seq > "x"`): it would be one in every state
    state_says  a lookup failed or read a none (`A1.vmf.orig_pte` before A1 faults):
                what it gave, or the error it raised, is this state's
    """

    value: object = None
    error: EvalError | None = None
    state_says: bool = False


def evaluate_on(expr: Expr, m: Machine) -> StartValue:
    """Evaluate `expr` on `m`, noting whether an error (or a none) is the state's."""
    noting = _Noting(MachineResolver(m))
    try:
        value = evaluate(expr, noting)
    except EvalError as err:
        return StartValue(None, None if noting.state_says else err, noting.state_says)
    return StartValue(value, None, noting.state_says)


def never_fires(b: Breakpoint, m: Machine) -> tuple[str, EvalError] | None:
    """The expression of `b` (its watch or condition: "expression"; its extra condition:
    "only if") that cannot be evaluated on `m` for a reason of its own, not of this state,
    with the error: `1/0`, `A.mmap_seq > "x"` (it would never fire, silently); or None.

    An error after a lookup that failed or read a none (`A1.vmf.orig_pte` before A1
    faults) is this state's, as the `B` dialog's first warning says: not refused."""
    for what, expr in (("expression", b.expr), ("only if", b.condition)):
        if expr is None:
            continue
        error = evaluate_on(expr, m).error
        if error is not None:
            return what, error
    return None


def true_at_start(b: Breakpoint, m: Machine) -> bool:
    """Is `b` a condition already true on `m`? (It fires when it becomes true: not
    until it turns false and then true again.)"""
    if b.kind != "condition" or b.expr is None:
        return False
    ok = value_of(b.expr, m)
    return not isinstance(ok, tuple) and bool(ok)


def watch_text(expr: Expr, value: Any, m: Machine) -> str:
    """A watched value as `spftui why` writes it: a thread local as the trace does (`pfn 1 RO A D`),
    "unset" while the thread has not set it; anything else as the panes show it."""
    local = local_of(expr, [t.name for t in m.threads])
    if local is None or local[1] is None:  # (a whole vmf is shown as the panes show it)
        return _show(value)
    thread = next(t for t in m.threads if t.name == local[0])
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "error":
        return "unset"
    return local_text(local[1], value, thread.vmf)


def value_of(expr: Expr, m: Machine) -> Any:
    """Evaluate; an error is a value too (so a watch sees it change)."""
    try:
        return evaluate(expr, MachineResolver(m))
    except EvalError as e:
        return ("error", str(e))


class BreakpointSet:
    """The session's breakpoints and the watch values they compare against."""

    def __init__(self) -> None:
        self.items: list[Breakpoint] = []
        # The history `aba` breakpoints look back into (the Session sets it to its timeline).
        self.timeline: Timeline | None = None
        self.next_id = 1
        self.watch_values: dict[int, Any] = {}
        self._watch_shown: dict[int, str] = {}  # a watch's value as its hit text writes it
        # `aba`: the history's derived events, followed step by step (history.Derivation)
        self._follow: Derivation | None = None
        self._follow_of: tuple[Timeline | None, int] = (None, -1)  # the timeline and its epoch it follows
        self._derived_at: dict[int, tuple[Event, ...]] = {}  # the steps it derived something for

    def add(self, kind: str, names: Names | None = None, **kw: Any) -> Breakpoint:
        bp = make_breakpoint(self.next_id, kind, names=names, **kw)
        self.next_id += 1
        self.items.append(bp)
        return bp

    def like(self, kind: str, **kw: Any) -> Breakpoint | None:
        """The breakpoint already here that `add(kind, **kw)` would repeat (same kind, match,
        thread, expression and condition), or None."""
        new = make_breakpoint(0, kind, **kw)
        same = (new.kind, new.match, new.thread, new.expr, new.condition)
        return next((b for b in self.items if (b.kind, b.match, b.thread, b.expr, b.condition) == same), None)

    def remove(self, bid: int) -> None:
        self.items = [b for b in self.items if b.id != bid]
        self.watch_values.pop(bid, None)
        self._watch_shown.pop(bid, None)

    def get(self, bid: int) -> Breakpoint | None:
        return next((b for b in self.items if b.id == bid), None)

    def active(self) -> list[Breakpoint]:
        return [b for b in self.items if b.enabled]

    def prime(self, m: Machine) -> None:
        """Record the current value of every watch (after a jump)."""
        self.watch_values = {}
        self._watch_shown = {}
        for b in self.items:
            if b.kind == "watch" and b.expr is not None:
                self.watch_values[b.id] = value_of(b.expr, m)
                self._watch_shown[b.id] = watch_text(b.expr, self.watch_values[b.id], m)
            elif b.kind == "condition" and b.expr is not None:
                ok = value_of(b.expr, m)
                self.watch_values[b.id] = not isinstance(ok, tuple) and bool(ok)

    def check(self, m: Machine, thread: str, events: Sequence[Event], count: bool = True) -> list[Hit]:
        """Which breakpoints fire after the step just taken, each with a sentence."""
        fired: list[Hit] = []
        derived = self._derived(m, thread, events) if any(b.kind == "aba" and b.enabled for b in self.items) else ()
        for b in self.items:
            why = self._fires(b, m, thread, events, derived)
            if why is None or not b.enabled:
                continue
            if b.condition is not None:
                ok = value_of(b.condition, m)
                if isinstance(ok, tuple) or not ok:
                    continue
            if count:
                b.hits += 1
            fired.append(why)
        return fired

    def _fires(
        self, b: Breakpoint, m: Machine, thread: str, events: Sequence[Event], derived: Sequence[Event]
    ) -> Hit | None:
        if b.kind == "abort":
            for e in events:
                if (
                    isinstance(e, SpfAbort)
                    and (not b.thread or e.thread == b.thread)
                    and (not b.match or e.reason == b.match)
                ):
                    return Hit(b.id, abort_sentence(e))
            return None
        if b.kind == "violation":
            for e in events:
                if isinstance(e, Violation) and (not b.match or e.oracle == b.match):
                    return Hit(b.id, f"{violation_sentence(e.oracle, e.detail)} ({e.thread} at step {m.steps})")
            return None
        if b.kind == "aba":
            return self._aba(b, m, derived)
        if b.kind == "step":
            if b.thread and b.thread != thread:
                return None
            for t in m.threads:
                if t.name == thread and t.pc == b.match:
                    return Hit(b.id, f"{thread} reached {b.match} (breakpoint {b.id})")
            return None
        assert b.expr is not None
        if b.kind == "watch":
            new = value_of(b.expr, m)
            old = self.watch_values.get(b.id)
            self.watch_values[b.id] = new
            if new != old:
                was = self._watch_shown.get(b.id) or watch_text(b.expr, old, m)
                shown = self._watch_shown[b.id] = watch_text(b.expr, new, m)
                return Hit(b.id, f"{b.expr} changed {was} → {shown} (breakpoint {b.id})", old, new)
            return None
        ok = value_of(b.expr, m)
        now = not isinstance(ok, tuple) and bool(ok)
        before = self.watch_values.get(b.id, False)
        self.watch_values[b.id] = now
        if now and not before:  # edge-triggered: stops when it becomes true
            return Hit(b.id, f"{b.expr} became true (breakpoint {b.id})", False, True)
        return None

    def _aba(self, b: Breakpoint, m: Machine, derived: Sequence[Event]) -> Hit | None:
        """A check of this step passed by ABA (derived from the recorded history: see history.py)."""
        for e in derived:
            if isinstance(e, Aba) and (not b.thread or e.thread == b.thread) and (not b.match or e.check == b.match):
                return Hit(b.id, f"{aba_sentence(e)} (step {m.steps})")
        return None

    def _derived(self, m: Machine, thread: str, events: Sequence[Event]) -> tuple[Event, ...]:
        """The derived events of recorded step `m.steps - 1`.

        Checked after every step of a run, forwards or (reverse-continue)
        backwards a segment at a time, so one Derivation follows the
        timeline and keeps what it derived until a cut changes the steps
        (a window replay per check was quadratic: on 130 threads `continue`
        took 7.5 s, now 0.24; reverse-continue 7.9 s, now 0.1)."""
        tl = self.timeline
        step = m.steps - 1
        if tl is None or not 0 <= step < len(tl):
            return ()
        d = self._follow
        if d is None or self._follow_of[0] is not tl or self._follow_of[1] != tl.epoch:  # (a restart, a cut)
            d = self._follow = Derivation()
            self._follow_of, self._derived_at = (tl, tl.epoch), {}
        seen = self._derived_at
        if step < d.pos:
            return seen.get(step, ())
        for pos, _, derived in d.along(tl, step):  # catch up (after a jump)
            if derived:
                seen[pos] = derived
        out = d.feed(thread, tl.label_at(step), events)
        if out:
            seen[step] = out
        return out


def _show(v: Any) -> str:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "error":
        return f"<{v[1]}>"
    return show(v)
