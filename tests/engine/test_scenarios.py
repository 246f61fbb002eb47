"""The bundled scenarios: they load, meet their [expect] tables, and say what the kernel reference says.

Every scenario's fixed [schedule] is run under each of the six validation
policies and checked against the expectations for that policy ("sometimes":
that oracle fired on this schedule; "never": it did not). Classic must never
violate anything, under the schedule or 20 seeded random ones. The seed race's verdicts follow
kernel-mm.md C.3/C.4, and the false-abort scenario's abort counts are the
point of that scenario, so they are asserted here too.
"""

from __future__ import annotations

from typing import Any

import pytest

from spftui.engine import SeededRandom, Session
from spftui.kernel import all_labels
from spftui.kernel.events import Block
from spftui.scenario import POLICIES, REUSE_RULES, Scenario, bundled_scenarios_dir, load_scenario

SCENARIOS = sorted(bundled_scenarios_dir().glob("*.toml"), key=lambda p: p.name)
NAMES = [p.name for p in SCENARIOS]
RANDOM_SEEDS = range(20)


def load(name: str) -> Scenario:
    return load_scenario(bundled_scenarios_dir() / name, known_labels=all_labels())


def run(sc: Scenario, policy: str, reuse: str | None = None, seed: int | None = None) -> Session:
    """Run to the end under `policy` with the scenario's own schedule (or a seeded random one)."""
    scenario = sc.with_policy(policy, reuse)
    session = Session(scenario, SeededRandom(seed)) if seed is not None else Session(scenario)
    stop = session.run(limit=20_000)
    assert stop.kind in ("finished", "deadlock"), stop.text
    return session


def violated(session: Session) -> set[str]:
    return {mark.what for mark in session.violations()}


def aborts(session: Session) -> list[tuple[str, str]]:
    return [(mark.thread, mark.what) for mark in session.aborts()]


def results(session: Session) -> dict[str, str]:
    """Each thread's last op result, e.g. {"A1": "write 0x11000 5: killed by SIGSEGV at 0x11000: no VMA"}."""
    return {t.name: t.result for t in session.machine.threads}


def events(session: Session, kind: str) -> list[Any]:
    return [e for _, _, step_events in session.timeline.replay() for e in step_events if e.kind == kind]


# --- every bundled scenario ------------------------------------------------------------


def test_the_issue_scenarios_are_bundled():
    required = {
        "cow_lost_write.toml",
        "cow_lost_write_page_count.toml",
        "cow_lost_write_swap.toml",
        "spf_abort_munmap.toml",
        "dontneed_race.toml",
        "swap_cache_hit.toml",
        "fork_cow_isolation.toml",
        "vma_lock_blocks_mprotect.toml",
        "false_abort_unrelated_vma.toml",
    }
    assert required <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_bundled_scenario_loads_with_a_description_a_schedule_and_expectations_for_every_policy(name: str):
    sc = load(name)
    assert sc.title.strip()
    assert len(sc.description.split()) >= 40, "a newcomer needs a real description"
    assert sc.schedule, "a bundled scenario fixes the interesting interleaving"
    for policy in POLICIES:
        assert sc.expectations(policy), f"no [expect] for {policy}"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", NAMES)
def test_bundled_scenario_meets_its_expectations_under_its_schedule(name: str, policy: str):
    sc = load(name)
    expected = sc.expectations(policy)
    session = run(sc, policy)
    found = violated(session)
    details = [(m.what, m.thread, m.detail) for m in session.violations()]
    for kind, value in expected.items():
        if value == "sometimes":
            assert kind in found, f"{kind} expected under {policy}; violations: {details}"
        else:
            assert kind not in found, f"{kind} must not fire under {policy}: {details}"


@pytest.mark.parametrize("reuse", REUSE_RULES)
@pytest.mark.parametrize("name", NAMES)
def test_bundled_scenario_meets_its_expectations_for_another_reuse_rule(name: str, reuse: str):
    sc = load(name)
    if reuse == sc.reuse:
        return  # the test above
    for policy in POLICIES:
        expected = sc.expectations(policy, reuse)
        if not expected:
            continue
        found = violated(run(sc, policy, reuse))
        for kind, value in expected.items():
            assert (kind in found) == (value == "sometimes"), (policy, reuse, kind, found)


@pytest.mark.parametrize("name", NAMES)
def test_classic_never_violates_under_the_schedule_or_twenty_random_ones(name: str):
    sc = load(name)
    session = run(sc, "classic")
    assert session.violations() == [], session.violations()
    assert session.machine.all_done()
    for seed in RANDOM_SEEDS:
        session = run(sc, "classic", seed=seed)
        assert session.violations() == [], (seed, session.violations())
        assert session.machine.all_done(), seed


# --- the seed race: kernel-mm.md C.3 and C.4 ----------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_seed_race_loses_a_write_only_under_spf_refetch_vma_with_the_mapcount_rule(policy: str):
    sc = load("cow_lost_write.toml")
    assert sc.reuse == "mapcount"
    lost = "lost_write" in violated(run(sc, policy))
    assert lost == (policy == "spf-refetch-vma")


@pytest.mark.parametrize("policy", POLICIES)
def test_page_count_reuse_closes_the_seed_race_under_every_policy(policy: str):
    # C.3: v5.9-v5.17 via do_wp_page: page_count 2 != 1, so A2 copies and A1's pte_same fails.
    for sc in (load("cow_lost_write_page_count.toml"), load("cow_lost_write.toml").with_policy(None, "page-count")):
        assert sc.reuse == "page-count"
        assert "lost_write" not in violated(run(sc, policy))


