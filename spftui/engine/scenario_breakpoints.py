"""A scenario's `[[breakpoint]]` tables, checked and set on a Session.

The loader (scenario/loader.py) checks their form, kinds, matches and thread
names; the expressions (`expr`, `watch`, `when`, `condition`) belong to the
engine's language (expr.py) and are checked here, with the scenario's names,
and reported at their line as the loader's errors are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ..scenario.errors import ScenarioError
from ..scenario.model import BreakpointSpec, Scenario
from .breakpoints import Breakpoint, make_breakpoint
from .expr import ExprError, excerpt
from .inspect import Names

if TYPE_CHECKING:
    from .session import Session


def options(spec: BreakpointSpec) -> dict[str, str]:
    """The keyword arguments of `Session.add_breakpoint` for `spec` (without its kind)."""
    out = {"match": spec.match, "thread": spec.thread}
    if spec.expr:
        out["expr"] = spec.expr
    if spec.condition:
        out["condition"] = spec.condition
    return out


def check_breakpoints(sc: Scenario) -> None:
    """Raise ScenarioError (`file:line: breakpoint[i].expr: message`) for an expression the
    engine cannot read or that names something the scenario does not have."""
    names = Names.of(sc)
    for spec in sc.breakpoints:
        for text, key, line in (
            (spec.expr, spec.expr_key, spec.expr_line),
            (spec.condition, f"{spec.key}.condition", spec.condition_line),
        ):
            if not text:
                continue
            try:
                make_breakpoint(0, "condition", expr=text, names=names)
            except ExprError as err:
                where = f" (at column {err.position + 1} of '{excerpt(text, err.position)}')" if text.strip() else ""
                raise ScenarioError(err.message + where, sc.path, line or spec.line, key) from None
            except ValueError as err:
                raise ScenarioError(str(err), sc.path, line or spec.line, key) from None
        try:
            make_breakpoint(0, spec.kind, names=names, **options(spec))
        except (ExprError, ValueError) as err:  # the loader checked the rest: belt and braces
            raise ScenarioError(str(err), sc.path, spec.line, spec.key) from None


def applicable(sc: Scenario) -> tuple[BreakpointSpec, ...]:
    """The breakpoints of `sc` that still apply to it: their thread and every name their
    expressions use are in it (a shrunk scenario keeps these and drops the others)."""
    threads = {t.name for t in sc.threads}
    out = []
    for spec in sc.breakpoints:
        if spec.thread and spec.thread not in threads:
            continue
        try:
            check_breakpoints(attrs.evolve(sc, breakpoints=(spec,)))
        except ScenarioError:
            continue
        out.append(spec)
    return tuple(out)


def set_breakpoints(session: Session) -> list[tuple[BreakpointSpec, Breakpoint]]:
    """Set the scenario's breakpoints on `session`, skipping any it has already (same
    kind, match, thread and expressions); returns those set, each with its table."""
    have = {b.describe() for b in session.breakpoints.items}
    added = []
    for spec in session.scenario.breakpoints:
        b = session.add_breakpoint(spec.kind, **options(spec))
        if b.describe() in have:
            session.remove_breakpoint(b.id)
            continue
        have.add(b.describe())
        b.enabled = spec.enabled
        added.append((spec, b))
    return added
