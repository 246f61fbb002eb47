"""Answers first: `spftui explore` reports a Sometimes as soon as the
preemption-bounded warm-up finds it, before the exhaustive proof of the
other kinds ends; --json streams progress and finds as JSON lines on stderr."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_run import spftui

from spftui.engine.explorer import explore
from spftui.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"


def test_auto_mode_reports_a_find_from_the_bounded_warm_up_then_proves_the_rest() -> None:
    finds: list[tuple[str, str]] = []
    r = explore(load_scenario(SEED), "spf-refetch-vma", narrate=False, found=lambda k, ph, s: finds.append((k, ph)))
    assert finds == [("lost_write", "bounded 1")]  # found before the exhaustive phase began
    assert r.mode == "exhaustive" and r.complete and r.verdicts["lost_write"] == "sometimes"
    assert r.counterexamples["lost_write"].preemptions == 1
    ex = explore(load_scenario(SEED), "spf-refetch-vma", mode="exhaustive", narrate=False)
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
