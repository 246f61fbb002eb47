"""A scenario's own oracles (`[[oracle]]`): checked after every step, reported as the built-in ones are.

An oracle is a name and an expression in the debugger's language (expr.py),
`when`: it is violated at the first state, after a step, where `when` is true,
and reported once per run (the machine's `reported` set, as the built-in
oracles de-duplicate) as a `Violation` of kind NAME. So everything that reads
violations — the Session's marks and `violation:NAME` breakpoints, `check`'s
`[expect]` results, the explorer's verdicts and counterexamples, narration and
shrinking — sees it unchanged.

Where it runs: inside `Machine.step`, as its last act (the kernel calls
`Machine.after_step`, which `build_machine` here installs; the kernel's own
`build_machine` refuses a scenario with oracles without it). Every engine path
that runs a step goes through `Machine.step`: the Session and its timeline,
the explorer's searches (merged thread-local steps are each a `Machine.step`),
sampling, the split search's workers (local or Ray). A step the explorer
replays from its step cache does not run, so the explorer turns the cache off
for a scenario with oracles (explorer.Search, with a note).

What an expression may read: the state, not the history. `step` (the step
counter) is refused: the explorer's states do not include it, so an oracle
reading it would make two runs to one state disagree. An expression that
cannot be evaluated in a state (a PTE table not there yet, a none's field)
is false there.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ..kernel import build_machine as _build
from ..scenario.errors import ScenarioError
from .expr import EvalError, Expr, ExprError, excerpt, parse, typed
from .inspect import MachineResolver, Names, check_names

if TYPE_CHECKING:
    from ..kernel.machine import Machine
    from ..scenario.model import OracleSpec, Scenario

NOT_STATE = ("step",)
"""Roots an oracle may not read: not part of a state (the explorer's fingerprints leave them out)."""


class Check:
    """`Machine.after_step` for a scenario's oracles: report each the first time its
    expression is true after a step."""

    __slots__ = ("oracles",)

    def __init__(self, oracles: tuple[tuple[str, Expr, str], ...]) -> None:
        self.oracles = oracles  # (name, expression, detail)

    def __call__(self, m: Machine) -> None:
        resolver: MachineResolver | None = None
        for name, expr, detail in self.oracles:
            if (name,) in m.reported:
                continue
            if resolver is None:
                resolver = MachineResolver(m)
            try:
                value = expr.evaluate(resolver)
            except EvalError:
                continue  # cannot be evaluated here: false
            if value:
                m.violation(name, (), detail or f"{expr.source} is true")

    def __reduce__(self) -> tuple[type[Check], tuple[tuple[tuple[str, Expr, str], ...]]]:
        return (Check, (self.oracles,))


def _compile(sc: Scenario | _Where, spec: OracleSpec, names: Names) -> Expr:
    """Parse and check one oracle's `when`; ScenarioError at its line."""
    text = spec.when
    key = f"{spec.key}.when" if spec.key else "when"
    line = spec.when_line or spec.line
    try:
        expr = parse(text)
        check_names(expr, names)
    except ExprError as err:
        where = f" (at column {err.position + 1} of '{excerpt(text, err.position)}')" if text.strip() else ""
        raise ScenarioError(err.message + where, sc.path, line, key) from None
    bad = sorted(n for n in expr.names if n in NOT_STATE)
    if bad:
        raise ScenarioError(
            f"an oracle is a question about the state, and '{bad[0]}' is not part of it "
            "(the explorer meets one state by many paths): ask about the threads, processes and frames",
            sc.path,
            line,
            key,
        )
    return expr


def check_oracles(sc: Scenario) -> None:
    """Raise ScenarioError (`file:line: oracle[i].when: message`) for an expression the
    engine cannot read, that names something the scenario does not have, that reads
    what is not state, or that is no condition: evaluated on the machine at the start,
    it fails for a reason of its own (`A.mmap_seq > "a"`, `1/0`: false in every state,
    so the explorer would "prove" Never a question it never asked) or gives something
    other than true or false (`A.mmap_seq`, `3`) — the checks `check --break when:`
    and a `[[breakpoint]]`'s `when` get — or is true already there (oracles are checked
    after each step: the start would go unreported, or be reported after the first step
    as if that step were the cause)."""
    names = Names.of(sc)
    compiled = [(spec, _compile(sc, spec, names)) for spec in sc.oracles]
    if compiled:
        m = _build(sc, Check(()))  # the state at the start (its oracles unchecked)
        for spec, expr in compiled:
            problem = _at_start(sc, spec, expr, m)
            if problem is not None:
                raise problem


def sound_at_start(sc: Scenario) -> tuple[OracleSpec, ...]:
    """The oracles of a valid `sc` that `check_oracles` accepts at its start (a shrunk
    scenario drops one its smaller setup makes true before any step)."""
    if not sc.oracles:
        return ()
    names = Names.of(sc)
    m = _build(sc, Check(()))
    return tuple(spec for spec in sc.oracles if _at_start(sc, spec, _compile(sc, spec, names), m) is None)


def _at_start(sc: Scenario, spec: OracleSpec, expr: Expr, m: Machine) -> ScenarioError | None:
    """What is wrong with one oracle evaluated on the state at the start `m`, or None."""
    from .breakpoints import evaluate_on  # (breakpoints reads the kernel's labels: not needed above)

    got = evaluate_on(expr, m)
    key = f"{spec.key}.when" if spec.key else "when"
    line = spec.when_line or spec.line
    if got.error is not None:
        err = got.error
        caret = str(ExprError(err.message, err.position, err.source)).partition("\n")[2]
        return ScenarioError(
            f"{err.message} — at the start of the run: it would be false in every state, "
            f"and the oracle never violated\n{caret}",
            sc.path,
            line,
            key,
        )
    if not got.state_says and not isinstance(got.value, bool):
        return ScenarioError(
            f"expected a condition (true or false), found {typed(got.value)} at the start of the run: "
            + (
                f"compare it (as in `{excerpt(expr.source, 0)} != 0`)"
                if isinstance(got.value, int)
                else "compare it (==, !=, <, in, ...)"
            ),
            sc.path,
            line,
            key,
        )
    if got.value is True:
        return ScenarioError(
            "true at the start of the run, before any step: an oracle names a state the run must "
            "not reach, and every run would begin in it (did you write the invariant, not its "
            f"violation? `not ({expr.source})`)",
            sc.path,
            line,
            key,
        )
    return None


def applicable(sc: Scenario) -> tuple[OracleSpec, ...]:
    """The oracles of `sc` whose expressions still fit it (a shrunk scenario keeps these
    and drops those naming a thread or process no longer there)."""
    names = Names.of(sc)
    out = []
    for spec in sc.oracles:
        try:
            _compile(sc, spec, names)
        except ScenarioError:
            continue
        out.append(spec)
    return tuple(out)


def oracle_check(sc: Scenario) -> Check | None:
    """The `Machine.after_step` for `sc`'s oracles (None when it has none)."""
    if not sc.oracles:
        return None
    return _check(sc.oracles, Names.of(sc), sc.path)


@functools.lru_cache(maxsize=64)
def _check(oracles: tuple[OracleSpec, ...], names: Names, path: str) -> Check:
    sc = _Where(path)
    return Check(tuple((o.name, _compile(sc, o, names), o.detail) for o in oracles))


class _Where:
    """What `_compile` needs of a scenario to place an error: its path."""

    def __init__(self, path: str) -> None:
        self.path = path


def reductions_off(sc: Scenario, *, symmetry: bool, local: bool, cache: bool) -> dict[str, str]:
    """The explorer's reductions a scenario's oracles rule out, each with why (asked-for
    ones only; the explorer says so in the result's notes, never silently).

    symmetry              states equal up to a renaming of pfns are one state, and an
                          expression can tell them apart (`frame[3]`, `A.pte[ADDR].pfn`,
                          a thread's refs or locals)
    thread-local merging  the states where threads are inside runs of thread-local
                          steps are no interleaving points, and an expression naming a
                          thread can see them (`A1.label`, `A1.vmf.seq`); kept when no
                          oracle names a thread
    step cache            a replayed step does not run, so nothing would check the state
                          it leads to
    Sleep sets stay: they prune transitions, never states (por.py), and every state
    the search visits is checked when the step into it runs."""
    if not sc.oracles:
        return {}
    out: dict[str, str] = {}
    if symmetry:
        out["symmetry"] = "the scenario's own oracles may tell apart states that differ only in pfns"
    threads = {t.name for t in sc.threads} | {"thread"}
    if local and any(threads & parse(o.when).names for o in sc.oracles):
        out["thread-local merging"] = (
            "an oracle of the scenario's names a thread, and would not see it inside a run of thread-local steps"
        )
    if cache:
        out["step cache"] = "a step replayed from the cache runs no oracle of the scenario's"
    return out


def build_machine(sc: Scenario) -> Machine:
    """The kernel's `build_machine`, with the scenario's own oracles installed."""
    return _build(sc, oracle_check(sc))
