"""`Derivation` (one forward pass) derives exactly what `derived_events` (a replay of
each checking step's fault window) does, step by step: every bundled scenario
under every policy, on its own schedule and on random ones."""

from __future__ import annotations

import pytest
from engine_helpers import HandMadeTimeline

from spftui.engine import SeededRandom, Session
from spftui.engine.history import Derivation, derived_events
from spftui.kernel.events import Pte, SpecRead, Validate
from spftui.scenario import bundled_scenarios_dir, load_scenario
from spftui.scenario.model import POLICIES

SCENARIOS = sorted(bundled_scenarios_dir().glob("*.toml"))


def both_ways(s: Session) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    tl = s.timeline
    each = [derived_events(tl, pos, events) for pos, _, events in tl.replay(0, s.position)]
    along = [derived for _, _, derived in Derivation().along(tl, s.position)]
    return each, along


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_one_pass_derives_what_each_window_replay_does(path: object) -> None:
    sc = load_scenario(path)  # type: ignore[arg-type]
    derived = 0
    for policy in POLICIES:
        runs = [Session(sc.with_policy(policy, None))]  # its own schedule (or round-robin)
        runs += [Session(sc.with_policy(policy, None), strategy=SeededRandom(seed)) for seed in range(4)]
        for s in runs:
            s.run()
            each, along = both_ways(s)
            assert along == each, (path, policy, s.strategy.summary())
            derived += sum(map(len, each))
    if path.stem.startswith("cow_lost_write"):  # type: ignore[attr-defined]
        assert derived > 0  # (the seed's checks pass by ABA under spf-refetch-vma)


def test_the_seed_derives_its_aba_and_invalidations_in_one_pass() -> None:
    s = Session(load_scenario(bundled_scenarios_dir() / "cow_lost_write.toml"))
    s.run()
    each, along = both_ways(s)
    kinds = sorted(e.kind for d in along for e in d)  # type: ignore[attr-defined]
    assert along == each and "aba" in kinds
    s = Session(load_scenario(bundled_scenarios_dir() / "cow_lost_write.toml").with_policy("spf-mm-seq", None))
    s.run()
    each, along = both_ways(s)
    assert along == each and any(e.kind == "invalidated" for d in along for e in d)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(6))
def test_one_pass_derives_what_each_window_replay_does_on_random_scenarios(seed: int) -> None:
    """Random scenarios (engine/fuzz.py: the whole op set, forks, two or three threads) on
    random schedules: windows a thread's own steps change, faults that start again."""
    from spftui.engine import fuzz

    for i in range(12):
        policy = POLICIES[(seed + i) % len(POLICIES)]
        sc = fuzz.scenario(seed, i, policy)
        if sc is None:
            continue
        for k in range(3):
            s = Session(sc, strategy=SeededRandom(k))
            s.run()
            each, along = both_ways(s)
            assert along == each, (seed, i, policy, k)


def sample(t: str, vpn: int, value: int) -> SpecRead:
    return SpecRead(t, "pte", "A", vpn << 12, None, value)


def check(t: str, vpn: int, value: int) -> Validate:
    return Validate(t, "pte_same", "pte", "A", vpn << 12, None, value, value, True)


def flip(vpn: int) -> list[object]:
    return [Pte("A", vpn, 5, 6), Pte("A", vpn, 6, 5)]  # changed, and back


@pytest.mark.parametrize(
    ("steps", "abas"),
    [
        # the thread changed its own sample back and forth, nobody else ran: nothing derived
        ([("T", "user:w", []), ("T", "f", [sample("T", 16, 5)]), ("T", "f", flip(16)), ("T", "f", [check("T", 16, 5)])], 0),
        # another thread ran before the fault only: the same
        ([("U", "u", []), ("T", "user:w", []), ("T", "f", [sample("T", 16, 5)]), ("T", "f", flip(16)),
          ("T", "f", [check("T", 16, 5)])], 0),
        # ... and inside it: an ABA
        ([("T", "user:w", []), ("T", "f", [sample("T", 16, 5)]), ("U", "u", flip(16)), ("T", "f", [check("T", 16, 5)])], 1),
        # ... one step long, right after the fault began
        ([("T", "user:w", [sample("T", 16, 5)]), ("U", "u", flip(16)), ("T", "f", [check("T", 16, 5)])], 1),
        # a second fault of the thread starts its window again: the first fault's sample is no part of it
        ([("T", "user:w", []), ("T", "f", [sample("T", 16, 5)]), ("U", "u", flip(16)), ("T", "f", [check("T", 16, 5)]),
          ("T", "user:w", []), ("T", "f", [sample("T", 17, 5)]), ("U", "u", flip(17)), ("T", "f", [check("T", 17, 5)])], 2),
    ],
)  # fmt: skip
def test_one_pass_keeps_each_window_to_the_fault_and_needs_another_thread(
    steps: list[tuple[str, str, list[object]]], abas: int
) -> None:
    tl = HandMadeTimeline(steps)
    each = [derived_events(tl, pos, events) for pos, _, events in tl.replay(0, len(tl))]  # type: ignore[arg-type]
    along = [derived for _, _, derived in Derivation().along(tl, len(tl))]  # type: ignore[arg-type]
    assert along == each and sum(map(len, each)) == abas
    assert all(len(d.objects) == 1 for ds in each for d in ds)  # type: ignore[attr-defined]
