"""Every reduction keeps every verdict: each bundled scenario under each policy,
with and without each reduction (sleep sets, thread-local merging, hash
compaction, canonical fingerprints: symmetry.py). State counts are printed
(`pytest -s`).

The quick variant caps each search (`CAP` states): a capped search decides
only what it found, so there it checks that no reduction contradicts the
scenario's [expect] and that a complete search agrees with the naive one.
Scenarios too large to complete at the cap get a smaller one (`CAP_LARGE`):
for them only the first check applies, and it needs few states.
It runs all reductions together under every policy, and each reduction alone
under two policies a scenario, in turn (`quick_variants`: every policy and
every reduction meet several scenarios); the slow variant runs every
combination in `VARIANTS` under every policy, each search complete. A scenario
with oracles of its own (`[[oracle]]`, tests/engine/scenarios) keeps its own
verdicts under every reduction too, and says which reductions those oracles
turn off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from spftui.engine.explorer import Result, explore
from spftui.scenario import load_scenario
from spftui.scenario.model import POLICIES

OWN_ORACLES = Path(__file__).resolve().parent / "scenarios" / "dontneed_oracles.toml"  # `[[oracle]]` tables
SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))
CAP = 2000  # every search of the others completes within it
CAP_LARGE = 300
LARGE = {  # no search of these completes within CAP states
    "cow_lost_write",
    "cow_lost_write_page_count",
    "cow_lost_write_swap",
    "cow_three_writers_munmap",
    "fork_cow_isolation",
    "history_dufour_fork_tlb",
    "history_fork_vma_lock",
    "history_uffd_wp_flush",
}
VARIANTS = {
    "naive": {"reduction": False, "local": False, "symmetry": False},
    "sleep": {"reduction": True, "local": False, "symmetry": False},
    "local": {"reduction": False, "local": True, "symmetry": False},
    "symmetry": {"reduction": False, "local": False, "symmetry": True},
    "sleep+local": {"reduction": True, "local": True, "symmetry": False},
    "local+symmetry": {"reduction": False, "local": True, "symmetry": True},
    "sleep+local+symmetry": {"reduction": True, "local": True, "symmetry": True},
    "sleep+local+symmetry+compact": {"reduction": True, "local": True, "symmetry": True, "compact": True},
}
ALONE = ("naive", "sleep", "local", "symmetry", "local+symmetry", "sleep+local+symmetry+compact")  # each alone, all
TOGETHER = ("naive", "sleep+local+symmetry+compact")


def quick_variants(path: Path, policy: str) -> tuple[str, ...]:
    """Each reduction alone under two policies a scenario (the next two for the
    next scenario), all together under every policy."""
    turn = 2 * SCENARIOS.index(path) % len(POLICIES)
    return ALONE if POLICIES.index(policy) in (turn, turn + 1) else TOGETHER


def run_all(
    path: Path, cap: int | None, variants: Callable[[Path, str], tuple[str, ...]] = lambda p, policy: tuple(VARIANTS)
) -> dict[str, dict[str, Result]]:
    sc = load_scenario(path)
    out: dict[str, dict[str, Result]] = {}
    for policy in POLICIES:
        out[policy] = {}
        for name in variants(path, policy):
            opts = VARIANTS[name]
            kw = {} if cap is None else {"max_states": cap}
            out[policy][name] = explore(sc, policy, mode="exhaustive", narrate=False, **kw, **opts)  # type: ignore[arg-type]
    return out


def check(path: Path, results: dict[str, dict[str, Result]]) -> None:
    for policy, by in results.items():
        naive = by["naive"]
        print(path.stem, policy, {n: (r.states, r.transitions, r.complete) for n, r in by.items()})
        for name, r in by.items():
            if name != "naive":
                assert r.extra["reductions"]["sleep_sets"] == VARIANTS[name]["reduction"], name
                assert r.extra["reductions"]["thread_local"] == VARIANTS[name]["local"], name
                assert r.extra["reductions"]["symmetry"] == VARIANTS[name]["symmetry"], name
            if r.complete and naive.complete:
                assert r.verdicts == naive.verdicts, (path.stem, policy, name)
                assert r.states <= naive.states, (path.stem, policy, name)
                if name == "sleep":  # sleep sets prune transitions, never states
                    assert r.states == naive.states, (path.stem, policy)
                awake = by.get("local+symmetry")
                if name.startswith("sleep+local+symmetry") and awake and awake.complete:  # nor with the others on
                    assert r.states == awake.states, (path.stem, policy)
            for kind, want in r.expectations.items():
                if r.complete or r.verdicts[kind] == "sometimes":
                    assert r.verdicts[kind] == want or (want == "sometimes" and not r.complete), (
                        path.stem, policy, name, kind
                    )  # fmt: skip


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_reduction_keeps_the_verdicts_of_a_capped_search(path: Path) -> None:
    results = run_all(path, CAP_LARGE if path.stem in LARGE else CAP, quick_variants)
    if path.stem not in LARGE:  # so the comparisons with the naive search all happen
        assert all(r.complete for by in results.values() for r in by.values()), path.stem
    check(path, results)


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_reduction_keeps_the_verdicts_of_a_complete_search(path: Path) -> None:
    results = run_all(path, None)
    assert all(r.complete for by in results.values() for r in by.values())
    check(path, results)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [200, 201, 202])
def test_every_reduction_together_keeps_the_verdicts_of_random_scenarios(seed: int) -> None:
    """Random scenarios (engine/fuzz.py: the whole op set, forks, two or three
    threads) searched naively and with every reduction and the step cache,
    completely, under a policy each; every fourth also split two ways. A
    footprint that leaves a read or write out shows here as a verdict that
    differs, or as a state the sleep sets lost (about 300 such scenarios
    agreed when mmap_lock, the PTL and the rss counters got footprint keys
    of their own)."""
    from spftui.engine import fuzz

    checked = 0
    for i in range(8):
        policy = POLICIES[(seed + i) % len(POLICIES)]
        sc = fuzz.scenario(seed, i, policy)
        if sc is None:
            continue
        kw: dict[str, Any] = {"mode": "exhaustive", "narrate": False, "max_states": 20_000}
        naive = explore(sc, policy, reduction=False, local=False, symmetry=False, cache=False, **kw)
        if not naive.complete:
            continue
        full = explore(sc, policy, **kw)
        assert full.complete and full.verdicts == naive.verdicts, (seed, i, policy)
        assert not full.extra.get("notes"), full.extra.get("notes")
        # sleep sets prune transitions, never states: a wrong independence shows as a state missed
        awake = explore(sc, policy, reduction=False, **kw)
        assert awake.states == full.states, (seed, i, policy)
        if i % 4 == 0:
            split = explore(sc, policy, jobs=2, **kw)
            assert (split.verdicts, split.states) == (naive.verdicts, full.states), (seed, i, policy)
        checked += 1
    assert checked >= 3


def test_a_reduction_that_cannot_run_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown snapshot layout switches the reductions off, and the result says so."""
    from spftui.engine import por

    monkeypatch.setattr(por, "layout_ok", lambda m: False)
    r = explore(load_scenario(SCENARIOS[0]), mode="exhaustive", max_states=200, narrate=False)
    assert r.extra["reductions"] == {"sleep_sets": False, "thread_local": False, "symmetry": True, "merged": 0}
    assert any("reductions off" in n for n in r.extra["notes"])


