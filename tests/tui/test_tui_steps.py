"""The panes' shared step facts (tui/steps.py) agree with the engine's replays, step by step."""

from __future__ import annotations

from pathlib import Path

import pytest

from spftui.engine.history import with_derived
from spftui.engine.schedule import SeededRandom
from spftui.engine.session import Session
from spftui.scenario.loader import load_scenario
from spftui.tui import steps
from spftui.tui.steps import Facts, summarize

ROOT = Path(__file__).resolve().parents[2] / "scenarios"
CASES = [
    ("cow_lost_write.toml", "spf-refetch-vma", None),
    ("cow_lost_write.toml", "spf-mm-seq", None),
    ("cow_lost_write.toml", "spf-refetch-vma", 3),
    ("spf_abort_munmap.toml", None, 5),
    ("false_abort_unrelated_vma.toml", None, 11),
    ("dontneed_race.toml", None, 2),
    ("history_dirty_cow.toml", None, None),  # GUP: a thread whose faults begin at faultin_page, not `user:`
]


@pytest.mark.parametrize(("name", "policy", "seed"), CASES)
def test_stepping_forward_gives_the_same_derived_events_and_checks_as_a_replay(
    name: str, policy: str | None, seed: int | None
) -> None:
    sc = load_scenario(ROOT / name).with_policy(policy, None)
    s = Session(sc, strategy=SeededRandom(seed) if seed is not None else None)
    f = Facts()
    key = ("t", 0)
    f.follow(s, key)
    while s.step() is not None and s.position < 400:
        f.follow(s, key)  # one step fed, no replay
        fresh = Facts()  # the same position reached by a jump: one replay
        assert fresh.checks(s, key) == f.checks(s, key), s.position
    tl = s.timeline
    for pos, _, events in tl.replay(0, s.length):
        want = with_derived(tl, pos, events)
        if pos in f.events:
            assert f.events[pos] == want, pos
        assert Facts().events_of(s, key, pos) == want
        assert f.get(s, key, pos) == summarize(want)


@pytest.mark.parametrize(("name", "policy", "seed"), CASES)
def test_every_row_at_once_equals_each_row_on_its_own(name: str, policy: str | None, seed: int | None) -> None:
    """`Facts.all` (one forward pass, for a search) against `Facts.get` (chunks of window replays)."""
    sc = load_scenario(ROOT / name).with_policy(policy, None)
    s = Session(sc) if seed is None else Session(sc, strategy=SeededRandom(seed))
    s.run()
    key = (0, s.branch_id)
    one = Facts()
    rows = {i: one.get(s, key, i) for i in range(s.length)}
    every = Facts()
    assert every.all(s, key) == rows
    assert every.events == {i: with_derived(s.timeline, i, s.events_of(i)) for i in range(s.length)}
    half = Facts()  # some rows cached already (the timeline pane drew them)
    half.get(s, key, s.length // 2)
    assert half.all(s, key) == rows


@pytest.mark.parametrize(("name", "policy", "seed"), CASES)
def test_a_chunk_that_starts_inside_a_fault_window_derives_what_a_replay_does(
    name: str, policy: str | None, seed: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 3 rows: most start after the windows their checks read began
    (the one forward pass for a chunk starts at the earliest of them)."""
    monkeypatch.setattr(steps, "CHUNK", 3)
    sc = load_scenario(ROOT / name).with_policy(policy, None)
    s = Session(sc) if seed is None else Session(sc, strategy=SeededRandom(seed))
    s.run()
    key = (0, s.branch_id)
    facts = Facts()
    for pos in reversed(range(s.length)):  # (backwards: each chunk is filled on its own)
        assert facts.events_of(s, key, pos) == with_derived(s.timeline, pos, s.events_of(pos)), pos
