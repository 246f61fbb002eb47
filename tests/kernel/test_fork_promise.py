"""Fork's promise, as the oracles hold it (kernel/oracles.py, "Fork's promise"): a store
that races fork may or may not be seen by the child; one made after fork returns must not be."""

from __future__ import annotations

from spftui.engine import Session, all_labels
from spftui.kernel import oracles
from spftui.kernel.events import Violation
from spftui.kernel.machine import Machine
from spftui.kernel.pte import pte_pfn, vpn_of
from spftui.scenario import Scenario, bundled_scenarios_dir, load_scenario

VPN = vpn_of(0x10400)
WORD = 1  # 0x10400 with 4 words per page


def scenario(fix_on: bool) -> Scenario:
    sc = load_scenario(bundled_scenarios_dir() / "history_fork_vma_lock.toml", known_labels=all_labels())
    return sc.with_fixes({"fork_vma_write_lock": fix_on})


def violations(m: Machine) -> list[str]:
    return [e.oracle for e in m.events if isinstance(e, Violation)]


def test_a_store_through_a_stale_tlb_entry_during_fork_leaves_the_child_either_value() -> None:
    s = Session(scenario(fix_on=False))
    while s.machine.mms["C"].shadow.get(VPN, [0] * 4)[WORD] != (4, 9):  # A3's store of 9 raced the fork
        assert s.step() is not None, "A3's store never raced the fork"
    m = s.machine
    assert m.mms["A"].shadow[VPN][WORD] == 9  # the parent must see its own store
    m.events.clear()
    pfn = pte_pfn(m.pte_lookup(m.mms["C"], VPN))  # a read through the child's PTE
    for seen in (4, 9):  # the child may read the value before the store or the store's
        oracles.check_read(m, m.mms["C"], VPN, WORD, seen, pfn)
    assert violations(m) == []
    oracles.check_read(m, m.mms["C"], VPN, WORD, 5, pfn)  # but nothing else
    assert violations(m) == ["lost_write"]


def test_a_store_after_fork_returns_into_a_page_the_child_maps_is_a_cow_isolation_violation() -> None:
    s = Session(scenario(fix_on=True))
    while s.machine.mms["A"].forking or not s.machine.mms["C"].exists:
        assert s.step() is not None
    m = s.machine
    pfn = pte_pfn(m.pte_lookup(m.mms["C"], VPN))
    assert ("C", VPN) in m.frames[pfn].ptes and ("A", VPN) in m.frames[pfn].ptes  # still COW-shared
    before = m.mms["C"].shadow[VPN][WORD]
    assert before == (4, 9)  # A3's store of 9 raced the fork (the fix keeps faults out, not stale stores)
    m.events.clear()
    oracles.record_write(m, m.mms["A"], VPN, WORD, 5, pfn)  # as if a stale TLB entry outlived the fork
    assert violations(m) == ["cow_isolation"]
    assert m.mms["C"].shadow[VPN][WORD] == before  # not credited to the child


def test_the_child_reads_the_store_that_raced_the_fork_without_a_violation() -> None:
    s = Session(scenario(fix_on=False))
    s.run(limit=1000)
    assert [v.what for v in s.violations()] == ["lost_write"]  # the parent's, at A2's install
    assert "A:0x10400" in s.violations()[0].detail