def test_thread_local_merging_works_without_sleep_sets() -> None:
    """Each reduction runs on its own (a flag that does nothing would be a silent switch-off)."""
    sc = load_scenario(SCENARIOS[0].parent / "dontneed_race.toml")  # small: the naive search of the seed is 8 s
    naive = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, reduction=False, local=False)
    local = explore(sc, "spf-mm-seq", mode="exhaustive", narrate=False, reduction=False, local=True)
    assert local.extra["reductions"]["merged"] > 0
    assert local.states < naive.states and local.verdicts == naive.verdicts


OWN_VARIANTS = {
    "naive": {"reduction": False, "local": False, "symmetry": False, "cache": False},
    "sleep": {"reduction": True, "local": False, "symmetry": False, "cache": False},
    "local": {"reduction": False, "local": True, "symmetry": False, "cache": False},
    "all": {"reduction": True, "local": True, "symmetry": True, "cache": True},
    "all+compact": {"reduction": True, "local": True, "symmetry": True, "cache": True, "compact": True},
}


@pytest.mark.parametrize("threads", [True, False], ids=["oracles naming threads", "oracles naming no thread"])
def test_every_reduction_keeps_the_verdicts_of_the_scenarios_own_oracles(threads: bool) -> None:
    sc = load_scenario(OWN_ORACLES)
    if not threads:  # thread-local merging then stays on
        sc = attrs.evolve(sc, oracles=tuple(o for o in sc.oracles if not o.name.startswith("a2_")))
    own = [o.name for o in sc.oracles]
    results = {}
    for policy in ("spf-mm-seq", "classic"):
        for name, opts in OWN_VARIANTS.items():
            results[f"{policy} {name}"] = explore(sc, policy, mode="exhaustive", narrate=False, **opts)  # type: ignore[arg-type]
    for policy in ("spf-mm-seq", "classic"):
        naive = results[f"{policy} naive"]
        assert naive.complete and set(own) <= set(naive.verdicts)
        assert naive.verdicts["a_unmapped"] == "sometimes" and naive.verdicts["b_writable"] == "never"
        for name in OWN_VARIANTS:
            r = results[f"{policy} {name}"]
            assert r.complete and r.verdicts == naive.verdicts, (policy, name)
            if name == "sleep":  # sleep sets prune transitions, never states
                assert r.states == naive.states
            reductions = r.extra["reductions"]
            assert not reductions["symmetry"]  # never with oracles of the scenario's own
            notes = r.extra.get("notes", [])
            if OWN_VARIANTS[name]["symmetry"]:
                assert any(n.startswith("symmetry off: ") for n in notes), notes
            if OWN_VARIANTS[name]["cache"]:
                assert any(n.startswith("step cache off: ") for n in notes), notes
                assert "step_cache" not in r.extra
            if OWN_VARIANTS[name]["local"]:
                assert reductions["thread_local"] is not threads
                assert any(n.startswith("thread-local merging off: ") for n in notes) is threads
        if not threads:
            assert results[f"{policy} local"].extra["reductions"]["merged"] > 0
            assert results[f"{policy} local"].states < naive.states
