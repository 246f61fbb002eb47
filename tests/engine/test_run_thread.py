"""One thread at a time: `Session.run_thread_until` (gdb's advance) and `Session.finish`."""

from __future__ import annotations

from pathlib import Path

import pytest

from spftui.engine import Session, SessionError
from spftui.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "cow_lost_write.toml"


def session() -> Session:
    return Session(load_scenario(SEED))


def fresh_state(s: Session) -> object:
    """The state after replaying this timeline's first `position` steps in a new session."""
    return s.timeline.machine_at(s.position).snapshot()


def test_run_thread_until_stops_before_the_label_having_run_only_that_thread() -> None:
    s = session()
    stop = s.run_thread_until("A1", "wp_page_copy:copy")
    assert (stop.kind, stop.text) == ("reached", "A1 ran 13 steps to wp_page_copy:copy")
    assert s.position == s.length == 13 and s.stop is stop
    assert {s.step_thread(i) for i in range(13)} == {"A1"}
    assert s.machine.threads[0].pc == "wp_page_copy:copy" and s.next_label("A1") == "wp_page_copy:copy"
    assert all(s.is_manual(i) for i in range(13))  # chosen by hand, as thread keys' steps are
    assert s.machine.snapshot() == fresh_state(s)
    s.back(13)  # rewinding works as after single steps
    assert s.position == 0 and s.machine.threads[0].pc == ""


def test_from_the_past_it_follows_the_recorded_future_and_branches_where_it_leaves_it() -> None:
    s = session()
    s.run()  # the scenario's schedule starts "A1 until wp_page_copy:copy": A1's own steps
    recorded = s.length
    s.goto(0)
    assert s.run_thread_until("A1", "wp_page_copy:copy").kind == "reached"
    assert s.position == 13 and not s.branches and s.length == recorded
    s.goto(3)
    stop = s.run_thread_until("B", "__do_munmap:detach_vmas")
    assert stop.kind == "reached" and s.branches and s.branches[0].at == 3
    assert s.machine.snapshot() == fresh_state(s)
    s.switch_branch(s.branches[0].id)
    assert s.length == recorded


def test_a_blocked_thread_stops_and_says_what_it_waits_for_and_who_holds_it() -> None:
    s = session()
    s.run_thread_until("A2", "change_protection:flush_tlb_range")  # its write, first
    s.run_thread_until("A2", "change_protection:flush_tlb_range")  # inside mprotect: mmap_lock held for write
    stop = s.run_thread_until("A1", "wp_page_copy:copy")  # mmap_seq is odd: A1 falls back to a classic fault
    assert stop.kind == "blocked"
    assert stop.text == "A1 ran 3 steps and is blocked: it waits for mmap_lock(A) read, held by A2"
    position = s.position
    again = s.finish("A1")  # nothing can run: no step is taken
    assert again.text == "A1 is blocked: it waits for mmap_lock(A) read, held by A2" and s.position == position


def test_a_label_the_thread_never_reaches_stops_it_when_its_operation_completes() -> None:
    s = session()
    stop = s.run_thread_until("A1", "__do_munmap:detach_vmas")  # B's path, never A1's
    assert stop.kind == "returned"  # as gdb's advance stops when the frame returns
    assert stop.text == "A1 finished write 0x10000 11 without reaching __do_munmap:detach_vmas (23 steps)"
    assert s.run_thread_until("A1", "user:store").text == "A1 has finished: nothing is left to run"


def test_a_label_in_a_later_operation_takes_one_run_per_operation() -> None:
    s = session()  # A2: write 0x10400 42, then mprotect r, then mprotect rw
    assert s.run_thread_until("A2", "change_protection:flush_tlb_range").kind == "returned"
    stop = s.run_thread_until("A2", "change_protection:flush_tlb_range")
    assert (stop.kind, stop.text) == ("reached", "A2 ran 3 steps to change_protection:flush_tlb_range")


def test_from_the_label_itself_it_runs_to_the_next_time_as_a_schedule_entry_does() -> None:
    s = session()
    s.run_thread_until("A1", "user:store")  # A1's access faults; the fault returns to retry it
    assert s.next_label("A1") == "user:store" and s.position > 1


def test_a_breakpoint_or_a_violation_breakpoint_stops_it_first() -> None:
    s = session()
    b = s.add_breakpoint("step", match="pte_map_lock:trylock")
    stop = s.run_thread_until("A1", "wp_page_copy:pte_same")
    assert stop.kind == "breakpoint" and stop.breakpoints == (b.id,) and s.position == 6
    s.remove_breakpoint(b.id)
    s.run()
    s.goto(48)  # A2 has just dropped mmap_lock; A1's next steps write the page back: the lost write
    s.add_breakpoint("violation")
    stop = s.finish("A1")
    assert stop.kind == "breakpoint" and stop.mark is not None and stop.mark.what == "lost_write"
    assert s.position == 52 and not s.branches  # the recorded future was A1's: no branch


def test_finish_inside_a_fault_returns_from_it_then_from_the_operation() -> None:
    s = session()
    s.run_thread_until("A1", "wp_page_copy:copy")
    stop = s.finish("A1")
    assert (stop.kind, stop.text) == ("returned", "A1 finished its fault at step 22 (9 steps); next user:store")
    stop = s.finish("A1")
    assert stop.text == "A1 finished write 0x10000 11 at step 23 (1 step) → wrote 11"
    assert s.machine.threads[0].state == "done"


def test_finish_between_operations_runs_the_next_one() -> None:
    s = session()
    stop = s.finish("B")
    assert stop.kind == "returned" and stop.text.startswith("B finished munmap 0x10000 1p at step 9 (9 steps) → ")


def test_a_limit_an_interruption_and_a_bad_label_stop_it() -> None:
    s = session()
    assert s.finish("A1", limit=3).kind == "limit" and s.position == 3
    # interrupted() is asked every 512 steps, as continue_ asks it; a short run ends first
    assert s.run_thread_until("A1", "wp_page_copy:copy", interrupted=lambda: True).kind == "reached"
    with pytest.raises(SessionError, match="no step is labelled"):
        s.run_thread_until("A1", "wp_page_copy:cpy")
    with pytest.raises(SessionError, match="no thread"):
        s.finish("Z")


def test_the_schedule_names_the_entry_its_next_step_takes_once_finish_ends_the_current_one() -> None:
    """After `f` runs A1 to its end, the fixed schedule's entry 1 (A1 until …) is over: A1's
    steps by hand counted toward it (the status line said entry 1 until the next `s`), the next
    step takes a later entry, and describe_next says which without moving the schedule."""
    from spftui.engine.schedule import Replay

    sc = load_scenario(ROOT / "scenarios" / "cow_lost_write.toml")
    assert sc.schedule is not None
    s = Session(sc, strategy=Replay(sc.schedule))
    s.finish("A1")
    s.finish("A1")  # (its fault, then its write: A1 is done)
    before = s.strategy.state
    said = s.strategy.describe_next(s.machine)
    assert s.strategy.state == before and not s.strategy.describe().startswith("schedule entry 1/")
    assert not said.startswith("schedule entry 1/") and said.startswith("schedule entry ")
    s.step()
    assert s.strategy.describe() == said