def test_page_count_variant_copies_and_the_stale_commit_backs_out_without_an_abort():
    session = run(load("cow_lost_write_page_count.toml"), "spf-refetch-vma")
    assert aborts(session) == []
    cows = events(session, "cow")
    # A2 copies P (it does not reuse it); A1's own copy is never installed.
    assert [(e.thread, e.old_pfn) for e in cows] == [("A2", 1)]


@pytest.mark.parametrize("policy", POLICIES)
def test_swap_route_reopens_the_seed_race_on_5_12_only_under_spf_refetch_vma(policy: str):
    sc = load("cow_lost_write_swap.toml")
    assert sc.reuse == "page-count"
    lost = "lost_write" in violated(run(sc, policy))
    assert lost == (policy == "spf-refetch-vma")


def test_swap_route_is_closed_by_the_5_18_rule():
    # c145e0b47c77: do_swap_page reuses only if page_count == 1; A1's reference makes it copy.
    sc = load("cow_lost_write_swap.toml")
    for policy in POLICIES:
        assert "lost_write" not in violated(run(sc, policy, reuse="anon-exclusive")), policy


# --- the false-abort scenario: abort counts per policy ----------------------------------------

FALSE_ABORTS = {
    "classic": [],
    "spf-mm-seq": [("A1", "SEQ1")],
    "spf-vma-seq": [],
    "vma-lock": [],
    "spf-refetch-vma": [],
    "spf-refetch-pte-none": [],
}


@pytest.mark.parametrize("policy", POLICIES)
def test_a_writer_on_an_unrelated_vma_aborts_only_the_mm_seq_fault(policy: str):
    session = run(load("false_abort_unrelated_vma.toml"), policy)
    assert aborts(session) == FALSE_ABORTS[policy]
    assert session.violations() == []
    assert results(session)["A1"] == "write 0x11000 5: wrote 5"


def test_classic_serialises_the_unrelated_writer_behind_the_fault_instead_of_aborting():
    session = run(load("false_abort_unrelated_vma.toml"), "classic")
    assert Block("A2", "mmap_lock(A) write") in events(session, "block")


# --- what the other scenarios claim in their descriptions --------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_munmap_during_a_speculative_fault_aborts_it_and_the_retry_segfaults(policy: str):
    session = run(load("spf_abort_munmap.toml"), policy)
    expected_abort = {
        "classic": [],
        "vma-lock": [],
        "spf-mm-seq": [("A1", "SEQ1")],
        "spf-vma-seq": [("A1", "SEQ1")],
        "spf-refetch-vma": [("A1", "REFETCH")],
        "spf-refetch-pte-none": [("A1", "REFETCH")],
    }[policy]
    assert aborts(session) == expected_abort
    if expected_abort:
        assert results(session)["A1"] == "write 0x11000 5: killed by SIGSEGV at 0x11000: no VMA"
    else:  # the fault held a lock munmap needs: it completed first
        assert results(session)["A1"] == "write 0x11000 5: wrote 5"


@pytest.mark.parametrize("policy", POLICIES)
def test_dontneed_is_invisible_to_validation_and_caught_by_pte_same(policy: str):
    session = run(load("dontneed_race.toml"), policy)
    assert aborts(session) == []
    assert events(session, "cow") == []  # A1's stale copy of P is never installed
    assert results(session) == {"A1": "write 0x10000 11: wrote 11", "A2": "read 0x10400: read 0"}


@pytest.mark.parametrize("policy", POLICIES)
def test_swap_cache_hit_on_a_locked_page_sleeps_or_aborts_by_policy(policy: str):
    session = run(load("swap_cache_hit.toml"), policy)
    expected = {"classic": [], "vma-lock": [("A1", "SWAP")]}.get(policy, [("A1", "PAGE_LOCK")])
    assert aborts(session) == expected
    assert Block("A1", "page lock (pfn 1)") in events(session, "block")
    assert results(session)["A1"] == "read 0x10400: read 2"


@pytest.mark.parametrize("policy", POLICIES)
def test_fork_child_waits_for_the_fork_and_each_side_sees_only_its_writes(policy: str):
    session = run(load("fork_cow_isolation.toml"), policy)
    blocks = events(session, "block")
    assert blocks[0] == Block("C1", "process C (not forked yet)")
    assert results(session) == {
        "A1": "read 0x10000: read 1",
        "A2": "write 0x10400 3: wrote 3",
        "A3": "write 0x10800 9: wrote 9",
        "C1": "read 0x10800: read 9",  # A3's store through its stale TLB entry, inside the fork window
    }
    reads = [e for e in events(session, "op_done") if e.thread == "C1" and e.op.startswith("read")]
    assert [e.result for e in reads] == ["read 2", "read 8", "read 9"]
    expected = {"classic": [], "spf-vma-seq": [("A2", "VMA_SEQ_ODD")], "vma-lock": [("A2", "VMA_LOCK")]}
    assert aborts(session) == expected.get(policy, [("A2", "ODD")])


@pytest.mark.parametrize("policy", POLICIES)
def test_vma_lock_makes_mprotect_wait_for_the_fault(policy: str):
    session = run(load("vma_lock_blocks_mprotect.toml"), policy)
    blocks = [e for e in events(session, "block") if e.thread == "A2"]
    if policy == "vma-lock":
        assert blocks == [Block("A2", "vm_lock (vma 0) write")]
    elif policy == "classic":
        assert blocks == [Block("A2", "mmap_lock(A) write")]
    else:  # speculative: nothing waits, the fault aborts and is ordered after the mprotect
        assert blocks == []
        assert len(aborts(session)) == 1
    wrote = results(session)["A1"] == "write 0x11000 5: wrote 5"
    assert wrote == (policy in ("classic", "vma-lock"))
