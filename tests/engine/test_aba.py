"""The `aba` breakpoint kind through the Session (what the TUI will use), forward and in reverse."""

from __future__ import annotations

from engine_helpers import HandMadeTimeline

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


def aba_steps(s: Session) -> list[int]:
    """The 1-based steps of the session's timeline with a check passed by ABA, by window replays."""
    from spftui.engine.history import derived_events
    from spftui.kernel.events import Aba

    tl = s.timeline
    return [
        pos + 1
        for pos, _, events in tl.replay(0, len(tl))
        if any(isinstance(e, Aba) for e in derived_events(tl, pos, events))
    ]


def stops(s: Session, move: str) -> list[int]:
    out = []
    while True:
        r = getattr(s, move)()
        if r.kind not in ("breakpoint", "aba"):
            return out
        out.append(r.step)


def test_aba_breakpoints_stop_where_the_window_replays_find_an_aba_forwards_backwards_and_across_branches() -> None:
    """The breakpoint follows the run with one Derivation (breakpoints.py `_derived`), which
    must start again when a branch replaces the steps it derived from."""
    for name in ("cow_lost_write", "cow_lost_write_swap"):
        s = Session(load_scenario(SEED.parent / f"{name}.toml"))
        s.add_breakpoint("aba")
        forward = stops(s, "continue_")
        assert forward == aba_steps(s) and len(forward) == 2, name
        assert stops(s, "reverse_continue") == forward[::-1], name
        first = s.branch_id
        s.goto(forward[0] - 4)  # a branch: the steps from here are cut and run again differently
        other = next(t.name for t in s.scenario.threads if t.name != s.step_thread(s.position))
        s.step(other)
        assert s.branch_id != first
        later = stops(s, "continue_")
        assert later == [k for k in aba_steps(s) if k > forward[0] - 3], name
        s.switch_branch(first)  # and back: the same steps as at first, derived again
        s.goto(0)
        assert stops(s, "continue_") == forward == aba_steps(s), name
        s.restart("spf-mm-seq")  # a new timeline, where no check passes by ABA
        assert stops(s, "continue_") == [] == aba_steps(s), name
        assert stops(s, "reverse_continue") == [], name


def test_the_aba_breakpoint_derives_again_after_a_cut_or_on_another_timeline() -> None:
    from types import SimpleNamespace

    from spftui.engine.breakpoints import BreakpointSet
    from spftui.kernel.events import Pte, SpecRead, Validate

    read = SpecRead("T", "pte", "A", 0x10000, None, 5)
    passed = Validate("T", "pte_same", "pte", "A", 0x10000, None, 5, 5, True)
    aba = [("T", "user:w", []), ("T", "f", [read]), ("U", "u", [Pte("A", 16, 5, 6), Pte("A", 16, 6, 5)]),
           ("T", "f", [passed])]  # fmt: skip
    calm = [*aba[:2], ("U", "u", []), aba[3]]  # nobody touched the PTE

    def fired(bps: BreakpointSet, tl: HandMadeTimeline) -> list[int]:
        bps.timeline = tl  # type: ignore[assignment]
        return [k for k, (t, _, ev) in enumerate(tl.steps) if bps.check(SimpleNamespace(steps=k + 1), t, ev)]  # type: ignore[arg-type]

    bps = BreakpointSet()
    bps.add("aba")
    tl = HandMadeTimeline(aba)
    assert fired(bps, tl) == [3]
    tl.steps, tl.epoch = calm, 1  # a cut replaced the steps
    assert fired(bps, tl) == []
    assert fired(bps, HandMadeTimeline(aba, epoch=1)) == [3]  # another timeline (a restart), at the same epoch
    assert fired(bps, HandMadeTimeline(calm, epoch=1)) == []
