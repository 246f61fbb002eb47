"""The `aba` breakpoint kind through the Session (what the TUI will use), forward and in reverse."""

from __future__ import annotations

from spftui.engine import Session
from spftui.engine.why import why
from spftui.scenario import bundled_scenarios_dir, load_scenario

SEED = bundled_scenarios_dir() / "cow_lost_write.toml"


def test_aba_breakpoint_stops_at_each_check_that_passes_by_aba_and_reverse_continue_finds_them() -> None:
    s = Session(load_scenario(SEED))
    b = s.add_breakpoint("aba")
    assert b.describe() == "a check passes by ABA"
    assert [s.continue_().step, s.continue_().step] == [51, 52]  # REFETCH (step 50), pte_same (step 51)
    assert s.continue_().kind == "finished"
    assert s.reverse_continue().step == 52
    assert s.reverse_continue().step == 51 and "REFETCH passed by ABA" in s.stop.text


def test_aba_breakpoint_can_name_the_check_and_never_fires_under_mm_seq() -> None:
    s = Session(load_scenario(SEED))
    s.add_breakpoint("aba", match="pte_same")
    assert s.continue_().step == 52
    s = Session(load_scenario(SEED).with_policy("spf-mm-seq", None))
    s.add_breakpoint("aba")
    assert s.continue_().kind == "finished"


def test_why_reads_a_session_or_its_timeline_alike() -> None:
    s = Session(load_scenario(SEED))
    s.run()
    assert why(s, 52, "A.pte[0x10000]") == why(s.timeline, 52, "A.pte[0x10000]")
