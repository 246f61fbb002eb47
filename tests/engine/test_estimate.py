"""The remaining-work estimate of a running search (engine/estimate.py).

On a lattice of thread positions (the shape it models) it follows the
visited share closely; on the seed race it follows it to within a fifth;
the random mode's is exact (runs done of runs asked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spftui.engine import explorer
from spftui.engine.estimate import Estimate
from spftui.engine.explorer import explore
from spftui.engine.narrate import Progress, estimate_text
from spftui.scenario import load_scenario

SEED = Path(__file__).resolve().parents[2] / "scenarios" / "cow_lost_write.toml"


def lattice_errors(lengths: list[int]) -> list[float]:
    """A stateful DFS over the lattice of positions of threads with these
    lengths, nodes laid out as explorer._exhaustive's: |estimate - visited share|
    after every transition."""
    n = len(lengths)
    total = 1
    for length in lengths:
        total *= length + 1
    est = Estimate(n)
    root = (0,) * n
    visited = {root}
    run0 = [i for i in range(n) if lengths[i]]
    stack: list[list] = [[root, run0[::-1], None, None, run0, 0]]
    path: list[int] = []
    errors = []
    while stack:
        node = stack[-1]
        if not node[1]:
            stack.pop()
            if node[5]:
                del path[-node[5] :]
            continue
        t = node[1].pop()
        state = tuple(p + (i == t) for i, p in enumerate(node[0]))
        if state not in visited:
            visited.add(state)
            run = [i for i in range(n) if state[i] < lengths[i]]
            if run:
                stack.append([state, run[::-1], None, None, run, 1])
                path.append(t)
            else:
                est.ended([*path, t])
        errors.append(abs(est.done(stack, path) - len(visited) / total))
    return errors


@pytest.mark.parametrize("lengths", [[6, 6, 6], [3, 10, 5], [8, 8, 8, 8]])
def test_on_a_lattice_the_estimate_follows_the_visited_share(lengths: list[int]) -> None:
    errors = lattice_errors(lengths)
    assert sum(errors) / len(errors) < 0.1
    assert errors[-1] < 1e-9  # done at the end


def test_the_seed_search_reports_an_estimate_that_follows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explorer, "REPORT_EVERY", 0.0)  # a report every CHECK_EVERY transitions
    reports: list[Progress] = []
    r = explore(load_scenario(SEED), "spf-mm-seq", mode="exhaustive", narrate=False, progress=reports.append)
    assert r.complete
    est = [(p.states / r.states, p.done) for p in reports if p.done is not None]
    assert len(est) > 50 and all(0.0 <= d <= 1.0 for _, d in est)
    later = [abs(f - d) for f, d in est if f >= 0.25]
    assert sum(later) / len(later) < 0.2
    assert est[-1][1] > 0.8


def test_the_random_mode_estimate_is_the_share_of_runs_done() -> None:
    reports: list[Progress] = []
    explore(load_scenario(SEED), "spf-mm-seq", mode="random", runs=300, narrate=False, progress=reports.append)
    assert reports and all(p.done is not None for p in reports)
    assert reports[-1].done == 1.0
    assert [p.done for p in reports] == sorted(p.done for p in reports if p.done is not None)


def test_the_estimate_reads_as_a_share_and_a_time_left() -> None:
    p = Progress("classic", "exhaustive", 10, 10, 1, 1, 30.0, (), 0.48, 32.5)
    assert estimate_text(p) == "~48% done, ~32 s left"
    assert estimate_text(Progress("classic", "exhaustive", 10, 10, 1, 1, 0.5, (), 0.1, None)) == "~10% done"
    assert estimate_text(Progress("classic", "exhaustive", 10, 10, 1, 1, 0.5, ())) == ""
    assert "min left" in estimate_text(Progress("classic", "exhaustive", 1, 1, 1, 1, 30.0, (), 0.01, 2970.0))


def test_no_time_left_is_claimed_while_the_estimate_is_stuck() -> None:
    s = explorer.Search(load_scenario(SEED), max_states=10, timeout=None, progress=None, cancelled=None)
    t0 = s.t0
    assert s.left(0.5, t0 + 10.0) == 10.0  # moving: the rate so far
    assert s.left(0.502, t0 + 14.0) is not None  # not a point more, but only 4 s ago
    assert s.left(0.503, t0 + 16.0) is None  # stuck for more than 5 s and a quarter of the phase
    assert s.left(0.6, t0 + 20.0) is not None  # moving again
    assert s.left(None, t0 + 20.0) is None
