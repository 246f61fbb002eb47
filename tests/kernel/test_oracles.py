"""Each oracle fires on the bug it exists for (bugs injected by hand) and
stays quiet on correct runs."""

from __future__ import annotations

from spftui.engine import Session
from spftui.kernel import build_machine
from spftui.kernel.machine import Machine
from spftui.kernel.pte import mk_pte, vpn_of
from spftui.scenario import parse_scenario

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


def kinds(events: list[tuple]) -> list[str]:  # type: ignore[type-arg]
    return [e[1] for e in events if e[0] == "violation"]


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
    detail = next(e[3] for e in events if e[0] == "violation")
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
    assert "freed while A:0x10000 maps it" in m.events[0][3]


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
