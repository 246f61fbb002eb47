"""Each oracle fires on the bug it exists for (bugs injected by hand) and
stays quiet on correct runs."""

from __future__ import annotations

from pathlib import Path

from cli_run import spftui

from spftui.engine import Session
from spftui.kernel import build_machine
from spftui.kernel.events import Event, Violation
from spftui.kernel.machine import Machine
from spftui.kernel.pte import mk_pte, pte_index, vpn_of
from spftui.scenario import load_scenario, parse_scenario
from spftui.scenario.model import POLICIES

ONE_PAGE = """
title = "one page"
policy = "classic"
[[process]]
name = "A"
data = { "0x10000" = 5 }
  [[process.mapping]]
  start = 0x10000
  pages = 2
[[process]]
name = "B"
fork_of = "A"
[[thread]]
name = "T"
process = "A"
ops = ["read 0x10000", "write 0x10000 6", "read 0x10000"]
[[thread]]
name = "U"
process = "B"
ops = ["read 0x10000"]
"""


def machine() -> Machine:
    return build_machine(parse_scenario(ONE_PAGE))


def kinds(events: list[Event]) -> list[str]:
    return [e.oracle for e in events if isinstance(e, Violation)]


def run_all(m: Machine) -> list[str]:
    seen: list[str] = []
    while m.runnable():
        seen += kinds(m.step(m.runnable()[0]))
    return seen


def test_a_correct_run_reports_nothing() -> None:
    m = machine()
    assert run_all(m) == []
    assert m.mms["A"].shadow[vpn_of(0x10000)][0] == 6
    assert m.mms["B"].shadow[vpn_of(0x10000)][0] == 5  # COW kept the child's value


def test_lost_write_fires_when_memory_loses_a_completed_write() -> None:
    m = machine()
    pfn = m.pte_lookup(m.mms["A"], vpn_of(0x10000)) >> 12
    m.frames[pfn].words[0] = 99  # corrupt: the 5 written at setup vanishes
    events = m.step(0)  # T reads 0x10000
    assert kinds(events) == ["lost_write"]
    detail = next(e.detail for e in events if isinstance(e, Violation))
    assert "read returned 99, but the last completed write was 5" in detail


def test_refcount_fires_on_a_reference_nobody_holds() -> None:
    m = machine()
    pfn = m.pte_lookup(m.mms["A"], vpn_of(0x10000)) >> 12
    m.frames[pfn].count += 1  # a leaked get_page
    assert "refcount" in run_all(m)


def test_use_after_free_fires_when_a_page_is_freed_under_a_tlb_entry() -> None:
    m = machine()
    m.step(0)  # T reads: its TLB now caches the page
    pfn = m.pte_lookup(m.mms["A"], vpn_of(0x10000)) >> 12
    assert ("A", vpn_of(0x10000)) in m.tlbs[0]
    m.cur = m.threads[0]
    m.events = []
    m.free_page(m.frames[pfn])
    assert kinds(m.events) == ["use_after_free"]
    assert "freed while A:0x10000 maps it" in m.events[0].detail


def test_stray_pte_fires_for_a_pte_outside_every_vma() -> None:
    m = machine()
    mm = m.mms["A"]
    m.cur = m.threads[0]
    table = m.pte_alloc(mm, vpn_of(0x40000))
    m.dirty_ptes = []
    m.set_pte(mm, table, vpn_of(0x40000), mk_pte(0))
    from spftui.kernel import oracles

    oracles.after_step(m)
    assert kinds(m.events) == ["stray_pte"]


def test_cow_isolation_fires_when_a_write_reaches_the_other_process() -> None:
    m = machine()
    pfn = m.pte_lookup(m.mms["A"], vpn_of(0x10000)) >> 12
    m.tlbs[0][("A", vpn_of(0x10000))] = (pfn, True)  # a forged writable TLB entry
    m.step(0)  # read
    events = m.step(0)  # write 6 goes straight into the shared page
    assert "cow_isolation" in kinds(events)


def test_oracles_stay_quiet_under_classic_for_random_schedules() -> None:
    from spftui.engine import SeededRandom

    sc = parse_scenario(ONE_PAGE)
    for seed in range(30):
        s = Session(sc, strategy=SeededRandom(seed))
        s.run()
        assert s.violations() == []


DONTNEED_DURING_MUNMAP = Path(__file__).parent / "scenarios" / "dontneed_during_munmap.toml"


def test_stray_pte_is_never_reported_for_a_madvise_beside_a_munmap_that_has_not_zapped_yet() -> None:
    # Every interleaving, every policy: D's madvise may finish (ENOMEM) while
    # U's munmap has detached the VMA but not yet zapped its PTE.
    r = spftui("explore", str(DONTNEED_DURING_MUNMAP), "--policy", "all", "--no-save")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("stray_pte:      Never") == len(POLICIES)
    assert "Expectations hold." in r.stdout


def steps_to(m: Machine, schedule: list[tuple[int, str]]) -> list[str]:
    """Step each thread until its pc is the given label; return the violations seen."""
    seen: list[str] = []
    for i, label in schedule:
        while m.threads[i].pc != label:
            seen += kinds(m.step(i))
    return seen


def test_stray_pte_still_fires_when_a_finishing_madvise_leaves_a_pte_outside_the_munmaps_range() -> None:
    m = build_machine(load_scenario(DONTNEED_DURING_MUNMAP))
    assert steps_to(m, [(0, "zap_pte_range:zap"), (1, "do_madvise:find_vma")]) == []
    # Inject a stray PTE in D's range (0x10000, 2 pages) but not in U's (1 page),
    # behind the oracle's back (no set_pte): only D's finish check can see it.
    mm = m.mms["A"]
    m.pte_alloc(mm, vpn_of(0x11000)).entries[pte_index(vpn_of(0x11000))] = mk_pte(0)
    events = m.step(1)  # D: find_vma finds no VMA, ENOMEM, the writer finishes
    assert kinds(events) == ["stray_pte"]
    assert "0x11000" in next(e.detail for e in events if isinstance(e, Violation))  # not U's PTE at 0x10000
    later = []
    while m.runnable():
        later += [e.detail for e in m.step(m.runnable()[0]) if isinstance(e, Violation)]
    # U zaps its own PTE (no report for 0x10000); free_pgtables then frees the
    # only table (no VMA is left) with the injected PTE still in it.
    assert later == ["PTE table 0 freed with A:0x11000 = zero RO A in it (leaked)"]
