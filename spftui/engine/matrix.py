"""The policy matrix: every scenario under every policy.

`policy_matrix` explores every scenario under every policy (verdicts)
and runs a fixed budget of random schedules for the abort figures; rows
render as Markdown (`matrix_markdown`) or JSON.
`explore_policies` is the same exhaustive search, one policy per worker.

Headless: standard library and attrs only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..scenario.model import ORACLE_KINDS, POLICIES
from .aborts import AbortStats
from .explorer import explore
from .narrate import Result
from .sampling import random_search
from .workers import pool_map, stop_requested

if TYPE_CHECKING:
    from ..scenario.model import Scenario


def explore_cell(payload: tuple[Any, ...]) -> Result:
    sc, policy, reuse, opts = payload
    return explore(sc, policy, reuse, cancelled=stop_requested, **opts)


def _describe_cell(payload: tuple[Any, ...]) -> str:
    sc, policy = payload[0], payload[1]
    return f"{os.path.basename(sc.path) or sc.title} under {policy}"


def explore_policies(
    sc: Scenario,
    policies: tuple[str, ...],
    reuse: str | None,
    jobs: int,
    opts: dict[str, Any],
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """`explore` under each policy, `jobs` policies at a time in worker processes;
    after Ctrl-C, the finished results and the partial ones (stop "interrupted").
    `on_result` is called with each policy's result as it comes in."""
    got = None if on_result is None else (lambda _i, r: on_result(r))
    done = pool_map(explore_cell, [(sc, p, reuse, opts) for p in policies], jobs, got, describe=_describe_cell)
    return [done[i] for i in sorted(done)]


@attrs.define
class MatrixRow:
    scenario: str
    policy: str
    result: Result
    aborts: AbortStats
    fixes_off: tuple[str, ...] = ()  # the modelled fixes the cell ran without (--fix, [fixes], kernel), sorted

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "reuse": r.reuse,
            "fixes_off": list(self.fixes_off),
            "verdicts": dict(r.verdicts),
            "complete": r.complete,
            "states": r.states,
            "schedules": r.schedules,
            "seconds": round(r.seconds, 3),
            "expect": dict(r.expectations),
            "expect_ok": r.expect_ok,
            "counterexample": _unnarrated(r.counterexample.to_json()) if r.counterexample else None,
            "aborts": self.aborts.to_json(),
        }


def _unnarrated(cx: dict[str, Any]) -> dict[str, Any]:
    """A counterexample as JSON without `narration`: the cells are not narrated (`spftui
    explore` narrates one), and an empty story would read as one with nothing to tell."""
    cx.pop("narration", None)
    return cx


def matrix_cell(payload: tuple[Any, ...]) -> MatrixRow:
    """One scenario under one policy: explore, then random runs for the abort figures."""
    sc, name, policy, runs, seed, max_states, timeout = payload
    r = explore(sc, policy, max_states=max_states, timeout=timeout, narrate=False, cancelled=stop_requested)
    if runs and r.stop != "interrupted":
        rnd = random_search(sc.with_policy(policy), runs=runs, seed=seed, measure_aborts=True, narrate=False)
        aborts = AbortStats(**{k: rnd.extra["aborts"][k] for k in ("faults", "aborts", "unnecessary", "undetermined")})
    else:
        aborts = AbortStats()
    return MatrixRow(name, policy, r, aborts, tuple(sorted(sc.fixes_off)))


def policy_matrix(
    scenarios: list[Scenario],
    policies: tuple[str, ...] = POLICIES,
    *,
    runs: int = 200,
    seed: int = 0,
    jobs: int = 1,
    max_states: int = 2_000_000,
    timeout: float | None = None,
    on_row: Callable[[MatrixRow], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[MatrixRow]:
    """Every scenario under every policy; rows in scenario-then-policy order
    (only the finished ones after Ctrl-C or cancellation)."""
    payloads = [
        (sc, os.path.splitext(os.path.basename(sc.path))[0] or sc.title, p, runs, seed, max_states, timeout)
        for sc in scenarios
        for p in policies
    ]
    halted = [False]

    def got(i: int, row: MatrixRow) -> None:
        halted[0] = halted[0] or row.result.stop == "interrupted"  # Ctrl-C reached the cell: start no other
        if on_row is not None:
            on_row(row)

    done = pool_map(
        matrix_cell, payloads, jobs, got, lambda: halted[0] or (cancelled is not None and cancelled()),
        describe=lambda p: f"{p[1]} under {p[2]}",
    )  # fmt: skip
    return [done[i] for i in sorted(done)]


_SHORT = {"sometimes": "Sometimes", "never": "Never", "unknown": "?"}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def fixes_off_line(rows: list[MatrixRow]) -> str | None:
    """The line above the table naming the fixes the cells ran without (None: all in):
    one list when every scenario had the same ones out, else one per scenario."""
    by_scenario = {row.scenario: row.fixes_off for row in rows}
    kinds = set(by_scenario.values())
    if kinds <= {()}:
        return None
    if len(kinds) == 1:
        return f"Fixes off: {', '.join(kinds.pop())}."
    return "Fixes off: " + "; ".join(f"{name}: {', '.join(f) or 'none'}" for name, f in by_scenario.items()) + "."


NO_SUCH_ORACLE = "–"
"""A cell of an oracle column the row's scenario does not have (another scenario's `[[oracle]]`)."""


def matrix_markdown(rows: list[MatrixRow], kinds: tuple[str, ...] | None = None) -> str:
    """The matrix as a Markdown table (✗: the verdict contradicts [expect]; ?: undecided;
    –: the scenario has no such oracle).
    Columns: `kinds`, by default ORACLE_KINDS then the scenarios' own oracles (`[[oracle]]`)."""
    if kinds is None:
        kinds = tuple(dict.fromkeys([*ORACLE_KINDS, *(k for row in rows for k in row.result.verdicts)]))
    head = ["scenario", "policy", *kinds, "search", "abort rate", "unnecessary aborts"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in rows:
        r = row.result
        cells = [row.scenario, f"{row.policy} ({r.reuse})"]
        for k in kinds:
            if k not in r.verdicts:  # (another scenario's own oracle: no question here)
                cells.append(NO_SUCH_ORACLE)
                continue
            v = _SHORT[r.verdicts[k]]
            want, have = r.expectations.get(k), r.verdicts.get(k, "unknown")
            if want is not None and have != "unknown" and have != want:
                v += " ✗"
            cells.append(v)
        cells.append(f"{'complete' if r.complete else r.stop}, {r.states:,} states")
        a = row.aborts
        cells.append(f"{_pct(a.rate)} ({a.aborts}/{a.faults})")
        cells.append(f"{_pct(a.unnecessary_share)} ({a.unnecessary}/{a.aborts})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
