"""The step cache (engine/stepcache.py) changes the speed of a search, nothing else.

Every bundled scenario under every policy (half of them each in the quick
suite), and random fuzz scenarios (the ones that found two reads the kernel
did not record), are searched with and without the cache, with every hit
also run for real and compared: the same states, transitions, schedules,
verdicts and counterexamples, and no hit that differs from the real step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from spftui.cli import main
from spftui.engine import fuzz, stepcache
from spftui.engine.explorer import Result, Search, Stats, Stop, bounded, exhaustive, explore
from spftui.scenario import load_scenario
from spftui.scenario.model import POLICIES

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
CAP = 300


def outcome(r: Result) -> tuple[Any, ...]:
    return (
        r.mode, r.states, r.transitions, r.schedules, r.max_depth, r.verdicts, r.extra.get("reductions"),
        r.extra.get("bounded_search"), {k: (c.choices, c.preemptions) for k, c in r.counterexamples.items()},
    )  # fmt: skip


def same_with_and_without(sc: Any, policy: str, cap: int) -> Result:
    plain = explore(sc, policy, mode="exhaustive", narrate=False, max_states=cap, cache=False)
    cached = explore(sc, policy, mode="exhaustive", narrate=False, max_states=cap)
    assert "step_cache" not in plain.extra
    assert outcome(cached) == outcome(plain), (sc.path, policy)
    assert not cached.extra.get("notes"), cached.extra.get("notes")  # no replayed step differed
    return cached


@pytest.fixture
def audit_every_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stepcache, "CHECK_EVERY", 1)


@pytest.mark.usefixtures("audit_every_hit")
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_cache_changes_no_search_of_a_bundled_scenario(path: Path) -> None:
    """Under half the policies, the other half for the next scenario (the slow
    variant: all of them)."""
    half = len(POLICIES) // 2
    turn = SCENARIOS.index(path) % 2 * half
    sc = load_scenario(path)
    hits = sum(same_with_and_without(sc, p, CAP).extra["step_cache"]["hits"] for p in POLICIES[turn : turn + half])
    assert hits > 0


@pytest.mark.slow
@pytest.mark.usefixtures("audit_every_hit")
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_cache_changes_no_search_of_a_bundled_scenario_under_any_policy(path: Path) -> None:
    sc = load_scenario(path)
    hits = sum(same_with_and_without(sc, policy, CAP).extra["step_cache"]["hits"] for policy in POLICIES)
    assert hits > 0


@pytest.mark.usefixtures("audit_every_hit")
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_cache_changes_no_preemption_bounded_search(path: Path) -> None:
    """The bounded searches share the cache with the exhaustive one that follows
    them (auto mode) but replay only single steps: merged thread-local steps
    are one entry of the exhaustive search's."""
    sc = load_scenario(path)
    policy = ("spf-mm-seq", "spf-refetch-vma")[SCENARIOS.index(path) % 2]  # one a scenario, in turn
    for kw in ({"mode": "bounded", "bound": 2}, {"mode": "auto"}):
        plain = explore(sc, policy, narrate=False, max_states=CAP, cache=False, **kw)
        cached = explore(sc, policy, narrate=False, max_states=CAP, **kw)
        assert outcome(cached) == outcome(plain), (path.stem, policy, kw)
        assert not cached.extra.get("notes"), cached.extra.get("notes")


@pytest.mark.usefixtures("audit_every_hit")
def test_a_bounded_search_after_the_exhaustive_one_replays_no_merged_steps() -> None:
    """The counterexample minimisation runs bounded searches after the exhaustive
    one, whose entries of merged thread-local steps are not single steps."""
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    figures = []
    for cache in (False, True):
        s = Search(sc, max_states=3000, timeout=None, progress=None, cancelled=None, cache=cache)
        with pytest.raises(Stop):
            exhaustive(s, Stats())
        s.max_states = 10**6
        st = Stats()
        bounded(s, st, 1)
        figures.append((attrs.asdict(st), {k: v[:2] for k, v in s.found.items()}))
        assert not s.notes
    assert figures[0] == figures[1]
    assert s.step_cache is not None and s.step_cache.hits > 0


