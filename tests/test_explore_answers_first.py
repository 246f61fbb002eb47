"""Answers first: `spftui explore` reports a Sometimes as soon as the
preemption-bounded warm-up finds it, before the exhaustive proof of the
other kinds ends; --json streams progress and finds as JSON lines on stderr."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_run import spftui

from spftui.engine.explorer import Result, explore
from spftui.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"


def auto_and_exhaustive(sc: Scenario) -> tuple[list[tuple[str, str]], Result, Result]:
    finds: list[tuple[str, str]] = []
    r = explore(sc, "spf-refetch-vma", narrate=False, found=lambda k, ph, s: finds.append((k, ph)))
    return finds, r, explore(sc, "spf-refetch-vma", mode="exhaustive", narrate=False)


def test_auto_mode_reports_a_find_from_the_bounded_warm_up_then_proves_the_rest() -> None:
    sc = load_scenario(ROOT / "scenarios" / "history_dirty_cow.toml").with_fixes({"foll_cow": False})
    finds, r, ex = auto_and_exhaustive(sc)
    assert finds == [("file_integrity", "bounded 1")]  # found before the exhaustive phase began
    assert r.mode == "exhaustive" and r.complete and r.verdicts["file_integrity"] == "sometimes"
    assert r.counterexamples["file_integrity"].preemptions == 1
    assert (r.states, r.verdicts) == (ex.states, ex.verdicts)


@pytest.mark.slow
def test_auto_mode_finds_the_seeds_lost_write_sooner_than_the_exhaustive_search() -> None:
    """(On a small search the exhaustive one may find first: it has no warm-up.)"""
    finds, r, ex = auto_and_exhaustive(load_scenario(SEED))
    assert finds == [("lost_write", "bounded 1")]
    assert r.mode == "exhaustive" and r.complete and r.verdicts["lost_write"] == "sometimes"
    assert r.counterexamples["lost_write"].preemptions == 1
    assert (r.states, r.verdicts) == (ex.states, ex.verdicts)
    assert r.found_seconds["lost_write"] < ex.found_seconds["lost_write"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Dirty COW with its fix off: bound 1 finds the race, a search of 0.1 s proves the rest."""
    return spftui("explore", "history_dirty_cow", "--fix", "foll_cow=off", "--no-save", *args)


def test_the_cli_says_sometimes_before_the_proof_ends() -> None:
    p = run("--policy", "spf-refetch-vma")
    assert p.returncode == 0, p.stderr
    assert "spf-refetch-vma: file_integrity sometimes (found in" in p.stderr and "bounded 1" in p.stderr
    assert "exhaustive, complete" in p.stdout


def test_json_streams_progress_and_finds_on_stderr() -> None:
    p = run("--policy", "spf-refetch-vma", "--json")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stderr.splitlines()]
    events = [d["event"] for d in lines]
    assert "found" in events and "progress" in events
    progress = next(d for d in lines if d["event"] == "progress")
    assert {"states", "states_per_second", "depth", "queue", "phase", "done", "seconds_left"} <= progress.keys()
    found = next(d for d in lines if d["event"] == "found")
    assert (found["kind"], found["phase"]) == ("file_integrity", "bounded 1")
    out = json.loads(p.stdout)
    assert out["policies"]["spf-refetch-vma"]["verdicts"]["file_integrity"] == "sometimes"


def test_the_shortest_counterexample_is_not_sought_again_below_the_warm_ups_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warm-up searched bound 0 for every kind: the search for a shorter
    counterexample than the exhaustive search's starts at bound 1."""
    from spftui.engine import explorer

    bounds: list[int] = []
    real = explorer.bounded
    monkeypatch.setattr(explorer, "bounded", lambda s, st, b, want=None: bounds.append(b) or real(s, st, b, want))
    sc = load_scenario(ROOT / "scenarios" / "history_dirty_cow.toml").with_fixes({"foll_cow": False})
    r = explore(sc, "spf-refetch-vma", bound=0, narrate=False)
    assert r.complete and r.mode == "exhaustive"
    cx = r.counterexamples["file_integrity"]
    assert (cx.preemptions, cx.minimal) == (1, True)
    assert bounds == [0, 1]  # (it was [0, 0, 1]: bound 0 again)