def test_the_exhaustive_search_replays_merged_thread_local_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the bounded searches take single steps alone; the exhaustive search
    once did too, and lost those hits with no other sign."""
    real_apply = stepcache._apply
    merged = [0]

    def counting(parent: tuple[Any, ...], effect: tuple[Any, ...], steps: int) -> tuple[Any, ...]:
        merged[0] += steps > 1
        return real_apply(parent, effect, steps)

    monkeypatch.setattr(stepcache, "_apply", counting)
    explore(load_scenario(ROOT / "scenarios" / "dontneed_race.toml"), "spf-mm-seq", mode="exhaustive", narrate=False)
    assert merged[0] > 0


@pytest.mark.usefixtures("audit_every_hit")
@pytest.mark.parametrize("opts", [{"local": False}, {"reduction": False}, {"symmetry": False}], ids=str)
def test_the_cache_changes_no_search_with_a_reduction_off(opts: dict[str, bool]) -> None:
    """Without thread-local merging a step may go untracked (no sleep set to
    filter): a replayed one is still checked against a tracked real step."""
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    for policy in ("spf-mm-seq", "spf-refetch-vma"):
        kw: dict[str, Any] = {"mode": "exhaustive", "narrate": False, "max_states": 2000, **opts}
        plain = explore(sc, policy, cache=False, **kw)
        cached = explore(sc, policy, **kw)
        assert outcome(cached) == outcome(plain)
        assert not cached.extra.get("notes"), cached.extra.get("notes")
        assert cached.extra["step_cache"]["hits"] > 0


@pytest.mark.usefixtures("audit_every_hit")
def test_the_cache_changes_no_search_of_random_scenarios() -> None:
    """Fuzz scenario 0 of seed 7 reads a swap count in the COW reuse check
    (wp.py can_reuse) that the kernel did not record: the cache replayed a
    reuse where the real step freed the swap slot."""
    for i in range(6):
        policy = POLICIES[i % len(POLICIES)]
        sc = fuzz.scenario(7, i, policy)
        if sc is not None:
            same_with_and_without(sc, policy, 3000 if i == 0 else 1000)


def test_a_replayed_step_that_differs_turns_the_cache_off_and_the_search_starts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    plain = explore(sc, "spf-refetch-vma", mode="exhaustive", narrate=False, max_states=3000, cache=False)
    real_apply = stepcache._apply
    calls = [0]

    def wrong(parent: tuple[Any, ...], effect: tuple[Any, ...], steps: int) -> tuple[Any, ...]:
        calls[0] += 1
        return real_apply(parent, effect, steps + (calls[0] == 50))  # one replay with a wrong step count

    monkeypatch.setattr(stepcache, "_apply", wrong)
    monkeypatch.setattr(stepcache, "CHECK_EVERY", 1)
    r = explore(sc, "spf-refetch-vma", mode="exhaustive", narrate=False, max_states=3000)
    assert any(n.startswith("step cache off (a replayed step differs") for n in r.extra["notes"])
    assert "step_cache" not in r.extra
    assert outcome(r) == outcome(plain)


def test_a_replayed_step_that_differs_in_a_bounded_search_turns_the_cache_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    kw: dict[str, Any] = {"mode": "bounded", "bound": 2, "narrate": False, "max_states": 3000}
    plain = explore(sc, "spf-mm-seq", cache=False, **kw)
    real_apply = stepcache._apply
    calls = [0]

    def wrong(parent: tuple[Any, ...], effect: tuple[Any, ...], steps: int) -> tuple[Any, ...]:
        calls[0] += 1
        return real_apply(parent, effect, steps + (calls[0] == 50))

    monkeypatch.setattr(stepcache, "_apply", wrong)
    monkeypatch.setattr(stepcache, "CHECK_EVERY", 1)
    r = explore(sc, "spf-mm-seq", **kw)
    assert [n.split(" off")[0] for n in r.extra["notes"]] == ["step cache"]
    assert outcome(r) == outcome(plain)


def test_a_search_that_meets_both_shortcuts_differing_turns_both_off_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both the incremental snapshot and the step cache met a difference in one
    search: it started again once and then stopped with a traceback."""
    from spftui.engine import por
    from spftui.engine.footprint import KernelTracker

    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    plain = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, max_states=3000, cache=False)
    real_snapshot, real_apply = KernelTracker.snapshot, stepcache._apply
    calls = {"snapshot": 0, "apply": 0}

    def snapshot(self: KernelTracker, parent: tuple[Any, ...], events: Any) -> tuple[Any, ...]:
        calls["snapshot"] += 1
        if calls["snapshot"] == 40:
            raise por.SnapshotMismatch("simulated")
        return real_snapshot(self, parent, events)

    def wrong(parent: tuple[Any, ...], effect: tuple[Any, ...], steps: int) -> tuple[Any, ...]:
        calls["apply"] += 1
        return real_apply(parent, effect, steps + (calls["apply"] == 500))

    monkeypatch.setattr(KernelTracker, "snapshot", snapshot)
    monkeypatch.setattr(stepcache, "_apply", wrong)
    monkeypatch.setattr(stepcache, "CHECK_EVERY", 1)
    r = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, max_states=3000)
    notes = r.extra["notes"]
    assert [n.split(" off")[0] for n in notes] == ["incremental snapshots", "step cache"], notes
    assert outcome(r) == outcome(plain)


def test_a_full_cache_starts_a_new_generation_and_keeps_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    monkeypatch.setattr(stepcache, "LIMIT", 50)
    r = same_with_and_without(sc, "spf-mm-seq", 3000)
    assert r.extra["step_cache"]["stored"] > 4 * 50 and r.extra["step_cache"]["hits"] > 0


def test_the_split_search_replays_steps_too_and_visits_the_same_states() -> None:
    sc = load_scenario(ROOT / "scenarios" / "dontneed_race.toml")
    one = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False)
    plain = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, jobs=2, cache=False)
    cached = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, jobs=2)
    assert (cached.states, cached.transitions, cached.verdicts) == (plain.states, plain.transitions, plain.verdicts)
    assert (cached.states, cached.verdicts) == (one.states, one.verdicts)
    assert cached.extra["step_cache"]["hits"] > 0 and "step_cache" not in plain.extra  # the workers' caches


def test_the_cli_runs_without_the_cache_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    small = str(ROOT / "scenarios" / "dontneed_race.toml")
    figures = []
    for extra in ([], ["--no-step-cache"]):
        assert main(["explore", small, "--policy", "spf-mm-seq", "--mode", "exhaustive", "--json", *extra]) == 0
        figures.append(json.loads(capsys.readouterr().out)["policies"]["spf-mm-seq"])
    cached, plain = figures
    assert cached["step_cache"]["hits"] > 0 and "step_cache" not in plain
    assert (cached["states"], cached["transitions"]) == (plain["states"], plain["transitions"])
